"""The Catalog context: categories, shops and their products."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID, uuid4

from domain.actor import Actor
from domain.catalog.category import (
    Category,
    CategoryExistsError,
    CategoryNotFoundError,
    category_id,
    check_slug,
)
from domain.catalog.product import Product, ProductNotFoundError, Variant
from domain.catalog.shop import Shop, ShopNotFoundError
from domain.errors import DomainError
from domain.saving import EventMartApplication, Saved, retry_on_conflict


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or "item"


class CatalogApplication(EventMartApplication):
    name = "catalog"
    snapshotting_intervals = {Product: 100, Shop: 100}
    snapshot_values = {"variant": Variant}
    not_found_errors = {Shop: ShopNotFoundError}

    def __init__(self, env: dict[str, str] | None = None, *,
                 new_id: Callable[[], UUID] = uuid4) -> None:
        super().__init__(env)
        self.new_id = new_id

    # Categories (admin)

    def category(self, slug: str) -> Category:
        found = self._get(category_id(slug), Category)
        if found is None or found.removed:
            raise CategoryNotFoundError(f"no category {slug!r}", field="category")
        return found

    def create_category(
        self, *, slug: str, name: str, description: str = "", featured: bool = False
    ) -> Saved[Category]:
        check_slug(slug)
        if self._get(category_id(slug), Category) is not None:
            raise CategoryExistsError(f"slug {slug!r} is taken (slugs are never reused)", field="slug")
        category = Category(slug=slug, name=name, description=description, featured=featured)
        return Saved(category, self.save_all(category))

    @retry_on_conflict
    def update_category(self, slug: str, changes: dict[str, Any]) -> Saved[Category]:
        category = self.category(slug)
        merged = {"name": category.name, "description": category.description,
                  "featured": category.featured, **changes}
        category.update(**merged)
        return Saved(category, self.save_all(category))

    @retry_on_conflict
    def remove_category(self, slug: str) -> Saved[Category]:
        category = self.category(slug)
        category.remove()
        return Saved(category, self.save_all(category))

    # Shops

    def _shop(self, shop_id: UUID) -> Shop:
        return self.get(shop_id, Shop)

    def shop_for(self, actor: Actor, shop_id: UUID) -> Shop:
        """Another vendor's shop is as good as missing."""
        shop = self._shop(shop_id)
        if not actor.is_admin and shop.vendor_id != actor.user_id:
            raise ShopNotFoundError(f"shop {shop_id} not found")
        return shop

    def register_shop(self, actor: Actor, *, vendor_id: str, details: Mapping[str, Any]) -> Saved[Shop]:
        if not actor.is_admin and vendor_id != actor.user_id:
            raise DomainError("vendors register shops for themselves", field="vendor_id")
        shop = Shop.register(vendor_id, details)
        return Saved(shop, self.save_all(shop))

    @retry_on_conflict
    def change_shop(self, actor: Actor, shop_id: UUID, changes: Mapping[str, Any]) -> Saved[Shop]:
        shop = self.shop_for(actor, shop_id)
        shop.change_details(changes)
        return Saved(shop, self.save_all(shop))

    @retry_on_conflict
    def set_shop_open(self, actor: Actor, shop_id: UUID, is_open: bool) -> Saved[Shop]:
        shop = self.shop_for(actor, shop_id)
        shop.set_open(is_open)
        return Saved(shop, self.save_all(shop))

    def shop_is_open(self, shop_id: UUID) -> bool:
        shop = self.read(shop_id, Shop)
        return shop is not None and shop.is_open

    def shop_vendor(self, shop_id: UUID) -> str | None:
        shop = self.read(shop_id, Shop)
        return shop.vendor_id if shop is not None else None

    @retry_on_conflict
    def rate_shop(self, shop_id: UUID, *, order_id: str, rating: int) -> Saved[Shop]:
        shop = self._shop(shop_id)
        shop.rate(order_id, rating)
        return Saved(shop, self.save_all(shop))

    # Products

    def list_product(
        self,
        *,
        product_id: UUID,
        name: str,
        slug: str,
        category: str,
        variants: Sequence[Mapping[str, Any]],
        description: str = "",
        images: list[str] | None = None,
        shop_id: UUID | None = None,
    ) -> Product:
        product = Product.list_new(
            product_id, shop_id=str(shop_id) if shop_id else None, name=name, slug=slug,
            category=category, description=description, variants=variants, images=images or [],
        )
        self.save(product)
        return product

    def add_shop_product(
        self, actor: Actor, shop_id: UUID, *, name: str, category: str, description: str,
        variants: Sequence[Mapping[str, Any]], images: list[str],
    ) -> Saved[Product]:
        self.shop_for(actor, shop_id)
        self.category(category)
        product_id = self.new_id()
        product = Product.list_new(
            product_id, shop_id=str(shop_id), name=name,
            slug=f"{slugify(name)}-{product_id.hex[:6]}", category=category,
            description=description, variants=variants, images=images,
        )
        return Saved(product, self.save_all(product))

    def get_product(self, product_id: UUID) -> Product:
        product = self._get(product_id, Product)
        if product is None or product.delisted:
            raise ProductNotFoundError(f"product {product_id} does not exist", field="product_id")
        return product

    def product_for(self, actor: Actor, product_id: UUID) -> Product:
        product = self.get_product(product_id)
        if product.shop_id is None:
            if not actor.is_admin:
                raise ProductNotFoundError(f"product {product_id} does not exist")
        else:
            self.shop_for(actor, UUID(product.shop_id))
        return product

    def peek_product(self, product_id: UUID) -> Product | None:
        """The product as last cached, unchecked: to guess what a command will need."""
        return self.peek(product_id, Product)

    def current_variant(self, product_id: UUID, sku: str) -> tuple[Product, Variant]:
        product = self.get_product(product_id)
        return product, product.variant(sku)

    def change_price(self, product_id: UUID, sku: str, price: int) -> Product:
        product = self.get_product(product_id)
        product.change_price(sku, price)
        self.save(product)
        return product

    @retry_on_conflict
    def change_product(self, actor: Actor, product_id: UUID, changes: dict[str, Any]) -> Saved[Product]:
        product = self.product_for(actor, product_id)
        if "category" in changes:
            self.category(changes["category"])
        product.change_details(changes)
        return Saved(product, self.save_all(product))

    @retry_on_conflict
    def add_variant(self, actor: Actor, product_id: UUID, variant: Mapping[str, Any]) -> Saved[Product]:
        product = self.product_for(actor, product_id)
        product.add_variant(variant)
        return Saved(product, self.save_all(product))

    @retry_on_conflict
    def change_variant(
        self, actor: Actor, product_id: UUID, sku: str, changes: dict[str, Any]
    ) -> Saved[Product]:
        product = self.product_for(actor, product_id)
        changes = dict(changes)
        if "price" in changes:
            product.change_price(sku, changes.pop("price"))
        product.change_variant(sku, changes)
        return Saved(product, self.save_all(product))

    @retry_on_conflict
    def delist_product(self, actor: Actor, product_id: UUID) -> Saved[Product]:
        product = self.product_for(actor, product_id)
        product.delist()
        return Saved(product, self.save_all(product))
