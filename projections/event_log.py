"""Reads the events tables themselves for auditors: one stream in version order, the global
log in position order or in the workers' reading order (by cursor), and where a time falls in
either. Not a read model: nothing here is
derived or stored, every answer is decoded from the stored events with the application's
own mapper (so upcasters apply) and named by the public event catalogue.

Every query follows an index: a stream is a range of the primary key (originator_id,
originator_version); the log is a range of `notification_id` (by cursor, of (transaction_id,
notification_id)); a type filter is a range of `<app>_events_topic_position` (topic,
notification_id), from migration 0003. Times are inside
the stored state, not a column, so a time is located by bisecting positions (or versions),
one index lookup per probe. Within a stream, timestamps grow with versions (a version is
written only after the one before was read). Across a log they grow with positions up to
the time between creating an event and committing it (the table lock orders commits), which
`COMMIT_SKEW` bounds; the window is widened by it and then filtered exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from psycopg import Connection, sql

from domain.event_catalogue import (
    UnknownEventTypeError,
    entry_for_topic,
    public_data,
    to_json_value,
)

# An event's timestamp is set when its command decides, its position when it commits; on a
# healthy system the two are milliseconds apart. A minute is far beyond any command's
# duration (the statement and lock timeouts end it sooner).
COMMIT_SKEW = timedelta(minutes=1)

_COLUMNS = "notification_id, originator_id, originator_version, topic, state"


def events_table(app_name: str) -> sql.Identifier:
    return sql.Identifier(f"{app_name}_events")


@dataclass(frozen=True)
class LogEntry:
    application: str
    position: int
    aggregate_id: str
    version: int
    type: str  # the public type, or the stored topic when the catalogue does not know it
    schema_version: int | None
    timestamp: datetime | None
    data: dict[str, Any] | None  # None when the stored event cannot be decoded
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "application": self.application, "position": self.position,
            "aggregate_id": self.aggregate_id, "version": self.version, "type": self.type,
            "schema_version": self.schema_version,
            "timestamp": to_json_value(self.timestamp) if self.timestamp else None,
            "data": self.data, **({"error": self.error} if self.error else {}),
        }


def _entry(app: Application[UUID], row: Sequence[Any]) -> LogEntry:
    position, originator_id, version, topic, state = row
    try:
        catalogued = entry_for_topic(topic)
        name, schema_version = catalogued.public_type, catalogued.schema_version
    except UnknownEventTypeError:
        name, schema_version = topic, None
    try:
        event: Any = app.mapper.to_domain_event(StoredEvent(
            originator_id=originator_id, originator_version=version, topic=topic,
            state=bytes(state)))
        # Inside the try too: a row whose state lacks its fields decodes into an event that
        # fails only here (a 500 on every page that held it).
        timestamp, data = event.timestamp, public_data(event)
    except Exception as error:  # noqa: BLE001 - an auditor still sees that the row exists
        return LogEntry(app.name, position, str(originator_id), version, name, schema_version,
                        None, None, f"{type(error).__name__}: {error}")
    return LogEntry(app.name, position, str(originator_id), version, name, schema_version,
                    timestamp, data)


# -- streams -----------------------------------------------------------------------------

@dataclass(frozen=True)
class StreamInfo:
    application: str
    first_topic: str  # the created event's: names the aggregate kind
    last_version: int


def find_stream(conn: Connection, app_names: Sequence[str], aggregate_id: UUID) -> StreamInfo | None:
    """Which application's log holds this aggregate (one primary-key lookup per log)."""
    for name in app_names:
        row = conn.execute(sql.SQL(
            "SELECT (SELECT topic FROM {t} WHERE originator_id = %(id)s "
            "        ORDER BY originator_version LIMIT 1),"
            "       (SELECT max(originator_version) FROM {t} WHERE originator_id = %(id)s)"
        ).format(t=events_table(name)), {"id": aggregate_id}).fetchone()
        if row and row[0] is not None:
            return StreamInfo(name, str(row[0]), int(row[1]))
    return None


def stream_events(conn: Connection, app: Application[UUID], aggregate_id: UUID, *,
                  from_version: int = 1, limit: int = 100) -> list[LogEntry]:
    rows = conn.execute(sql.SQL(
        f"SELECT {_COLUMNS} FROM {{t}} WHERE originator_id = %s AND originator_version >= %s "
        "ORDER BY originator_version LIMIT %s"
    ).format(t=events_table(app.name)), (aggregate_id, from_version, limit)).fetchall()
    return [_entry(app, row) for row in rows]


def _stream_event_at(conn: Connection, app: Application[UUID], aggregate_id: UUID,
                     version: int) -> LogEntry | None:
    found = stream_events(conn, app, aggregate_id, from_version=version, limit=1)
    return found[0] if found else None


def _bisect(lo: int, hi: int, before: Callable[[int], bool]) -> int:
    """The first n in [lo, hi] with not before(n), or hi + 1; `before` must be monotone."""
    while lo <= hi:
        mid = (lo + hi) // 2
        if before(mid):
            lo = mid + 1
        else:
            hi = mid - 1
    return lo


def version_at(conn: Connection, app: Application[UUID], aggregate_id: UUID, as_of: datetime,
               last_version: int) -> int | None:
    """The last version stored at or before `as_of`, or None: the stream began later."""

    def at_or_before(version: int) -> bool:
        found = _stream_event_at(conn, app, aggregate_id, version)
        return bool(found and found.timestamp and found.timestamp <= as_of)

    first_later = _bisect(1, last_version, at_or_before)
    return first_later - 1 if first_later > 1 else None


# -- the global log ----------------------------------------------------------------------

@dataclass(frozen=True)
class LogPage:
    entries: list[LogEntry]
    next_after: int | None  # pass as `after` for the next page; None: nothing more for now
    head: int  # the log's last position when read (0: empty)
    # Reading by cursor: where this page ended, (transaction id, position); None by position.
    next_cursor: tuple[int, int] | None = None


def head(conn: Connection, app_name: str) -> int:
    row = conn.execute(sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {t}").format(
        t=events_table(app_name))).fetchone()
    return int(row[0]) if row else 0


def settled_head(conn: Connection, app_name: str) -> int:
    """The last position an id-ordered reader may pass: just before the first event written by
    a transaction no older than the oldest still running. Such a transaction can still commit
    an event below a position already visible (ids are drawn at insert, visible at commit): an
    auditor paging to the plain head, keeping the last position seen, skipped it for good. One
    index range (transaction_id, notification_id) over the recent transactions."""
    row = conn.execute(sql.SQL(
        "SELECT coalesce((SELECT min(notification_id) - 1 FROM {t} "
        "                 WHERE transaction_id >= pg_snapshot_xmin(pg_current_snapshot())), "
        "                (SELECT max(notification_id) FROM {t}), 0)").format(
        t=events_table(app_name))).fetchone()
    return int(row[0]) if row else 0


def settled_within(conn: Connection, app_name: str, log_head: int, within: float) -> int:
    """`settled_head`, after waiting up to `within` seconds for it to reach `log_head`: the
    transactions in flight at a read usually end within milliseconds, and a short wait lets
    the read reach what was committed before it rather than stop short."""
    upto = settled_head(conn, app_name)
    deadline = time.monotonic() + within
    while upto < log_head and time.monotonic() < deadline:
        time.sleep(0.005)
        upto = settled_head(conn, app_name)
    return min(upto, log_head)


def unsettled(conn: Connection, app_name: str) -> bool:
    """Whether a committed event waits behind a transaction still running: a read in the
    workers' order (below the oldest running transaction) would not reach it yet."""
    row = conn.execute(sql.SQL(
        "SELECT EXISTS (SELECT 1 FROM {t} WHERE transaction_id >= "
        "pg_snapshot_xmin(pg_current_snapshot()))").format(t=events_table(app_name))).fetchone()
    return bool(row and row[0])


def wait_unsettled(conn: Connection, app_name: str, within: float) -> None:
    """Up to `within` seconds for the transactions in flight to end (`unsettled`): a read in
    the workers' order right after a commit then reaches it rather than stop short."""
    deadline = time.monotonic() + within
    while unsettled(conn, app_name) and time.monotonic() < deadline:
        time.sleep(0.005)


def _first_position_at_or_after(conn: Connection, app_name: str, position: int) -> Sequence[Any] | None:
    row: Sequence[Any] | None = conn.execute(sql.SQL(
        f"SELECT {_COLUMNS} FROM {{t}} WHERE notification_id >= %s "
        "ORDER BY notification_id LIMIT 1").format(t=events_table(app_name)), (position,)).fetchone()
    return row


def position_before(conn: Connection, app: Application[UUID], when: datetime, log_head: int) -> int:
    """A position P such that every event stored at or before P has a timestamp before
    `when` (within COMMIT_SKEW), found by bisecting positions: `after=P` starts a scan for
    events from `when` on."""

    def before(position: int) -> bool:
        row = _first_position_at_or_after(conn, app.name, position)
        if row is None:
            return False
        found = _entry(app, row)
        return bool(found.timestamp and found.timestamp < when - COMMIT_SKEW)

    return _bisect(1, log_head, before) - 1


def read_log(
    conn: Connection, app: Application[UUID], *, after: int = 0, limit: int = 100,
    topics: Sequence[str] = (), aggregate_id: UUID | None = None,
    since: datetime | None = None, until: datetime | None = None, settle_within: float = 1.0,
) -> LogPage:
    """Events after `after` in position order, matching every filter given, up to the settled
    head (`settled_head`): an event a running transaction may still commit below it is never
    passed over. A page may hold fewer than `limit` entries (events near the time bounds are
    read and dropped) and still have a `next_after`."""
    log_head = head(conn, app.name)
    if since is not None:
        after = max(after, position_before(conn, app, since, log_head))
    upto = settled_within(conn, app.name, log_head, settle_within)
    if until is not None:
        upto = min(upto, position_before(conn, app, until + 3 * COMMIT_SKEW, log_head))
    if after >= upto:
        return LogPage([], None, log_head)
    where = [sql.SQL("notification_id > %(after)s"), sql.SQL("notification_id <= %(upto)s")]
    params: dict[str, Any] = {"after": after, "upto": upto, "limit": limit}
    table = events_table(app.name)
    if aggregate_id is not None:
        # One stream: its primary-key range, whose version order is position order.
        where.append(sql.SQL("originator_id = %(aggregate_id)s"))
        params["aggregate_id"] = aggregate_id
        order = sql.SQL("originator_version")
    else:
        order = sql.SQL("notification_id")
    if topics:
        # One index range per type, merged: `topic = ANY(...)` would sort every match.
        params.update({f"topic{i}": t for i, t in enumerate(topics)})
        parts = [sql.SQL("(SELECT {cols} FROM {t} WHERE {w} AND topic = {p} ORDER BY {o} LIMIT %(limit)s)")
                 .format(cols=sql.SQL(_COLUMNS), t=table, w=sql.SQL(" AND ").join(where),
                         p=sql.Placeholder(f"topic{i}"), o=order)
                 for i in range(len(topics))]
        query = sql.SQL("SELECT * FROM ({}) AS typed ORDER BY notification_id LIMIT %(limit)s").format(
            sql.SQL(" UNION ALL ").join(parts))
    else:
        query = sql.SQL("SELECT {cols} FROM {t} WHERE {w} ORDER BY {o} LIMIT %(limit)s").format(
            cols=sql.SQL(_COLUMNS), t=table, w=sql.SQL(" AND ").join(where), o=order)
    rows = conn.execute(query, params).fetchall()
    entries = [_entry(app, row) for row in rows]
    last = entries[-1].position if entries else None
    kept = [e for e in entries if e.timestamp is None or (
        (since is None or e.timestamp >= since) and (until is None or e.timestamp <= until))]
    return LogPage(kept, last if len(rows) == limit and last is not None and last < upto else None,
                   log_head)



# -- the global log in reading order -------------------------------------------------------

def parse_cursor(text: str) -> tuple[int, int]:
    """A reading position as the API and the CLI write it, TRANSACTION-POSITION ("0-0": the
    start); ValueError for anything else."""
    xid, dash, position = text.partition("-")
    if not (dash and xid.isascii() and xid.isdigit() and position.isascii() and position.isdigit()
            and int(xid) < 2**64 and int(position) < 2**63):
        raise ValueError("a cursor is TRANSACTION-POSITION, as a page's next_cursor, or 0-0")
    return int(xid), int(position)


# Rows a page with a type filter looks at, at most, per wanted event: a rare type then costs a
# bounded scan per page (with fewer events and a cursor past them), not the whole log.
SCAN_PER_EVENT = 20


def read_log_from(
    conn: Connection, app: Application[UUID], cursor: tuple[int, int], *, limit: int = 100,
    topics: Sequence[str] = (), aggregate_id: UUID | None = None, settle_within: float = 1.0,
) -> LogPage:
    """Events after `cursor` in the order the workers read them: by (transaction id,
    position), only below the oldest transaction still running. An event committed late sorts
    after everything read before it, whatever position it drew, so a reader that keeps the
    last cursor misses nothing, ever (by position, `read_log`, a transaction that took its id
    before another but drew its position after could commit below a position already read).
    One statement, one snapshot. The page ends at `next_cursor`, which is the cursor given when
    there is nothing new yet."""
    wait_unsettled(conn, app.name, settle_within)  # as `read_log` waits for its settled head
    table = events_table(app.name)
    params: dict[str, Any] = {"xid": str(cursor[0]), "id": cursor[1], "limit": limit,
                              "topics": list(topics), "aggregate_id": aggregate_id}
    wanted = sql.SQL("topic = ANY(%(topics)s)") if topics else sql.SQL("true")
    after = sql.SQL("transaction_id < pg_snapshot_xmin(pg_current_snapshot()) "
                    "AND (transaction_id, notification_id) > (%(xid)s::text::xid8, %(id)s)")
    if aggregate_id is not None:
        # The stream's primary-key range, sorted: the (transaction id, position) index would
        # walk the whole log for one aggregate.
        query = sql.SQL(
            "WITH s AS MATERIALIZED (SELECT {cols}, transaction_id::text AS xid, true AS wanted "
            "FROM {t} WHERE originator_id = %(aggregate_id)s AND {after} AND {wanted}) "
            "SELECT * FROM s ORDER BY xid::xid8, notification_id LIMIT %(limit)s")
    else:
        # The state only of wanted rows: the others are only walked past.
        params["scan"] = limit * SCAN_PER_EVENT if topics else limit
        query = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, "
            # The text form gets its own name: ORDER BY transaction_id would sort by it
            # ('10000' before '9995': the page skipped every event of a shorter id).
            "CASE WHEN {wanted} THEN state END, transaction_id::text AS xid, {wanted} FROM {t} "
            "WHERE {after} ORDER BY transaction_id, notification_id LIMIT %(scan)s")
    rows = conn.execute(query.format(cols=sql.SQL(_COLUMNS), t=table, after=after, wanted=wanted),
                        params).fetchall()
    entries: list[LogEntry] = []
    end = cursor
    for row in rows:
        end = (int(row[5]), int(row[0]))
        if row[6]:
            entries.append(_entry(app, row[:5]))
            if len(entries) == limit:
                break
    return LogPage(entries, None, head(conn, app.name), next_cursor=end)
