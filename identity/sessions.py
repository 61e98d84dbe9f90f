"""Server-side sessions and tokens. Clients hold random tokens; we keep only their
SHA-256, so a read of these tables does not let anyone sign in.

Three kinds of credential, one table of live ones (`sessions`):
- a cookie session from /auth/login (kind 'cookie'),
- a short-lived access token from OTP verify or refresh (kind 'access', with a family),
- refresh tokens (table `refresh_tokens`), rotated on every use; a family is one sign-in.

Access tokens are checked against the table on every request, so logout and logout-all take
effect at once rather than when the token's lifetime runs out.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from psycopg import Connection
from psycopg.rows import dict_row

from domain.errors import AuthenticationError
from identity.users import User

# Tables (sessions, refresh_tokens): eventmart/schema/, applied by `eventmart migrate`.


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def start_session(
    conn: Connection,
    user_id: UUID,
    *,
    now: datetime,
    ttl: timedelta,
    kind: str = "cookie",
    family_id: UUID | None = None,
) -> str:
    token = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO sessions (id, token_hash, user_id, created_at, expires_at, kind, family_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (uuid4(), _digest(token), user_id, now, now + ttl, kind, family_id),
    )
    return token


def user_for_token(conn: Connection, token: str, *, now: datetime) -> UUID | None:
    row = conn.execute(
        "SELECT user_id FROM sessions WHERE token_hash=%s AND revoked_at IS NULL "
        "AND expires_at > %s",
        (_digest(token), now),
    ).fetchone()
    return row[0] if row else None


def user_for_session(conn: Connection, token: str, *, now: datetime) -> User | None:
    """The signed-in user of a live session or access token, in one round trip: every
    authenticated request asks this, so the session and the user are one join, not two
    queries. Nothing is cached, so logout and logout-all take effect on the next request."""
    found = signed_in(conn, token, now=now, writes_of=())
    return found[0] if found else None


SIGNED_IN_SQL = (
    "SELECT u.*, ARRAY(SELECT DISTINCT w.application FROM user_write_positions w "
    "WHERE w.user_id = u.id OR w.user_id = ANY(%s)) AS wrote_to "
    "FROM sessions s JOIN users u ON u.id = s.user_id "
    "WHERE s.token_hash=%s AND s.revoked_at IS NULL AND s.expires_at > %s")


def signed_in(conn: Connection, token: str, *, now: datetime,
              writes_of: tuple[UUID, ...]) -> tuple[User, set[str]] | None:
    """`user_for_session`, and in the same statement the logs on which this user, or any of
    `writes_of` (everyone's writes), has a write recorded for read-your-writes: a read of a
    view fed by another log has nothing to wait for and skips that check."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(SIGNED_IN_SQL, (list(writes_of), _digest(token), now)).fetchone()
    return (User.from_row(row), set(row["wrote_to"])) if row else None


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    family_id: UUID


def issue_tokens(
    conn: Connection,
    user_id: UUID,
    *,
    now: datetime,
    access_ttl: timedelta,
    refresh_ttl: timedelta,
    family_id: UUID | None = None,
) -> TokenPair:
    family = family_id or uuid4()
    access = start_session(conn, user_id, now=now, ttl=access_ttl, kind="access", family_id=family)
    refresh = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (uuid4(), family, user_id, _digest(refresh), now, now + refresh_ttl),
    )
    return TokenPair(access, refresh, int(access_ttl.total_seconds()), family)


def revoke_family(conn: Connection, family_id: UUID, *, now: datetime) -> None:
    conn.execute(
        "UPDATE refresh_tokens SET revoked_at=%s WHERE family_id=%s AND revoked_at IS NULL",
        (now, family_id),
    )
    conn.execute(
        "UPDATE sessions SET revoked_at=%s WHERE family_id=%s AND revoked_at IS NULL",
        (now, family_id),
    )


def rotate_refresh_token(
    conn: Connection, token: str, *, now: datetime, access_ttl: timedelta, refresh_ttl: timedelta
) -> tuple[UUID, TokenPair]:
    """A new pair for a live refresh token; the old one dies. A dead one presented again
    means it was stolen or replayed: the whole family (that sign-in) is revoked."""
    reused = False
    with conn.transaction():
        row = conn.execute(
            "SELECT id, family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens "
            "WHERE token_hash=%s FOR UPDATE",
            (_digest(token),),
        ).fetchone()
        if row is not None:
            token_id, family, user_id, expires_at, used_at, revoked_at = row
            if used_at is not None or revoked_at is not None:
                revoke_family(conn, family, now=now)
                reused = True
            elif expires_at > now:
                conn.execute("UPDATE refresh_tokens SET used_at=%s WHERE id=%s", (now, token_id))
                pair = issue_tokens(conn, user_id, now=now, access_ttl=access_ttl,
                                    refresh_ttl=refresh_ttl, family_id=family)
                return user_id, pair
    if reused:
        raise AuthenticationError("refresh token already used: this sign-in has been revoked")
    raise AuthenticationError("refresh token invalid or expired")


def end_session(conn: Connection, token: str, *, now: datetime) -> None:
    """Ends the session the token belongs to; for a token sign-in, its whole family."""
    row = conn.execute(
        "SELECT family_id FROM sessions WHERE token_hash=%s", (_digest(token),)
    ).fetchone()
    if row and row[0] is not None:
        revoke_family(conn, row[0], now=now)
    conn.execute(
        "UPDATE sessions SET revoked_at=%s WHERE token_hash=%s AND revoked_at IS NULL",
        (now, _digest(token)),
    )


def end_all_sessions(conn: Connection, user_id: UUID, *, now: datetime) -> int:
    with conn.transaction():
        cur = conn.execute(
            "UPDATE sessions SET revoked_at=%s WHERE user_id=%s AND revoked_at IS NULL",
            (now, user_id),
        )
        conn.execute(
            "UPDATE refresh_tokens SET revoked_at=%s WHERE user_id=%s AND revoked_at IS NULL",
            (now, user_id),
        )
    return cur.rowcount
