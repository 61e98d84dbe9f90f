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

from domain.catalog.category import Category
from domain.catalog.product import Product
from domain.catalog.shop import Shop
from domain.commerce.cart import Cart
from domain.commerce.order import Order
from domain.commerce.rewards import RewardLedger
from domain.commerce.stock import Stock
from domain.commerce.values import OrderLine
from domain.commerce.wallet import Wallet
from domain.money import Money
from domain.support.ticket import SupportTicket
from eventmart.migrations import migrate
from projections import (
    cart_view,
    catalog_search,
    notifications,
    order_history,
    stock_levels,
    wallet_balance,
    wallet_history,
)
from projections.read_model import ReadModel
from tests.infra import fresh_database
from tests.support.settings import make_settings

# Catalog and stock are two logs in production; mixing them in one batch here is the harder
# case: the product rows they share must end the same whichever of the two runs first.
MODELS = [wallet_balance.READ_MODEL, wallet_history.READ_MODEL, cart_view.READ_MODEL, order_history.READ_MODEL,
          notifications.READ_MODEL, notifications.SUPPORT_READ_MODEL, catalog_search.READ_MODEL,
          stock_levels.READ_MODEL]
TABLES = ["wallet_balance", "wallet_history", "wallet_history_owners", "cart_view", "order_history",
          "notifications", "notification_owners", "catalog_categories", "catalog_category_ids", "catalog_shops",
          "catalog_products", "stock_levels"]
KINDS = 8
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
    shop = str(uuid.uuid4())
    products = [uuid.uuid4() for _ in range(2)]  # few, so stock and listings meet on one row
    # Both products are listed in every example, so stock streams have product rows to patch.
    for kind, n in [(5, 0), (5, 1), *ops]:
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
        elif kind == 2:
            agg = Order.place(customer_id=owner, shop_id=None, lines=LINES, currency="INR", delivery_fee=0,
                              discount=0, payment_mode="cash")
            for action in ("accept", "pack", "dispatch", "deliver")[:n]:
                agg.advance(action, by="vendor", at=datetime.now(UTC))
            if n > 4:
                agg.post_message(message_id="m1", sender_id=shop, sender_role="vendor", text="On its way")
        elif kind == 3:
            agg = RewardLedger(owner_id=owner)
            for i in range(n):
                agg.earn(f"order-{i}", 10 + i)
        elif kind == 4:
            agg = Shop(vendor_id=owner, details={"name": "Green", "city": "Pune", "society": "Lake",
                                                 "shop_type": "grocery", "tags": ["organic"], "description": "",
                                                 "opening_hours": {}, "images": []})
            for i in range(n):
                agg.rate(f"o{i}", 1 + i % 5) if i % 3 else agg.set_open(i % 2 == 0)
            shop = str(agg.id)
        elif kind == 5:
            product_id = products[n % 2]
            if any(e for q in out for e in q if getattr(e, "originator_id", None) == product_id):
                product_id = uuid.uuid4()
            agg = Product.list_new(product_id, shop_id=shop, name=f"Tea {n}", slug=f"tea-{n}", category="tea",
                                   description="Strong", images=[],
                                   variants=[{"sku": "A", "name": "a", "price": 100, "currency": "INR", "stock": 5},
                                             {"sku": "B", "name": "b", "price": 200, "currency": "INR"}])
            for i in range(n - 1):
                if i % 2:
                    agg.change_variant("B", {"is_available": i % 4 == 1})
                else:
                    agg.change_price("A", 100 + i)
        elif kind == 6:
            agg = Stock.open(str(products[n % 2]), "A", units=n + 2)
            for i in range(n):
                agg.reserve(f"o{i // 2}", 1, "order") if i % 2 == 0 else agg.release(f"o{i // 2}", None, "cancelled")
        else:
            slug = f"cat-{uuid.uuid4().hex[:8]}"
            agg = Category(slug=slug, name="Tea", description="", featured=False)
            for i in range(n - 1):
                agg.update(name=f"Tea {i}", description="Leaf", featured=i % 2 == 0)
            ticket = SupportTicket.open(ticket_id=uuid.uuid4(), customer_id=owner, subject="Late", category="order",
                                        order_id=None, message_id="m0", text="Where is it?")
            for i in range(n):
                ticket.post(message_id=f"m{i + 1}", author_id="staff-1", author_role="staff", text=f"Reply {i}")
            ticket.move("resolved", by="staff-1", note="done")
            out.append(list(ticket.collect_events()))
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


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(ops=st.lists(st.tuples(st.integers(0, KINDS - 1), st.integers(1, 6)), min_size=1, max_size=8),
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
