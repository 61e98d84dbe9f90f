"""Paging the global log with any filters gives exactly the filtered log: every event once, in
position order, whatever the page size, time window, types or aggregate (a property test on
a database of its own, where the test wrote every event)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.utils import get_topic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.commerce.wallet import Wallet
from domain.event_catalogue import topics_for
from domain.support.ticket import SupportTicket
from projections.event_log import LogEntry, read_log, read_log_from, stream_events
from runtime import Runtime
from tests.support.runtimes import own_runtime

TYPES = ["commerce.wallet.opened", "commerce.wallet.credited", "commerce.wallet.debited"]


@pytest.fixture(scope="module")
def written(postgres: str) -> Iterator[tuple[Runtime, list[LogEntry]]]:
    with own_runtime(postgres) as rt:
        wallets = [Wallet(owner_id=str(uuid.uuid4()), currency="INR") for _ in range(3)]
        rt.commerce.save(*wallets)
        for round_ in range(12):
            for n, wallet in enumerate(wallets):
                if (round_ + n) % 3:
                    wallet.credit(100 + round_, kind="load", reference=f"r{round_}")
                else:
                    wallet.credit(50, kind="adjustment", reference=f"a{round_}")
                    wallet.debit(10, kind="debit", reference=f"d{round_}")
                rt.commerce.save(wallet)
        with rt.pool.connection() as conn:
            every = read_log(conn, rt.commerce, limit=10_000).entries
        assert len(every) == 3 + 12 * 3 + 12  # opened, one credit each round, a debit every third
        yield rt, every


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_pages_concatenate_to_the_filtered_log(written: tuple[Runtime, list[LogEntry]], data: Any) -> None:
    rt, every = written
    limit = data.draw(st.integers(1, 12), "limit")
    types = data.draw(st.lists(st.sampled_from(TYPES), unique=True, max_size=2), "types")
    aggregate = data.draw(st.sampled_from([None, *sorted({e.aggregate_id for e in every})]), "aggregate")
    i = data.draw(st.integers(0, len(every) - 1), "since index")
    j = data.draw(st.integers(i, len(every) - 1), "until index")
    since = data.draw(st.sampled_from([None, every[i].timestamp]), "since")
    until = data.draw(st.sampled_from([None, every[j].timestamp]), "until")

    expected = [e for e in every
                if (not types or e.type in types)
                and (aggregate is None or e.aggregate_id == aggregate)
                and (since is None or e.timestamp and e.timestamp >= since)
                and (until is None or e.timestamp and e.timestamp <= until)]
    got: list[LogEntry] = []
    after: int | None = 0
    with rt.pool.connection() as conn:
        while after is not None:
            page = read_log(conn, rt.commerce, after=after, limit=limit, topics=topics_for(types),
                            aggregate_id=uuid.UUID(aggregate) if aggregate else None,
                            since=since, until=until)
            assert len(page.entries) <= limit
            assert page.next_after is None or page.next_after > after
            got += page.entries
            after = page.next_after

    assert [e.position for e in got] == [e.position for e in expected]
    assert got == expected


def test_a_window_after_the_last_event_is_empty_at_once(written: tuple[Runtime, list[LogEntry]]) -> None:
    rt, every = written
    last = every[-1].timestamp
    assert last is not None
    with rt.pool.connection() as conn:
        page = read_log(conn, rt.commerce, since=last + timedelta(hours=1))
    assert page.entries == [] and page.next_after is None and page.head == every[-1].position


def test_a_reader_keeping_the_last_position_seen_never_passes_a_late_commit(postgres: str) -> None:
    # Given a transaction that drew a position and has not committed, and a later one that has,
    with own_runtime(postgres) as rt, rt.pool.connection() as held, rt.pool.connection() as conn:
        wallet = Wallet(owner_id=str(uuid.uuid4()), currency="INR")
        rt.commerce.save(wallet)
        held.autocommit = False
        drawn = held.execute(  # another wallet's opening, as a slow save would write it
            "INSERT INTO commerce_events (originator_id, originator_version, topic, state) "
            "SELECT gen_random_uuid(), 1, topic, state FROM commerce_events "
            "WHERE originator_id = %s RETURNING notification_id", (wallet.id,)).fetchone()
        assert drawn is not None
        late = drawn[0]
        wallet.credit(100, kind="load", reference="after")
        rt.commerce.save(wallet)
        # When an auditor reads the log, the page stops before the uncommitted position,
        seen = read_log(conn, rt.commerce, limit=1000, settle_within=0.0).entries
        assert all(e.position < late for e in seen) and seen
        # then once it commits, reading after the last position seen gives both, none lost.
        held.commit()
        rest = read_log(conn, rt.commerce, after=seen[-1].position, limit=1000).entries
        assert [e.position for e in rest][:1] == [late]
        assert [e.type for e in rest] == ["commerce.wallet.opened", "commerce.wallet.credited"]


def test_a_row_that_no_longer_decodes_is_shown_with_its_error(postgres: str) -> None:
    # Given a stored row of a known type whose state lacks every field (written by hand),
    with own_runtime(postgres) as rt, rt.pool.connection() as conn:
        oid = uuid.uuid4()
        conn.execute("INSERT INTO support_events (originator_id, originator_version, topic, state) "
                     "VALUES (%s, 1, %s, %s)", (oid, get_topic(SupportTicket.Opened), b'{"garbage": true}'))
        # When an auditor reads the log and the stream, then the row is there, with its error.
        (entry,) = read_log(conn, rt.support, limit=10).entries
        assert entry.aggregate_id == str(oid) and entry.error and entry.timestamp is None
        (in_stream,) = stream_events(conn, rt.support, oid)
        assert in_stream.error


def test_a_reader_keeping_the_last_cursor_never_passes_a_late_commit(postgres: str) -> None:
    """By position, this interleaving loses an event for good: a transaction that took its id
    first draws its position after another's, and commits first (the page by position then
    reaches past the other's position, and a reader keeping the last position seen never
    returns below it). By cursor, the late event sorts after everything read before it."""
    with own_runtime(postgres) as rt, rt.pool.connection() as first, \
            rt.pool.connection() as late, rt.pool.connection() as conn:
        wallet = Wallet(owner_id=str(uuid.uuid4()), currency="INR")
        rt.commerce.save(wallet)
        read = read_log_from(conn, rt.commerce, (0, 0), limit=1000)
        assert [e.type for e in read.entries] == ["commerce.wallet.opened"]
        copy = ("INSERT INTO commerce_events (originator_id, originator_version, topic, state) "
                "SELECT gen_random_uuid(), 1, topic, state FROM commerce_events "
                "WHERE originator_id = %s RETURNING notification_id")
        # Given a transaction that takes its id, then another that takes a later id and draws a
        # position, then the first draws a higher position and commits while the other runs
        first.autocommit = late.autocommit = False
        first.execute("SELECT pg_current_xact_id()")
        late.execute("SELECT pg_current_xact_id()")
        drawn_late = late.execute(copy, (wallet.id,)).fetchone()
        drawn_first = first.execute(copy, (wallet.id,)).fetchone()
        assert drawn_late is not None and drawn_first is not None and drawn_late[0] < drawn_first[0]
        first.commit()
        # When an auditor reads on from the last cursor, and again once the other commits
        before = read_log_from(conn, rt.commerce, read.next_cursor or (0, 0), limit=1000)
        late.commit()
        after = read_log_from(conn, rt.commerce, before.next_cursor or (0, 0), limit=1000)
        # Then every event came once, the late one after the one that committed first
        seen = [e.position for e in read.entries + before.entries + after.entries]
        assert seen == [read.entries[0].position, drawn_first[0], drawn_late[0]]
        # And with nothing new, the cursor stays where it is
        assert read_log_from(conn, rt.commerce, after.next_cursor or (0, 0)).next_cursor == after.next_cursor


def test_reading_by_cursor_orders_transaction_ids_as_numbers(postgres: str) -> None:
    # Given events of transactions 9 and 10 (ids of one and two digits: as text, "10" < "9")
    with own_runtime(postgres) as rt, rt.pool.connection() as conn:
        wallet = Wallet(owner_id=str(uuid.uuid4()), currency="INR")
        rt.commerce.save(wallet)
        conn.execute("DELETE FROM commerce_events")
        for xid in (9, 10):
            conn.execute("INSERT INTO commerce_events (originator_id, originator_version, topic, state, "
                         "transaction_id) SELECT gen_random_uuid(), 1, topic, state, %s::text::xid8 "
                         "FROM (VALUES (%s, %s)) AS v(topic, state)",
                         (str(xid), get_topic(Wallet.Opened), b'{"timestamp":{"_type_":"datetime_iso",'
                          b'"_data_":"2026-01-01T00:00:00+00:00"},"owner_id":"x","currency":"INR"}'))
        positions = [r[0] for r in conn.execute(
            "SELECT notification_id FROM commerce_events ORDER BY transaction_id").fetchall()]
        # When the log is read by cursor, page by page, with and without a type filter
        for topics in ((), (get_topic(Wallet.Opened),)):
            seen, cursor = [], (0, 0)
            for _ in range(3):
                page = read_log_from(conn, rt.commerce, cursor, limit=1, topics=topics)
                seen += [e.position for e in page.entries]
                cursor = page.next_cursor or cursor
            # Then transaction 9's event comes first, and each once
            assert seen == positions and cursor[0] == 10
