"""A shop's details: every field the read models take from its events is required."""

from __future__ import annotations

from typing import Any

import pytest

from domain.catalog.shop import Shop
from domain.errors import DomainError
from tests.spec import Stream, given

DETAILS: dict[str, Any] = {
    "name": "Corner Store", "description": "", "city": "Pune", "society": "Baner",
    "shop_type": "grocery", "tags": [], "opening_hours": {}, "images": []}


def test_a_shop_without_a_city_is_refused_and_records_nothing() -> None:
    # Given details without the city (catalog_search stopped on such an event)
    details = {k: v for k, v in DETAILS.items() if k != "city"}
    # When a shop is registered with them, then it is refused, naming the field
    with pytest.raises(DomainError) as refused:
        Shop.register("vendor-1", details)
    assert refused.value.field == "city"


def test_a_change_keeps_every_field() -> None:
    shop = Stream(Shop)
    history = [shop.event(Shop.Registered, vendor_id="vendor-1", details=DETAILS)]
    given(*history).when(lambda s: s.change_details({"city": "Mumbai"})).then(
        (Shop.DetailsChanged, {"details": {**DETAILS, "city": "Mumbai"}}))
