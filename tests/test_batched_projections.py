"""A batch folds to the same rows as applying its events one by one, whatever the mix of
aggregates and however many events hit one row (property-based, on PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.commerce.cart import Cart
from domain.commerce.order import Order
from domain.commerce.values import OrderLine
from domain.commerce.wallet import Wallet
from domain.money import Money
from eventmart.migrations import migrate
from projections import cart_view, order_history, wallet_balance, wallet_history
from projections.read_model import ReadModel
from tests.infra import fresh_database
from tests.support.settings import make_settings

MODELS = [wallet_balance.READ_MODEL, wallet_history.READ_MODEL, cart_view.READ_MODEL, order_history.READ_MODEL]
TABLES = ["wallet_balance", "wallet_history", "wallet_history_owners", "cart_view", "order_history"]
LINES = [OrderLine(item_id="a", product_id=str(uuid.uuid4()), sku="A", name="Tea", qty=2, unit_price=100,
                   line_total=200)]


@pytest.fixture(scope="module")
def url(postgres: str) -> Iterator[str]:
    with fresh_database(postgres) as db:
        migrate(make_settings(db), db)
        yield db


def streams(ops: list[tuple[int, int]]) -> list[list[Any]]:
    """Each aggregate's events, in its own order."""
    out: list[list[Any]] = []
    for kind, n in ops:
        owner = str(uuid.uuid4())
        if kind == 0:
            w = Wallet(owner_id=owner, currency="INR")
            for i in range(n):
                w.credit(100 + i, kind="load", reference=f"r{i}")
            agg: Any = w
        elif kind == 1:
            c = Cart(owner_id=owner, currency="INR")
            for i in range(n):
                c.add_item(item_id=f"i{i % 3}", product_id=LINES[0].product_id, sku=f"S{i % 3}", name="Tea",
                           qty=1, price=Money(100, "INR"), shop_id=None, replace=False)
            agg = c
        else:
            agg = Order.place(customer_id=owner, shop_id=None, lines=LINES, currency="INR", delivery_fee=0,
                              discount=0, payment_mode="cash")
            for action in ("accept", "pack", "dispatch", "deliver")[:n]:
                agg.advance(action, by="vendor", at=datetime.now(UTC))
        out.append(agg.collect_events())
    return out


def snapshot(conn: psycopg.Connection) -> dict[str, list[Any]]:
    return {t: sorted(map(repr, conn.execute(f"SELECT * FROM {t}").fetchall())) for t in TABLES}


def run(conn: psycopg.Connection, models: list[ReadModel], batches: list[list[Any]]) -> dict[str, list[Any]]:
    with conn.transaction(force_rollback=True):
        for batch in batches:
            for model in models:
                assert model.apply_batch is not None
                model.apply_batch(conn, batch)
        return snapshot(conn)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(ops=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 6)), min_size=1, max_size=6),
       picks=st.lists(st.integers(0, 5), max_size=60), cut=st.integers(1, 40))
def test_a_batch_folds_like_one_event_at_a_time(url: str, ops: list[tuple[int, int]], picks: list[int],
                                               cut: int) -> None:
    # Interleave the streams at random, keeping each aggregate's own order.
    queues = streams(ops)
    log: list[Any] = []
    for p in picks + [0] * sum(map(len, queues)):
        live = [q for q in queues if q]
        if not live:
            break
        log.append(live[p % len(live)].pop(0))
    with psycopg.connect(url, autocommit=True) as conn:
        one_by_one = run(conn, MODELS, [[e] for e in log])
        batched = run(conn, MODELS, [log[i:i + cut] for i in range(0, len(log), cut)])
    assert batched == one_by_one
