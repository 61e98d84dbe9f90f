"""Money and stock invariants over random interleavings of every command that moves them
(Hypothesis stateful testing), on the real PostgreSQL event store.

The machine plays customers, a vendor, support and the policies (payment outcomes and the
provider's refunds) against the Commerce application, in whatever order Hypothesis picks. It
runs on a database of its own with no workers, so every policy step happens when the machine
says so, and each interleaving is reproducible. After every step, read from the event store:
- each wallet's balance equals its events' fold and loads + refunds - spends, and is >= 0;
- per order: refunded <= paid, and refunded + still owed <= paid;
- per variant: stock never negative; units sold + held + left = units ever stocked; what is
  held equals what live orders need, what is sold equals what was delivered less restocks;
- reward points never negative; lifetime points are those earned on goods kept, and each
  return takes back the value of the points its goods earned (points, or out of the refund).

`EVENTMART_SOAK=1` (or `make soak`) runs many more, longer interleavings.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from domain.actor import Actor, Role
from domain.commerce.application import CommerceApplication
from domain.commerce.order import Order
from domain.commerce.rewards import POINT_VALUE, RewardLedger, ledger_id_for, points_kept
from domain.commerce.stock import Stock, stock_id_for
from domain.commerce.values import Amounts
from domain.commerce.wallet import Wallet, wallet_id_for
from domain.errors import DomainError
from projections.reconcile import reconcile
from runtime import Runtime, build_applications
from tests.support.audit_seals import project_money
from tests.support.runtimes import own_runtime

SOAK = bool(os.environ.get("EVENTMART_SOAK"))
PROFILE = settings(
    max_examples=300 if SOAK else 40,
    stateful_step_count=80 if SOAK else 60,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not SOAK,  # CI runs the same interleavings every time; soak explores
)
LIVE = ("awaiting_payment", "pending", "modified", "accepted", "packed", "out_for_delivery")
NEXT = {"pending": "accept", "accepted": "pack", "packed": "dispatch", "out_for_delivery": "deliver"}
OPEN_ALL_WEEK = {d: [["00:00", "23:59"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture(scope="module")
def quiet_runtime(postgres: str) -> Iterator[Runtime]:
    """A runtime on its own database with no workers: the machine is the only writer."""
    with own_runtime(postgres) as rt:
        yield rt


def stored_order(runtime: Runtime, order_id: uuid.UUID) -> Order | None:
    found: Any = runtime.commerce.repository.get(order_id)
    return found if isinstance(found, Order) else None

class Marketplace(RuleBasedStateMachine):
    runtime: Runtime
    # Another process's Commerce over the same database, with a cache of its own: commands
    # run through either (`switch_process`), so each decides at times on cached aggregates
    # the other has changed since (domain/loading.py: checked at the append).
    elsewhere: CommerceApplication

    def __init__(self) -> None:
        super().__init__()
        rt = self.runtime
        self.commerce = rt.commerce
        self.vendor = Actor(str(uuid.uuid4()), Role.VENDOR)
        self.support = Actor(str(uuid.uuid4()), Role.SUPPORT)
        shop = rt.catalog.register_shop(self.vendor, vendor_id=self.vendor.user_id, details={
            "name": "Corner Store", "description": "", "city": "Pune", "society": "Lakeside",
            "shop_type": "grocery", "tags": [], "opening_hours": OPEN_ALL_WEEK, "images": []}).value
        rt.catalog.set_shop_open(self.vendor, shop.id, True)
        self.products: list[tuple[uuid.UUID, str]] = []
        # Two limited variants and one without a stock figure.
        for name, price, stock in (("Tea", 24900, 3), ("Rice", 64500, 5), ("Salt", 2000, None)):
            pid = rt.new_id()
            rt.catalog.list_product(product_id=pid, name=name, slug=f"{name.lower()}-{pid.hex[:8]}",
                                    category="groceries", shop_id=shop.id,
                                    variants=[{"sku": "S", "price": price, "stock": stock}])
            self.products.append((pid, "S"))
        self.code = f"T{uuid.uuid4().hex[:8]}".upper()
        now = datetime.now(UTC)
        rt.commerce.create_coupon(Actor(str(uuid.uuid4()), Role.ADMIN), {
            "code": self.code, "description": "", "discount_type": "percent", "value": 15,
            "cap": 20000, "min_order": 0, "valid_from": now - timedelta(days=1),
            "valid_until": now + timedelta(days=30), "usage_limit_total": 4, "usage_limit_per_user": 2})
        self.customers = [uuid.uuid4() for _ in range(3)]
        self.loaded = dict.fromkeys(self.customers, 0)
        self.tipped = dict.fromkeys(self.customers, 0)  # debited under an idempotency claim
        self.claimed: set[str] = set()
        self.orders: list[uuid.UUID] = []
        self.refund_requests: set[str] = set()

    # Helpers

    def attempt(self, command: Any, *args: Any, **kwargs: Any) -> Any:
        """A refused command must change nothing: the log head stays where it was."""
        head = self.head()
        try:
            return command(*args, **kwargs)
        except DomainError:
            assert self.head() == head, f"{command.__name__} refused but wrote events"
            return None

    def head(self) -> int:
        with self.runtime.pool.connection() as conn:
            row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM commerce_events").fetchone()
            return int(row[0]) if row else 0

    def order(self, index: int) -> Order | None:
        if not self.orders:
            return None
        # Mostly the latest orders, so that interleavings go deep (deliveries, returns).
        recent = self.orders[-3:] if index % 4 else self.orders
        return stored_order(self.runtime, recent[index % len(recent)])

    def customer_of(self, order: Order) -> Actor:
        return Actor(order.customer_id, Role.CUSTOMER)

    # Customers

    @initialize(amounts=st.lists(st.integers(200_000, 2_000_000), min_size=3, max_size=3))
    def open_wallets(self, amounts: list[int]) -> None:
        for who, amount in enumerate(amounts):
            if amount:
                self.load_wallet(who, amount)

    @rule(who=st.integers(0, 2), amount=st.integers(1, 300_000))
    def load_wallet(self, who: int, amount: int) -> None:
        owner = self.customers[who]
        self.commerce.credit_wallet_load(owner, amount, f"load:{uuid.uuid4()}")
        self.loaded[owner] += amount

    @rule(who=st.integers(0, 2), product=st.integers(0, 2), qty=st.integers(1, 4))
    def add_to_cart(self, who: int, product: int, qty: int) -> None:
        pid, sku = self.products[product]
        self.attempt(self.commerce.add_to_my_cart, owner_id=self.customers[who], product_id=pid,
                     sku=sku, qty=qty, replace=False)

    @rule(who=st.integers(0, 2))
    def apply_coupon(self, who: int) -> None:
        self.attempt(self.commerce.apply_coupon, owner_id=self.customers[who], code=self.code)

    @rule(who=st.integers(0, 2), points=st.integers(0, 400))
    def redeem_points(self, who: int, points: int) -> None:
        self.attempt(self.commerce.reserve_points, owner_id=self.customers[who], points=points)

    @rule(who=st.integers(0, 2), mode=st.sampled_from(["cash", "wallet", "online"]))
    def place_order(self, who: int, mode: str) -> None:
        owner = self.customers[who]
        if mode == "online":
            saved = self.attempt(self.commerce.checkout, owner_id=owner,
                                 cart_id=self.commerce._own_cart(owner).id)
        else:
            saved = self.attempt(self.commerce.confirm_order, owner_id=owner, payment_mode=mode,
                                 delivery_notes="", address=None)
        if saved is not None:
            self.orders.append(saved.value.id)

    @rule(who=st.integers(0, 2), lines=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 3)), min_size=1,
                                                max_size=3),
          coupon=st.booleans(), points=st.integers(0, 300),
          mode=st.sampled_from(["cash", "wallet", "wallet", "online"]))
    def shop_and_order(self, who: int, lines: list[tuple[int, int]], coupon: bool, points: int, mode: str) -> None:
        """A whole visit: a fresh cart, maybe a coupon and points, then order."""
        self.commerce.clear_my_cart(owner_id=self.customers[who])
        for product, qty in lines:
            self.add_to_cart(who, product, qty)
        if coupon:
            self.apply_coupon(who)
        if points:
            self.redeem_points(who, points)
        self.place_order(who, mode)

    @rule(index=st.integers(0, 50))
    def cancel(self, index: int) -> None:
        if (order := self.order(index)) is not None:
            self.attempt(self.commerce.cancel_order, self.customer_of(order), order.id, reason="")

    @rule(index=st.integers(0, 50))
    def confirm_modified(self, index: int) -> None:
        if (order := self.order(index)) is not None:
            self.attempt(self.commerce.advance_order, self.customer_of(order), order.id,
                         "confirm_modified")

    @rule(index=st.integers(0, 50), line=st.integers(0, 3), qty=st.integers(1, 4), approve=st.booleans(),
          restock=st.booleans())
    def return_and_decide(self, index: int, line: int, qty: int, approve: bool, restock: bool) -> None:
        self.request_return(index, line, qty)
        self.decide_return(index, approve, restock)

    @rule(index=st.integers(0, 50), line=st.integers(0, 3), qty=st.integers(1, 4))
    def request_return(self, index: int, line: int, qty: int) -> None:
        if (order := self.order(index)) is not None:
            item = order.lines[line % len(order.lines)].item_id
            self.attempt(self.commerce.request_order_return, self.customer_of(order), order.id,
                         [{"item_id": item, "quantity": qty}], "changed my mind")

    @rule(index=st.integers(0, 50), share=st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))
    def ask_for_a_refund(self, index: int, share: int) -> None:
        """Mostly wallet-paid orders, the ones a customer may ask to refund, for up to all of it."""
        orders = [o for i in self.orders if (o := stored_order(self.runtime, i)) is not None]
        wallet = [o for o in orders if o.payment_mode == "wallet"] if index % 5 else orders
        if wallet:
            order = wallet[index % len(wallet)]
            amount = max(1, order.paid * share // 10)
            self.attempt(self.commerce.refund_order_to_wallet, self.customer_of(order), order.id,
                         amount, "")

    # The vendor and support

    @rule(index=st.integers(0, 50), action=st.sampled_from(["accept", "pack", "dispatch", "deliver"]))
    def fulfil(self, index: int, action: str) -> None:
        if (order := self.order(index)) is not None:
            self.attempt(self.commerce.advance_order, self.vendor, order.id, action)

    @rule(index=st.integers(0, 50), steps=st.integers(1, 4))
    def move_on(self, index: int, steps: int) -> None:
        """The vendor moves an order on, so that interleavings reach deliveries and returns."""
        for _ in range(steps):
            order = self.order(index)
            action = NEXT.get(order.status) if order is not None else None
            if order is None or action is None:
                return
            self.attempt(self.commerce.advance_order, self.vendor, order.id, action)

    @rule(index=st.integers(0, 50))
    def reject(self, index: int) -> None:
        if (order := self.order(index)) is not None:
            self.attempt(self.commerce.cancel_order, self.vendor, order.id, reason="closing",
                         reject=True)

    @rule(index=st.integers(0, 50), line=st.integers(0, 3), qty=st.integers(0, 3))
    def modify(self, index: int, line: int, qty: int) -> None:
        if (order := self.order(index)) is not None:
            item = order.lines[line % len(order.lines)].item_id
            self.attempt(self.commerce.modify_order, self.vendor, order.id, {item: qty})

    @rule(product=st.integers(0, 1), units=st.integers(0, 12))
    def count_the_shelf(self, product: int, units: int) -> None:
        pid, sku = self.products[product]
        self.commerce.set_stock_level(pid, sku, units, by="vendor")

    @rule(index=st.integers(0, 50), approve=st.booleans(), restock=st.booleans())
    def decide_return(self, index: int, approve: bool, restock: bool) -> None:
        order = self.order(index)
        pending = [r for r, ret in (order.returns.items() if order else ()) if ret["state"] == "requested"]
        if order is None or not pending:
            return
        self.attempt(self.commerce.decide_order_return, self.support, order.id, pending[0],
                     approved=approve, note="")
        if approve and restock:
            self.attempt(self.commerce.restock_return, self.vendor, order.id, pending[0])

    # Policies, by hand

    @rule(index=st.integers(0, 50))
    def payment_succeeds(self, index: int) -> None:
        if (order := self.order(index)) is not None and order.payment_mode == "online":
            # False: the order cannot take it; the provider gives it back (not the order's money).
            self.commerce.record_order_payment(order.id, f"pay:{uuid.uuid4()}", order.total)

    @rule(index=st.integers(0, 50))
    def payment_fails_or_expires(self, index: int) -> None:
        if (order := self.order(index)) is not None and order.payment_mode == "online":
            self.commerce.record_order_payment_failure(order.id, f"pay:{uuid.uuid4()}", "declined")

    @rule()
    def provider_refunds_what_is_due(self) -> None:
        for order_id in self.orders:
            for e in self.commerce.events.get(order_id):
                request = f"{order_id}:{e.originator_version}"
                if isinstance(e, Order.RefundDue) and request not in self.refund_requests:
                    self.commerce.record_order_refund(order_id, e.amount, request)
                    self.refund_requests.add(request)

    @rule(who=st.integers(0, 2), amount=st.integers(1, 400_000), claim=st.integers(0, 3))
    def tip_under_a_claim(self, who: int, amount: int, claim: int) -> None:
        """`POST /api/v1/consumer/wallet/debit`'s command, the same claim maybe again (a retried
        request): debited once, and a retry answers with the first debit's outcome."""
        owner, key = self.customers[who], f"claim-{who}-{claim}"
        done = self.attempt(self.commerce.debit_wallet, owner, amount, "tip", key=key)
        if done is None:
            return  # refused: more than the balance
        if key not in self.claimed:
            self.claimed.add(key)
            self.tipped[owner] += amount
        outcome = done.value.keyed_debit(key)
        assert outcome is not None
        firsts = [e for e in self.commerce.events.get(wallet_id_for(owner))
                  if isinstance(e, Wallet.Debited) and e.key == key]
        assert len(firsts) == 1 and outcome.balance_after == firsts[0].balance_after

    @rule(process=st.integers(0, 1))
    def switch_process(self, process: int) -> None:
        self.commerce = (self.runtime.commerce, self.elsewhere)[process]

    # Invariants

    @invariant()
    def money_adds_up(self) -> None:
        commerce = self.runtime.commerce
        orders = [o for i in self.orders if (o := stored_order(self.runtime, i)) is not None]
        for order in orders:
            assert 0 <= order.refunded <= order.paid, (order.id, order.refunded, order.paid)
            assert order.owed >= 0 and order.refunded + order.owed <= order.paid
            refunded, debts, returns, goods = owed_by_history(list(commerce.events.get(order.id)))
            assert refunded <= debts <= order.paid, "a refund must draw on a debt the history shows"
            assert returns <= goods, "returns refund at most what the goods cost after discounts"
        for owner in self.customers:
            if commerce._get(wallet_id_for(owner), Wallet) is None:
                continue
            events = list(commerce.events.get(wallet_id_for(owner)))
            fold = sum(e.amount for e in events if isinstance(e, Wallet.Credited)) - sum(
                e.amount for e in events if isinstance(e, Wallet.Debited))
            mine = [o for o in orders if o.customer_id == str(owner)]
            refunds = sum(e.amount for o in mine for e in commerce.events.get(o.id)
                          if isinstance(e, Order.Refunded) and e.method == "wallet")
            spends = sum(o.paid for o in mine if o.payment_mode == "wallet")
            balance = commerce.wallet(owner).balance
            assert balance == fold == self.loaded[owner] + refunds - spends - self.tipped[owner] >= 0
            assert commerce.ledger(owner).balance >= 0

    @invariant()
    def points_follow_the_goods_kept(self) -> None:
        """A customer's lifetime points are those their orders earned on goods they kept; each
        return takes back the value of the points its goods earned, as points or, once they
        are spent, out of the refund, as far as the refund goes; and gives back the points
        spent on its goods."""
        commerce = self.runtime.commerce
        orders = {str(o.id): o for i in self.orders if (o := stored_order(self.runtime, i)) is not None}
        for owner in self.customers:
            ledger = commerce._get(ledger_id_for(owner), RewardLedger)
            if ledger is None:
                continue
            reversals = {e.reference: e for e in commerce.events.get(ledger.id)
                         if isinstance(e, RewardLedger.Reversed)}
            kept = 0
            for order_id, earned in ledger.earned_orders.items():
                order = orders[order_id]
                kept += points_kept(earned, order.amounts["subtotal"] - order.amounts["discount"],
                                    order.returned_goods)
                recovered = {e.reference: e.amount for e in commerce.events.get(order.id)
                             if isinstance(e, Order.Refunded) and e.method == "points"}
                for return_id, ret in order.returns.items():
                    reversal = reversals.get(f"return:{return_id}")
                    if ret["state"] != "approved" or reversal is None:
                        continue
                    value = reversal.points * POINT_VALUE + recovered.get(f"return:{return_id}:points", 0)
                    assert value == min(reversal.lifetime * POINT_VALUE,
                                        reversal.points * POINT_VALUE + ret.get("refund", 0))
            assert ledger.lifetime == kept, (ledger.lifetime, kept)
            given_back: dict[str, int] = {}
            for e in points_given_back(commerce, ledger.id):
                given_back[e.order_id] = given_back.get(e.order_id, 0) + e.points
            for order_id, redeemed in ledger.redeemed_orders.items():
                bought = orders.get(order_id)
                if bought is None:
                    continue
                listed = bought.amounts["subtotal"]
                assert given_back.get(order_id, 0) == redeemed - points_kept(
                    redeemed, listed, bought.returned_subtotal)

    @invariant()
    def stock_is_never_sold_twice(self) -> None:
        commerce = self.runtime.commerce
        orders = [o for i in self.orders if (o := stored_order(self.runtime, i)) is not None]
        for pid, sku in self.products[:2]:
            stock = commerce._get(stock_id_for(pid, sku), Stock)
            if stock is None:
                continue
            assert stock.left >= 0 and stock.sold + stock.units_held + stock.left == stock.stocked
            need = {str(o.id): q for o in orders if o.status in LIVE
                    for q in [sum(line.qty for line in o.lines if line.product_id == str(pid))] if q}
            assert stock.held == need, (stock.held, need)
            restocked = sum(e.qty for e in commerce.events.get(stock.id) if isinstance(e, Stock.Restocked))
            delivered = sum(line.qty for o in orders if o.status == "delivered" for line in o.lines
                            if line.product_id == str(pid))
            assert stock.sold == delivered - restocked


def points_given_back(commerce: Any, ledger_id: uuid.UUID) -> list[Any]:
    """The points a ledger gave back for returned goods bought with them."""
    return [e for e in commerce.events.get(ledger_id) if isinstance(e, RewardLedger.ReturnRestored)]


def owed_by_history(events: list[Any]) -> tuple[int, int, int, int]:
    """Re-derived from the order's events, independently of the aggregate: what was refunded,
    what its history made owed (cancellations, confirmed modifications, approved returns),
    what approved returns came to, and what the goods cost after discounts."""
    refunded = debts = returns = paid = 0
    total = goods = 0
    proposed: Amounts | None = None
    for e in events:
        if isinstance(e, Order.Placed):
            total, goods = e.amounts["total"], e.amounts["subtotal"] - e.amounts["discount"]
        elif isinstance(e, Order.Paid):
            paid += e.amount
        elif isinstance(e, Order.Modified):
            proposed = e.amounts
        elif isinstance(e, Order.StatusChanged) and e.action == "confirm_modified" and proposed:
            if paid:
                debts += total - proposed["total"]
            total, goods, proposed = proposed["total"], proposed["subtotal"] - proposed["discount"], None
        elif isinstance(e, Order.Cancelled):
            debts += e.refund_due
        elif isinstance(e, Order.ReturnDecided) and e.approved:
            debts += e.refund or 0
            returns += e.refund or 0
        elif isinstance(e, Order.Refunded):
            refunded += e.amount
    return refunded, debts, returns, goods


def test_money_and_stock_invariants_hold_over_random_interleavings(quiet_runtime: Runtime) -> None:
    Marketplace.runtime = quiet_runtime
    elsewhere = build_applications(quiet_runtime.settings, quiet_runtime.database_url)
    Marketplace.elsewhere = elsewhere[1]
    try:
        run_state_machine_as_test(Marketplace, settings=PROFILE)
    finally:
        for app in elsewhere:
            app.close()
    # Read models built from everything those interleavings wrote agree with the log, and
    # money is conserved across all wallets and orders (issue 15: reconciliation).
    project_money(quiet_runtime)
    with psycopg.connect(quiet_runtime.database_url, autocommit=True) as conn:
        report = reconcile(conn, quiet_runtime.commerce.mapper)
    assert report.ok, list(report.lines())
    assert report.orders.orders > 0 and report.wallets.loads > 0
