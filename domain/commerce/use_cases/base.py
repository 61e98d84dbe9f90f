"""What every Commerce use case stands on: the application's collaborators, the lookups
they share, and who may act on an order (`authorise`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID, uuid4

from domain.actor import Actor, Role
from domain.catalog.product import Product, Variant
from domain.commerce.cart import Cart, CartNotFoundError, cart_id_for
from domain.commerce.coupon import Coupon, CouponRejectedError, coupon_id
from domain.commerce.order import RETURN_WINDOW, Order, OrderNotFoundError
from domain.commerce.rewards import RewardLedger, ledger_id_for
from domain.commerce.wallet import Wallet, wallet_id_for
from domain.money import CURRENCIES
from domain.saving import EventMartApplication


class Catalog(Protocol):
    """What Commerce needs to know from the Catalog: current prices, stock, shops."""

    def current_variant(self, product_id: UUID, sku: str) -> tuple[Product, Variant]: ...
    def get_product(self, product_id: UUID) -> Product: ...
    def shop_is_open(self, shop_id: UUID) -> bool: ...
    def shop_vendor(self, shop_id: UUID) -> str | None: ...
    def peek_product(self, product_id: UUID) -> Any: ...


DEFAULT_CURRENCY = CURRENCIES[0]


class CommerceBase(EventMartApplication):
    """The state every use-case family shares; CommerceApplication composes the families."""

    not_found_errors = {Cart: CartNotFoundError, Order: OrderNotFoundError}

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

    def get_cart(self, cart_id: UUID, owner_id: UUID) -> Cart:
        """Someone else's cart is as good as missing: no hint that it exists."""
        cart = self._get(cart_id, Cart)
        if cart is None or cart.owner_id != str(owner_id):
            raise CartNotFoundError(f"cart {cart_id} not found")
        return cart

    def _own_cart(self, owner_id: UUID) -> Cart:
        return self._get(cart_id_for(owner_id), Cart) or Cart(
            owner_id=str(owner_id), currency=DEFAULT_CURRENCY)

    def wallet(self, owner_id: UUID) -> Wallet:
        return self._get(wallet_id_for(owner_id), Wallet) or Wallet(
            owner_id=str(owner_id), currency=DEFAULT_CURRENCY)

    def ledger(self, owner_id: UUID) -> RewardLedger:
        return self._get(ledger_id_for(owner_id), RewardLedger) or RewardLedger(owner_id=str(owner_id))

    def has_shopped(self, owner_id: UUID) -> bool:
        """Whether this person has a cart, a wallet or a reward ledger: what a change of role
        would strand behind a 403."""
        return any(self._get(id_for(owner_id), kind) is not None for id_for, kind in (
            (cart_id_for, Cart), (wallet_id_for, Wallet), (ledger_id_for, RewardLedger)))

    def coupon(self, code: str) -> Coupon:
        found = self._get(coupon_id(code), Coupon)
        if found is None:
            raise CouponRejectedError(f"{code.upper()} is not a valid code", field="code")
        return found

    def authorise(self, actor: Actor, order_id: UUID, *,
                  as_: Iterable[Role] | None = None) -> Order:
        """The order, if this actor may act on it; else the one not-found error, whether the
        order is missing or not theirs (no hint that it exists).

        Who sees an order: its customer, its shop's vendor, support and admin. `as_` narrows
        that to capacities: CUSTOMER (the order's own customer), or another role (VENDOR: the
        shop's vendor, SUPPORT, ADMIN, AUDITOR); None: anyone who sees it."""
        order = self.get(order_id, Order)
        if not self._sees(actor, order) or (
                as_ is not None and not any(self._acts_as(actor, order, c) for c in as_)):
            raise OrderNotFoundError(f"order {order_id} not found")
        return order

    def _sees(self, actor: Actor, order: Order) -> bool:
        if actor.is_staff:
            return True
        if actor.role == Role.VENDOR:
            return bool(order.shop_id) and self.prices.shop_vendor(UUID(order.shop_id)) == actor.user_id
        return order.customer_id == actor.user_id

    @staticmethod
    def _acts_as(actor: Actor, order: Order, capacity: Role) -> bool:
        if capacity == Role.CUSTOMER:
            return order.customer_id == actor.user_id
        return actor.role == capacity

    def order_for(self, actor: Actor, order_id: UUID) -> Order:
        """The order as this actor sees it (`authorise` with no narrowing)."""
        return self.authorise(actor, order_id)
