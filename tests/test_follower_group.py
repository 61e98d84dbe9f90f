"""The read models of one log, stepped as one group (workers/log_follower.py FollowerGroup):
one transaction per burst for all of them, yet each keeps its own position, gate and faults.
That the rows equal those of each follower alone: tests/test_rebuild_equality.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest

from domain.commerce.cart import Cart
from domain.commerce.wallet import Wallet
from projections import cart_view, tracking, wallet_balance, wallet_history
from projections.read_model import ReadModel
from runtime import Runtime
from tests.support.poison import poisoned
from tests.support.runtimes import own_runtime
from tests.support.waiting import eventually
from workers.log_follower import EventFailed, FollowerGroup, LogFollower, grouped
from workers.projection import projection_follower

MODELS = (cart_view.READ_MODEL, wallet_balance.READ_MODEL, wallet_history.READ_MODEL)


@pytest.fixture
def runtime(postgres: str) -> Iterator[Runtime]:
    with own_runtime(postgres) as rt:
        yield rt


def cursor(runtime: Runtime, name: str) -> tuple[int, int]:
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        return tracking.cursor_of(conn, name, "commerce")


def log_end(runtime: Runtime) -> tuple[int, int]:
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        row = conn.execute("SELECT transaction_id::text AS xid, notification_id FROM commerce_events "
                           "ORDER BY transaction_id DESC, notification_id DESC LIMIT 1").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def write(runtime: Runtime, carts: int, credits: int) -> Wallet:
    runtime.commerce.save(*[Cart(owner_id=str(uuid.uuid4()), currency="INR") for _ in range(carts)])
    wallet = Wallet(owner_id=str(uuid.uuid4()), currency="INR")
    for i in range(credits):
        wallet.credit(100 + i, kind="load", reference=f"r{i}")
    runtime.commerce.save(wallet)
    return wallet


def group_of(runtime: Runtime, models: Sequence[ReadModel] = MODELS) -> FollowerGroup:
    made = grouped([projection_follower(runtime, m) for m in models])
    assert len(made) == 1 and isinstance(made[0], FollowerGroup)
    return made[0]


def caught_up_to_the_head(group: FollowerGroup, conn: psycopg.Connection[Any], runtime: Runtime,
                          *followers: str) -> bool:
    """Steps the group until each of `followers` is at the log's head. One catch_up stops at
    a batch that is not full, also when a transaction of another session of the cluster
    that began before the last append is still running (the read's bound, adapters/recorder.py):
    the next one reads on."""
    def there() -> bool:
        group.catch_up(conn)
        return all(cursor(runtime, f) == log_end(runtime) for f in followers)
    return bool(eventually(there, timeout=60))


def test_the_live_read_models_of_a_log_are_grouped_and_the_others_are_not(runtime: Runtime) -> None:
    live = [projection_follower(runtime, m) for m in MODELS]
    rebuilding = projection_follower(runtime, cart_view.READ_MODEL, follower="cart_view@g2")
    other: Any = object()
    made = grouped([live[0], rebuilding, other, *live[1:]])
    assert made[1:] == [rebuilding, other]
    assert isinstance(made[0], FollowerGroup) and made[0].members == live


def test_a_group_moves_every_member_to_the_head_in_one_batch(runtime: Runtime) -> None:
    # Given carts and a wallet's credits in the log
    wallet = write(runtime, carts=4, credits=6)
    group = group_of(runtime)
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        # When the group steps once
        passed = group.step(conn)
        # Then one batch took every member to the head
        assert passed == 11 and not group.more
        assert {m.name: cursor(runtime, m.name) for m in MODELS} == dict.fromkeys(
            (m.name for m in MODELS), log_end(runtime))
        # with each read model's rows written
        assert conn.execute("SELECT count(*) FROM cart_view").fetchone() == (4,)
        assert conn.execute("SELECT balance FROM wallet_balance WHERE wallet_id = %s",
                            (wallet.id,)).fetchone() == (sum(100 + i for i in range(6)),)
        # and a step with nothing new passes nothing
        assert group.step(conn) == 0


def test_a_member_another_process_is_stepping_is_passed_over_and_catches_up_later(runtime: Runtime) -> None:
    write(runtime, carts=3, credits=2)
    group = group_of(runtime)
    with psycopg.connect(runtime.database_url, autocommit=True) as conn, \
            psycopg.connect(runtime.database_url) as other:
        # Given another process in the middle of a batch of cart_view (its row locked)
        tracking.lock_position(other, "cart_view", "commerce")
        # When the group steps, it does not wait for it
        group.step(conn)
        # Then the others reach the head, cart_view stays
        assert cursor(runtime, "wallet_balance") == log_end(runtime)
        assert cursor(runtime, "cart_view") == (0, 0)
        # and once the other process is done, the next step brings it along
        other.rollback()
        assert caught_up_to_the_head(group, conn, runtime, "cart_view")
        assert conn.execute("SELECT count(*) FROM cart_view").fetchone() == (3,)


def test_a_member_held_by_its_version_gate_does_not_hold_the_others(runtime: Runtime) -> None:
    group = group_of(runtime)
    group.batch_size = group.limit = group.max_batch_size = 4
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        # Given cart_view's serving tables of another version than its code (a rebuild under way)
        serving = conn.execute("SELECT version FROM read_model_versions WHERE read_model = 'cart_view'").fetchone()
        conn.execute("UPDATE read_model_versions SET version = 99 WHERE read_model = 'cart_view'")
        # When far more events than a batch arrive and the group catches up
        write(runtime, carts=10, credits=10)
        # Then the others reach the head; cart_view waits where it was
        assert caught_up_to_the_head(group, conn, runtime, "wallet_history")
        assert cursor(runtime, "cart_view") == (0, 0)
        # and when its version serves again, it catches up from where it was, skipping nothing
        conn.execute("UPDATE read_model_versions SET version = %s WHERE read_model = 'cart_view'", serving)
        write(runtime, carts=1, credits=0)
        assert caught_up_to_the_head(group, conn, runtime, "cart_view")
        assert conn.execute("SELECT count(*) FROM cart_view").fetchone() == (11,)


def test_a_member_that_fails_on_an_event_leaves_the_group_and_the_others_go_on(runtime: Runtime) -> None:
    # Given a cart that cart_view cannot apply, between good ones
    runtime.commerce.save(Cart(owner_id=str(uuid.uuid4()), currency="INR"))
    bad = Cart(owner_id=str(uuid.uuid4()), currency="INR")
    runtime.commerce.save(bad)
    write(runtime, carts=2, credits=3)
    ejected: list[tuple[LogFollower, EventFailed]] = []
    group = group_of(runtime, (poisoned(cart_view.READ_MODEL, bad.id), *MODELS[1:]))
    group.eject = lambda member, failed: ejected.append((member, failed))
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        # When the group steps
        group.catch_up(conn)
        # Then cart_view left it, naming the event, after applying what came before it
        [(member, failed)] = ejected
        assert member.follower == "cart_view" and failed.aggregate_id == str(bad.id)
        assert [m.follower for m in group.members] == ["wallet_balance", "wallet_history"]
        assert conn.execute("SELECT count(*) FROM cart_view").fetchone() == (1,)
        # while the others went on to the head
        assert cursor(runtime, "wallet_balance") == cursor(runtime, "wallet_history") == log_end(runtime)
        # and later events go to the remaining members
        write(runtime, carts=0, credits=1)
        assert caught_up_to_the_head(group, conn, runtime, "wallet_history")
