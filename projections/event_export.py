"""The log for auditors' own tools: `eventmart export-events` (JSON lines, public types,
flat memory) and `eventmart replay` (one aggregate's events and the state they fold to,
with the domain's own aggregate classes)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import resolve_topic
from psycopg import Connection, sql

from domain.event_catalogue import UnknownEventTypeError, entry_for_topic
from projections.audit_chain import APPLICATIONS, SCAN_ROWS, events_table
from projections.event_log import head, settled_within, wait_unsettled

# What every event carries beside its data: reported as fields of their own.
ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


def _plain(value: Any) -> Any:
    """JSON for what the stored events hold besides JSON's own types."""
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    if isinstance(value, Mapping):  # a value that is a mapping (a wallet's keyed debits)
        return dict(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # An aggregate's value objects (order and cart lines, addresses, money): their fields.
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"not exported: {type(value).__name__}")


_encode: Callable[[Any], str] = json.JSONEncoder(
    default=_plain, separators=(",", ":"), ensure_ascii=False).encode


def _type_of(topic: str, cache: dict[str, tuple[str, int]]) -> tuple[str, int]:
    """The public type and schema version of a stored topic (the catalogue's)."""
    found = cache.get(topic)
    if found is None:
        entry = entry_for_topic(topic)
        found = cache[topic] = (entry.public_type, entry.schema_version)
    return found


def event_json(application: str, position: int, event: Any, topic: str,
               types: dict[str, tuple[str, int]]) -> dict[str, Any]:
    public, schema_version = _type_of(topic, types)
    return {
        "application": application,
        "position": position,
        "aggregate_id": str(event.originator_id),
        "version": event.originator_version,
        "type": public,
        "schema_version": schema_version,
        "timestamp": _plain(event.timestamp),
        "data": {k: v for k, v in event.__dict__.items() if k not in ENVELOPE},
    }


# `state` as stored bytes (a binary cursor hands them over as they are): decoded per row, so
# that one row that is not UTF-8 is a line with its error, not a failed query.
_SELECT = ("SELECT notification_id, originator_id::text, originator_version, topic, state FROM {} "
           "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id")

# The library's JSON writes UUIDs, datetimes and Decimals as {"_type_": ..., "_data_": "..."}.
# Inside a JSON string every quote is escaped, so this can only match such a value.
_TYPED = re.compile(r'\{"_type_":"(uuid_hex|datetime_iso|decimal_str)","_data_":"([^"\\]*)"\}')


# How the library writes every event's state: its time first, then a created event's topic.
_TIME_HEAD = '{"timestamp":{"_type_":"datetime_iso","_data_":"'
_TOPIC_HEAD = ',"originator_topic":"'


def _untyped(match: re.Match[str]) -> str:
    kind, data = match.group(1), match.group(2)
    return f'"{UUID(hex=data)}"' if kind == "uuid_hex" else f'"{data}"'


class _Exporter:
    """Turns stored rows into export lines, the cheapest way that gives the same line as
    decoding the domain event and encoding it (tested): the stored text cut and joined; else
    parsed as plain JSON (typed values made plain) and written again; else, for an event
    stored in an older shape (upcasters) or with other typed values, the application's
    mapper."""

    def __init__(self, app: Application[UUID]) -> None:
        self.app = app
        mapper = app.mapper
        self.direct = mapper.cipher is None and mapper.compressor is None
        self.types: dict[str, tuple[str, int]] = {}
        self.class_versions: dict[str, int] = {}
        self.spliced = 0  # lines cut and joined from the stored text
        self.decoded = 0  # lines that went through the mapper
        self.failed: list[int] = []  # positions of rows that could not be read

    def line(self, position: int, oid: str, version: int, topic: str, stored: bytes) -> str:
        try:
            return self._line(position, oid, version, topic, stored)
        except Exception as error:  # noqa: BLE001 - the auditor still sees that the row exists
            # As the audit API shows such a row (projections/event_log.py): where it is, what
            # it claims to be, and why it cannot be read; the command exits non-zero at the end.
            self.failed.append(position)
            try:
                public, schema_version = _type_of(topic, self.types)
            except UnknownEventTypeError:
                public, schema_version = topic, None
            return _encode({"application": self.app.name, "position": position,
                            "aggregate_id": oid, "version": version, "type": public,
                            "schema_version": schema_version, "timestamp": None, "data": None,
                            "error": f"{type(error).__name__}: {error}"})

    def _line(self, position: int, oid: str, version: int, topic: str, stored: bytes) -> str:
        if self.direct:  # the stored bytes are the JSON text (no cipher, no compression)
            state = stored.decode()
            if spliced := self._spliced(position, oid, version, topic, state):
                return spliced
            if '"_type_"' not in (plain := _TYPED.sub(_untyped, state)):
                data = json.loads(plain)
                stored_version = data.pop("class_version", 1)
                if stored_version >= self._class_version(topic):
                    timestamp = data.pop("timestamp")
                    data.pop("originator_topic", None)
                    public, schema_version = _type_of(topic, self.types)
                    return _encode({"application": self.app.name, "position": position,
                                    "aggregate_id": oid, "version": version, "type": public,
                                    "schema_version": schema_version, "timestamp": timestamp,
                                    "data": data})
        self.decoded += 1
        event = self.app.mapper.to_domain_event(StoredEvent(UUID(oid), version, topic, stored))
        return _encode(event_json(self.app.name, position, event, topic, self.types))

    def _spliced(self, position: int, oid: str, version: int, topic: str, state: str) -> str | None:
        """The line cut and joined from the stored text, not parsed at all: the stored JSON
        is compact and starts with the event's time (and a created event's topic), the rest
        is its data. None when it does not look like that, or holds a class version."""
        if not state.startswith(_TIME_HEAD):
            return None
        end = state.find('"}', len(_TIME_HEAD))
        timestamp, rest = state[len(_TIME_HEAD):end], end + 2
        if state.startswith(_TOPIC_HEAD, rest):
            rest = state.index('"', rest + len(_TOPIC_HEAD)) + 1
        body = state[rest:]
        if '"_type_"' in body:
            body = _TYPED.sub(_untyped, body)
            if '"_type_"' in body:
                return None
        if '"class_version":' in body:
            return None
        public, schema_version = _type_of(topic, self.types)
        self.spliced += 1
        return (f'{{"application":"{self.app.name}","position":{position},"aggregate_id":"{oid}",'
                f'"version":{version},"type":"{public}","schema_version":{schema_version},'
                f'"timestamp":"{timestamp}","data":{{{body[1:] if body[0] == "," else body}}}')

    def _class_version(self, topic: str) -> int:
        found = self.class_versions.get(topic)
        if found is None:
            found = self.class_versions[topic] = int(getattr(resolve_topic(topic), "class_version", 1))
        return found


@dataclass(frozen=True)
class Exported:
    events: int
    failed: list[int]  # positions written as a line with an `error`, no `data`
    upto: int  # the last position written (else `after`): the next export starts after it
    cursor: tuple[int, int] | None = None  # by cursor: where the next export starts


# How long an export waits for the transactions in flight when it starts.
SETTLE_SECONDS = 2.0

# In the workers' reading order, only below the oldest transaction still running: nothing
# can commit behind the cursor (projections/event_log.py read_log_from). The text form of the
# id gets its own name: ORDER BY transaction_id would sort by it ('10000' before '9995').
_SELECT_FROM_CURSOR = (
    "SELECT notification_id, originator_id::text, originator_version, topic, state, "
    "transaction_id::text AS xid FROM {} WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot()) "
    "AND (transaction_id, notification_id) > (%s::text::xid8, %s) "
    "ORDER BY transaction_id, notification_id")


def export_from(conn: Connection, app: Application[UUID], out: IO[str],
                cursor: tuple[int, int]) -> Exported:
    """Writes the log's events after `cursor` (transaction id, position) in the order the
    workers read them, as JSON lines: an export resumed from the cursor it ended at misses
    nothing, ever (by position, a transaction that took its id first and drew its position
    later can commit below a position already exported). Memory is flat, as `export`'s."""
    exporter = _Exporter(app)
    written, last = 0, cursor
    wait_unsettled(conn, app.name, SETTLE_SECONDS)  # as `export` waits for its settled head
    with conn.transaction(), conn.cursor(name=f"export_{app.name}", binary=True) as cur:
        cur.itersize = SCAN_ROWS
        cur.execute(sql.SQL(_SELECT_FROM_CURSOR).format(events_table(app.name)),
                    (str(cursor[0]), cursor[1]))
        while rows := cur.fetchmany(SCAN_ROWS):
            lines = [exporter.line(*row[:5]) for row in rows]
            lines.append("")
            out.write("\n".join(lines))
            written += len(rows)
            last = (int(rows[-1][5]), rows[-1][0])
    return Exported(written, exporter.failed, last[1], last)


def export(conn: Connection, app: Application[UUID], out: IO[str], *, after: int = 0,
           until: int | None = None) -> Exported:
    """Writes the log's events in (after, until] as JSON lines, and never past the settled
    head (`event_log.settled_head`): a transaction still running may yet commit an event
    below a position already visible, and an export resumed after the last position written
    would pass it by. Reads with a server-side cursor and writes each fetch at once: memory
    does not grow with the log."""
    exporter = _Exporter(app)
    written, last = 0, after
    settled = settled_within(conn, app.name, head(conn, app.name), SETTLE_SECONDS)
    until = settled if until is None else min(until, settled)
    with conn.transaction(), conn.cursor(name=f"export_{app.name}", binary=True) as cur:
        cur.itersize = SCAN_ROWS
        cur.execute(sql.SQL(_SELECT).format(events_table(app.name)), (after, until))
        while rows := cur.fetchmany(SCAN_ROWS):
            lines = [exporter.line(*row) for row in rows]
            lines.append("")
            out.write("\n".join(lines))
            written += len(rows)
            last = rows[-1][0]
    # Not `until`: a position drawn by a transaction still running is below the bound, unseen.
    return Exported(written, exporter.failed, last)


# Replay


@dataclass(frozen=True)
class Replayed:
    application: str
    kind: str  # the aggregate's class name
    version: int
    events: list[dict[str, Any]]
    state: dict[str, Any]


def find_application(conn: Connection, apps: dict[str, Application[UUID]],
                     aggregate_id: UUID) -> Application[UUID] | None:
    """Which log holds this aggregate (ids are UUIDs: at most one does)."""
    for name in APPLICATIONS:
        found = conn.execute(sql.SQL("SELECT 1 FROM {} WHERE originator_id = %s LIMIT 1").format(
            events_table(name)), (aggregate_id,)).fetchone()
        if found:
            return apps[name]
    return None


def state_of(aggregate: Any) -> dict[str, Any]:
    """The aggregate's attributes as JSON values, with its id, version and times."""
    state = {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}
    state_json: dict[str, Any] = json.loads(_encode({
        "id": aggregate.id, "version": aggregate.version, "created_on": aggregate.created_on,
        "modified_on": aggregate.modified_on, **state}))
    return state_json


class UnreplayableError(Exception):
    """A stored event of the stream does not decode or apply; `events`: those before it."""

    def __init__(self, detail: str, events: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.events = events


def replay(runtime: Any, aggregate_id: UUID, *, version: int | None = None,
           as_of: datetime | None = None) -> Replayed | None:
    """The aggregate's events up to `version` (or the last at or before `as_of`), folded by
    its own class's event handlers as the repository folds them. None: no such aggregate,
    or nothing at that version or time."""
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    apps: dict[str, Application[UUID]] = runtime.applications
    with runtime.pool.connection() as conn:
        app = find_application(conn, apps, aggregate_id)
        if app is None:
            return None
        rows = conn.execute(sql.SQL(
            "SELECT notification_id, originator_version, topic, state FROM {} "
            "WHERE originator_id = %s AND originator_version <= %s ORDER BY originator_version"
        ).format(events_table(app.name)), (aggregate_id, version or 2**31 - 1)).fetchall()
    types: dict[str, tuple[str, int]] = {}
    aggregate: Any = None
    events = []
    for position, v, topic, state in rows:
        try:
            event: Any = app.mapper.to_domain_event(StoredEvent(aggregate_id, v, topic, bytes(state)))
            if as_of is not None and event.timestamp > as_of:
                break
            aggregate = event.mutate(aggregate)
            events.append(json.loads(_encode(event_json(app.name, position, event, topic, types))))
        except Exception as error:  # noqa: BLE001 - a stored row that no longer decodes or applies
            raise UnreplayableError(
                f"the event at version {v} (position {position} of the {app.name} log) cannot be "
                f"replayed: {type(error).__name__}: {error}"[:1000], events) from None
    if aggregate is None or (version is not None and aggregate.version != version):
        return None
    return Replayed(app.name, type(aggregate).__name__, aggregate.version, events, state_of(aggregate))
