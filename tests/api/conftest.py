"""Fixtures the API tests share: an open shop with two items, an admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.catalog import make_product, make_shop, unique


@pytest.fixture
def admin(staff_client: Callable[[str], TestClient]) -> TestClient:
    return staff_client("admin")


@pytest.fixture
def shop(new_client: Callable[..., TestClient], staff_client: Callable[[str], TestClient]) -> dict[str, Any]:
    """An open shop with two items (one cheap, one dear) and its vendor's client."""
    admin = staff_client("admin")
    category = unique("cat")
    admin.post("/v1/admin/categories", json={"slug": category, "name": "Food"})
    vendor = new_client("vendor")
    shop = make_shop(vendor, unique("City"))
    vendor.post(f"/v1/vendor/shops/{shop['id']}/status", json={"is_open": True})
    tea = make_product(vendor, shop["id"], category, "Assam Tea", (24900,))
    rice = make_product(vendor, shop["id"], category, "Basmati Rice", (64500,))
    return {"id": shop["id"], "vendor": vendor, "tea": tea, "rice": rice, "category": category}
