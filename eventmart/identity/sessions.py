"""Server-side sessions. The client holds a random token; we keep only its hash, so a
read of this table does not let anyone sign in."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from psycopg import Connection

DDL = """
CREATE TABLE IF NOT EXISTS sessions (
    id uuid PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE,
    user_id uuid NOT NULL REFERENCES users(id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
"""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def start_session(conn: Connection, user_id: UUID, *, now: datetime, ttl: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO sessions (id, token_hash, user_id, created_at, expires_at) "
        "VALUES (%s, %s, %s, %s, %s)",
        (uuid4(), _digest(token), user_id, now, now + ttl),
    )
    return token


def user_for_token(conn: Connection, token: str, *, now: datetime) -> UUID | None:
    row = conn.execute(
        "SELECT user_id FROM sessions WHERE token_hash=%s AND revoked_at IS NULL "
        "AND expires_at > %s",
        (_digest(token), now),
    ).fetchone()
    return row[0] if row else None


def end_session(conn: Connection, token: str, *, now: datetime) -> None:
    conn.execute(
        "UPDATE sessions SET revoked_at=%s WHERE token_hash=%s AND revoked_at IS NULL",
        (now, _digest(token)),
    )


def end_all_sessions(conn: Connection, user_id: UUID, *, now: datetime) -> int:
    cur = conn.execute(
        "UPDATE sessions SET revoked_at=%s WHERE user_id=%s AND revoked_at IS NULL",
        (now, user_id),
    )
    return cur.rowcount
