"""Idempotency-Key (IETF httpapi draft): a retried POST gets the first response, not a
second charge. Keys are scoped to the user and the endpoint and kept 24 hours.

- same key, same body: the stored first response (header `Idempotent-Replayed: true`);
- same key, different body: 409; same key while the first is still running: 409;
- a request that failed (any error) frees its key, so the client may retry with it.

A claim is a lease (`IDEMPOTENCY_LEASE_SECONDS`): a request that dies while holding one (the
process killed, the database failing while the claim is cleaned up) stops blocking its key
once the lease has run out, and the next retry with the same body runs the command again.

The claim and the command's effect are decided together because every keyed command is
idempotent by its claim: each claim has a `claim_id`, made once per (user, endpoint, key) and
kept across retries of the same body, and the command uses it as the id of what it creates
(the order, the payment) or records it on the aggregate (the wallet debit's `key`). A second
execution with the same claim finds the first one's effect and answers with it instead of
applying it again; the aggregate's optimistic concurrency settles two executions racing.
So a re-execution is exactly-once whether the dead request had saved its effect or not.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import Header
from fastapi.responses import JSONResponse
from psycopg import Connection
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from adapters.idempotency_store import KEEP_FOR
from domain.errors import ConflictError, DomainError
from identity.users import User
from runtime import Runtime

log = logging.getLogger(__name__)



# state: 'running' (held by `holder` until `lease_until`), 'done' (status and body stored),
# 'failed' (the last attempt raised; free for a retry).
_PK = "user_id = %(user_id)s AND endpoint = %(endpoint)s AND key = %(key)s"


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


def fingerprint_of(body: dict[str, Any]) -> bytes:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).digest()


Execute = Callable[[UUID], tuple[int, dict[str, Any]]]


def keyed(
    conn: Connection, runtime: Runtime, user: User, *, endpoint: str, key: str | None,
    body: BaseModel, execute: Execute,
) -> JSONResponse:
    """A keyed command as routes run it: the key required, the body as sent, the lease
    from the settings."""
    return run_once(conn, user_id=user.id, endpoint=endpoint, key=require(key),
                    body=body.model_dump(mode="json"), now=runtime.clock(), execute=execute,
                    lease_seconds=runtime.settings.idempotency_lease_seconds)


def run_once(
    conn: Connection, *, user_id: UUID, endpoint: str, key: str, body: dict[str, Any],
    now: datetime, lease_seconds: float, execute: Callable[[UUID], tuple[int, dict[str, Any]]],
) -> JSONResponse:
    """Runs `execute(claim_id)` at most once in effect per key. `execute` must be idempotent
    by `claim_id` (see the module's docstring): it may run again after its lease ran out."""
    params: dict[str, Any] = {
        "user_id": user_id, "endpoint": endpoint, "key": key, "fp": fingerprint_of(body),
        "now": now, "until": now + timedelta(seconds=lease_seconds),
        "lease": timedelta(seconds=lease_seconds), "holder": uuid4(),
    }
    claimed = _claim(conn, params)
    if isinstance(claimed, JSONResponse):
        return claimed
    try:
        status, out = execute(claimed)
    except BaseException:
        try:
            conn.execute(
                f"UPDATE idempotency_keys SET state = 'failed', holder = NULL, lease_until = NULL "
                f"WHERE {_PK} AND state = 'running' AND holder = %(holder)s", params)
        except Exception:  # the lease frees the key; the command's own error is the answer
            log.warning("could not free idempotency key %r of %s; its lease will expire",
                        key, endpoint, exc_info=True)
        raise
    conn.execute(
        f"UPDATE idempotency_keys SET state = 'done', status = %(status)s, body = %(body)s, "
        f"holder = NULL, lease_until = NULL WHERE {_PK} AND claim_id = %(claim_id)s",
        params | {"status": status, "body": Jsonb(out), "claim_id": claimed})
    return JSONResponse(out, status_code=status)


_NEW_CLAIM = (
    "INSERT INTO idempotency_keys (user_id, endpoint, key, fingerprint, state, created_at, "
    "claim_id, lease_until, holder) VALUES (%(user_id)s, %(endpoint)s, %(key)s, %(fp)s, "
    "'running', %(now)s, gen_random_uuid(), %(until)s, %(holder)s) "
    "ON CONFLICT DO NOTHING RETURNING claim_id")
# A failed attempt's key, or a claim whose holder died (its lease ran out). The same body keeps
# the claim's id, so that a re-execution finds what the first one applied; a different body
# after a failure is a new operation with a new id.
_TAKE_OVER = (
    "UPDATE idempotency_keys SET state = 'running', status = NULL, body = NULL, "
    "holder = %(holder)s, lease_until = %(until)s, "
    "claim_id = CASE WHEN fingerprint = %(fp)s THEN claim_id ELSE gen_random_uuid() END, "
    "created_at = CASE WHEN fingerprint = %(fp)s THEN created_at ELSE %(now)s END, "
    "fingerprint = %(fp)s "
    f"WHERE {_PK} AND (state = 'failed' OR (state = 'running' AND fingerprint = %(fp)s "
    "AND coalesce(lease_until, created_at + %(lease)s) <= %(now)s)) "
    "RETURNING claim_id")


def _claim(conn: Connection, params: dict[str, Any]) -> UUID | JSONResponse:
    """The claim's id when this request may execute; the stored response to replay; or 409."""
    for _ in range(3):
        conn.execute(f"DELETE FROM idempotency_keys WHERE {_PK} AND created_at < %(now)s - %(keep)s",
                     params | {"keep": KEEP_FOR})
        for take in (_NEW_CLAIM, _TAKE_OVER):
            row = conn.execute(take, params).fetchone()
            if row is not None:
                return UUID(str(row[0]))
        row = conn.execute(
            "SELECT fingerprint, state, status, body, coalesce(lease_until, created_at + %(lease)s) "
            f"FROM idempotency_keys WHERE {_PK}", params).fetchone()
        if row is None or row[1] == "failed":
            continue  # changed between our statements: decide again
        stored_fingerprint, state, status, stored, until = row
        if bytes(stored_fingerprint) != params["fp"]:
            raise IdempotencyConflictError(
                "this Idempotency-Key was used for a different request; use a new key")
        if state != "done":
            wait = max(1, int((until - params["now"]).total_seconds() + 0.999))
            raise IdempotencyConflictError(
                f"a request with this Idempotency-Key is still running; retry in {wait} s")
        return JSONResponse(stored, status_code=status, headers={"Idempotent-Replayed": "true"})
    raise IdempotencyConflictError("a request with this Idempotency-Key is changing; retry")


