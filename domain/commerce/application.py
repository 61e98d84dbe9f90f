"""The Commerce context: carts, orders and wallets (rewards and coupons join them), together
so that "confirm order, debit wallet, clear cart" commits atomically in one save."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.actor import Actor
from domain.catalog.product import Variant
from domain.commerce import pricing
from domain.commerce.cart import Cart, CartNotFoundError, EmptyCartError, cart_id_for
from domain.commerce.coupon import (
    Coupon,
    CouponExistsError,
    CouponRejectedError,
    coupon_id,
    pricing_terms,
)
from domain.commerce.order import (
    RETURN_WINDOW,
    InvalidTransitionError,
    Order,
    OrderNotFoundError,
    OrderRuleError,
    ReturnNotFoundError,
)
from domain.commerce.rewards import POINT_VALUE, RewardLedger, ledger_id_for
from domain.commerce.stock import OutOfStockError, Stock, stock_id_for
from domain.commerce.wallet import Wallet, wallet_id_for
from domain.errors import ConflictError, NotFoundError, StalePriceError
from domain.saving import EventMartApplication, Saved, retry_on_conflict

DEFAULT_CURRENCY = "INR"
A = TypeVar("A", bound=Aggregate)


class Catalog(Protocol):
    """What Commerce needs to know from the Catalog: current prices, stock, shops."""

    def current_variant(self, product_id: UUID, sku: str) -> tuple[Any, Variant]: ...
    def get_product(self, product_id: UUID) -> Any: ...
    def shop_is_open(self, shop_id: UUID) -> bool: ...
    def shop_vendor(self, shop_id: UUID) -> str | None: ...


class ItemUnavailableError(ConflictError):
    title = "Item unavailable"


class ShopClosedError(ConflictError):
    title = "Shop closed"


class PricesChangedError(ConflictError):
    title = "Prices changed"


class OrderNotPayableError(ConflictError):
    title = "Order not payable"


class ShopNotFoundForOfferError(NotFoundError):
    title = "Shop not found"


class CommerceApplication(EventMartApplication):
    name = "commerce"
    snapshotting_intervals = {Cart: 100, Wallet: 100, RewardLedger: 100, Coupon: 200}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        prices: Catalog,
        new_id: Callable[[], UUID] = uuid4,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        return_window: timedelta = RETURN_WINDOW,
        points_per_100: int = 1,
    ) -> None:
        super().__init__(env)
        self.points_per_100 = points_per_100
        self.prices = prices
        self.new_id = new_id
        self.clock = clock
        self.return_window = return_window

    def _get(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        """The aggregate of that kind, or None: a missing id and another kind look the same."""
        try:
            found: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, kind) else None

    # Cart

    @retry_on_conflict
    def open_cart(self, owner_id: UUID) -> Saved[Cart]:
        cart = self._get(cart_id_for(owner_id), Cart)
        if cart is not None:
            return Saved(cart, None)
        cart = Cart(owner_id=str(owner_id), currency=DEFAULT_CURRENCY)
        return Saved(cart, self.save_all(cart))

    def get_cart(self, cart_id: UUID, owner_id: UUID) -> Cart:
        """Someone else's cart is as good as missing: no hint that it exists."""
        cart = self._get(cart_id, Cart)
        if cart is None or cart.owner_id != str(owner_id):
            raise CartNotFoundError(f"cart {cart_id} not found")
        return cart

    def _own_cart(self, owner_id: UUID) -> Cart:
        return self._get(cart_id_for(owner_id), Cart) or Cart(
            owner_id=str(owner_id), currency=DEFAULT_CURRENCY)

    # Stock

    def stock(self, product_id: UUID | str, sku: str, opening: int | None) -> Stock | None:
        """The variant's stock; a variant never stocked here opens with the Catalog's figure
        (`opening`). None: not tracked, sells without limit."""
        found = self._get(stock_id_for(product_id, sku), Stock)
        if found is not None:
            return found
        return None if opening is None else Stock.open(str(product_id), sku, opening)

    def units_left(self, product_id: UUID | str, variant: Variant) -> int | None:
        """What can be ordered now; None when not tracked."""
        stock = self.stock(product_id, variant.sku, variant.stock)
        return stock.left if stock is not None and stock.tracked else None

    @retry_on_conflict
    def set_stock_level(self, product_id: UUID, sku: str, units: int | None, by: str) -> Saved[Stock]:
        """The vendor's count of what is left to sell now (None: stop tracking)."""
        _, variant = self.prices.current_variant(product_id, sku)
        stock = self._get(stock_id_for(product_id, sku), Stock) or Stock.open(
            str(product_id), sku, variant.stock)
        stock.set_level(units, by=by)
        return Saved(stock, self.save_all(stock))

    def _reserve(self, order_id: UUID, lines: list[dict[str, Any]]) -> list[Aggregate]:
        """Holds every line's units for the order, in the order's save; all or nothing."""
        wanted: dict[tuple[str, str], int] = {}
        for line in lines:
            key = (line["product_id"], line["sku"])
            wanted[key] = wanted.get(key, 0) + line["qty"]
        changed: list[Aggregate] = []
        for (product_id, sku), qty in wanted.items():
            product, variant = self.prices.current_variant(UUID(product_id), sku)
            stock = self.stock(product_id, sku, variant.stock)
            if stock is None:
                continue
            try:
                stock.reserve(str(order_id), qty, f"{product.name} ({variant.name})")
            except OutOfStockError as e:
                raise OutOfStockError(f"{e} (SKU {sku}); you asked for {qty}", field="qty") from None
            changed.append(stock)
        return changed

    def _held(self, order: Order) -> list[Stock]:
        stocks = []
        for key in {(line["product_id"], line["sku"]) for line in order.lines}:
            stock = self._get(stock_id_for(*key), Stock)
            if stock is not None and str(order.id) in stock.held:
                stocks.append(stock)
        return stocks

    def _release(self, order: Order, reason: str) -> list[Aggregate]:
        """Everything the order holds goes back on sale."""
        held = self._held(order)
        for stock in held:
            stock.release(str(order.id), None, reason)
        return list(held)

    def _release_unneeded(self, order: Order, reason: str) -> list[Aggregate]:
        """After a lowered quantity, the order keeps only what its lines still need."""
        changed: list[Aggregate] = []
        for stock in self._held(order):
            need = sum(line["qty"] for line in order.lines
                       if (line["product_id"], line["sku"]) == (stock.product_id, stock.sku))
            extra = stock.held[str(order.id)] - need
            if extra > 0:
                stock.release(str(order.id), extra, reason)
                changed.append(stock)
        return changed

    def _sell(self, order: Order) -> list[Aggregate]:
        held = self._held(order)
        for stock in held:
            stock.sell(str(order.id))
        return list(held)

    def _sellable(self, product_id: UUID, sku: str, qty: int) -> tuple[Any, Variant]:
        product, variant = self.prices.current_variant(product_id, sku)
        label = f"{product.name} ({variant.name})"
        if not variant.is_available:
            raise ItemUnavailableError(f"{label} is not available now")
        left = self.units_left(product_id, variant)
        if left is not None and qty > left:
            raise ItemUnavailableError(f"only {left} of {label} left (SKU {sku}); you asked for {qty}",
                                       field="qty")
        if product.shop_id and not self.prices.shop_is_open(UUID(product.shop_id)):
            raise ShopClosedError(f"the shop selling {product.name} is closed now")
        return product, variant

    def _add(self, cart: Cart, *, product_id: UUID, sku: str, qty: int,
             expected_unit_price: int | None, replace: bool) -> str:
        existing = sum(line["qty"] for line in cart.lines.values()
                       if line["product_id"] == str(product_id) and line["sku"] == sku)
        product, variant = self._sellable(product_id, sku, qty + existing)
        if expected_unit_price is not None and expected_unit_price != variant.price:
            raise StalePriceError(
                f"unit_price {expected_unit_price} is stale: {sku} now costs {variant.price} "
                f"{variant.currency} minor units",
                field="unit_price",
            )
        return cart.add_item(
            item_id=str(self.new_id()), product_id=str(product_id), sku=sku,
            name=f"{product.name} ({variant.name})", qty=qty, unit_price=variant.price,
            currency=variant.currency, shop_id=product.shop_id, replace=replace,
        )

    @retry_on_conflict
    def add_cart_item(
        self, *, owner_id: UUID, cart_id: UUID, product_id: UUID, sku: str, qty: int,
        expected_unit_price: int | None = None, replace: bool = False,
    ) -> Saved[tuple[Cart, str]]:
        cart = self.get_cart(cart_id, owner_id)
        item_id = self._add(cart, product_id=product_id, sku=sku, qty=qty,
                            expected_unit_price=expected_unit_price, replace=replace)
        return Saved((cart, item_id), self.save_all(cart))

    @retry_on_conflict
    def add_to_my_cart(
        self, *, owner_id: UUID, product_id: UUID, sku: str | None, qty: int, replace: bool
    ) -> Saved[tuple[Cart, str]]:
        """The Customer Journey's cart: implicit, one per user. Without a SKU, the first
        variant that can be sold now."""
        cart = self._own_cart(owner_id)
        if sku is None:
            sku = self._default_sku(product_id)
        item_id = self._add(cart, product_id=product_id, sku=sku, qty=qty,
                            expected_unit_price=None, replace=replace)
        return Saved((cart, item_id), self.save_all(cart))

    def _default_sku(self, product_id: UUID) -> str:
        product = self.prices.get_product(product_id)
        for sku in product.variants:
            variant = product.variant(sku)
            left = self.units_left(product_id, variant)
            if variant.is_available and (left is None or left > 0):
                return str(sku)
        raise ItemUnavailableError(f"{product.name} is not available now")

    @retry_on_conflict
    def change_cart_item(self, *, owner_id: UUID, cart_id: UUID, item_id: str, qty: int) -> Saved[Cart]:
        cart = self.get_cart(cart_id, owner_id)
        self._set_qty(cart, cart.line(item_id), qty)
        return Saved(cart, self.save_all(cart))

    @retry_on_conflict
    def update_my_cart(self, *, owner_id: UUID, ref: str, sku: str | None, qty: int) -> Saved[Cart]:
        """Quantity 0 removes the line."""
        cart = self._own_cart(owner_id)
        line = cart.find_line(ref, sku)
        if qty == 0:
            cart.remove_item(line["item_id"])
        else:
            self._set_qty(cart, line, qty)
        return Saved(cart, self.save_all(cart))

    def _set_qty(self, cart: Cart, line: dict[str, Any], qty: int) -> None:
        _, variant = self._sellable(UUID(line["product_id"]), line["sku"], qty)
        cart.change_quantity(line["item_id"], qty, variant.price)

    @retry_on_conflict
    def remove_cart_item(self, *, owner_id: UUID, cart_id: UUID, item_id: str) -> Saved[Cart]:
        cart = self.get_cart(cart_id, owner_id)
        cart.remove_item(item_id)
        return Saved(cart, self.save_all(cart))

    @retry_on_conflict
    def remove_from_my_cart(self, *, owner_id: UUID, ref: str, sku: str | None) -> Saved[Cart]:
        cart = self._own_cart(owner_id)
        cart.remove_item(cart.find_line(ref, sku)["item_id"])
        return Saved(cart, self.save_all(cart))

    @retry_on_conflict
    def clear_my_cart(self, *, owner_id: UUID) -> Saved[Cart]:
        """Emptying the cart also releases the points reserved against it."""
        cart = self._own_cart(owner_id)
        cart.clear()
        ledger = self.ledger(owner_id)
        ledger.release()
        return Saved(cart, self.save_all(cart, ledger))

    # Coupons and points

    def coupon(self, code: str) -> Coupon:
        found = self._get(coupon_id(code), Coupon)
        if found is None:
            raise CouponRejectedError(f"{code.upper()} is not a valid code", field="code")
        return found

    def ledger(self, owner_id: UUID) -> RewardLedger:
        return self._get(ledger_id_for(owner_id), RewardLedger) or RewardLedger(owner_id=str(owner_id))

    @retry_on_conflict
    def apply_coupon(self, *, owner_id: UUID, code: str) -> Saved[Cart]:
        cart = self._own_cart(owner_id)
        if not cart.lines:
            raise EmptyCartError("add items before applying a coupon")
        coupon = self.coupon(code)
        coupon.check(user_id=str(owner_id), shop_id=cart.shop_id, now=self.clock(),
                     subtotal=sum(line["qty"] * line["unit_price"] for line in cart.lines.values()))
        cart.apply_coupon(coupon.code, pricing_terms(coupon.terms))
        return Saved(cart, self.save_all(cart))

    @retry_on_conflict
    def reserve_points(self, *, owner_id: UUID, points: int) -> Saved[tuple[Cart, RewardLedger]]:
        cart = self._own_cart(owner_id)
        ledger = self.ledger(owner_id)
        if points and not cart.lines:
            raise EmptyCartError("add items before redeeming points")
        ledger.reserve(points)
        cart.reserve_points(points)
        return Saved((cart, ledger), self.save_all(cart, ledger))

    @retry_on_conflict
    def create_coupon(self, actor: Actor, terms: dict[str, Any]) -> Saved[Coupon]:
        if not actor.is_admin:
            shop = terms.get("shop_id")
            if not shop or self.prices.shop_vendor(UUID(shop)) != actor.user_id:
                raise ShopNotFoundForOfferError("offers are made for one of your shops")
        if self._get(coupon_id(terms["code"]), Coupon) is not None:
            raise CouponExistsError(f"code {terms['code']} is taken", field="code")
        coupon = Coupon.create(terms, created_by=actor.user_id)
        return Saved(coupon, self.save_all(coupon))

    @retry_on_conflict
    def deactivate_coupon(self, actor: Actor, code: str) -> Saved[Coupon]:
        coupon = self.coupon(code)
        if not actor.is_admin and coupon.created_by != actor.user_id:
            raise CouponRejectedError(f"{code} is not yours", field="code")
        coupon.deactivate(actor.user_id)
        return Saved(coupon, self.save_all(coupon))

    # Orders

    def _priced_lines(self, cart: Cart) -> list[dict[str, Any]]:
        """The cart's lines re-checked against the catalog now: availability, stock, open
        shop and price. A changed price re-prices the cart and asks the shopper to look again."""
        lines = cart.check_out()
        changed = []
        for line in lines:
            _, variant = self._sellable(UUID(line["product_id"]), line["sku"], line["qty"])
            if variant.price != line["unit_price"]:
                changed.append((line, variant.price))
        if changed:
            fresh = self._get(cart.id, Cart)
            if fresh is None:
                raise CartNotFoundError(f"cart {cart.id} not found")
            for line, price in changed:
                fresh.change_quantity(line["item_id"], line["qty"], price)
            position = self.save_all(fresh)
            names = ", ".join(f"{line['name']} now {price}" for line, price in changed)
            raise PricesChangedError(f"prices changed since you added them ({names}); the cart "
                                     "shows the new prices, check out again to accept them",
                                     saved=(self.name, position))
        return lines

    def _placed(self, owner_id: UUID, order_id: UUID | None) -> Order | None:
        """The order already placed under this id (an idempotent re-execution), if any."""
        if order_id is None:
            return None
        order: Order | None = self._get(order_id, Order)
        if order is not None and order.customer_id != str(owner_id):
            raise ConflictError("this order id is taken")
        return order

    def _place(self, cart: Cart, *, payment_mode: str, delivery_notes: str = "",
               address: dict[str, Any] | None = None,
               order_id: UUID | None = None) -> tuple[Order, list[Aggregate]]:
        """The order for this cart, with its coupon and points redeemed. Returns the other
        aggregates it changed, to be saved with it (all or nothing)."""
        shop_id = cart.shop_id
        code = cart.coupon["code"] if cart.coupon else None
        points = cart.points
        lines = self._priced_lines(cart)
        subtotal = sum(line["qty"] * line["unit_price"] for line in lines)
        order_id = order_id or self.new_id()
        changed: list[Aggregate] = []
        discounts: list[dict[str, Any]] = []
        coupon_amount = 0
        if code:
            coupon = self.coupon(code)
            coupon_amount = coupon.redeem(user_id=cart.owner_id, shop_id=shop_id, order_id=str(order_id),
                                          subtotal=subtotal, now=self.clock())
            discounts.append({"kind": "coupon", "code": code, "amount": coupon_amount})
            changed.append(coupon)
        points_amount = 0
        if points:
            points_amount = min(points * POINT_VALUE, subtotal - coupon_amount)
            used = -(-points_amount // POINT_VALUE)  # only the points the discount needs
            ledger = self.ledger(UUID(cart.owner_id))
            ledger.redeem(str(order_id), used)
            discounts.append({"kind": "points", "points": used, "amount": points_amount})
            changed.append(ledger)
        changed += self._reserve(order_id, lines)
        order = Order.place(
            customer_id=cart.owner_id, shop_id=shop_id,
            lines=[{k: line[k] for k in ("item_id", "product_id", "sku", "name", "qty", "unit_price")}
                   for line in lines],
            currency=cart.currency, delivery_fee=pricing.delivery_fee(subtotal),
            discount=coupon_amount + points_amount, payment_mode=payment_mode,
            delivery_notes=delivery_notes, address=address, order_id=order_id, discounts=discounts,
        )
        return order, changed

    @retry_on_conflict
    def checkout(self, *, owner_id: UUID, cart_id: UUID, order_id: UUID | None = None) -> Saved[Order]:
        """Flow Specs: the cart becomes an order awaiting online payment. With an `order_id`
        (an idempotency claim's), once: an order already placed under it is the answer."""
        if (placed := self._placed(owner_id, order_id)) is not None:
            return Saved(placed, self.log_head())
        cart = self.get_cart(cart_id, owner_id)
        order, changed = self._place(cart, payment_mode="online", order_id=order_id)
        return Saved(order, self.save_all(order, cart, *changed))

    @retry_on_conflict
    def confirm_order(
        self, *, owner_id: UUID, payment_mode: str, delivery_notes: str,
        address: dict[str, Any] | None, order_id: UUID | None = None,
    ) -> Saved[Order]:
        """Customer Journey: cash or wallet. Order, cart and wallet change in one save. With
        an `order_id` (an idempotency claim's), once: an order already placed under it is
        the answer."""
        if (placed := self._placed(owner_id, order_id)) is not None:
            return Saved(placed, self.log_head())
        cart = self._own_cart(owner_id)
        order, others = self._place(cart, payment_mode=payment_mode, delivery_notes=delivery_notes,
                                    address=address, order_id=order_id)
        changed: list[Aggregate] = [order, cart, *others]
        if payment_mode == "wallet":
            wallet = self.wallet(owner_id)
            wallet.debit(order.total, kind="order", reference=str(order.id))
            order.mark_wallet_paid()
            changed.append(wallet)
        return Saved(order, self.save_all(*changed))

    def wallet(self, owner_id: UUID) -> Wallet:
        return self._get(wallet_id_for(owner_id), Wallet) or Wallet(
            owner_id=str(owner_id), currency=DEFAULT_CURRENCY)

    def order_for(self, actor: Actor, order_id: UUID) -> Order:
        """The customer's own orders; the shop's vendor; support and admin: any."""
        order = self._get(order_id, Order)
        if order is None:
            raise OrderNotFoundError(f"order {order_id} not found")
        if actor.is_staff:
            return order
        if actor.role == "vendor":
            if order.shop_id and self.prices.shop_vendor(UUID(order.shop_id)) == actor.user_id:
                return order
        elif order.customer_id == actor.user_id:
            return order
        raise OrderNotFoundError(f"order {order_id} not found")

    def _refund_to_wallet(self, order: Order, reference: str) -> list[Aggregate]:
        """Wallet-paid money the order owes goes straight back to the wallet, in the same save."""
        amount = order.owed
        if amount <= 0 or order.payment_mode != "wallet":
            return []
        wallet = self.wallet(UUID(order.customer_id))
        wallet.credit(amount, kind="refund", reference=str(order.id))
        order.record_refund(amount, "wallet", reference)
        return [wallet]

    @retry_on_conflict
    def cancel_order(self, actor: Actor, order_id: UUID, *, reason: str,
                     reject: bool = False) -> Saved[Order]:
        order = self.order_for(actor, order_id)
        if reject and actor.role not in ("vendor", "admin"):
            raise OrderNotFoundError(f"order {order_id} not found")
        order.cancel(by=actor.role, reason=reason, reject=reject)
        return Saved(order, self.save_all(order, *self._refund_to_wallet(order, f"{order.status}:{order.id}"),
                                          *self._give_back_discounts(order),
                                          *self._release(order, order.status)))

    def _give_back_discounts(self, order: Order) -> list[Aggregate]:
        """A cancelled order returns its coupon use and its points, in the same save."""
        changed: list[Aggregate] = []
        for d in order.discounts:
            if d["kind"] == "coupon":
                coupon = self.coupon(d["code"])
                coupon.release(str(order.id))
                changed.append(coupon)
            elif d["kind"] == "points":
                ledger = self.ledger(UUID(order.customer_id))
                ledger.restore(str(order.id))
                changed.append(ledger)
        return changed

    @retry_on_conflict
    def advance_order(self, actor: Actor, order_id: UUID, action: str, note: str = "") -> Saved[Order]:
        order = self.order_for(actor, order_id)
        if (action == "confirm_modified") != (actor.role == "customer"):
            raise OrderNotFoundError(f"order {order_id} not found")
        order.advance(action, by=actor.role, note=note, at=self.clock())
        changed: list[Aggregate] = [order]
        if action == "confirm_modified":
            changed += self._refund_to_wallet(order, f"modified:{order.id}:{order.version}")
            changed += self._release_unneeded(order, "order modified")
        if action == "deliver":
            changed += self._sell(order)
            ledger = self.ledger(UUID(order.customer_id))
            goods = order.amounts["subtotal"] - order.amounts["discount"]
            ledger.earn(str(order.id), goods // 100 * self.points_per_100)
            changed.append(ledger)
        return Saved(order, self.save_all(*changed))

    @retry_on_conflict
    def modify_order(self, actor: Actor, order_id: UUID, quantities: dict[str, int],
                     note: str = "") -> Saved[Order]:
        order = self.order_for(actor, order_id)
        if actor.role not in ("vendor", "admin"):
            raise OrderNotFoundError(f"order {order_id} not found")
        order.modify(by=actor.role, quantities=quantities, note=note)
        return Saved(order, self.save_all(order))

    @retry_on_conflict
    def rate_order(self, actor: Actor, order_id: UUID, rating: int, comment: str) -> Saved[Order]:
        order = self.order_for(actor, order_id)
        if order.customer_id != actor.user_id:
            raise OrderNotFoundError(f"order {order_id} not found")
        order.rate(rating, comment)
        return Saved(order, self.save_all(order))

    # Conversation, issues, returns

    @retry_on_conflict
    def post_order_message(self, actor: Actor, order_id: UUID, text: str) -> Saved[Order]:
        order = self.order_for(actor, order_id)
        order.post_message(message_id=str(self.new_id()), sender_id=actor.user_id,
                           sender_role=actor.role, text=text)
        return Saved(order, self.save_all(order))

    def _customers(self, actor: Actor, order_id: UUID) -> Order:
        order = self.order_for(actor, order_id)
        if order.customer_id != actor.user_id:
            raise OrderNotFoundError(f"order {order_id} not found")
        return order

    @retry_on_conflict
    def raise_order_issue(self, actor: Actor, order_id: UUID, category: str,
                          description: str) -> Saved[Order]:
        order = self._customers(actor, order_id)
        order.raise_issue(issue_id=str(self.new_id()), category=category, description=description)
        return Saved(order, self.save_all(order))

    @retry_on_conflict
    def resolve_order_issue(self, actor: Actor, order_id: UUID, issue_id: str,
                            resolution: str) -> Saved[Order]:
        order = self.order_for(actor, order_id)
        order.resolve_issue(issue_id, resolution=resolution, by=actor.role)
        return Saved(order, self.save_all(order))

    @retry_on_conflict
    def request_order_return(self, actor: Actor, order_id: UUID, items: list[dict[str, Any]],
                             reason: str) -> Saved[Order]:
        order = self._customers(actor, order_id)
        order.request_return(return_id=str(self.new_id()), items=items, reason=reason,
                             now=self.clock(), window=self.return_window)
        return Saved(order, self.save_all(order))

    @retry_on_conflict
    def decide_order_return(self, actor: Actor, order_id: UUID, return_id: str, *, approved: bool,
                            note: str) -> Saved[Order]:
        """Approval refunds what was paid for the returned units to the customer's wallet, in
        the same save. The units do not go back on sale: only the shop's vendor, holding the
        goods, can say they are fit to sell (restock_return)."""
        order = self.order_for(actor, order_id)
        due = order.decide_return(return_id, approved=approved, note=note, by=actor.role)
        changed: list[Aggregate] = [order]
        if due > 0:
            wallet = self.wallet(UUID(order.customer_id))
            wallet.credit(due, kind="refund", reference=f"return:{return_id}")
            order.record_refund(due, "wallet", f"return:{return_id}")
            ledger = self.ledger(UUID(order.customer_id))
            ledger.reverse(f"return:{return_id}", due // 100 * self.points_per_100)
            changed += [wallet, ledger]
        return Saved(order, self.save_all(*changed))

    # Wallet

    @retry_on_conflict
    def restock_return(self, actor: Actor, order_id: UUID, return_id: str) -> Saved[Order]:
        """The vendor has the returned goods back and can sell them again: an approved return's
        units go back on sale, once."""
        order = self.order_for(actor, order_id)
        if actor.role not in ("vendor", "admin"):
            raise OrderNotFoundError(f"order {order_id} not found")
        ret = order.returns.get(return_id)
        if ret is None:
            raise ReturnNotFoundError(f"no return {return_id} on this order")
        if ret["state"] != "approved":
            raise OrderRuleError(f"only approved returns are restocked; this one is {ret['state']}")
        changed = self._restock(order, return_id)
        return Saved(order, self.save_all(*changed) if changed else None)

    def _restock(self, order: Order, return_id: str) -> list[Aggregate]:
        lines = {line["item_id"]: line for line in order.lines}
        changed: list[Aggregate] = []
        for item in order.returns[return_id]["items"]:
            line = lines[item["item_id"]]
            stock = self._get(stock_id_for(line["product_id"], line["sku"]), Stock)
            if stock is not None:
                stock.restock(f"return:{return_id}:{item['item_id']}", item["quantity"])
                changed.append(stock)
        return changed

    @retry_on_conflict
    def debit_wallet(self, owner_id: UUID, amount: int, reference: str,
                     key: str | None = None) -> Saved[Wallet]:
        """With an idempotency `key`, once: the wallet records the key with the debit, and a
        second debit with it saves nothing (`wallet.keyed_debit(key)` is the first outcome)."""
        wallet = self.wallet(owner_id)
        if key is not None and wallet.keyed_debit(key) is not None:
            return Saved(wallet, self.log_head())
        wallet.debit(amount, kind="debit", reference=reference, key=key)
        return Saved(wallet, self.save_all(wallet))

    @retry_on_conflict
    def credit_wallet_load(self, owner_id: UUID, amount: int, payment_id: str) -> Saved[Wallet]:
        """A load paid through the provider; once per payment, however often reported."""
        wallet = self.wallet(owner_id)
        wallet.credit(amount, kind="load", reference=payment_id)
        return Saved(wallet, self.save_all(wallet))

    @retry_on_conflict
    def refund_order_to_wallet(self, actor: Actor, order_id: UUID, amount: int,
                               reason: str) -> Saved[Wallet]:
        """Only money that reached the order and has not gone back, of a cancelled, rejected
        or returned order. Customers: wallet-paid orders. Staff also cash ones, with a reason.
        Online payments go back through the provider, never here: no double refunds."""
        order = self.order_for(actor, order_id)
        if not actor.is_staff and order.customer_id != actor.user_id:
            raise OrderNotFoundError(f"order {order_id} not found")
        allowed_modes = ("wallet", "cash") if actor.is_staff else ("wallet",)
        if order.payment_mode not in allowed_modes:
            how = "through the provider" if order.payment_mode == "online" else "by support"
            raise OrderRuleError(f"{order.payment_mode} payments are refunded {how}")
        if actor.is_staff and not reason.strip():
            raise OrderRuleError("staff refunds need a reason", field="reason")
        if amount > order.owed:
            raise OrderRuleError(
                f"owed to the customer on this order: {order.owed} (cancellations, rejections, "
                "approved returns and modifications are refunded when they happen)", field="amount")
        wallet = self.wallet(UUID(order.customer_id))
        wallet.credit(amount, kind="refund", reference=f"order:{order.id}")
        order.record_refund(amount, "wallet", f"{actor.role}:{self.new_id()}:{reason}"[:200])
        return Saved(wallet, self.save_all(wallet, order))

    # Payments (called by the payments API and the payment policies)

    def payable_order(self, actor: Actor, order_id: UUID) -> Order:
        order = self.order_for(actor, order_id)
        if order.customer_id != actor.user_id:
            raise OrderNotFoundError(f"order {order_id} not found")
        if order.status not in ("awaiting_payment", "payment_failed"):
            raise OrderNotPayableError(f"order is {order.status}; only orders awaiting payment are paid")
        if order.status == "payment_failed":
            self._reserve(order.id, order.lines)  # its stock went back when the payment failed
        return order

    @retry_on_conflict
    def record_order_payment(self, order_id: UUID, payment_id: str, amount: int) -> bool:
        """False when the order cannot take this money (cancelled, already paid by another
        payment): the caller must give it back."""
        order = self._get(order_id, Order)
        if order is None:
            return False
        held: list[Aggregate] = []
        try:
            if order.status == "payment_failed" and payment_id not in order.payment_ids:
                held = self._reserve(order.id, order.lines)  # sold out meanwhile: give it back
            order.record_payment(payment_id, amount)
        except (InvalidTransitionError, OrderRuleError, OutOfStockError):
            return False
        self.save_all(order, *held)
        return True

    @retry_on_conflict
    def record_order_payment_failure(self, order_id: UUID, payment_id: str, reason: str) -> None:
        order = self._get(order_id, Order)
        if order is not None:
            order.record_payment_failure(payment_id, reason)
            released = self._release(order, "payment failed") if order.status == "payment_failed" else []
            self.save_all(order, *released)

    @retry_on_conflict
    def expire_unpaid_order(self, order_id: UUID) -> Saved[Order | None]:
        """An online order left unpaid past its window releases its stock (payment_failed)."""
        order = self._get(order_id, Order)
        if order is None or order.status != "awaiting_payment":
            return Saved(order, None)
        order.record_payment_failure("unpaid", "not paid in time")
        return Saved(order, self.save_all(order, *self._release(order, "not paid in time")))

    @retry_on_conflict
    def record_order_refund(self, order_id: UUID, amount: int, reference: str) -> None:
        order = self._get(order_id, Order)
        if order is not None:
            order.record_refund(amount, "provider", reference)
            self.save_all(order)
