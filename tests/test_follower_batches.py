"""A follower's batch grows while it is behind (rebuild, catch-up) and is small again once it
has caught up (live latency); a follower decodes only the events its handler reads."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import Connection

from domain.commerce.cart import Cart
from domain.commerce.wallet import Wallet
from projections import tracking
from tests.support.runtimes import own_runtime
from workers.log_follower import LogFollower, LoggedEvent, reading


def test_batches_double_while_behind_and_shrink_back_at_the_head(postgres: str) -> None:
    with own_runtime(postgres) as runtime:
        # Given a log of 200 events (one wallet: 1 opening, 199 credits)
        wallet = Wallet(owner_id="00000000-0000-0000-0000-000000000001", currency="INR")
        for i in range(199):
            wallet.credit(1 + i, kind="load", reference=f"r{i}")
        runtime.commerce.save(wallet)
        sizes: list[int] = []

        def handle(conn: Connection, batch: Sequence[LoggedEvent]) -> None:
            sizes.append(len(batch))

        follower = LogFollower(follower="sizing_probe", app=runtime.commerce, handle=handle,
                               database_url=runtime.database_url, batch_size=5, max_batch_size=40)
        with psycopg.connect(runtime.database_url, autocommit=True) as conn:
            tracking.ensure_follower(conn, "sizing_probe", "commerce")
            # When it catches up from position 0
            assert follower.catch_up(conn) == 200
            # Then its batches doubled up to the maximum, and the last one was what was left
            assert sizes == [5, 10, 20, 40, 40, 40, 40, 5]
            # When 7 more events arrive after it caught up
            for i in range(7):
                wallet.credit(1, kind="load", reference=f"later{i}")
            runtime.commerce.save(wallet)
            sizes.clear()
            follower.catch_up(conn)
            # Then it takes them in live-sized batches again
            assert sizes == [5, 2]


def test_a_follower_without_a_maximum_keeps_its_batch_size(postgres: str) -> None:
    with own_runtime(postgres) as runtime:
        wallet = Wallet(owner_id="00000000-0000-0000-0000-000000000002", currency="INR")
        for i in range(29):
            wallet.credit(1 + i, kind="load", reference=f"r{i}")
        runtime.commerce.save(wallet)
        sizes: list[int] = []
        follower = LogFollower(follower="fixed_probe", app=runtime.commerce,
                               handle=lambda conn, batch: sizes.append(len(batch)),
                               database_url=runtime.database_url, batch_size=8)
        with psycopg.connect(runtime.database_url, autocommit=True) as conn:
            tracking.ensure_follower(conn, "fixed_probe", "commerce")
            follower.catch_up(conn)
        assert sizes == [8, 8, 8, 6]
        # A short batch ends the catch-up: it saw all there was, so no empty step (a
        # transaction of its own, for every follower of the log) comes after it.
        assert follower.successes == 4 and not follower.more


def test_a_follower_decodes_only_what_it_reads_and_passes_the_rest(postgres: str) -> None:
    with own_runtime(postgres) as runtime:
        owner = "00000000-0000-0000-0000-000000000003"
        wallet = Wallet(owner_id=owner, currency="INR")
        wallet.credit(100, kind="load", reference="r")
        cart = Cart(owner_id=owner, currency="INR")
        runtime.commerce.save(cart, wallet)
        handed: list[str] = []
        follower = LogFollower(follower="reading_probe", app=runtime.commerce,
                               handle=lambda conn, batch: handed.extend(type(e.event).__name__ for e in batch),
                               database_url=runtime.database_url, wants=reading((Wallet.Event,)))
        with psycopg.connect(runtime.database_url, autocommit=True) as conn:
            tracking.ensure_follower(conn, "reading_probe", "commerce")
            assert follower.catch_up(conn) == 3
            assert tracking.position_of(conn, "reading_probe", "commerce") == runtime.commerce.log_head()
        assert handed == ["Opened", "Credited"]


def test_a_topic_that_does_not_resolve_is_read_so_decoding_names_it() -> None:
    wants = reading((Wallet.Event,))
    assert wants is not None
    assert wants("domain.commerce.wallet:Wallet.Credited") and not wants("domain.commerce.cart:Cart.Opened")
    assert wants("domain.gone:Nothing.Happened")
    assert reading(()) is None
