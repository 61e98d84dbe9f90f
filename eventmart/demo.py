"""`eventmart seed-demo`: a small catalog to click through. Idempotent: fixed ids."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.catalog.application import CatalogApplication
from domain.catalog.product import ProductNotFoundError

DEMO_PRODUCTS: list[dict[str, Any]] = [
    {
        "name": "Assam Tea", "slug": "assam-tea", "category": "groceries",
        "description": "Strong CTC black tea.",
        "variants": [
            {"sku": "TEA-250G", "name": "250 g", "price": 24900, "currency": "INR"},
            {"sku": "TEA-1KG", "name": "1 kg", "price": 89900, "currency": "INR"},
        ],
    },
    {
        "name": "Basmati Rice", "slug": "basmati-rice", "category": "groceries",
        "description": "Aged long-grain rice.",
        "variants": [{"sku": "RICE-5KG", "name": "5 kg", "price": 64500, "currency": "INR"}],
    },
    {
        "name": "Cotton Kurta", "slug": "cotton-kurta", "category": "apparel",
        "description": "Hand-block printed.",
        "variants": [
            {"sku": "KURTA-M", "name": "M", "price": 129900, "currency": "INR"},
            {"sku": "KURTA-L", "name": "L", "price": 129900, "currency": "INR"},
        ],
    },
]


def demo_product_id(slug: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"eventmart:demo-product:{slug}")


def seed_demo(catalog: CatalogApplication) -> list[UUID]:
    ids = []
    for spec in DEMO_PRODUCTS:
        product_id = demo_product_id(spec["slug"])
        try:
            catalog.get_product(product_id)
        except ProductNotFoundError:
            catalog.list_product(product_id=product_id, **spec)
        ids.append(product_id)
    return ids
