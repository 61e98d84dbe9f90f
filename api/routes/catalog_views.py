"""How catalog rows look on the wire (shared by the catalog, shop and wishlist routes)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.dataclasses import dataclass

from domain.catalog.product import Variant


@dataclass(frozen=True, kw_only=True)
class VariantOut(Variant):
    """The domain's variant as the catalog read model shows it."""

    in_stock: bool


class ProductOut(BaseModel):
    id: str
    shop_id: str | None
    category: str
    name: str
    slug: str
    description: str
    currency: str
    min_price: int
    max_price: int
    available: bool
    shop_rating: float | None
    variants: list[VariantOut]
    images: list[str]
    created_at: str
    updated_at: str

    model_config = {"json_schema_extra": {"examples": [{
        "id": "878f518f-95ce-5cc6-b8bf-9f9525bd8345", "shop_id": "1d3c0b7e-4a43-5d5e-9f52-3f7f8f7c2a01",
        "category": "tea-coffee", "name": "Assam Tea", "slug": "assam-tea",
        "description": "Strong CTC black tea.", "currency": "INR", "min_price": 24900,
        "max_price": 89900, "available": True, "shop_rating": 4.5,
        "variants": [{"sku": "TEA-250G", "name": "250 g", "price": 24900, "currency": "INR",
                      "stock": 40, "is_available": True, "in_stock": True}],
        "images": [], "created_at": "2026-11-22T10:00:00+00:00",
        "updated_at": "2026-11-22T10:00:00+00:00",
    }]}}


class ShopOut(BaseModel):
    id: str
    vendor_id: str
    name: str
    description: str
    city: str
    society: str
    shop_type: str
    tags: list[str]
    opening_hours: dict[str, list[list[str]]]
    images: list[str]
    is_open: bool
    rating: float | None
    rating_count: int
    created_at: str
    updated_at: str


def product_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["product_id"]),
        "shop_id": str(row["shop_id"]) if row["shop_id"] else None,
        **{k: row[k] for k in ("category", "name", "slug", "description", "currency",
                               "min_price", "max_price", "available", "variants", "images")},
        "shop_rating": float(row["shop_rating"]) if row["shop_rating"] is not None else None,
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def shop_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["shop_id"]),
        "vendor_id": str(row["vendor_id"]),
        **{k: row[k] for k in ("name", "description", "city", "society", "shop_type", "tags",
                               "opening_hours", "images", "is_open", "rating_count")},
        "rating": float(row["rating"]) if row["rating"] is not None else None,
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }
