"""A vendor's shop: where it is, what it sells, when it is open, how it is rated."""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, NotFoundError

ShopType = Literal["grocery", "pharmacy", "bakery", "restaurant", "dairy", "fruits_vegetables",
                   "meat", "stationery", "electronics", "apparel", "general"]
SHOP_TYPES: tuple[ShopType, ...] = get_args(ShopType)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class ShopNotFoundError(NotFoundError):
    title = "Shop not found"


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


def check_details(details: dict[str, Any]) -> None:
    if details["shop_type"] not in SHOP_TYPES:
        raise DomainError(f"shop_type must be one of {', '.join(SHOP_TYPES)}", field="shop_type")
    check_opening_hours(details["opening_hours"])


class Shop(Aggregate):
    class Registered(Aggregate.Created):
        vendor_id: str
        details: dict[str, Any]

    class DetailsChanged(Aggregate.Event):
        details: dict[str, Any]

    class StatusChanged(Aggregate.Event):
        is_open: bool

    class Rated(Aggregate.Event):
        order_id: str
        rating: int

    @event(Registered)
    def __init__(self, vendor_id: str, details: dict[str, Any]) -> None:
        self.vendor_id = vendor_id
        self.details = dict(details)
        self.is_open = False
        self.rating_sum = 0
        self.rating_count = 0
        self.rated_orders: set[str] = set()

    @classmethod
    def register(cls, vendor_id: str, details: dict[str, Any]) -> Shop:
        check_details(details)
        return cls(vendor_id=vendor_id, details=details)

    def change_details(self, changes: dict[str, Any]) -> None:
        details = {**self.details, **changes}
        check_details(details)
        if details != self.details:
            self._details_changed(details=details)

    @event(DetailsChanged)
    def _details_changed(self, details: dict[str, Any]) -> None:
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
