"""A shopper's cart: priced lines waiting for checkout.

Prices on a line come from the catalog at the moment the line was added or changed;
the client never sets them.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.commerce.values import AppliedCoupon, CartLine, PricingTerms
from domain.errors import ConflictError, DomainError, InvalidQuantityError, NotFoundError
from domain.money import Money

MAX_QTY_PER_LINE = 99
MAX_LINES = 100


class CartItemNotFoundError(NotFoundError, title="Cart item not found"): ...


class CartNotFoundError(NotFoundError, title="Cart not found"): ...


class CurrencyMismatchError(DomainError, title="Currency mismatch"): ...


class CartFullError(DomainError, title="Cart full"): ...


class OtherShopError(ConflictError, title="Cart holds another shop's items"): ...


class EmptyCartError(DomainError, title="Cart empty"): ...


def cart_id_for(owner_id: UUID) -> UUID:
    """Each shopper has exactly one active cart; its id follows from theirs, so that
    two concurrent "open cart" requests cannot create two carts."""
    return uuid5(NAMESPACE_URL, f"eventmart:cart:{owner_id}")


def check_quantity(qty: int) -> None:
    if not 1 <= qty <= MAX_QTY_PER_LINE:
        raise InvalidQuantityError(
            f"qty must be between 1 and {MAX_QTY_PER_LINE}, got {qty}", field="qty"
        )


class Cart(Aggregate):
    # v2: lines and coupon are values (CartLine, AppliedCoupon); v1 snapshots held dicts.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["lines"] = {k: CartLine(**line) for k, line in state["lines"].items()}
        if state["coupon"] is not None:
            state["coupon"] = AppliedCoupon(**state["coupon"])

    class Opened(Aggregate.Created):
        owner_id: str
        currency: str

    class ItemAdded(Aggregate.Event):
        class_version = 2
        item_id: str
        product_id: str
        shop_id: str | None
        sku: str
        name: str
        qty: int
        unit_price: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # v1 lines were added before products belonged to shops.
            state["shop_id"] = None

    class ItemQuantityChanged(Aggregate.Event):
        item_id: str
        qty: int
        unit_price: int

    class ItemRemoved(Aggregate.Event):
        item_id: str

    class Cleared(Aggregate.Event):
        pass

    class CouponApplied(Aggregate.Event):
        code: str
        terms: PricingTerms  # as offered when applied; re-checked at confirmation

    class CouponRemoved(Aggregate.Event):
        pass

    class PointsReserved(Aggregate.Event):
        points: int

    @staticmethod
    def create_id(owner_id: str) -> UUID:
        return cart_id_for(UUID(owner_id))

    @event(Opened)
    def __init__(self, owner_id: str, currency: str) -> None:
        self.owner_id = owner_id
        self.currency = currency
        self.lines: dict[str, CartLine] = {}
        self.coupon: AppliedCoupon | None = None
        self.points = 0

    # Commands: check the rules, then record what happened.

    def add_item(
        self,
        *,
        item_id: str,
        product_id: str,
        sku: str,
        name: str,
        qty: int,
        price: Money,
        shop_id: str | None = None,
        replace: bool = False,
    ) -> str:
        """Adds a line, or tops up the line already holding this SKU. Returns the line id.

        A cart holds one shop's items (hyperlocal delivery): another shop's item is refused
        unless `replace`, which empties the cart first."""
        check_quantity(qty)
        if self.lines and shop_id != self.shop_id:
            if not replace:
                raise OtherShopError(
                    "your cart holds items from another shop; send replace=true to empty it first"
                )
            self._cleared()
        if price.currency != self.currency:
            raise CurrencyMismatchError(
                f"cart is in {self.currency}, product is priced in {price.currency}", field="sku"
            )
        existing = self._line_for(product_id, sku)
        if existing is not None:
            new_qty = existing.qty + qty
            check_quantity(new_qty)
            self._quantity_changed(item_id=existing.item_id, qty=new_qty, unit_price=price.amount)
            return existing.item_id
        if len(self.lines) >= MAX_LINES:
            raise CartFullError(f"a cart holds at most {MAX_LINES} different items")
        self._item_added(item_id=item_id, product_id=product_id, shop_id=shop_id, sku=sku, name=name,
                         qty=qty, unit_price=price.amount)
        return item_id

    def change_quantity(self, item_id: str, qty: int, unit_price: int) -> None:
        self.line(item_id)
        check_quantity(qty)
        line = self.lines[item_id]
        if line.qty != qty or line.unit_price != unit_price:
            self._quantity_changed(item_id=item_id, qty=qty, unit_price=unit_price)

    def remove_item(self, item_id: str) -> None:
        self.line(item_id)
        self._item_removed(item_id=item_id)

    def clear(self) -> None:
        if self.lines:
            self._cleared()

    def apply_coupon(self, code: str, terms: PricingTerms) -> None:
        if not self.lines:
            raise EmptyCartError("add items before applying a coupon")
        self._coupon_applied(code=code, terms=terms)

    @event(CouponApplied)
    def _coupon_applied(self, code: str, terms: PricingTerms) -> None:
        self.coupon = AppliedCoupon(code=code, terms=terms)

    def remove_coupon(self) -> None:
        """A coupon the customer no longer wants, or that is no longer offered (a stopped
        offer otherwise left the cart unable to be ordered)."""
        if self.coupon is not None:
            self._coupon_removed()

    @event(CouponRemoved)
    def _coupon_removed(self) -> None:
        self.coupon = None

    def reserve_points(self, points: int) -> None:
        if points and not self.lines:
            raise EmptyCartError("add items before redeeming points")
        if points != self.points:
            self._points_reserved(points=points)

    @event(PointsReserved)
    def _points_reserved(self, points: int) -> None:
        self.points = points

    def check_out(self) -> list[CartLine]:
        """The lines to order; the cart empties (in the same save as the order)."""
        if not self.lines:
            raise EmptyCartError("the cart is empty")
        lines = list(self.lines.values())
        self._cleared()
        return lines

    # Queries.

    def line(self, item_id: str) -> CartLine:
        try:
            return self.lines[item_id]
        except KeyError:
            raise CartItemNotFoundError(f"cart has no item {item_id}", field="item_id") from None

    def find_line(self, ref: str, sku: str | None = None) -> CartLine:
        """A line by its own id, or by product id (and SKU when the product has several lines)."""
        if ref in self.lines:
            return self.lines[ref]
        matches = [line for line in self.lines.values() if line.product_id == ref
                   and (sku is None or line.sku == sku)]
        if len(matches) > 1:
            raise DomainError("the cart holds several variants of this item; pass sku", field="sku")
        if not matches:
            raise CartItemNotFoundError(f"cart has no item {ref}", field="item_id")
        return matches[0]

    @property
    def shop_id(self) -> str | None:
        return next(iter(self.lines.values())).shop_id if self.lines else None

    def _line_for(self, product_id: str, sku: str) -> CartLine | None:
        for line in self.lines.values():
            if line.product_id == product_id and line.sku == sku:
                return line
        return None

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines.values())

    # Event handlers: only state changes, no rules (they also run on replay).

    @event(ItemAdded)
    def _item_added(
        self, item_id: str, product_id: str, shop_id: str | None, sku: str, name: str, qty: int,
        unit_price: int,
    ) -> None:
        self.lines[item_id] = CartLine(item_id=item_id, product_id=product_id, shop_id=shop_id,
                                       sku=sku, name=name, qty=qty, unit_price=unit_price)

    @event(ItemQuantityChanged)
    def _quantity_changed(self, item_id: str, qty: int, unit_price: int) -> None:
        self.lines[item_id] = self.lines[item_id].repriced(qty, unit_price)

    @event(ItemRemoved)
    def _item_removed(self, item_id: str) -> None:
        del self.lines[item_id]

    @event(Cleared)
    def _cleared(self) -> None:
        self.lines = {}
        self.coupon = None
        self.points = 0
