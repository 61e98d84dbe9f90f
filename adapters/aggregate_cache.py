"""A version-checked aggregate cache: several aggregates, of several applications, brought up
to date in one statement.

The library's repository costs two statements per aggregate (latest snapshot, then the events
after it), and its own cache one per aggregate (the events after the cached version). A cart
add needs a cart, a product, its shop and the variant's stock: four look-ups, eight statements
uncached. Here one statement asks every table at once for the events after the version each
aggregate is cached at (an aggregate not cached yet: its latest snapshot and the events after
it), and the aggregates are brought forward in memory.

Correct with any number of processes: nothing is trusted without asking the store for newer
events, either in the same statement that reads them, or, for a command that took the cached
aggregates as they were (domain/loading.py, `known`), in the statement that appends its
decision (adapters/recorder.py); the cache only saves decoding and folding what was already
read. Events are immutable and an aggregate's versions are gap-free, so "events after version
v" is all that can have changed. It also remembers which ids had no aggregate when last
looked up (a variant's stock that is not counted), checked the same way: no event after
version 0.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from domain.loading import Key, copy_aggregate

DEFAULT_MAXSIZE = 20_000


def _table(recorder: Any) -> sql.Composable:
    return sql.Identifier(recorder.datastore.schema, recorder.events_table_name)


class VersionCheckedCache:
    """An `AggregateSource` over the PostgreSQL event stores of the given applications (one
    database). Least recently used aggregates are dropped past `maxsize`."""

    def __init__(self, applications: Iterable[Any], maxsize: int = DEFAULT_MAXSIZE) -> None:
        self.applications = {app.name: app for app in applications}
        self.maxsize = maxsize
        # None: the aggregate did not exist at its last look-up (a product's stock that is
        # not counted), so that a command can take that as it takes a cached aggregate.
        self._entries: OrderedDict[Key, Aggregate | None] = OrderedDict()
        self._lock = threading.Lock()
        # The look-up's text per tuple of applications: psycopg would render a Composed anew
        # on every execute (4% of an API process's GIL time under cart adds).
        self._queries: dict[tuple[str, ...], sql.SQL] = {}
        self.statements = 0  # how many look-ups went to the database (tests, benches)

    def attach(self) -> VersionCheckedCache:
        for app in self.applications.values():
            app.aggregate_source = self
        return self

    def peek(self, application: str, aggregate_id: UUID) -> Aggregate | None:
        return self.known(application, aggregate_id)[1]

    def known(self, application: str, aggregate_id: UUID) -> tuple[bool, Aggregate | None]:
        with self._lock:
            key = (application, aggregate_id)
            return (True, self._entries[key]) if key in self._entries else (False, None)

    def remember(self, application: str, aggregates: Iterable[Aggregate]) -> None:
        with self._lock:
            for aggregate in aggregates:
                self._put((application, aggregate.id), aggregate)

    def forget(self) -> None:
        with self._lock:
            self._entries.clear()

    def _put(self, key: Key, aggregate: Aggregate | None) -> None:
        held = self._entries.get(key)
        if held is None or aggregate is not None and held.version <= aggregate.version:
            self._entries[key] = aggregate
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def load(self, wanted: Sequence[tuple[Any, UUID]]) -> dict[Key, Aggregate | None]:
        by_app: dict[str, dict[UUID, Aggregate | None]] = {}
        with self._lock:
            for app, aggregate_id in wanted:
                by_app.setdefault(app.name, {})[aggregate_id] = self._entries.get((app.name, aggregate_id))
        names = list(by_app)
        params: list[Any] = []
        for known in by_app.values():
            # Array literals as text: psycopg dumps a list in Python, element by element,
            # which cost more than the rest of the look-up's client side.
            versions = [str(a.version) if a is not None else "0" for a in known.values()]
            params += ["{" + ",".join(map(str, known)) + "}", "{" + ",".join(versions) + "}"]
        query = self.statement(tuple(names))
        first = self.applications[names[0]]
        with first.recorder.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(query, params, prepare=True)
            rows = cur.fetchall()
        self.statements += 1

        found: dict[Key, Aggregate | None] = {}
        for name in names:
            for aggregate_id, cached in by_app[name].items():
                found[(name, aggregate_id)] = cached
        copied: set[Key] = set()
        for row in rows:
            index, _kind, originator_id, version, topic, state = (
                row["app"], row["kind"], row["originator_id"], row["originator_version"],
                row["topic"], row["state"])
            name = names[index]
            key = (name, originator_id)
            app = self.applications[name]
            event = app.mapper.to_domain_event(StoredEvent(
                originator_id=originator_id, originator_version=version, topic=topic,
                state=bytes(state)))
            aggregate = found.get(key)
            if aggregate is not None and key not in copied and _kind == 1:
                aggregate = copy_aggregate(aggregate)  # the cached one is shared: never change it
            copied.add(key)
            found[key] = event.mutate(None if _kind == 0 else aggregate)
        with self._lock:
            for key, aggregate in found.items():
                if key in copied or aggregate is None:
                    self._put(key, aggregate)
        return found

    def statement(self, names: tuple[str, ...]) -> sql.SQL:
        """The look-up of aggregates of these applications, two parameters (ids, cached
        versions) per application, in this order."""
        query = self._queries.get(names)
        if query is None:
            query = self._queries[names] = sql.SQL(sql.SQL(
                "SELECT * FROM ({}) AS found ORDER BY 1, 3, 2, 4").format(sql.SQL(" UNION ALL ").join(
                    self._block(self.applications[name], index) for index, name in enumerate(names)
                )).as_string())
        return query

    @staticmethod
    def _block(app: Any, index: int) -> sql.Composable:
        """Rows (app, kind 0 snapshot / 1 event, id, version, topic, state) for one
        application: for each (id, cached version) the events after it; with cached version
        0, the latest snapshot and the events after that.

        Every look-up is a LATERAL subquery (OFFSET 0 keeps the planner from flattening it
        into a join): one index probe per id in any plan. As a plain join, the generic plan
        PostgreSQL caches for this prepared statement hash-joined a sequential scan of the
        whole log whenever the log had not been analyzed yet (with its cost estimated while
        the log was small, it kept that plan as the log grew): measured, commands slowed
        down as the log grew (debit_wallet 2,051 -> 999/s at 8 threads over 22,000 events),
        every load reading every event."""
        events = _table(app.recorder)
        snapshots = getattr(app, "snapshots", None)
        if snapshots is None:
            return sql.SQL(
                "(SELECT {i} AS app, 1 AS kind, e.* FROM unnest(%s::uuid[], %s::int[]) AS k(id, v) "
                "CROSS JOIN LATERAL (SELECT originator_id, originator_version, topic, state "
                "FROM {events} WHERE originator_id = k.id AND originator_version > k.v OFFSET 0) AS e)"
            ).format(i=sql.Literal(index), events=events)
        return sql.SQL(
            "(WITH k AS (SELECT * FROM unnest(%s::uuid[], %s::int[]) AS k(id, v)), "
            # The latest snapshot of each id, one index probe each (DISTINCT ON would read
            # every snapshot of a long history).
            "s AS (SELECT l.* FROM k CROSS JOIN LATERAL (SELECT originator_id, originator_version, "
            "topic, state FROM {snapshots} WHERE originator_id = k.id "
            "ORDER BY originator_version DESC LIMIT 1) AS l WHERE k.v = 0) "
            "SELECT {i} AS app, 0 AS kind, originator_id, originator_version, topic, state FROM s "
            "UNION ALL "
            "SELECT {i}, 1, e.* FROM k LEFT JOIN s ON s.originator_id = k.id "
            "CROSS JOIN LATERAL (SELECT originator_id, originator_version, topic, state "
            "FROM {events} WHERE originator_id = k.id "
            "AND originator_version > greatest(k.v, coalesce(s.originator_version, 0)) OFFSET 0) AS e)"
        ).format(i=sql.Literal(index), events=events, snapshots=_table(snapshots.recorder))
