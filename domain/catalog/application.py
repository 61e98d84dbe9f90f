"""The Catalog context: products and (later) shops and items."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from domain.catalog.product import Product, ProductNotFoundError, Variant


class CatalogApplication(Application[UUID]):
    name = "catalog"

    def list_product(
        self,
        *,
        product_id: UUID,
        name: str,
        slug: str,
        category: str,
        variants: list[dict[str, Any]],
        description: str = "",
        images: list[str] | None = None,
    ) -> Product:
        product = Product.list_new(
            product_id,
            name=name,
            slug=slug,
            category=category,
            description=description,
            variants=variants,
            images=images or [],
        )
        self.save(product)
        return product

    def get_product(self, product_id: UUID) -> Product:
        try:
            product: Product = self.repository.get(product_id)
        except AggregateNotFoundError:
            raise ProductNotFoundError(f"product {product_id} does not exist", field="product_id") from None
        return product

    def current_variant(self, product_id: UUID, sku: str) -> tuple[Product, Variant]:
        product = self.get_product(product_id)
        return product, product.variant(sku)

    def change_price(self, product_id: UUID, sku: str, price: int) -> Product:
        product = self.get_product(product_id)
        product.change_price(sku, price)
        self.save(product)
        return product
