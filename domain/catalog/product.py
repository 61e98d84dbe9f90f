"""A product offered for sale, with its variants (SKUs) and their prices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, NotFoundError


@dataclass(frozen=True)
class Variant:
    sku: str
    price: int  # minor units (paise, cents)
    currency: str
    name: str


class UnknownSkuError(DomainError):
    title = "Unknown SKU"


class Product(Aggregate):
    class Listed(Aggregate.Created):
        name: str
        slug: str
        category: str
        description: str
        variants: list[dict[str, Any]]
        images: list[str]

    class PriceChanged(Aggregate.Event):
        sku: str
        price: int

    @event(Listed)
    def __init__(
        self,
        name: str,
        slug: str,
        category: str,
        description: str,
        variants: list[dict[str, Any]],
        images: list[str],
    ) -> None:
        if not variants:
            raise DomainError("a product needs at least one variant", field="variants")
        skus = [v["sku"] for v in variants]
        if len(set(skus)) != len(skus):
            raise DomainError("variant SKUs must be unique", field="variants")
        for v in variants:
            if not isinstance(v["price"], int) or v["price"] < 0:
                raise DomainError("prices are non-negative integers in minor units")
        self.name = name
        self.slug = slug
        self.category = category
        self.description = description
        self.variants = {v["sku"]: dict(v) for v in variants}
        self.images = list(images)

    @classmethod
    def list_new(
        cls,
        product_id: UUID,
        *,
        name: str,
        slug: str,
        category: str,
        description: str,
        variants: list[dict[str, Any]],
        images: list[str],
    ) -> Product:
        """Lists a product under an id chosen by the caller (the catalog owns its ids)."""
        return cls._create(
            cls.Listed, id=product_id, name=name, slug=slug, category=category,
            description=description, variants=variants, images=images,
        )

    def variant(self, sku: str) -> Variant:
        try:
            v = self.variants[sku]
        except KeyError:
            raise UnknownSkuError(f"product {self.id} has no SKU {sku!r}", field="sku") from None
        return Variant(sku=sku, price=v["price"], currency=v["currency"], name=v.get("name", sku))

    def change_price(self, sku: str, price: int) -> None:
        self.variant(sku)
        if price < 0:
            raise DomainError("price must not be negative", field="price")
        if price != self.variants[sku]["price"]:
            self._price_changed(sku=sku, price=price)

    @event(PriceChanged)
    def _price_changed(self, sku: str, price: int) -> None:
        self.variants[sku]["price"] = price


class ProductNotFoundError(NotFoundError):
    title = "Product not found"
