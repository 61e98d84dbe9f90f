"""Idempotency-Key (IETF httpapi draft): a retried POST gets the first response, not a
second charge. Keys are scoped to the user and the endpoint and kept 24 hours.

- same key, same body: the stored first response (header `Idempotent-Replayed: true`);
- same key, different body: 409; same key while the first is still running: 409;
- a request that failed (any error) frees its key, so the client may retry with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import Header
from fastapi.responses import JSONResponse
from psycopg import Connection
from psycopg.types.json import Jsonb

from domain.errors import ConflictError, DomainError

KEEP_FOR = timedelta(hours=24)

DDL = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id uuid NOT NULL,
    endpoint text NOT NULL,
    key text NOT NULL,
    fingerprint bytea NOT NULL,
    state text NOT NULL,
    status integer,
    body jsonb,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, endpoint, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
"""


class IdempotencyConflictError(ConflictError):
    title = "Idempotency conflict"


IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255,
           description="a unique value per intended operation, e.g. a UUID; retries reuse it"),
]


def require(key: str | None) -> str:
    if not key or not key.strip() or not key.isprintable():
        raise DomainError("this request needs an Idempotency-Key header", field="Idempotency-Key")
    return key.strip()


def run_once(
    conn: Connection, *, user_id: UUID, endpoint: str, key: str, body: dict[str, Any],
    now: datetime, execute: Callable[[], tuple[int, dict[str, Any]]],
) -> JSONResponse:
    fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).digest()
    conn.execute(
        "DELETE FROM idempotency_keys WHERE user_id=%s AND endpoint=%s AND key=%s AND created_at < %s",
        (user_id, endpoint, key, now - KEEP_FOR))
    claimed = conn.execute(
        "INSERT INTO idempotency_keys (user_id, endpoint, key, fingerprint, state, created_at) "
        "VALUES (%s, %s, %s, %s, 'running', %s) ON CONFLICT DO NOTHING",
        (user_id, endpoint, key, fingerprint, now)).rowcount == 1
    if not claimed:
        row = conn.execute(
            "SELECT fingerprint, state, status, body FROM idempotency_keys "
            "WHERE user_id=%s AND endpoint=%s AND key=%s", (user_id, endpoint, key)).fetchone()
        if row is None:  # freed by a failed first attempt between our two statements
            raise IdempotencyConflictError("the first request with this key just failed; retry")
        stored_fingerprint, state, status, stored = row
        if bytes(stored_fingerprint) != fingerprint:
            raise IdempotencyConflictError(
                "this Idempotency-Key was used for a different request; use a new key")
        if state != "done":
            raise IdempotencyConflictError("a request with this Idempotency-Key is still running")
        return JSONResponse(stored, status_code=status, headers={"Idempotent-Replayed": "true"})
    try:
        status, out = execute()
    except BaseException:
        conn.execute("DELETE FROM idempotency_keys WHERE user_id=%s AND endpoint=%s AND key=%s",
                     (user_id, endpoint, key))
        raise
    conn.execute(
        "UPDATE idempotency_keys SET state='done', status=%s, body=%s "
        "WHERE user_id=%s AND endpoint=%s AND key=%s",
        (status, Jsonb(out), user_id, endpoint, key))
    return JSONResponse(out, status_code=status)
