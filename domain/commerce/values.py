"""Immutable values of carts and orders: lines, delivery addresses, applied coupons.

Stored events keep the plain JSON objects they always held (the `...Data` shapes below): an
aggregate's event handler turns them into these values and a command turns values back into
them, so no event changed shape and none needs an upcaster. Field names are the stored keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, Protocol, Self, TypedDict


class Line(Protocol):
    """What pricing and stock need of any line, a cart's or an order's."""

    @property
    def item_id(self) -> str: ...
    @property
    def product_id(self) -> str: ...
    @property
    def sku(self) -> str: ...
    @property
    def qty(self) -> int: ...
    @property
    def unit_price(self) -> int: ...


@dataclass(frozen=True)
class CartLine:
    """Priced from the catalog when added or changed, in the cart's currency."""

    item_id: str
    product_id: str
    shop_id: str | None
    sku: str
    name: str
    qty: int
    unit_price: int

    @property
    def total(self) -> int:
        return self.qty * self.unit_price

    def repriced(self, qty: int, unit_price: int) -> CartLine:
        # A cart's history is mostly quantity changes, replayed on every command: copying the
        # fields costs a quarter of a frozen dataclass's __init__, a tenth of dataclasses.replace.
        line = object.__new__(CartLine)
        line.__dict__.update(self.__dict__, qty=qty, unit_price=unit_price)
        return line

    def ordered(self) -> OrderLine:
        """The order's line for this cart line (an order names its shop once, not per line)."""
        return OrderLine(item_id=self.item_id, product_id=self.product_id, sku=self.sku,
                         name=self.name, qty=self.qty, unit_price=self.unit_price,
                         line_total=self.total)

    def as_dict(self) -> dict[str, Any]:
        # Every field is a plain value: a copy of the instance dict is what `asdict` returns,
        # at a thirtieth of its cost (5 us a line, on every cart answer).
        return dict(self.__dict__)


class OrderLineData(TypedDict):
    """An order line as Order.Placed and Order.Modified store it."""

    item_id: str
    product_id: str
    sku: str
    name: str
    qty: int
    unit_price: int
    line_total: int


@dataclass(frozen=True)
class OrderLine:
    item_id: str
    product_id: str
    sku: str
    name: str
    qty: int
    unit_price: int
    line_total: int

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Self:
        return cls(item_id=data["item_id"], product_id=data["product_id"], sku=data["sku"],
                   name=data["name"], qty=data["qty"], unit_price=data["unit_price"],
                   line_total=data["line_total"])

    def with_qty(self, qty: int) -> OrderLine:
        return OrderLine(item_id=self.item_id, product_id=self.product_id, sku=self.sku,
                         name=self.name, qty=qty, unit_price=self.unit_price,
                         line_total=qty * self.unit_price)

    def as_data(self) -> OrderLineData:
        return OrderLineData(item_id=self.item_id, product_id=self.product_id, sku=self.sku,
                             name=self.name, qty=self.qty, unit_price=self.unit_price,
                             line_total=self.line_total)


class Amounts(TypedDict):
    """What an order (or a cart, priced as an order) costs, in minor units of its currency."""

    subtotal: int  # the lines
    delivery_fee: int
    discount: int  # coupon and points together
    total: int  # subtotal + delivery_fee - discount


class AddressData(TypedDict):
    """A delivery address as Order.Placed stores it: a copy of the customer's saved address
    at the time of ordering, so that later edits to the address book do not rewrite history."""

    house_number: str | None
    street: str | None
    landmark: str | None
    city: str | None
    society: str | None
    pincode: str | None
    label: str | None
    id: str | None


@dataclass(frozen=True)
class DeliveryAddress:
    house_number: str | None
    street: str | None
    landmark: str | None
    city: str | None
    society: str | None
    pincode: str | None
    label: str | None
    id: str | None  # the saved address it was copied from

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Self:
        return cls(house_number=data.get("house_number"), street=data.get("street"),
                   landmark=data.get("landmark"), city=data.get("city"),
                   society=data.get("society"), pincode=data.get("pincode"),
                   label=data.get("label"), id=None if data.get("id") is None else str(data["id"]))

    def as_data(self) -> AddressData:
        return AddressData(house_number=self.house_number, street=self.street,
                           landmark=self.landmark, city=self.city, society=self.society,
                           pincode=self.pincode, label=self.label, id=self.id)


class AddressRefData(TypedDict):
    """What Order.Placed stores since addresses left the log: the id of an immutable copy
    of the saved address, kept in the identity context (personal data is not appended to a
    log that can never forget it)."""

    delivery_address: str


@dataclass(frozen=True)
class DeliveryAddressRef:
    copy_id: str

    def as_data(self) -> AddressRefData:
        return AddressRefData(delivery_address=self.copy_id)


def address_from_data(data: Mapping[str, Any]) -> DeliveryAddress | DeliveryAddressRef:
    """An order's stored address: a reference (today) or the copied fields (older events)."""
    if set(data) == {"delivery_address"}:
        return DeliveryAddressRef(str(data["delivery_address"]))
    return DeliveryAddress.from_data(data)


class DiscountData(TypedDict):
    """One discount of an order as Order.Placed stores it: a coupon (with its `code`) or
    redeemed reward points (with how many `points`)."""

    kind: Literal["coupon", "points"]
    amount: int
    code: NotRequired[str]
    points: NotRequired[int]


class ReturnItemData(TypedDict):
    """Units of one order line asked back, as Order.ReturnRequested stores them."""

    item_id: str
    quantity: int


class PricingTerms(TypedDict):
    """What a cart needs of a coupon to price its discount, as Cart.CouponApplied stores it."""

    discount_type: Literal["flat", "percent"]
    value: int  # paise off, or percent off
    cap: int | None  # the most a percent discount takes off
    min_order: int


@dataclass(frozen=True)
class AppliedCoupon:
    """A coupon on a cart, with its terms as offered when applied (re-checked at ordering)."""

    code: str
    terms: PricingTerms

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "terms": self.terms.copy()}
