"""Appends without a table lock lose nothing (issue 16, item 2).

Writers append concurrently through the recorder's own INSERT (adapters/recorder.py):
some transactions roll back, some stay open while others commit (a late commit with a
low id), some take their transaction id long before they insert (a low transaction id
with a high id). Every follower, and the Kafka relay, must see every committed event
exactly once, none that rolled back, and each aggregate's events in order.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from eventsourcing.utils import get_topic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import KafkaConsumer, TopicPartition

from domain import event_catalogue
from eventmart.migrations import migrate
from projections import tracking
from runtime import Runtime, open_runtime
from tests.infra import fresh_database
from tests.support.appends import (
    Stream,
    Tally,
    assert_seen_exactly,
    bumps,
    insert,
    recorder_of,
    recording_follower,
    session,
    take_transaction_id,
)
from tests.support.settings import make_settings
from tests.support.waiting import eventually
from workers.kafka_relay import FOLLOWER as KAFKA_RELAY
from workers.kafka_relay import RelayFollower, topic_for
from workers.log_follower import Supervisor

WRITERS = 8
EVENTS_PER_WRITER = 1_300  # committed: 10,400 in all, and the rolled back
HOLD_FOR_COMMITS = 25  # a long transaction stays open while others commit this many times


class Ledger:
    """What the writers did: committed and rolled-back tokens, and a commit counter that a
    long transaction waits on (never on time)."""

    def __init__(self) -> None:
        self.committed: dict[str, tuple[str, int]] = {}
        self.rolled_back: set[str] = set()
        self.commits = 0
        self.finished = 0
        self.waiting = 0  # writers holding a transaction open in wait_for_others
        self.changed = threading.Condition()
        self.holders = threading.BoundedSemaphore(2)  # long transactions open at once
        self.errors: list[BaseException] = []  # a writer that failed: the test fails

    def commit(self, stream: Stream, tokens: list[str]) -> None:
        with self.changed:
            for i, token in enumerate(tokens):
                self.committed[token] = (str(stream.id), stream.version + i + 1)
            stream.version += len(tokens)
            self.commits += 1
            self.changed.notify_all()

    def roll_back(self, tokens: list[str]) -> None:
        with self.changed:
            self.rolled_back.update(tokens)

    def wait_for_others(self, commits: int) -> None:
        """Until others committed `commits` times, or no other writer can commit any more
        (each has finished or is waiting here too)."""
        with self.changed:
            mark = self.commits
            self.waiting += 1
            self.changed.notify_all()
            try:
                assert self.changed.wait_for(
                    lambda: self.commits >= mark + commits or self.finished + self.waiting >= WRITERS,
                    timeout=120)
            finally:
                self.waiting -= 1

    def done(self) -> None:
        with self.changed:
            self.finished += 1
            self.changed.notify_all()


def write(runtime: Runtime, ledger: Ledger, seed: int) -> None:
    app, rng = runtime.commerce, random.Random(seed)
    streams = [Stream() for _ in range(4)]
    try:
        while sum(s.version for s in streams) < EVENTS_PER_WRITER:  # committed events
            stream = rng.choice(streams)
            stored, tokens = bumps(app, stream, rng.randint(1, 4))
            kind = rng.random()
            if kind < 0.3:  # the library's path: its own transaction, then a NOTIFY poke
                recorder_of(app).insert_events(stored)
                ledger.commit(stream, tokens)
                continue
            long = kind > 0.96 and ledger.holders.acquire(blocking=False)
            try:
                with session(app) as conn:
                    if long and kind > 0.98:
                        take_transaction_id(conn)  # a low transaction id...
                        ledger.wait_for_others(HOLD_FOR_COMMITS)
                        insert(app, conn, stored)  # ...for events with high ids
                    else:
                        insert(app, conn, stored)
                        if long:  # low ids, committed after many higher ones
                            ledger.wait_for_others(HOLD_FOR_COMMITS)
                    if rng.random() < 0.1:
                        conn.rollback()
                        ledger.roll_back(tokens)
                    else:
                        conn.commit()
                        ledger.commit(stream, tokens)
            finally:
                if long:
                    ledger.holders.release()
    except BaseException as exc:
        ledger.errors.append(exc)
        raise
    finally:
        ledger.done()


def inversions(conn: psycopg.Connection[Any]) -> int:
    """Neighbours in id order whose transaction ids go down: events a follower reading by
    id alone (under any bound on transactions) could pass over."""
    xids = [int(x) for (x,) in conn.execute(
        "SELECT transaction_id::text FROM commerce_events ORDER BY notification_id").fetchall()]
    return sum(1 for a, b in zip(xids, xids[1:], strict=False) if b < a)


def consume(bootstrap: str, aggregates: set[str], want: int) -> list[dict[str, Any]]:
    """Every message of the topic about these aggregates, in partition order, once `want`
    distinct (aggregate, version) pairs have arrived."""
    topic = topic_for("commerce")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             allow_auto_create_topics=False)
    bodies: list[dict[str, Any]] = []
    try:
        parts = [TopicPartition(topic, p) for p in eventually(
            lambda: consumer.partitions_for_topic(topic), timeout=60)]
        consumer.assign(parts)
        consumer.seek_to_beginning()

        def collect() -> bool:
            for records in consumer.poll(timeout_ms=500, max_records=5000).values():
                for r in records:
                    body = json.loads(r.value)
                    if body["aggregate_id"] in aggregates:
                        bodies.append(body)
            return len({(b["aggregate_id"], b["version"]) for b in bodies}) >= want

        eventually(collect, timeout=180)
    finally:
        consumer.close()
    return bodies


def test_eight_writers_with_rollbacks_and_long_transactions_lose_nothing(
        postgres: str, kafka: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The relay publishes catalogued event types only: the test's own event gets an entry.
    monkeypatch.setitem(event_catalogue._BY_TOPIC, get_topic(Tally.Bumped), event_catalogue.CatalogueEntry(
        public_type="test.tally.bumped", schema_version=1, application="commerce", aggregate="tally",
        topic=get_topic(Tally.Bumped), event_class=Tally.Bumped, fields={"token": "str"}))
    with fresh_database(postgres) as url:
        settings_ = make_settings(url, kafka_bootstrap_servers=kafka, worker_batch_size=200)
        migrate(settings_, url)
        runtime = open_runtime(settings_, database_url=url)
        try:
            # Given followers reading in batches of 5, 50 and 200, and the Kafka relay
            with psycopg.connect(url, autocommit=True) as conn:
                followers = [recording_follower(runtime.commerce, url, f"proof_{size}", conn,
                                                batch_size=size) for size in (5, 50, 200)]
            supervisor = Supervisor([f for f, _ in followers] + [RelayFollower(runtime, "commerce")])
            supervisor.start()
            try:
                # When 8 writers append concurrently while they read
                ledger = Ledger()
                threads = [threading.Thread(target=write, args=(runtime, ledger, seed))
                           for seed in range(WRITERS)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                with psycopg.connect(url, autocommit=True) as conn:
                    head = int(conn.execute(
                        "SELECT max(notification_id) FROM commerce_events").fetchone()[0])  # type: ignore[index]
                    names = [f.follower for f, _ in followers] + [KAFKA_RELAY]
                    eventually(lambda: all(tracking.caught_up(conn, n, "commerce", head)
                                           for n in names), timeout=180)
                    stored = {n.state for n in recorder_of(runtime.commerce).select_notifications(0, 10**6)}
                    hard_cases = inversions(conn)
            finally:
                supervisor.stop()

            # Then the log holds exactly the committed events
            assert not ledger.errors, ledger.errors
            assert len(ledger.committed) >= WRITERS * EVENTS_PER_WRITER and ledger.rolled_back
            assert len(stored) == len(ledger.committed)
            assert hard_cases > 0, "no event committed out of id order: the test proved nothing"
            # and every follower saw each of them once, none that rolled back, in order
            for follower, recording in followers:
                assert_seen_exactly(recording, ledger.committed, ledger.rolled_back, follower.follower)
        finally:
            runtime.close()

        # and so did Kafka (at least once: first occurrences, in order per aggregate)
        aggregates = {aggregate for aggregate, _ in ledger.committed.values()}
        bodies = consume(kafka, aggregates, len(ledger.committed))
        first: dict[tuple[str, int], str] = {}
        last_version: dict[str, int] = {}
        for body in bodies:
            key = (body["aggregate_id"], body["version"])
            if key in first:
                continue
            first[key] = body["data"]["token"]
            assert body["version"] == last_version.get(body["aggregate_id"], 0) + 1, "out of order"
            last_version[body["aggregate_id"]] = body["version"]
        assert set(first.values()) == set(ledger.committed)
        assert not set(first.values()) & ledger.rolled_back


# Interleavings: each of three writer sessions runs BEGIN, maybe takes its transaction id,
# inserts, then commits or rolls back; a follower steps at any point between. Whatever the
# order, what the follower ends with is every committed event once, in per-aggregate order.

Op = tuple[str, int]


@st.composite
def interleavings(draw: Callable[..., Any]) -> tuple[list[Op], list[bool], list[bool]]:
    sessions = 3
    early = draw(st.lists(st.booleans(), min_size=sessions, max_size=sessions))
    commits = draw(st.lists(st.booleans(), min_size=sessions, max_size=sessions))
    todo = {i: (["xid"] if early[i] else []) + ["insert", "end"] for i in range(sessions)}
    ops: list[Op] = []
    while any(todo.values()):
        choices = [i for i, left in todo.items() if left] + [-1]
        i = draw(st.sampled_from(choices))
        if i == -1:
            ops.append(("step", -1))
        else:
            ops.append((todo[i].pop(0), i))
    return ops, early, commits


def test_any_interleaving_of_commits_and_reads_is_followed_exactly(runtime_on_own_log: Runtime) -> None:
    runtime = runtime_on_own_log
    app = runtime.commerce
    counter = iter(range(10**6))

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(interleavings())
    def check(case: tuple[list[Op], list[bool], list[bool]]) -> None:
        ops, _, commits = case
        ledger = Ledger()
        streams = [Stream() for _ in range(3)]
        with psycopg.connect(runtime.database_url, autocommit=True) as conn:
            follower, recording = recording_follower(app, runtime.database_url,
                                                     f"interleaving_{next(counter)}", conn, batch_size=2)
            # Start at the head: earlier examples' events are not this one's business.
            head = conn.execute("SELECT coalesce(max(notification_id), 0) FROM commerce_events").fetchone()
            tracking.set_position(conn, follower.follower, app.name, int(head[0]) if head else 0)
            with session(app) as s0, session(app) as s1, session(app) as s2:
                sessions = [s0, s1, s2]
                pending: dict[int, tuple[list[Any], list[str]]] = {}
                for op, i in ops:
                    if op == "step":
                        follower.step(conn)
                    elif op == "xid":
                        take_transaction_id(sessions[i])
                    elif op == "insert":
                        pending[i] = bumps(app, streams[i], 2)
                        insert(app, sessions[i], pending[i][0])
                    elif commits[i]:
                        sessions[i].commit()
                        ledger.commit(streams[i], pending[i][1])
                    else:
                        sessions[i].rollback()
                        ledger.roll_back(pending[i][1])
            # Every session has ended, but the read bound is the oldest transaction running
            # anywhere on the server (other databases' too): what commits here may wait behind
            # one of those for a moment, and the follower says so (`pending`). It catches up
            # until nothing waits; an event it passed over would never be seen.
            def caught_up() -> bool:
                follower.catch_up(conn)
                return not follower.pending

            eventually(caught_up, timeout=60, interval=0.005)
        assert_seen_exactly(recording, ledger.committed, ledger.rolled_back, follower.follower)

    check()


def test_a_late_commit_with_a_lower_id_is_read_after_the_earlier_ones(runtime_on_own_log: Runtime) -> None:
    """The case a table lock prevented: ids 1..2 held open, 3..4 committed and read first."""
    runtime = runtime_on_own_log
    app = runtime.commerce
    slow, fast = Stream(), Stream()
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        follower, recording = recording_follower(app, runtime.database_url,
                                                 f"late_{uuid.uuid4().hex[:8]}", conn)
        head = conn.execute("SELECT coalesce(max(notification_id), 0) FROM commerce_events").fetchone()
        tracking.set_position(conn, follower.follower, app.name, int(head[0]) if head else 0)
        with session(app) as held:
            late, late_tokens = bumps(app, slow, 2)
            insert(app, held, late)
            early, early_tokens = bumps(app, fast, 2)
            recorder_of(app).insert_events(early)
            follower.catch_up(conn)
            assert recording.seen == [], "an event behind a running transaction was read"
            assert follower.pending, "the follower does not know an event waits"
            held.commit()
        follower.catch_up(conn)
    assert [token for token, _, _ in recording.seen] == late_tokens + early_tokens


def test_an_early_transaction_id_with_a_later_id_is_not_passed_over(runtime_on_own_log: Runtime) -> None:
    """The case a bound on transactions alone does not cover: A takes its transaction id,
    B inserts (lower id, higher transaction id) and stays open, A inserts and commits. A
    follower that read A's event by id would pass over B's when B commits."""
    runtime = runtime_on_own_log
    app = runtime.commerce
    a, b = Stream(), Stream()
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        follower, recording = recording_follower(app, runtime.database_url,
                                                 f"early_{uuid.uuid4().hex[:8]}", conn)
        head = conn.execute("SELECT coalesce(max(notification_id), 0) FROM commerce_events").fetchone()
        tracking.set_position(conn, follower.follower, app.name, int(head[0]) if head else 0)
        with session(app) as first, session(app) as second:
            take_transaction_id(first)
            b_events, b_tokens = bumps(app, b, 1)
            insert(app, second, b_events)
            a_events, a_tokens = bumps(app, a, 1)
            insert(app, first, a_events)
            first.commit()
            follower.catch_up(conn)
            second.commit()
        follower.catch_up(conn)
    assert [token for token, _, _ in recording.seen] == a_tokens + b_tokens


def test_a_transaction_in_another_database_holds_followers_back_and_skips_nothing(
        runtime_on_own_log: Runtime, postgres: str) -> None:
    runtime = runtime_on_own_log
    app = runtime.commerce
    stream = Stream()
    with psycopg.connect(runtime.database_url, autocommit=True) as conn, \
            fresh_database(postgres) as other_url, psycopg.connect(other_url) as other:
        follower, recording = recording_follower(app, runtime.database_url, "behind_another_db", conn)
        head = conn.execute("SELECT coalesce(max(notification_id), 0) FROM commerce_events").fetchone()
        tracking.set_position(conn, follower.follower, app.name, int(head[0]) if head else 0)
        # Given a transaction with an id, running in another database of the same server
        other.execute("SELECT pg_current_xact_id()")
        # When an append commits here after it
        stored, tokens = bumps(app, stream, 2)
        with session(app) as s:
            insert(app, s, stored)
            s.commit()
        follower.catch_up(conn)
        # Then the follower has not read past it, and says an event waits
        assert recording.seen == [] and follower.pending
        # and once that transaction ends, it reads the event, once
        other.rollback()
        follower.catch_up(conn)
        assert [token for token, _, _ in recording.seen] == tokens and not follower.pending
