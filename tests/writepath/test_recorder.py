"""The recorder (adapters/recorder.py): an events table of the library's shape migrates in
place, followers carry on from where they were, and appends wake followers by a NOTIFY sent
after the commit."""

from __future__ import annotations

import threading
import uuid
from contextlib import ExitStack
from typing import Any

import psycopg
import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import get_topic

from adapters.database import eventsourcing_env
from adapters.recorder import (
    NOTIFIER_APPLICATION,
    WRITER,
    LockFreeApplicationRecorder,
    SnapshotRecorder,
    WriteMark,
)
from domain.commerce.cart import Cart
from domain.commerce.order import Order
from projections import READ_MODELS, tracking
from runtime import Runtime
from tests.infra import fresh_database
from tests.support.appends import Stream, Tally, bumps, recorder_of, recording_follower
from tests.support.runtimes import own_runtime
from tests.support.waiting import eventually
from workers import policies
from workers.audit_seal import seal_followers
from workers.log_follower import LogFollower, connect_follower, reading
from workers.projection import projection_follower


class Legacy(Application[uuid.UUID]):
    """An application whose table the library made, before transaction ids."""

    name = "legacy"


def legacy_app(url: str, *, ours: bool) -> Legacy:
    env: dict[str, Any] = eventsourcing_env(url, pool_size=2, max_overflow=2, create_table=True)
    if not ours:
        del env["APPLICATION_RECORDER_TOPIC"]
    return Legacy(env)


def test_an_events_table_of_the_library_migrates_in_place_and_followers_carry_on(postgres: str) -> None:
    with own_runtime(postgres) as runtime:
        url = runtime.database_url
        # Given a table the library made, with three events, and a follower past two of them
        before = legacy_app(url, ours=False)
        assert not isinstance(before.recorder, LockFreeApplicationRecorder)
        old_stream = Stream()
        old, old_tokens = bumps(before, old_stream, 3)
        ids = before.recorder.insert_events(old)
        before.close()
        assert ids is not None
        with psycopg.connect(url, autocommit=True) as conn:
            follower, recording = recording_follower(before, url, "legacy_reader", conn)
            conn.execute("UPDATE follower_positions SET position=%s WHERE follower='legacy_reader'",
                         (ids[1],))

            # When the recorder creates its table (eventmart migrate) and appends two more
            after = legacy_app(url, ours=True)
            try:
                old_stream.version = 3
                new, new_tokens = bumps(after, old_stream, 2)
                after.recorder.insert_events(new)
                follower.app = after
                follower.catch_up(conn)

                # Then the old rows carry transaction id 0, new rows their writer's, the log
                # has its index, and the follower went on from its place, skipping nothing
                xids = [int(x) for (x,) in conn.execute(
                    "SELECT transaction_id::text FROM legacy_events ORDER BY notification_id")]
                assert xids[:3] == [0, 0, 0] and all(x > 0 for x in xids[3:])
                assert conn.execute(
                    "SELECT to_regclass('legacy_events_transaction_id_idx')").fetchone() != (None,)
                assert [t for t, _, _ in recording.seen] == old_tokens[2:] + new_tokens
                head = conn.execute("SELECT max(notification_id) FROM legacy_events").fetchone()
                assert head is not None and tracking.caught_up(conn, "legacy_reader", "legacy", head[0])
            finally:
                after.close()


def test_an_append_wakes_listeners_after_it_committed(postgres: str) -> None:
    with fresh_database(postgres) as url:
        app = legacy_app(url, ours=True)
        recorder = app.recorder
        assert isinstance(recorder, LockFreeApplicationRecorder)
        try:
            with psycopg.connect(url, autocommit=True) as listener:
                listener.execute("LISTEN legacy_events")
                stored, _ = bumps(app, Stream(), 1)
                recorder.insert_events(stored)
                woken = list(listener.notifies(timeout=30, stop_after=1))
            assert [n.channel for n in woken] == ["legacy_events"]
            assert woken[0].payload == stored[0].topic  # what the burst appended
            eventually(lambda: recorder.notifier.sent >= 1)  # counted after the NOTIFY returned
        finally:
            app.close()


def test_a_notify_goes_out_while_every_pooled_connection_is_taken(postgres: str) -> None:
    """Under load requests hold every connection of the event store's pool; a NOTIFY that
    queued behind them woke the followers only as fast as the requests went."""
    with fresh_database(postgres) as url:
        app = legacy_app(url, ours=True)
        recorder = recorder_of(app)
        pool = recorder.datastore.pool
        try:
            with psycopg.connect(url, autocommit=True) as listener, ExitStack() as held:
                listener.execute("LISTEN legacy_events")
                # Given every connection the pool may open is checked out
                for _ in range(pool.max_size):
                    held.enter_context(recorder.datastore.get_connection())
                assert pool.get_stats()["pool_available"] == 0
                # When an append is announced
                recorder.notifier.poke({"a.b:C.One"})
                # Then the NOTIFY arrives while the pool is still exhausted
                woken = list(listener.notifies(timeout=30, stop_after=1))
                assert [n.payload for n in woken] == ["a.b:C.One"]
                assert pool.get_stats()["pool_available"] == 0
                # from the notifier's own session, named for operators
                sender = listener.execute("SELECT application_name FROM pg_stat_activity WHERE pid = %s",
                                          (woken[0].pid,)).fetchone()
                assert sender == ("eventmart-notifier",)
        finally:
            app.close()
            recorder.notifier.close()
        # and closing ends the notifier's thread with its connection
        assert recorder.notifier._thread is not None and not recorder.notifier._thread.is_alive()
        assert recorder.notifier._conn is None


def test_a_notify_names_every_topic_its_burst_appended_or_none_when_one_is_not_known(
        postgres: str) -> None:
    with fresh_database(postgres) as url:
        app = legacy_app(url, ours=True)
        notifier = recorder_of(app).notifier
        try:
            with psycopg.connect(url, autocommit=True) as listener:
                listener.execute("LISTEN legacy_events")
                named: set[str] = set()
                notifier.poke({"a.b:C.One"})
                notifier.poke({"a.b:C.Two", "a.b:C.One"})
                for notify in listener.notifies(timeout=30):  # one NOTIFY or two, per the debounce
                    named.update(notify.payload.split())
                    if named == {"a.b:C.One", "a.b:C.Two"}:
                        break
                assert named == {"a.b:C.One", "a.b:C.Two"}
                # An append that did not say what it appended: every follower is woken.
                notifier.poke(None)
                assert [n.payload for n in listener.notifies(timeout=30, stop_after=1)] == [""]
        finally:
            app.close()


def test_a_followers_open_batch_does_not_hold_other_followers_back(runtime_on_own_log: Runtime) -> None:
    """Followers' and notifiers' transactions never append, so a long batch of one (or a
    NOTIFY preempted as it commits) is not a bound for the followers; any other open write
    transaction is."""
    runtime = runtime_on_own_log
    app, url = runtime.commerce, runtime.database_url
    with psycopg.connect(url, autocommit=True) as conn:
        follower, recording = recording_follower(app, url, f"open_{uuid.uuid4().hex[:8]}", conn)
        head = conn.execute("SELECT coalesce(max(notification_id), 0) FROM commerce_events").fetchone()
        tracking.set_position(conn, follower.follower, app.name, int(head[0]) if head else 0)
        for holder, held_back in ((connect_follower(url), False),
                                  (psycopg.connect(url, autocommit=True,
                                                   application_name=NOTIFIER_APPLICATION), False),
                                  (psycopg.connect(url, autocommit=True), True)):
            with holder, holder.transaction():
                holder.execute("SELECT pg_current_xact_id()")  # an open write transaction
                stored, tokens = bumps(app, Stream(), 1)
                app.recorder.insert_events(stored)
                before = len(recording.seen)
                follower.catch_up(conn)
                seen = [t for t, _, _ in recording.seen[before:]]
                assert seen == ([] if held_back else tokens)
                assert follower.pending is held_back
            follower.catch_up(conn)
            assert tokens[0] in [t for t, _, _ in recording.seen]


def test_an_append_for_a_writer_records_their_position_in_the_same_statement(
    runtime_on_own_log: Runtime,
) -> None:
    runtime = runtime_on_own_log
    app, url = runtime.commerce, runtime.database_url
    recorder = recorder_of(app)
    user = uuid.uuid4()

    def recorded() -> list[int]:
        with psycopg.connect(url, autocommit=True) as conn:
            return [int(p) for (p,) in conn.execute(
                "SELECT position FROM user_write_positions WHERE user_id=%s AND application='commerce'",
                (user,))]

    # Given a request that says whose writes follow
    mark = WriteMark(user)
    token = WRITER.set(mark)
    try:
        # When two events of one stream are appended, then one more
        stream = Stream()
        first, _ = bumps(app, stream, 2)
        ids = recorder.insert_events(first)
        stream.version = 2
        second, _ = bumps(app, stream, 1)
        more = recorder.insert_events(second)
        # Then the user's write position is the last of them, and the mark says so
        assert ids is not None and more is not None and ids == sorted(ids) and len(ids) == 2
        assert recorded() == [more[0]] and mark.recorded == {"commerce": more[0]}

        # When an append conflicts (the version is taken), nothing of it is stored or recorded
        stream.version = 1
        clash, _ = bumps(app, stream, 1)
        with pytest.raises(IntegrityError):
            recorder.insert_events(clash)
        assert recorded() == [more[0]] and mark.recorded == {"commerce": more[0]}
    finally:
        WRITER.reset(token)

    # And an append without a writer records no one
    stream.version = 3
    anonymous, _ = bumps(app, stream, 1)
    after = recorder.insert_events(anonymous)
    assert after is not None and recorded() == [more[0]]


class Woken(LogFollower):
    """Notes what each NOTIFY it received made of it."""

    heard: list[tuple[str, bool]]

    def woken_by(self, payload: str) -> bool:
        woken = super().woken_by(payload)
        self.heard.append((payload, woken))
        return woken


def test_a_policy_sleeps_through_a_notify_of_topics_it_does_not_read(postgres: str) -> None:
    with fresh_database(postgres) as url:
        app = legacy_app(url, ours=True)
        bumped = Tally.Bumped.__module__ + ":" + Tally.Bumped.__qualname__
        other = "domain.commerce.cart:Cart.ItemAdded"
        policy = Woken(follower="policy", app=app, handle=lambda conn, batch: None, database_url=url,
                       poll_interval=60, wants=reading((Tally.Bumped,)), sleeps_through_others=True)
        policy.heard = []
        read_model = LogFollower(follower="read_model", app=app, handle=lambda conn, batch: None,
                                 database_url=url, wants=reading((Tally.Bumped,)))
        assert read_model.woken_by(other)  # a read model wakes for every burst
        try:
            with psycopg.connect(url, autocommit=True) as listener, \
                    psycopg.connect(url, autocommit=True) as sender:
                listener.execute("LISTEN legacy_events")
                sleeping = threading.Thread(target=policy._sleep, args=(listener, 60), daemon=True)
                sleeping.start()
                sender.execute("SELECT pg_notify('legacy_events', %s)", (other,))
                eventually(lambda: policy.heard)
                assert policy.heard == [(other, False)] and sleeping.is_alive()
                sender.execute("SELECT pg_notify('legacy_events', %s)", (f"{other} {bumped}",))
                sleeping.join(30)
                assert not sleeping.is_alive()
                assert policy.heard == [(other, False), (f"{other} {bumped}", True)]
                assert policy.woken_by("")  # a NOTIFY that names nothing wakes everyone
        finally:
            policy.stop()
            app.close()


def test_cart_traffic_wakes_the_read_models_not_the_policies_nor_the_audit_chain(
        runtime_on_own_log: Runtime) -> None:
    runtime = runtime_on_own_log
    cart_added, rated = get_topic(Cart.ItemAdded), get_topic(Order.Rated)
    assert not policies.shop_ratings(runtime).woken_by(cart_added)
    assert not policies.online_refunds(runtime).woken_by(cart_added)
    assert policies.shop_ratings(runtime).woken_by(f"{cart_added} {rated}")
    assert not any(seal.woken_by(cart_added) or seal.woken_by("") for seal in seal_followers(runtime))
    # Every read model: a read waiting for its own write waits for all of them to pass it.
    for model in READ_MODELS.values():
        if model.application == "commerce":
            assert projection_follower(runtime, model).woken_by(rated)


def test_a_snapshot_is_stored_with_its_values_as_parameters_and_reads_back_the_same(
        runtime: Runtime) -> None:
    snapshots = runtime.commerce.snapshots
    assert snapshots is not None
    recorder = snapshots.recorder
    # Given the runtime's snapshot store (not the library's array of composites)
    assert isinstance(recorder, SnapshotRecorder)
    originator = uuid.uuid4()
    state = bytes(range(256)) * 40 + b'\\x00"{},\\\\'  # every byte, and what text escaping mangles
    # When one snapshot is stored, then two at once (the library's path)
    recorder.insert_events([StoredEvent(originator, 100, "t:Snap", state)])
    recorder.insert_events([StoredEvent(originator, 200, "t:Snap", state[::-1]),
                            StoredEvent(originator, 300, "t:Snap", b"")])
    # Then each reads back byte for byte, and a second snapshot at a stored version is refused
    found = recorder.select_events(originator)
    assert [(e.originator_version, e.state) for e in found] == [
        (100, state), (200, state[::-1]), (300, b"")]
    with pytest.raises(IntegrityError):
        recorder.insert_events([StoredEvent(originator, 100, "t:Snap", b"other")])
