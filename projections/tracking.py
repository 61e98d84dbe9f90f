"""Where each log follower (projection, relay) has got to, and what each user last wrote.

A follower's position is updated in the same transaction as the rows it wrote, which
is what makes processing exactly-once.
"""

from __future__ import annotations

import time

from psycopg import Connection

DDL = """
CREATE TABLE IF NOT EXISTS follower_positions (
    follower text NOT NULL,
    application text NOT NULL,
    position bigint NOT NULL DEFAULT 0,
    heartbeat_at timestamptz,
    PRIMARY KEY (follower, application)
);
-- Per user and log, the position of their last write; reads wait for it.
CREATE UNLOGGED TABLE IF NOT EXISTS user_write_positions (
    user_id uuid NOT NULL,
    application text NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (user_id, application)
);
"""


def ensure_follower(conn: Connection, follower: str, application: str) -> None:
    conn.execute(
        "INSERT INTO follower_positions (follower, application) VALUES (%s, %s) "
        "ON CONFLICT DO NOTHING",
        (follower, application),
    )


def lock_position(conn: Connection, follower: str, application: str) -> int:
    """Takes the follower's row lock for this transaction: two processes running the
    same follower take turns instead of applying an event twice."""
    row = conn.execute(
        "SELECT position FROM follower_positions WHERE follower=%s AND application=%s FOR UPDATE",
        (follower, application),
    ).fetchone()
    if row is None:
        raise LookupError(f"follower {follower}/{application} not registered; run migrate")
    return int(row[0])


def set_position(conn: Connection, follower: str, application: str, position: int) -> None:
    conn.execute(
        "UPDATE follower_positions SET position=%s, heartbeat_at=now() "
        "WHERE follower=%s AND application=%s",
        (position, follower, application),
    )


def beat(conn: Connection, follower: str, application: str) -> None:
    conn.execute(
        "UPDATE follower_positions SET heartbeat_at=now() WHERE follower=%s AND application=%s",
        (follower, application),
    )


def position_of(conn: Connection, follower: str, application: str) -> int:
    row = conn.execute(
        "SELECT position FROM follower_positions WHERE follower=%s AND application=%s",
        (follower, application),
    ).fetchone()
    return int(row[0]) if row else 0


def record_write(conn: Connection, user_id: object, application: str, position: int) -> None:
    conn.execute(
        "INSERT INTO user_write_positions (user_id, application, position) VALUES (%s, %s, %s) "
        "ON CONFLICT (user_id, application) DO UPDATE "
        "SET position = GREATEST(user_write_positions.position, EXCLUDED.position)",
        (user_id, application, position),
    )


def wait_for_user_writes(
    conn: Connection, user_id: object, follower: str, application: str, timeout: float
) -> bool:
    """Blocks until `follower` has processed this user's last write, or the timeout.

    Returns False on timeout: the caller then serves what the read model has rather than
    failing the read.
    """
    row = conn.execute(
        "SELECT position FROM user_write_positions WHERE user_id=%s AND application=%s",
        (user_id, application),
    ).fetchone()
    if row is None:
        return True
    target = int(row[0])
    deadline = time.monotonic() + timeout
    delay = 0.002
    while position_of(conn, follower, application) < target:
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True
