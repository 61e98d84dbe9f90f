"""Follows one application's event log in order, exactly once per follower.

Each batch is read, handled and its new position stored in one transaction, under a row
lock on the follower's position: a crash anywhere rolls the whole batch back, and two
processes running the same follower never both apply an event.

A batch that fails for a reason other than the database or broker being unreachable is
retried event by event, which names the one event that fails (`EventFailed`). The
Supervisor retries that event a few times, then stops that worker alone on it until an
operator records a skip (`tracking.record_skip`) or the position moves past it.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import eventsourcing.persistence
import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.utils import resolve_topic
from kafka.errors import KafkaError
from psycopg import Connection, sql

from adapters.recorder import NOTIFIER_APPLICATION
from projections import tracking

log = logging.getLogger(__name__)

BATCH_SIZE = 500
# The first pause before looking again for an event that waits behind a running transaction.
PENDING_FIRST_RETRY = 0.001
# The application_name of followers' database sessions. Their transactions never append
# events, so reads do not wait for them (_read_rows); reserved: a session that appends must
# not use it.
FOLLOWER_APPLICATION = "eventmart-follower"
# The sessions whose transactions never append events: followers' and notifiers'.
NEVER_APPEND = [FOLLOWER_APPLICATION, NOTIFIER_APPLICATION]
# A follower that finds a full batch is behind (a rebuild, a catch-up after downtime): it
# doubles its batch up to this, since per-batch costs (round trips, the position write,
# statements per table) then spread over more events; the first batch that is not full
# (caught up with the head) brings it back to `batch_size`, which keeps live latency low.
MAX_BATCH_SIZE = 20_000
# How often one event is tried before its worker stops on it.
POISON_ATTEMPTS = 3
# Restart pauses: the first after a failure, doubling to the cap; back to the first after
# any success, so a glitch after a long healthy run waits half a second, and a worker
# resumes within a few seconds of the database's return.
FIRST_PAUSE = 0.5
MAX_PAUSE = 5.0

# Faults of the environment, not of an event: retried forever, never blamed on an event.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    eventsourcing.persistence.OperationalError,
    eventsourcing.persistence.InterfaceError,
    KafkaError,
    OSError,
    TimeoutError,
)


@dataclass(frozen=True)
class LoggedEvent:
    notification: Notification
    event: Any
    # An operator's recorded skip, or an event its follower does not read: not decoded, not
    # handled (its position is passed all the same).
    skipped: bool = False


Handler = Callable[[Connection, Sequence[LoggedEvent]], None]
# A condition (SQL text), evaluated in the statement that reads each batch (after the position's row lock
# is taken, so it sees whatever committed before the lock was granted): false holds the
# follower where it is (a read model whose tables are of another version than its code:
# workers/bluegreen.py). One statement less per batch than asking it on its own.
Gate = str

TopicFilter = Callable[[str], bool]


def reading(classes: tuple[type, ...]) -> TopicFilter | None:
    """A filter for a follower that reads only events of these classes (subclasses included):
    decoding is most of a rebuild's time, and most of a log is other aggregates' events.
    A topic that does not resolve is read, so that decoding it fails and names it."""
    if not classes:
        return None
    known: dict[str, bool] = {}

    def wants(topic: str) -> bool:
        found = known.get(topic)
        if found is None:
            try:
                cls = resolve_topic(topic)
            except Exception:
                return True
            found = known[topic] = isinstance(cls, type) and issubclass(cls, classes)
        return found

    return wants


class EventFailed(Exception):
    """A follower's handler (or the decoder) failed on this one event."""

    def __init__(self, follower: str, application: str, notification: Notification,
                 cause: BaseException) -> None:
        self.follower = follower
        self.application = application
        self.position = int(notification.id)
        self.aggregate_id = str(notification.originator_id)
        self.version = int(notification.originator_version)
        self.event_type = notification.topic
        self.error = f"{type(cause).__name__}: {cause}"
        super().__init__(
            f"{follower}/{application} cannot apply the event at position {self.position} "
            f"({self.event_type}, aggregate {self.aggregate_id} version {self.version}): {self.error}"
        )

    def describe(self) -> dict[str, Any]:
        return {"position": self.position, "aggregate_id": self.aggregate_id,
                "version": self.version, "type": self.event_type, "error": self.error}


class _Undecodable(Exception):
    def __init__(self, notification: Notification) -> None:
        self.notification = notification


def events_table(app: Application[UUID]) -> str:
    return f"{app.name}_events"


@dataclass(frozen=True)
class LogRow(Notification):
    """A notification and the id of the transaction that wrote it: together, its place in
    the log's reading order."""

    transaction_id: int = 0


Cursor = tuple[int, int]  # (transaction id, notification id) of the last event passed


@dataclass(frozen=True)
class LogRead:
    rows: list[LogRow]
    # A committed event waits behind a transaction still running: worth looking again soon.
    pending: bool
    # Per follower, the events an operator decided it passes over (follower_skips).
    skips: dict[str, set[int]]
    # Per follower (in the order asked), whether its gate is open; all open when no rows.
    open: tuple[bool, ...]


# Composed once per (events table, whether followers' skips are read, their gates): rendering
# it anew on every step cost a follower more than decoding a small burst.
@functools.cache
def _read_statement(events: str, skips: bool, gates: tuple[Gate | None, ...]) -> str:
    skipped = sql.SQL(
        "ARRAY(SELECT k.follower FROM follower_skips k WHERE k.follower = ANY(%(followers)s) "
        "AND k.application = %(application)s AND k.position = notification_id)"
        if skips else "'{}'::text[]")
    gate = sql.SQL("ARRAY[{}]::bool[]").format(
        sql.SQL(", ").join(sql.SQL(g or "true") for g in gates))
    return sql.SQL(
        "WITH snap AS (SELECT pg_current_snapshot() AS s), "
        "never_append AS (SELECT backend_xid FROM pg_stat_activity "
        "                 WHERE application_name = ANY(%(readers)s) AND backend_xid IS NOT NULL), "
        "bound AS (SELECT coalesce("
        "  (SELECT min(x) FROM snap, pg_snapshot_xip(snap.s) AS x "
        "   WHERE x::xid NOT IN (SELECT backend_xid FROM never_append)), "
        "  (SELECT pg_snapshot_xmax(s) FROM snap)) AS xmin), "
        "gates AS (SELECT {gate} AS open) "
        # The text form gets its own name: ORDER BY transaction_id would sort by it.
        # The bound as a scalar subquery, not a join: then it bounds the index scan of
        # (transaction_id, notification_id) instead of filtering its rows. Joined, the
        # probe below for a committed event behind a running transaction read the whole
        # log whenever there was none (LIMIT 1 over an estimated third of the log matching:
        # the generic plan is a sequential scan), on every step of every follower. The
        # probe starts at the later of the cursor and the bound, as one row comparison
        # (btree starts from the row comparison and would walk from the cursor to the bound:
        # the whole backlog, on every batch of a rebuild or a catch-up); from (xmin, -1) it
        # is every event of a transaction at or after xmin, all of them past the cursor.
        "(SELECT true, notification_id, originator_id, originator_version, topic, state, "
        "        transaction_id::text AS xid, {skipped} AS skipped, gates.open "
        " FROM {events}, gates WHERE transaction_id < (SELECT xmin FROM bound) "
        " AND (transaction_id, notification_id) > (%(xid)s::text::xid8, %(id)s) "
        " ORDER BY transaction_id, notification_id LIMIT %(limit)s) "
        "UNION ALL "
        "(SELECT false, notification_id, NULL, NULL, NULL, NULL, transaction_id::text AS xid, "
        "        '{{}}'::text[], gates.open "
        " FROM {events}, gates WHERE (transaction_id, notification_id) > ("
        "   (SELECT greatest(xmin, %(xid)s::text::xid8) FROM bound), "
        "   (SELECT CASE WHEN xmin > %(xid)s::text::xid8 THEN -1 ELSE %(id)s END FROM bound)) "
        " ORDER BY transaction_id, notification_id LIMIT 1)"
    ).format(events=sql.Identifier(events), gate=gate, skipped=skipped).as_string()


def _read_rows(conn: Connection, app: Application[UUID], after: Cursor, limit: int,
               followers: Sequence[str] = (), gates: Sequence[Gate | None] = ()) -> LogRead:
    """The next events after the cursor that every follower will ever see in this order:
    by (transaction id, id), only below the oldest transaction still running, so an event
    committed late sorts after everything read before it (adapters/recorder.py). Also
    whether a committed event waits behind a transaction still running, which of the events
    operators decided each of `followers` passes over, and whether each one's gate is open
    (with events to read; with none, gates do not matter). One statement, one snapshot.

    The bound is `pg_snapshot_xmin(pg_current_snapshot())` except for followers' own
    transactions (FOLLOWER_APPLICATION): they never append events, and they are the long
    write transactions here (a batch), so they would otherwise hold every follower of every
    log back by the length of their batch. Nor do the notifiers' (NOTIFIER_APPLICATION): a
    NOTIFY takes a transaction id as it commits, and a notifier preempted there on a busy
    CPU held every follower back. A running transaction is left out only when its
    session is seen under one of those names (NEVER_APPEND); any other, or one that ended
    between the snapshot and the look at pg_stat_activity, still bounds the read."""
    rows = conn.execute(
        _read_statement(events_table(app), bool(followers), tuple(gates)),
        {"xid": str(after[0]), "id": after[1], "limit": limit, "readers": NEVER_APPEND,
         "followers": list(followers), "application": app.name},
    ).fetchall()
    ready = [
        LogRow(id=nid, originator_id=oid, originator_version=version, topic=topic,
               state=bytes(state), transaction_id=int(xid))
        for ok, nid, oid, version, topic, state, xid, _, _ in rows if ok
    ]
    ready.sort(key=lambda r: (r.transaction_id, r.id))
    skips: dict[str, set[int]] = {}
    for r in rows:
        for name in r[7] if r[0] else ():
            skips.setdefault(name, set()).add(int(r[1]))
    open_ = tuple(bool(o) for o in rows[0][8]) if rows else (True,) * len(gates)
    return LogRead(ready, len(ready) < len(rows), skips, open_)


Decoder = Callable[[Notification], Any]


def _decode(decode: Decoder, notifications: Sequence[Notification],
            skip: Collection[int], wants: TopicFilter | None = None) -> list[LoggedEvent]:
    """Decodes up to the first event that cannot be decoded (raised when it comes first)."""
    logged: list[LoggedEvent] = []
    for n in notifications:
        if n.id in skip or (wants is not None and not wants(n.topic)):
            logged.append(LoggedEvent(n, None, skipped=True))
            continue
        try:
            logged.append(LoggedEvent(n, decode(n)))
        except Exception as exc:
            if logged:
                break  # the next batch starts with it
            raise _Undecodable(n) from exc
    return logged


def read_log(conn: Connection, app: Application[UUID], after: int | Cursor,
             limit: int) -> list[LoggedEvent]:
    """The next events after `after`: a cursor; or a notification id, on a log nobody
    writes to any more (then id order is reading order)."""
    if isinstance(after, tuple):
        return _decode(app.mapper.to_domain_event, _read_rows(conn, app, after, limit).rows, ())
    rows = conn.execute(
        sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state, "
            "transaction_id::text AS xid FROM {} WHERE notification_id > %s "
            "AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) "
            "ORDER BY notification_id LIMIT %s"
        ).format(sql.Identifier(events_table(app))),
        (after, limit),
    ).fetchall()
    return _decode(app.mapper.to_domain_event, [
        LogRow(id=nid, originator_id=oid, originator_version=version, topic=topic,
               state=bytes(state), transaction_id=int(xid))
        for nid, oid, version, topic, state, xid in rows], ())


def connect_follower(database_url: str) -> Connection:
    """A connection for a follower's batches (see FOLLOWER_APPLICATION)."""
    return psycopg.connect(database_url, autocommit=True, application_name=FOLLOWER_APPLICATION)


def _transaction_of(notification: Notification) -> int:
    return notification.transaction_id if isinstance(notification, LogRow) else 0


@dataclass(kw_only=True, eq=False)
class LogFollower:
    follower: str
    app: Application[UUID]
    handle: Handler
    database_url: str
    poll_interval: float = 0.5
    batch_size: int = BATCH_SIZE
    gate: Gate | None = None
    # 0: every batch is `batch_size` (policies and the relay: their side effects per batch are
    # bounded by it); more: batches double up to it while the follower is behind.
    max_batch_size: int = 0
    wants: TopicFilter | None = None  # None: every event is decoded and handled
    # A NOTIFY names the topics of its burst (adapters/recorder.py): with this set, one that
    # names none the follower wants does not wake it; the next poll passes those events.
    # For followers nobody waits on (policies), never for read models: a read waiting for
    # its own write waits for every read model of the log to pass it.
    sleeps_through_others: bool = False
    # A read model's live follower: the Supervisor steps it with the others of its log in
    # one transaction (FollowerGroup). Not policies nor the relay: their side effects (commands,
    # a broker) can fail or stall in ways that must not hold the read models.
    groupable: bool = False
    limit: int = field(init=False)  # the next batch's size
    stopping: threading.Event = field(init=False, default_factory=threading.Event)
    # Committed steps: the Supervisor resets its back-off on progress.
    successes: int = field(init=False, default=0)
    # Up to here, events are handled one per batch.
    _isolate_until: Cursor = field(init=False, default=(0, 0))
    # A committed event waits behind a transaction still running: look again soon.
    pending: bool = field(init=False, default=False)
    # The last step's batch was full: more may be waiting already. A step that read less than a
    # batch saw everything committed so far; what commits later sends a NOTIFY.
    more: bool = field(init=False, default=True)

    def __post_init__(self) -> None:
        self.max_batch_size = max(self.batch_size, self.max_batch_size)
        self.limit = self.batch_size

    @property
    def label(self) -> str:
        return f"{self.follower}/{self.app.name}"

    @property
    def application(self) -> str:
        return self.app.name

    def woken_by(self, payload: str) -> bool:
        """Whether a NOTIFY with this payload (the topics appended, space-separated; empty:
        not known) is worth a catch-up now rather than at the next poll."""
        if not payload or not self.sleeps_through_others or self.wants is None:
            return True
        return any(self.wants(topic) for topic in payload.split())

    def step(self, conn: Connection) -> int:
        """Handles the next batch; returns how many events it passed (0: none new).

        Raises EventFailed naming the event when one event cannot be handled; the
        database's or broker's faults propagate as they are."""
        todo: list[LoggedEvent] = []
        try:
            with conn.transaction():
                cursor = tracking.lock_cursor(conn, self.follower, self.app.name)
                limit = 1 if cursor < self._isolate_until else self.limit
                read = _read_rows(conn, self.app, cursor, limit, [self.follower], [self.gate])
                rows = read.rows if read.open[0] else []
                self.pending = read.pending and read.open[0]
                if not rows:
                    tracking.beat(conn, [self.follower], self.app.name)
                    passed = 0
                else:
                    batch = _decode(self.app.mapper.to_domain_event, rows,
                                    read.skips.get(self.follower, ()), self.wants)
                    todo = [e for e in batch if not e.skipped]
                    if todo:
                        self.handle(conn, todo)
                    last = batch[-1].notification
                    tracking.set_position(conn, self.follower, self.app.name, last.id,
                                          transaction_id=_transaction_of(last))
                    passed = len(batch)
        except _Undecodable as exc:
            raise EventFailed(self.follower, self.app.name, exc.notification,
                              exc.__cause__ or exc) from exc.__cause__
        except Exception as exc:
            if isinstance(exc, TRANSIENT_ERRORS) or not todo:
                raise
            if len(todo) == 1:
                raise EventFailed(self.follower, self.app.name, todo[0].notification, exc) from exc
            # Which event? Retry the batch one event per transaction.
            log.warning("%s: a batch of %d events failed (%s: %s); retrying them one by one",
                        self.label, len(todo), type(exc).__name__, exc)
            last = todo[-1].notification
            self._isolate_until = (_transaction_of(last), last.id)
            return self.step(conn)
        self.successes += 1
        self.more = passed >= limit
        if limit > 1:
            self.limit = min(limit * 2, self.max_batch_size) if self.more else self.batch_size
        return passed

    def catch_up(self, conn: Connection) -> int:
        """Steps until a batch is not full: an empty step after a short batch would cost a
        transaction of its own for nothing (every follower of a log wakes on every append)."""
        total = 0
        while not self.stopping.is_set():
            n = self.step(conn)
            total += n
            if not n or not self.more:
                return total
        return total

    def run(self) -> None:
        """Runs until stop(). A NOTIFY (one per burst of appends, adapters/recorder.py)
        wakes it at once; polling covers a LISTEN connection that stalls silently
        (eventsourcing issue #305) and appends from processes that send none. While a
        committed event waits behind a running transaction, it looks again after 1 ms,
        doubling up to the poll interval: that transaction sends no NOTIFY when it ends."""
        with connect_follower(self.database_url) as conn, psycopg.connect(
            self.database_url, autocommit=True
        ) as listener:
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(events_table(self.app))))
            retry = PENDING_FIRST_RETRY
            while not self.stopping.is_set():
                self.catch_up(conn)
                if self.pending:
                    wait, retry = min(retry, self.poll_interval), retry * 2
                else:
                    wait, retry = self.poll_interval, PENDING_FIRST_RETRY
                self._sleep(listener, wait)

    def _sleep(self, listener: Connection, seconds: float) -> None:
        """Until a NOTIFY that wakes this follower, or `seconds` passed, or stop()."""
        deadline = time.monotonic() + seconds
        woken = False
        while not woken and not self.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for notify in listener.notifies(timeout=left, stop_after=1):
                woken = self.woken_by(notify.payload)
        # NOTIFYs that came while it worked are covered by the next catch-up.
        for _ in listener.notifies(timeout=0):
            pass

    def stop(self) -> None:
        self.stopping.set()


def _unused(conn: Connection, batch: Sequence[LoggedEvent]) -> None:
    raise AssertionError("a FollowerGroup hands each batch to its members' handlers")


class FollowerGroup(LogFollower):
    """The read-model followers of one log in one process, stepped together.

    Every follower stepping alone costs a transaction per burst of appends: BEGIN, the
    position's lock, the read, its rows, the position, COMMIT, each a round trip, times ten
    read models of the commerce log (the bench measured 19-27 worker statements per cart
    add), and every one decodes the same events. A group takes its members' position locks
    in one statement, reads the log once from the lowest of them, decodes each event once,
    hands each member the events past its own position (with its own skips, topic filter
    and version gate), and moves every position in one statement, all in one transaction:
    the same exactly-once guarantee, since each member's rows and position still commit
    together.

    A member that another process is stepping (its row is locked) is passed over this time.
    When a batch fails for any reason other than the environment, the transaction is rolled
    back and each member steps alone (LogFollower.step, which isolates the failing event);
    a member that then fails on an event leaves the group for a thread of its own
    (`eject`), where the Supervisor retries it and stops it alone, as before."""

    def __init__(self, members: Sequence[LogFollower],
                 eject: Callable[[LogFollower, EventFailed], None] | None = None) -> None:
        first = members[0]
        super().__init__(follower=" + ".join(m.follower for m in members), app=first.app,
                         handle=_unused, database_url=first.database_url,
                         poll_interval=min(m.poll_interval for m in members),
                         batch_size=first.batch_size,
                         max_batch_size=max(m.max_batch_size for m in members))
        self.members = list(members)
        self.eject = eject
        # Members whose version gate was closed at the last look (workers/bluegreen.py): held,
        # possibly for a whole rebuild, so the group does not read from their position.
        self._held: set[str] = set()

    def step(self, conn: Connection) -> int:
        limit = self.limit
        try:
            passed, read, reopened = self._step_together(conn, limit)
        except Exception as exc:
            if isinstance(exc, TRANSIENT_ERRORS):
                raise
            log.warning("%s: a group batch failed (%s: %s); its members step alone",
                        self.label, type(exc).__name__, exc)
            return self._step_alone(conn)
        self.successes += 1
        self.pending = read.pending
        self.more = len(read.rows) >= limit or reopened
        self.limit = min(limit * 2, self.max_batch_size) if self.more else self.batch_size
        # A reopened member counts as progress, so that catch_up steps again for it.
        return max(passed, int(reopened))

    def _step_together(self, conn: Connection, limit: int) -> tuple[int, LogRead, bool]:
        """(events read, the read, whether a held member's gate opened: the next read starts
        at its position)."""
        application = self.app.name
        with conn.transaction():
            cursors = tracking.lock_cursors(conn, [m.follower for m in self.members], application)
            members = [m for m in self.members if m.follower in cursors]
            if not members:
                return 0, LogRead([], False, {}, ()), False
            start = min((c for f, c in cursors.items() if f not in self._held),
                        default=min(cursors.values()))
            read = _read_rows(conn, self.app, start, limit,
                              [m.follower for m in members], [m.gate for m in members])
            if not read.rows:
                tracking.beat(conn, [m.follower for m in members], application)
                return 0, read, False
            decoded: dict[int, Any] = {}

            def event(n: Notification) -> Any:
                if n.id not in decoded:
                    decoded[n.id] = self.app.mapper.to_domain_event(n)
                return decoded[n.id]

            reopened = False
            for member, open_ in zip(members, read.open, strict=True):
                after = cursors[member.follower]
                if not open_:
                    self._held.add(member.follower)
                    continue
                self._held.discard(member.follower)
                if after < start:
                    reopened = True  # this read starts past it: the next starts at it
                    continue
                mine = [r for r in read.rows if (r.transaction_id, r.id) > after]
                if not mine:
                    continue
                batch = _decode(event, mine, read.skips.get(member.follower, ()), member.wants)
                todo = [e for e in batch if not e.skipped]
                if todo:
                    member.handle(conn, todo)
                last = batch[-1].notification
                cursors[member.follower] = (_transaction_of(last), last.id)
            tracking.set_positions(conn, application, {m.follower: cursors[m.follower] for m in members})
            return len(read.rows), read, reopened

    def _step_alone(self, conn: Connection) -> int:
        passed = 0
        for member in list(self.members):
            try:
                passed += member.catch_up(conn)
            except EventFailed as failed:
                if self.eject is None:
                    raise
                self.members.remove(member)
                self.eject(member, failed)
        self.successes += 1
        self.pending = any(m.pending for m in self.members)
        self.more = False
        self.limit = self.batch_size
        return passed

    def stop(self) -> None:
        super().stop()
        for member in self.members:
            member.stop()


def grouped(workers: Sequence[Worker]) -> list[Worker]:
    """The workers with the groupable followers of each log (and database) in one group."""
    groups: dict[tuple[str, str], list[LogFollower]] = {}
    out: list[Worker] = []
    for w in workers:
        if isinstance(w, LogFollower) and w.groupable:
            members = groups.setdefault((w.database_url, w.app.name), [])
            if not members:
                out.append(w)  # where the group goes, once it has several members
            members.append(w)
        else:
            out.append(w)
    for members in groups.values():
        if len(members) > 1:
            out[out.index(members[0])] = FollowerGroup(members)
    return out


class Worker(Protocol):
    """What the Supervisor runs: a log follower or a timer (the payment expiry sweep)."""

    follower: str
    database_url: str
    successes: int

    @property
    def label(self) -> str: ...
    @property
    def application(self) -> str: ...
    def run(self) -> None: ...
    def stop(self) -> None: ...


class Supervisor:
    """Runs workers in threads and restarts one that fails (database restart, broker
    down), with a growing pause so a persistent fault does not spin, reset by any success.

    An event that fails `attempts` times stops its worker alone (the others go on): the
    thread records the event on the worker's row (status, /readyz) and waits until the row
    no longer names it (a recorded skip, a rebuild, another process moving past it)."""

    def __init__(self, followers: Sequence[Worker], *, attempts: int = POISON_ATTEMPTS,
                 park_poll: float = 1.0) -> None:
        self.followers = list(followers)
        # What the threads run: the followers, read models of one log grouped (FollowerGroup).
        self.workers = grouped(self.followers)
        for w in self.workers:
            if isinstance(w, FollowerGroup):
                w.eject = self._adopt
        self.threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()
        self.stopping = threading.Event()
        self.attempts = attempts
        self.park_poll = park_poll

    def _keep_running(self, worker: Worker) -> None:
        pause = FIRST_PAUSE
        attempts: dict[int, int] = {}  # position -> failures of that event
        while not self.stopping.is_set():
            before = worker.successes
            try:
                worker.run()
                return  # stopped on request
            except EventFailed as failed:
                n = attempts[failed.position] = attempts.get(failed.position, 0) + 1
                if n >= self.attempts:
                    log.error("worker %s STOPPED after %d attempts: %s. Fix the cause and restart it, "
                              "or pass over the event: eventmart worker %s --skip %d --reason '...'",
                              worker.label, n, failed, worker.follower, failed.position)
                    self._record(worker, str(failed), failed.describe())
                    self._park(worker, failed.position)
                    attempts.clear()
                    pause = FIRST_PAUSE
                    continue
                if worker.successes > before:
                    pause = FIRST_PAUSE
                log.warning("worker %s: %s (attempt %d of %d); retrying in %.1fs",
                            worker.label, failed, n, self.attempts, pause)
                self._record(worker, str(failed))
            except Exception as exc:
                if worker.successes > before:
                    pause = FIRST_PAUSE
                log.exception("worker %s failed; restarting in %.1fs", worker.label, pause)
                self._record(worker, f"{type(exc).__name__}: {exc}")
            self.stopping.wait(pause)
            pause = min(pause * 2, MAX_PAUSE)

    def _record(self, worker: Worker, error: str, poison: dict[str, Any] | None = None) -> None:
        """Best effort: the database may be what failed."""
        names = [m.follower for m in worker.members] if isinstance(worker, FollowerGroup) else [worker.follower]
        try:
            with psycopg.connect(worker.database_url, autocommit=True, connect_timeout=2) as conn:
                for name in names:
                    tracking.record_error(conn, name, worker.application, error, poison)
        except Exception as exc:
            log.debug("could not record the error of %s: %s", worker.label, exc)

    def _park(self, worker: Worker, position: int) -> None:
        while not self.stopping.wait(self.park_poll):
            try:
                with psycopg.connect(worker.database_url, autocommit=True, connect_timeout=2) as conn:
                    poison = tracking.poison_of(conn, worker.follower, worker.application)
            except Exception:
                continue
            if poison is None or poison.get("position") != position:
                log.info("worker %s resumes: the event at %d is skipped or passed", worker.label, position)
                return

    def start(self) -> None:
        for w in self.workers:
            self._thread(w)
        log.info("workers running: %s", ", ".join(w.label for w in self.workers))

    def _thread(self, worker: Worker) -> None:
        t = threading.Thread(target=self._keep_running, args=(worker,), name=worker.label, daemon=True)
        with self._threads_lock:
            if self.stopping.is_set():
                return
            self.threads.append(t)
        t.start()

    def _adopt(self, member: LogFollower, failed: EventFailed) -> None:
        """A group's member that failed on an event: its own thread from now on, which retries
        the event and stops on it alone."""
        log.warning("worker %s leaves its group: %s", member.label, failed)
        self._thread(member)

    def _started(self) -> list[threading.Thread]:
        with self._threads_lock:
            return list(self.threads)

    def alive(self) -> bool:
        return all(t.is_alive() for t in self._started())

    def dead(self) -> list[str]:
        """Labels of workers whose thread has ended (stopped on their own)."""
        return [t.name for t in self._started() if not t.is_alive()]

    def stop(self, timeout: float = 5.0) -> None:
        with self._threads_lock:
            self.stopping.set()
        for w in [*self.workers, *self.followers]:
            w.stop()
        for t in self._started():
            t.join(timeout)
