from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

HOURS = {"mon": [["09:00", "13:00"], ["16:00", "21:00"]]}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_shop(vendor: TestClient, city: str, **extra: Any) -> dict[str, Any]:
    body = {"name": "Green Basket", "city": city, "society": "Lakeside", "shop_type": "grocery",
            "tags": ["organic"], "opening_hours": HOURS, **extra}
    r = vendor.post("/v1/vendor/shops", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def make_product(vendor: TestClient, shop_id: str, category: str, name: str = "Basmati Rice",
                 prices: tuple[int, ...] = (64500,), **extra: Any) -> dict[str, Any]:
    variants = [{"sku": f"SKU-{i}", "name": f"pack {i}", "price": p, "stock": 10}
                for i, p in enumerate(prices)]
    r = vendor.post(f"/v1/vendor/shops/{shop_id}/products",
                    json={"name": name, "category": category, "variants": variants, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())
