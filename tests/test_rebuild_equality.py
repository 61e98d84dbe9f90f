"""Every read model, rebuilt from position 0 (batches growing to thousands of events, written
through COPY, only the events it reads decoded), equals the same read model kept up to date
as the events arrived (small batches after every round of writes, every event decoded and
handed to it: a read model whose `reads` leaves out a class it needs differs)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from domain.catalog.category import Category
from domain.catalog.product import Product
from domain.catalog.shop import Shop
from domain.commerce.cart import Cart
from domain.commerce.coupon import Coupon
from domain.commerce.order import Action, Order
from domain.commerce.rewards import RewardLedger
from domain.commerce.stock import Stock
from domain.commerce.values import OrderLine
from domain.commerce.wallet import Wallet
from domain.money import Money
from domain.payments.payment import Payment
from domain.support.ticket import SupportTicket
from projections import READ_MODELS, batch, tracking
from runtime import Runtime
from tests.support.runtimes import own_runtime
from workers.log_follower import FollowerGroup, LogFollower, grouped
from workers.projection import projection_follower, rebuild

ROUNDS = 12
STAFF = str(uuid.uuid4())
Snapshot = dict[str, list[str]]


def tables() -> list[str]:
    names = {t for m in READ_MODELS.values() for t in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", m.create_sql)}
    return sorted(names)


def snapshot(url: str) -> Snapshot:
    with psycopg.connect(url, autocommit=True) as conn:
        return {t: sorted(map(repr, conn.execute(f"SELECT * FROM {t}").fetchall())) for t in tables()}


class Marketplace:
    """Writes a round of everything every read model reads, through the applications."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.now = datetime.now(UTC)
        self.shop = Shop(vendor_id=str(uuid.uuid4()), details={
            "name": "Green Basket", "city": "Pune", "society": "Lakeside", "shop_type": "grocery",
            "tags": ["organic"], "description": "Fresh", "opening_hours": {}, "images": []})
        self.category = Category(slug=f"tea-{uuid.uuid4().hex[:6]}", name="Tea", description="", featured=True)
        self.products = [
            Product.list_new(uuid.uuid4(), shop_id=str(self.shop.id), name=f"Assam Tea {i}", slug=f"assam-{i}",
                             category=self.category.slug, description="Strong leaf", images=[],
                             variants=[{"sku": "A", "name": "250 g", "price": 24900 + i, "currency": "INR",
                                        "stock": 10},
                                       {"sku": "B", "name": "1 kg", "price": 89900, "currency": "INR"}])
            for i in range(3)]
        self.stocks = [Stock.open(str(p.id), "A", units=50) for p in self.products]
        terms = {"code": f"SAVE{uuid.uuid4().hex[:6].upper()}", "discount_type": "flat", "value": 1000,
                 "cap": None, "min_order": 0, "valid_from": self.now - timedelta(days=1),
                 "valid_until": self.now + timedelta(days=30), "usage_limit_total": None,
                 "usage_limit_per_user": 1, "description": "Ten off"}
        self.coupon = Coupon.create(terms, created_by="admin")
        runtime.catalog.save(self.shop, self.category, *self.products)
        runtime.commerce.save(self.coupon, *self.stocks)

    def round(self, i: int) -> None:
        rt, owner = self.rt, str(uuid.uuid4())
        self.shop.rate(f"o{i}", 1 + i % 5)
        self.products[i % 3].change_price("A", 25000 + i)
        self.products[(i + 1) % 3].change_variant("B", {"is_available": i % 2 == 0})
        self.category.update(name=f"Tea {i}", description="Leaf", featured=i % 2 == 0)
        rt.catalog.save(self.shop, self.category, *self.products)

        wallet = Wallet(owner_id=owner, currency="INR")
        for k in range(30):  # enough history lines per rebuild batch to go through COPY
            wallet.credit(1000 + k, kind="load", reference=f"load:{k}")
        wallet.debit(500, kind="debit", reference="purchase")
        cart = Cart(owner_id=owner, currency="INR")
        for k in range(4):
            cart.add_item(item_id=f"i{k}", product_id=str(self.products[0].id), sku="A", name="Tea", qty=1 + k,
                          price=Money(24900, "INR"), shop_id=str(self.shop.id), replace=False)
        order = Order.place(customer_id=owner, shop_id=str(self.shop.id), currency="INR", delivery_fee=0,
                            discount=0, payment_mode="cash",
                            lines=[OrderLine(item_id="a", product_id=str(self.products[0].id), sku="A",
                                             name="Tea", qty=2, unit_price=24900, line_total=49800)])
        for action in (Action.ACCEPT, Action.PACK, Action.DISPATCH, Action.DELIVER)[: i % 5]:
            order.advance(action, by="vendor", at=self.now)
        order.post_message(message_id=str(uuid.uuid4()), sender_id=str(self.shop.vendor_id), sender_role="vendor", text="Packed")
        ledger = RewardLedger(owner_id=owner)
        ledger.earn(str(order.id), 10 + i)
        stock = self.stocks[i % 3]
        stock.reserve(str(order.id), 2, "order")
        if i % 2:
            stock.release(str(order.id), None, "cancelled")
        rt.commerce.save(wallet, cart, order, ledger, stock)

        payment = Payment(purpose="order", order_id=str(order.id), customer_id=owner, amount=49800,
                          currency="INR", provider="sandbox", provider_ref=f"ref-{i}", checkout_url="https://pay",
                          return_url="https://shop", expires_at=self.now + timedelta(minutes=15))
        payment.succeed(f"evt-{i}")
        rt.payments.save(payment)
        ticket = SupportTicket.open(ticket_id=uuid.uuid4(), customer_id=owner, subject=f"Late {i}",
                                    category="order", order_id=str(order.id), message_id=str(uuid.uuid4()), text="Where is it?")
        ticket.post(message_id=str(uuid.uuid4()), author_id=STAFF, author_role="staff", text="On its way")
        if i % 2:
            ticket.move("resolved", by=STAFF, note="delivered")
        rt.support.save(ticket)


@pytest.fixture(scope="module")
def followed(postgres: str) -> Iterator[tuple[Runtime, Snapshot]]:
    """Every read model followed in small batches after each round of writes."""
    with own_runtime(postgres) as runtime:
        runtime.settings.worker_batch_size = 3
        followers = [projection_follower(runtime, m) for m in READ_MODELS.values()]
        for follower in followers:
            follower.wants = None
        market = Marketplace(runtime)
        with psycopg.connect(runtime.database_url, autocommit=True) as conn:
            for i in range(ROUNDS):
                market.round(i)
                for follower in followers:
                    follower.catch_up(conn)
        runtime.settings.worker_batch_size = 500
        yield runtime, snapshot(runtime.database_url)


def test_the_log_gives_every_read_model_rows(followed: tuple[Runtime, Snapshot]) -> None:
    _, incremental = followed
    assert [t for t, rows in incremental.items() if not rows] == []


@pytest.mark.parametrize("name", sorted(READ_MODELS))
def test_a_rebuilt_read_model_equals_the_incremental_one(followed: tuple[Runtime, Snapshot], name: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    runtime, incremental = followed
    written: list[int] = []
    copy_insert = batch.Table._copy_insert

    def counting(self: batch.Table, conn: Any, params: list[list[Any]], *args: Any) -> None:
        written.append(len(params))
        copy_insert(self, conn, params, *args)

    monkeypatch.setattr(batch.Table, "_copy_insert", counting)
    rebuild(runtime, READ_MODELS[name])
    assert snapshot(runtime.database_url) == incremental
    if name in ("wallet_history", "notifications"):
        assert written, "the rebuild's large batches were written through COPY"


def test_read_models_stepped_as_groups_equal_the_incremental_ones(followed: tuple[Runtime, Snapshot]) -> None:
    runtime, incremental = followed
    # Given every read model emptied, each follower back at the start of its log,
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(tables())}")
        for m in READ_MODELS.values():
            tracking.set_position(conn, m.name, m.application, 0, transaction_id=0)
        # When the live followers of each log step as one group (workers/log_follower.py),
        # from batches of 3,
        runtime.settings.worker_batch_size = 3
        groups = grouped([projection_follower(runtime, m) for m in READ_MODELS.values()])
        runtime.settings.worker_batch_size = 500
        assert sum(isinstance(g, FollowerGroup) for g in groups) >= 2  # commerce, catalog at least
        for group in groups:
            assert isinstance(group, LogFollower)
            group.catch_up(conn)
    # Then every table holds what the followers stepping alone wrote
    assert snapshot(runtime.database_url) == incremental
