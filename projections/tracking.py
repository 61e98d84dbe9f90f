"""Where each log follower (projection, relay) has got to, and what each user last wrote.

A follower's position is updated in the same transaction as the rows it wrote, which
is what makes processing exactly-once. The same row carries the worker's health: its
heartbeat, last error, the event it stopped on (poison) and a rebuild in progress.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from psycopg import Connection, sql
from psycopg.types.json import Jsonb

from adapters.recorder import RECORD_WRITE_SQL

# Tables (follower_positions, follower_skips, user_write_positions): eventmart/schema/,
# applied by `eventmart migrate`.


def ensure_follower(conn: Connection, follower: str, application: str) -> None:
    conn.execute(
        "INSERT INTO follower_positions (follower, application) VALUES (%s, %s) "
        "ON CONFLICT DO NOTHING",
        (follower, application),
    )


def lock_cursor(conn: Connection, follower: str, application: str) -> tuple[int, int]:
    """Takes the follower's row lock for this transaction (two processes running the same
    follower take turns instead of applying an event twice) and returns where the follower is
    in its log's reading order: the (transaction id, notification id) of the last event it
    passed (adapters/recorder.py)."""
    found = _lock(conn, [follower], application, wait=True)
    if follower not in found:
        raise LookupError(f"follower {follower}/{application} not registered; run migrate")
    return found[follower]


def lock_cursors(conn: Connection, followers: Sequence[str], application: str) -> dict[str, tuple[int, int]]:
    """`lock_cursor` for several followers of one log in one statement, passing over those
    another transaction holds (they are being stepped elsewhere; waiting for several row
    locks in one statement could deadlock with another process doing the same)."""
    return _lock(conn, followers, application, wait=False)


_LOCK = ("SELECT position_xid::text, position, follower FROM follower_positions "
         "WHERE application=%s AND follower = ANY(%s) FOR UPDATE")


def _lock(conn: Connection, followers: Sequence[str], application: str,
          wait: bool) -> dict[str, tuple[int, int]]:
    # Plain text: a Composed statement would be rendered again on every step of every follower.
    rows = conn.execute(_LOCK if wait else _LOCK + " SKIP LOCKED",
                        (application, list(followers))).fetchall()
    return {str(f): (int(x), int(p)) for x, p, f in rows}


def lock_position(conn: Connection, follower: str, application: str) -> int:
    """`lock_cursor`'s notification id."""
    return lock_cursor(conn, follower, application)[1]


def _events(application: str) -> sql.Identifier:
    return sql.Identifier(f"{application}_events")


def set_position(conn: Connection, follower: str, application: str, position: int,
                 transaction_id: int | None = None) -> None:
    """Moves the follower to just after the event at `position` (notification id) written by
    `transaction_id`; a poison event it has passed no longer stops the follower. Without
    `transaction_id` (operators, tests): the highest transaction id of the events up to
    `position`, so that the follower counts as past every one of them."""
    if transaction_id is None:
        row = conn.execute(
            # The text form gets its own name: ORDER BY transaction_id would sort by it.
            sql.SQL("SELECT coalesce((SELECT transaction_id::text AS xid FROM {} WHERE notification_id <= %s "
                    "ORDER BY transaction_id DESC LIMIT 1), '0')").format(_events(application)),
            (position,)).fetchone()
        transaction_id = int(row[0]) if row else 0
    set_positions(conn, application, {follower: (transaction_id, position)})


@functools.cache
def _set_positions_sql(application: str) -> str:
    """set_positions' text for one log, composed once (it runs on every step of every group)."""
    return sql.SQL(
        "WITH cursor AS (SELECT c.follower, c.xid::xid8 AS xid, c.position "
        "                FROM unnest(%(followers)s::text[], %(xids)s::text[], %(positions)s::bigint[]) "
        "                AS c(follower, xid, position)) "
        "UPDATE follower_positions f SET position=cursor.position, position_xid=cursor.xid, "
        "heartbeat_at=now(), poison = CASE "
        "  WHEN poison IS NULL THEN NULL "
        "  WHEN EXISTS (SELECT 1 FROM {events} e "
        "               WHERE e.notification_id = (poison->>'position')::bigint "
        "               AND (e.transaction_id, e.notification_id) <= (cursor.xid, cursor.position)) "
        "    THEN NULL "
        "  WHEN (poison->>'position')::bigint <= cursor.position AND NOT EXISTS ("
        "    SELECT 1 FROM {events} e WHERE e.notification_id = (poison->>'position')::bigint) "
        "    THEN NULL "
        "  ELSE poison END "
        "FROM cursor WHERE f.follower=cursor.follower AND f.application=%(application)s"
    ).format(events=_events(application)).as_string()


def set_positions(conn: Connection, application: str, cursors: Mapping[str, tuple[int, int]]) -> None:
    """`set_position` for several followers of one log, each to its (transaction id,
    notification id), in one statement."""
    conn.execute(
        _set_positions_sql(application),
        {"followers": list(cursors), "xids": [str(x) for x, _ in cursors.values()],
         "positions": [p for _, p in cursors.values()], "application": application},
    )


def record_error(
    conn: Connection, follower: str, application: str, error: str,
    poison: dict[str, Any] | None = None,
) -> None:
    """The worker's last error; with `poison`, the event it stopped on."""
    conn.execute(
        "UPDATE follower_positions SET last_error=%s, last_error_at=now(), "
        "poison = coalesce(%s, poison) WHERE follower=%s AND application=%s",
        (error[:2000], Jsonb(poison) if poison is not None else None, follower, application),
    )


def poison_of(conn: Connection, follower: str, application: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT poison FROM follower_positions WHERE follower=%s AND application=%s",
        (follower, application),
    ).fetchone()
    return row[0] if row else None


class AlreadyAppliedError(ValueError):
    """A skip asked for an event the follower has already passed."""


def record_skip(
    conn: Connection, follower: str, application: str, position: int, *, by: str, reason: str
) -> dict[str, Any]:
    """Records an operator's decision that `follower` passes over the event at `position`
    of `application`'s log (now and in every rebuild), and lifts a stop on that event.
    Returns the recorded decision; recording the same position again keeps the first."""
    with conn.transaction():
        event = conn.execute(
            sql.SQL(
                "SELECT originator_id, originator_version, topic FROM {} WHERE notification_id=%s"
            ).format(sql.Identifier(f"{application}_events")),
            (position,),
        ).fetchone()
        if event is None:
            raise LookupError(f"no event at position {position} of the {application} log")
        # Locked, so that the follower cannot pass the event between this check and the skip.
        passed = conn.execute(
            sql.SQL("SELECT (e.transaction_id, e.notification_id) <= (f.position_xid, f.position) "
                    "FROM {} e, follower_positions f WHERE e.notification_id=%s AND f.follower=%s "
                    "AND f.application=%s FOR UPDATE OF f").format(_events(application)),
            (position, follower, application)).fetchone()
        if passed is not None and passed[0]:
            # Recorded, the skip would drop from later rebuilds an event the serving read
            # model holds: the two would differ for good.
            raise AlreadyAppliedError(
                f"{follower} has already applied the event at position {position} of the "
                f"{application} log; a skip would drop it from later rebuilds only")
        conn.execute(
            "INSERT INTO follower_skips (follower, application, position, aggregate_id, "
            "aggregate_version, event_type, decided_by, reason) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (follower, application, position, *event, by, reason),
        )
        conn.execute(
            "UPDATE follower_positions SET poison=NULL WHERE follower=%s AND application=%s "
            "AND (poison->>'position')::bigint = %s",
            (follower, application, position),
        )
        row = conn.execute(
            "SELECT follower, application, position, aggregate_id, aggregate_version, event_type, "
            "decided_by, decided_at, reason FROM follower_skips "
            "WHERE follower=%s AND application=%s AND position=%s",
            (follower, application, position),
        ).fetchone()
    assert row is not None
    return dict(zip(SKIP_FIELDS, row, strict=True))


SKIP_FIELDS = ("follower", "application", "position", "aggregate_id", "aggregate_version",
               "event_type", "decided_by", "decided_at", "reason")


def skips(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT follower, application, position, aggregate_id, aggregate_version, event_type, "
        "decided_by, decided_at, reason FROM follower_skips ORDER BY follower, application, position"
    ).fetchall()
    return [dict(zip(SKIP_FIELDS, r, strict=True)) for r in rows]


def start_rebuild(conn: Connection, follower: str, application: str) -> None:
    """Marks a rebuild by this connection's backend (status shows it while that lives) and
    resets the follower: position 0, no poison."""
    conn.execute(
        "UPDATE follower_positions SET position=0, position_xid='0', heartbeat_at=now(), poison=NULL, "
        "rebuild_pid=pg_backend_pid(), rebuild_started_at=now() "
        "WHERE follower=%s AND application=%s",
        (follower, application),
    )


def end_rebuild(conn: Connection, follower: str, application: str) -> None:
    conn.execute(
        "UPDATE follower_positions SET rebuild_pid=NULL, rebuild_started_at=NULL "
        "WHERE follower=%s AND application=%s AND rebuild_pid=pg_backend_pid()",
        (follower, application),
    )


def beat(conn: Connection, followers: Sequence[str], application: str) -> None:
    conn.execute(
        "UPDATE follower_positions SET heartbeat_at=now() WHERE follower = ANY(%s) AND application=%s",
        (list(followers), application),
    )


def position_of(conn: Connection, follower: str, application: str) -> int:
    row = conn.execute(
        "SELECT position FROM follower_positions WHERE follower=%s AND application=%s",
        (follower, application),
    ).fetchone()
    return int(row[0]) if row else 0


def cursor_of(conn: Connection, follower: str, application: str) -> tuple[int, int]:
    """Where the follower is in its log's reading order: (transaction id, notification id)."""
    row = conn.execute(
        "SELECT position_xid::text, position FROM follower_positions WHERE follower=%s AND application=%s",
        (follower, application),
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def record_write(conn: Connection, user_id: object, application: str, position: int) -> None:
    conn.execute(RECORD_WRITE_SQL, (user_id, application, position))


# Writes that change what everybody sees (an offer made or stopped) are recorded for this
# user id too: every reader waits for them as for their own.
EVERYONE = UUID(int=0)


def _caught_up_sql(application: str, target: sql.Composable) -> sql.Composed:
    """True when the follower has passed every event at or below the target id that its
    log can show now. Ids are not in reading order: the test is that no such event sorts
    after the follower's (transaction id, id) pair. The index on that pair makes it cost
    the follower's backlog, nothing when it has caught up."""
    return sql.SQL(
        "EXISTS (SELECT 1 FROM follower_positions f "
        "WHERE f.follower=%(follower)s AND f.application=%(application)s AND NOT EXISTS ("
        "  SELECT 1 FROM {events} e "
        "  WHERE (e.transaction_id, e.notification_id) > (f.position_xid, f.position) "
        "  AND e.notification_id <= {target}))"
    ).format(events=_events(application), target=target)


def caught_up(conn: Connection, follower: str, application: str, position: int) -> bool:
    """Whether `follower` has passed every event of its log at or below `position` (the id
    a command's save returned). A registered follower only."""
    row = conn.execute(
        sql.SQL("SELECT {}").format(_caught_up_sql(application, sql.SQL("%(target)s"))),
        {"follower": follower, "application": application, "target": position},
    ).fetchone()
    return bool(row and row[0])


# A follower that has not beaten for this long is taken as stopped (a running one beats at
# every poll and every batch); /readyz says so too (workers/health.py).
STOPPED_AFTER_SECONDS = 15.0


def wait_for_user_writes(
    conn: Connection, user_id: object, follower: str, application: str, timeout: float
) -> bool:
    """Blocks until `follower` has processed this user's last write, or the timeout.

    Returns False on timeout: the caller then serves what the read model has rather than
    failing the read. The first check is one statement: the target, whether the follower
    has passed it, and whether it has stopped (on an event it cannot handle, or silent for
    STOPPED_AFTER_SECONDS): then it returns False at once. A wait holds the request's
    connection, one of the few a process admits at a time (DB_POOL_SIZE): waiting out the
    timeout for a follower that will not come would take them all from other requests.
    """
    row = conn.execute(
        sql.SQL(
            "WITH t AS (SELECT max(position) AS target FROM user_write_positions "
            "           WHERE user_id = ANY(%(users)s) AND application=%(application)s) "
            "SELECT t.target, t.target IS NULL OR {}, "
            "  EXISTS (SELECT 1 FROM follower_positions s WHERE s.follower=%(follower)s "
            "          AND s.application=%(application)s AND (s.poison IS NOT NULL "
            "          OR s.heartbeat_at < now() - make_interval(secs => %(stopped)s))) FROM t"
        ).format(_caught_up_sql(application, sql.SQL("t.target"))),
        {"users": [user_id, EVERYONE], "application": application, "follower": follower,
         "stopped": STOPPED_AFTER_SECONDS},
    ).fetchone()
    if row is None or row[1]:
        return True
    if row[2]:
        return False
    target = int(row[0])
    deadline = time.monotonic() + timeout
    delay = 0.002
    while not caught_up(conn, follower, application, target):
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True
