"""A vendor's shop: where it is, what it sells, when it is open, how it is rated."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, TypedDict, cast, get_args

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, NotFoundError

ShopType = Literal["grocery", "pharmacy", "bakery", "restaurant", "dairy", "fruits_vegetables",
                   "meat", "stationery", "electronics", "apparel", "general"]
SHOP_TYPES: tuple[ShopType, ...] = get_args(ShopType)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class ShopNotFoundError(NotFoundError, title="Shop not found"): ...


def check_opening_hours(hours: dict[str, list[list[str]]]) -> None:
    for day, spans in hours.items():
        if day not in DAYS:
            raise DomainError(f"unknown day {day!r}; use {', '.join(DAYS)}", field="opening_hours")
        for span in spans:
            if len(span) != 2 or not all(HHMM.match(t) for t in span) or span[0] >= span[1]:
                raise DomainError(
                    f"{day}: each span is [\"HH:MM\", \"HH:MM\"] with open before close",
                    field="opening_hours",
                )


class ShopDetails(TypedDict):
    """What a shop says about itself, as Shop.Registered and Shop.DetailsChanged store it."""

    name: str
    description: str
    city: str
    society: str
    shop_type: ShopType
    tags: list[str]
    opening_hours: dict[str, list[list[str]]]  # day -> [open, close] spans, "HH:MM"
    images: list[str]


def check_details(details: Mapping[str, Any]) -> ShopDetails:
    """The details, if valid (a vendor's input or a change merged into the current ones).
    Every field is required: the read models take a shop's details as the event stores them,
    and one missing (a shop registered without a city) stopped `catalog_search` for everyone."""
    missing = sorted(ShopDetails.__required_keys__ - details.keys())
    if missing:
        raise DomainError(f"shop details lack {', '.join(missing)}", field=missing[0])
    if details["shop_type"] not in SHOP_TYPES:
        raise DomainError(f"shop_type must be one of {', '.join(SHOP_TYPES)}", field="shop_type")
    check_opening_hours(details["opening_hours"])
    return cast(ShopDetails, dict(details))


class Shop(Aggregate):
    class Registered(Aggregate.Created):
        vendor_id: str
        details: ShopDetails

    class DetailsChanged(Aggregate.Event):
        details: ShopDetails

    class StatusChanged(Aggregate.Event):
        is_open: bool

    class Rated(Aggregate.Event):
        order_id: str
        rating: int

    @event(Registered)
    def __init__(self, vendor_id: str, details: ShopDetails) -> None:
        self.vendor_id = vendor_id
        self.details = details.copy()
        self.is_open = False
        self.rating_sum = 0
        self.rating_count = 0
        self.rated_orders: set[str] = set()

    @property
    def snapshot_rows(self) -> int:
        """What its state holds that grows with its history: the orders rated (the
        application snapshots a shop less often as it grows)."""
        return len(self.rated_orders)

    @classmethod
    def register(cls, vendor_id: str, details: Mapping[str, Any]) -> Shop:
        return cls(vendor_id=vendor_id, details=check_details(details))

    def change_details(self, changes: Mapping[str, Any]) -> None:
        details = check_details({**self.details, **changes})
        if details != self.details:
            self._details_changed(details=details)

    @event(DetailsChanged)
    def _details_changed(self, details: ShopDetails) -> None:
        self.details = details

    def set_open(self, is_open: bool) -> None:
        if is_open != self.is_open:
            self._status_changed(is_open=is_open)

    @event(StatusChanged)
    def _status_changed(self, is_open: bool) -> None:
        self.is_open = is_open

    def rate(self, order_id: str, rating: int) -> None:
        """One rating per order (orders call this; a replayed call changes nothing)."""
        if not 1 <= rating <= 5:
            raise DomainError("rating must be 1 to 5", field="rating")
        if order_id not in self.rated_orders:
            self._rated(order_id=order_id, rating=rating)

    @event(Rated)
    def _rated(self, order_id: str, rating: int) -> None:
        self.rated_orders.add(order_id)
        self.rating_sum += rating
        self.rating_count += 1
