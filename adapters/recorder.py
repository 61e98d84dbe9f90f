"""The event store's recorder: the eventsourcing library's PostgreSQL recorder, appending
without `LOCK TABLE` and without a NOTIFY in every append transaction.

The library locks the events table in EXCLUSIVE mode on every insert so that commit order
equals `notification_id` order and a follower reading by id never passes over an id that
commits later. That serialises every write to an application. Here each event also stores
its writer's transaction id (`transaction_id`, xid8, `pg_current_xact_id()`), and the log is
read in `(transaction_id, notification_id)` order, only below the oldest transaction still
running (`pg_snapshot_xmin(pg_current_snapshot())`): every transaction with an id below that
bound has ended, so nothing can still appear there, and every later commit sorts after it.
A transaction that commits late can hold followers back, never be skipped
(workers/log_follower.py reads that way; the follower's position is the pair).

Wake-ups: a NOTIFY inside each append made every commit take PostgreSQL's global notify
queue lock. Appends instead poke a `Notifier`, whose own thread sends one NOTIFY on the
same channel for a burst of appends, after they committed; followers also poll. Its payload
names the topics the burst appended (space-separated; empty: not known), so a follower that
reads none of them (a policy, during cart traffic) can stay asleep (workers/log_follower.py).

Round trips: with neither lock nor NOTIFY left, an append is one INSERT, so it runs as one
autocommit statement (one round trip) instead of BEGIN, INSERT, COMMIT. When a request says
whose write it is (`WRITER`), the same statement also records it for that user's
read-your-writes (`user_write_positions`), which was a statement of its own after the append.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    Notification,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

log = logging.getLogger(__name__)

# The notifier waits this long after a NOTIFY before the next one: appends within it share
# one wake-up, so a follower runs one batch per burst rather than one transaction per event.
# It bounds the wake-up delay it adds to a read-your-writes wait.
NOTIFY_DEBOUNCE_SECONDS = 0.002

# An append that fails on its connection is tried this many times in all, this far apart
# (the library's own retry of an append).
APPEND_ATTEMPTS = 10
APPEND_RETRY_SECONDS = 0.2

# Rows appended before this recorder existed carry no transaction id; they were committed
# under the library's table lock, in notification_id order, so they all sort first, by id.
BACKFILLED_TRANSACTION_ID = "0"

# The notifier's own session, as pg_stat_activity names it; an unreachable database fails its
# connect within this (followers poll meanwhile).
NOTIFIER_APPLICATION = "eventmart-notifier"
NOTIFIER_CONNECT_TIMEOUT_SECONDS = 5

# PostgreSQL takes NOTIFY payloads of up to 8,000 bytes; a burst of more topics than this
# holds sends an empty payload, which wakes every follower.
MAX_TOPICS_PAYLOAD = 7_000


class Notifier:
    """One NOTIFY per burst of appends, sent from its own thread outside any append
    transaction. Best effort: followers poll as well, so a lost NOTIFY only delays them.

    It sends on a connection of its own, not one from the event store's pool: under load
    every pool connection is taken by requests, and a NOTIFY queued behind them arrived
    as late as the requests were slow (the followers, woken late, held a read-your-writes
    wait that long)."""

    def __init__(self, datastore: PostgresDatastore, channel: str,
                 debounce: float = NOTIFY_DEBOUNCE_SECONDS) -> None:
        self.datastore = datastore
        self.channel = channel
        self.debounce = debounce
        self.sent = 0  # NOTIFYs sent (the bench and tests read it)
        self._wanted = threading.Event()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None
        # The topics appended since the last NOTIFY; None: some append did not say.
        self._topics: set[str] | None = set()
        self._topics_lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None  # the thread's own

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            pool = self.datastore.pool
            # The pool's own connection parameters (psycopg_pool also takes them as callables).
            conninfo = pool.conninfo if isinstance(pool.conninfo, str) else pool.conninfo()
            given = pool.kwargs() if callable(pool.kwargs) else pool.kwargs
            kwargs = {k: v for k, v in (given or {}).items() if k != "row_factory"}
            if pool.get_password_func is not None:
                kwargs["password"] = pool.get_password_func()
            kwargs.setdefault("connect_timeout", NOTIFIER_CONNECT_TIMEOUT_SECONDS)
            self._conn = psycopg.connect(conninfo, autocommit=True, application_name=NOTIFIER_APPLICATION,
                                         **kwargs)
        return self._conn

    def poke(self, topics: Iterable[str] | None = None) -> None:
        """Committed appends of these topics (None: not known)."""
        with self._topics_lock:
            if topics is None or self._topics is None:
                self._topics = None
            else:
                self._topics.update(topics)
        self._wanted.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._start:
            if (self._thread is None or not self._thread.is_alive()) and not self._closed():
                self._thread = threading.Thread(target=self._run, name=f"notify-{self.channel}",
                                                daemon=True)
                self._thread.start()

    def _closed(self) -> bool:
        return bool(self.datastore.pool.closed)

    def _run(self) -> None:
        quiet = threading.Event()  # never set: a wait on it is the debounce pause
        while True:
            if not self._wanted.wait(timeout=1.0):
                if self._closed():
                    return self._close()  # the application was closed: the thread ends with it
                continue
            if self._closed():
                return self._close()
            self._wanted.clear()
            with self._topics_lock:
                topics, self._topics = self._topics, set()
            if topics is not None and not topics:
                continue  # a poke's topics already went with the previous NOTIFY
            payload = " ".join(sorted(topics)) if topics is not None else ""
            try:
                self._connection().execute(
                    "SELECT pg_notify(%s, %s)",
                    (self.channel, payload if len(payload) <= MAX_TOPICS_PAYLOAD else ""))
                self.sent += 1
            except Exception as exc:  # the database is down: followers poll, appends fail loudly
                log.debug("NOTIFY failed: %s", exc)
                self._close()  # the next burst connects again
            quiet.wait(self.debounce)

    def close(self) -> None:
        """Once the event store's pool is closed: ends the thread, which closes its
        connection (left alone, it notices within a second)."""
        self._wanted.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5.0)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# Read-your-writes: a user's next read of a view fed by an application waits until the view has
# passed their last write to it (projections/tracking.py reads this table).
_RECORD_WRITE = ("INSERT INTO user_write_positions (user_id, application, position) {} "
                 "ON CONFLICT (user_id, application) DO UPDATE "
                 "SET position = GREATEST(user_write_positions.position, EXCLUDED.position)")
RECORD_WRITE_SQL = SQL(_RECORD_WRITE).format(SQL("VALUES (%s, %s, %s)"))


@dataclass
class WriteMark:
    """Whose appends these are (None: no one signed in, nothing to record), and what the
    appends recorded as theirs."""

    user_id: UUID | None = None
    recorded: dict[str, int] = field(default_factory=dict)  # application -> last position


# One per API request (api/read_your_writes.py sets it, the sign-in fills in the user);
# a context variable, so each request's appends see their own, whichever thread runs them.
WRITER: ContextVar[WriteMark | None] = ContextVar("eventmart_writer", default=None)


def _writer() -> WriteMark | None:
    """The request's mark, once the sign-in has named the writer."""
    mark = WRITER.get()
    return mark if mark is not None and mark.user_id is not None else None


# application -> aggregate id -> the version a command decided on (0: it did not exist)
Unchanged = Mapping[str, Mapping[UUID, int]]


class StaleAggregateError(IntegrityError):
    """An append guarded by `unchanged` found a newer event: nothing was appended. An
    IntegrityError, so that the command runs again, as after a lost race."""


class LockFreeApplicationRecorder(PostgresApplicationRecorder):
    """Appends concurrently: no table lock, no NOTIFY in the append transaction; each event
    carries its transaction id, and the log is read only where every transaction ended."""

    # Takes `unchanged` (see insert_events): a command may decide on cached aggregates.
    appends_if_unchanged = True

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        table = Identifier(self.datastore.schema, self.events_table_name)
        # The application whose log this is: tables are named `<application>_events`.
        self.application = self.events_table_name.removesuffix("_events")
        # The append statements by shape (see `_append_statement`), built on first use.
        self._appends: dict[tuple[bool, bool, tuple[str, ...]], SQL] = {}
        self._find_appended = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {table} "
            "WHERE (originator_id, originator_version) IN "
            "(SELECT * FROM unnest(%s::uuid[], %s::bigint[]))").format(table=table).as_string()
        self.transaction_index_name = f"{self.events_table_name}_transaction_id_idx"
        self.check_identifier_length(self.transaction_index_name)
        self.notifier = Notifier(datastore, self.channel_name)
        # Appends that appended nothing: a cached aggregate had changed (GET /metrics).
        self.stale_appends = 0
        self._stale_lock = threading.Lock()

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as curs:
            self.add_transaction_ids(curs)

    def add_transaction_ids(self, curs: Cursor[DictRow]) -> None:
        """Migrates a table in place, once: the column (existing rows get
        BACKFILLED_TRANSACTION_ID without a rewrite: a constant default is only catalog
        data), then the default for new rows, then the index the log is read by. Checked
        first so that a migrate of an up-to-date table takes no lock on it."""
        table = Identifier(self.datastore.schema, self.events_table_name)
        curs.execute(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema=%s "
            "AND table_name=%s AND column_name='transaction_id') AS has_column, "
            "to_regclass(%s) IS NOT NULL AS has_index",
            (self.datastore.schema, self.events_table_name,
             f'"{self.datastore.schema}"."{self.transaction_index_name}"'),
        )
        row = curs.fetchone()
        assert row is not None
        if not row["has_column"]:
            curs.execute(SQL(
                "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS transaction_id xid8 NOT NULL "
                "DEFAULT {backfill}::xid8"
            ).format(table=table, backfill=BACKFILLED_TRANSACTION_ID))
            curs.execute(SQL(
                "ALTER TABLE {table} ALTER COLUMN transaction_id SET DEFAULT pg_current_xact_id()"
            ).format(table=table))
        if not row["has_index"]:
            curs.execute(SQL(
                "CREATE INDEX IF NOT EXISTS {index} ON {table} (transaction_id, notification_id)"
            ).format(index=Identifier(self.transaction_index_name), table=table))

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent],
                              unchanged: Unchanged | None = None, **kwargs: Any) -> None:
        # The library's version locks the table and NOTIFYs first; only the INSERT remains,
        # recording the request's writer's position when there is one, and appending only
        # if the aggregates in `unchanged` have no newer events.
        mark = _writer()
        one = len(stored_events) == 1
        apps = tuple(sorted(unchanged)) if unchanged else ()
        if one:
            # Most saves are of one event. Its four values as plain parameters cost the client
            # about 60 us less than an array of one composite (psycopg dumps that in Python,
            # escaping the state with a regular expression): a tenth of a command's CPU.
            e = stored_events[0]
            params: list[Any] = [e.originator_id, e.originator_version, e.topic, e.state]
        else:
            params = [[self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic,
                                                      e.state) for e in stored_events]]
        if unchanged:
            for app in apps:
                versions = unchanged[app]
                # Array literals as text, as the aggregate cache sends them (psycopg dumps a
                # list in Python, element by element).
                params += ["{" + ",".join(map(str, versions)) + "}",
                           "{" + ",".join(map(str, versions.values())) + "}"]
        if mark is not None:
            params += [mark.user_id, self.application]
        shape = (one, mark is not None, apps)
        curs.execute(self._appends.get(shape) or self._append_statement(*shape), params, prepare=True)

    def _append_statement(self, one: bool, writer: bool, apps: tuple[str, ...]) -> SQL:
        """The append of one event (its values as parameters) or of several (an array of
        composites), recording the writer's position (two more parameters) or not, that
        inserts nothing when an aggregate of `apps`' logs has an event past the version
        given for it (two parameters per application, ids and versions). As flat text:
        psycopg renders a Composed anew on every execute (each identifier quoted again),
        which was 4% of an API process's GIL time under cart adds."""
        table = Identifier(self.datastore.schema, self.events_table_name)
        rows: SQL | Composed = SQL(
            "SELECT %s::uuid, %s::bigint, %s::text, %s::bytea, pg_current_xact_id()")
        if not one:
            rows = SQL(
                "SELECT originator_id, originator_version, topic, state, pg_current_xact_id() "
                "FROM unnest(%s::{event_type}[])"
            ).format(event_type=Identifier(self.datastore.schema, self.stored_event_type_name))
        # Each id is one index probe (a LATERAL with LIMIT 1), as in the aggregate cache.
        guards = [SQL(
            "NOT EXISTS (SELECT FROM unnest(%s::uuid[], %s::bigint[]) AS k(id, v) CROSS JOIN LATERAL "
            "(SELECT 1 FROM {events} AS e WHERE e.originator_id = k.id AND e.originator_version > k.v "
            "LIMIT 1) AS newer)").format(events=Identifier(self.datastore.schema, f"{app}_events"))
            for app in apps]
        insert = SQL(
            "INSERT INTO {table} (originator_id, originator_version, topic, state, transaction_id) "
            "{rows}{where} RETURNING notification_id"
        ).format(table=table, rows=rows,
                 where=SQL(" WHERE ") + SQL(" AND ").join(guards) if guards else SQL(""))
        if writer:
            insert = SQL(
                "WITH appended AS ({insert}), written AS ({record}) "
                "SELECT notification_id FROM appended ORDER BY notification_id"
            ).format(insert=insert, record=SQL(_RECORD_WRITE).format(SQL(
                "SELECT %s, %s, max(notification_id) FROM appended HAVING count(*) > 0")))
        statement = self._appends[(one, writer, apps)] = SQL(insert.as_string())
        return statement

    def insert_events(self, stored_events: Sequence[StoredEvent], *,
                      unchanged: Unchanged | None = None, **kwargs: Any) -> Sequence[int] | None:
        """One autocommit INSERT of every event of the save: all of them or none, like the
        library's transaction, in one round trip (ids in insertion order, as the library's).

        `unchanged` (application -> aggregate id -> version): append only if none of these
        aggregates has an event past that version, checked in the same statement; else
        nothing is appended and StaleAggregateError says so. A command that decided on
        cached aggregates without looking them up first (domain/loading.py) saves this way.

        A connection that fails may have failed after the commit, with only its answer
        lost. The library appends again, meets its own events, and raises IntegrityError,
        which a command takes for a concurrent writer's: it reloads, finds its own change
        saved, and decides again (a second debit). Here, after a failure, the next attempt
        first looks for the save's events: found as they were sent, the append is done."""
        if not stored_events:
            return []
        uncertain = False
        for attempt in range(APPEND_ATTEMPTS):
            try:
                found = self._appended(stored_events) if uncertain else None
                ids = found if found is not None else self._append_once(stored_events, unchanged)
                break
            except (InterfaceError, OperationalError):
                if attempt + 1 == APPEND_ATTEMPTS:
                    raise
                uncertain = True
                time.sleep(APPEND_RETRY_SECONDS)
        if not ids:
            with self._stale_lock:
                self.stale_appends += 1
            raise StaleAggregateError("an aggregate this save decided on has changed since it was cached")
        mark = _writer()
        if mark is not None:  # committed: what this request's reads wait for
            mark.recorded[self.application] = max(mark.recorded.get(self.application, 0), max(ids))
        # Committed: wake the followers (once for a burst).
        self.notifier.poke({e.topic for e in stored_events})
        return ids

    def _append_once(self, stored_events: Sequence[StoredEvent],
                     unchanged: Unchanged | None = None) -> list[int]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            self._insert_stored_events(curs, stored_events, unchanged)
            return [int(row["notification_id"]) for row in curs.fetchall()]

    def _appended(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The ids of these events if an earlier attempt appended them (all or none: one
        statement); None if it did not. The same versions with other contents are another
        writer's: IntegrityError, as the append itself would raise."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._find_appended, ([e.originator_id for e in stored_events],
                                               [e.originator_version for e in stored_events]))
            rows = {(r["originator_id"], r["originator_version"]): r for r in curs.fetchall()}
        if not rows:
            return None
        mine = [rows.get((e.originator_id, e.originator_version)) for e in stored_events]
        if any(r is None or bytes(r["state"]) != e.state or r["topic"] != e.topic
               for r, e in zip(mine, stored_events, strict=True)):
            raise IntegrityError("another writer appended these aggregate versions")
        return sorted(int(r["notification_id"]) for r in mine if r is not None)

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *,
                             inclusive_of_start: bool = True) -> Sequence[Notification]:
        """The library's id-ordered read, bounded to events whose transactions have all
        ended. Paging by id over a log being written can still pass over an event that
        commits later with a lower id; followers read by (transaction id, id) instead."""
        params: list[Any] = []
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
            "WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())"
        ).format(Identifier(self.datastore.schema, self.events_table_name))
        if start is not None:
            statement += SQL(" AND notification_id >= %s" if inclusive_of_start
                             else " AND notification_id > %s")
            params.append(start)
        if stop is not None:
            statement += SQL(" AND notification_id <= %s")
            params.append(stop)
        if topics:
            statement += SQL(" AND topic = ANY(%s)")
            params.append(list(topics))
        statement += SQL(" ORDER BY notification_id LIMIT %s")
        params.append(limit)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return [
                Notification(id=row["notification_id"], originator_id=row["originator_id"],
                             originator_version=row["originator_version"], topic=row["topic"],
                             state=bytes(row["state"]))
                for row in curs.fetchall()
            ]


class SnapshotRecorder(PostgresAggregateRecorder):
    """The library's recorder of snapshots, whose insert of one snapshot sends its four values
    as plain parameters. The library sends an array of composites, which psycopg dumps in
    Python, escaping the state's hex text with a regular expression: a cost that grows with
    the snapshot (a wallet's keyed debits), 9% of the CPU of a keyed `debit_wallet` whose
    wallet held a few thousand of them."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self._insert_one = SQL(
            "INSERT INTO {table} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)"
        ).format(table=Identifier(self.datastore.schema, self.events_table_name)).as_string()

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent],
                              **kwargs: Any) -> None:
        if len(stored_events) != 1:
            super()._insert_stored_events(curs, stored_events, **kwargs)
            return
        e = stored_events[0]
        curs.execute(self._insert_one, (e.originator_id, e.originator_version, e.topic, e.state),
                     prepare=True)


class EventMartPostgresFactory(PostgresFactory):
    """The library's PostgreSQL persistence, snapshots stored by SnapshotRecorder."""

    aggregate_recorder_class = SnapshotRecorder


RECORDER_TOPIC = f"{__name__}:{LockFreeApplicationRecorder.__qualname__}"
FACTORY_TOPIC = f"{__name__}:{EventMartPostgresFactory.__qualname__}"
