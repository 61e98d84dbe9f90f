"""A product ("item" in the Customer Journey) sold by a shop, with variants (SKUs).

Every change is an event, so the price history of any variant is in the log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Self, TypedDict
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import ConflictError, DomainError, NotFoundError
from domain.money import CURRENCIES, Money

MAX_VARIANTS = 50


class VariantData(TypedDict):
    """A variant as Product.Listed and Product.VariantAdded store it."""

    sku: str
    name: str
    price: int
    currency: str
    stock: int | None
    is_available: bool


@dataclass(frozen=True)
class Variant:
    sku: str
    price: int  # minor units (paise, cents)
    currency: str
    name: str
    stock: int | None = None  # None: not tracked
    is_available: bool = True

    @classmethod
    def from_data(cls, v: Mapping[str, Any]) -> Self:
        # Variants stored before names, stock and availability were recorded read as the
        # SKU's name, untracked and available.
        return cls(sku=v["sku"], price=v["price"], currency=v["currency"], name=v.get("name", v["sku"]),
                   stock=v.get("stock"), is_available=v.get("is_available", True))

    @property
    def money(self) -> Money:
        return Money(self.price, self.currency)

    @property
    def sellable(self) -> bool:
        return self.is_available and (self.stock is None or self.stock > 0)


class UnknownSkuError(DomainError, title="Unknown SKU"): ...


class ProductNotFoundError(NotFoundError, title="Product not found"): ...


class DuplicateSkuError(ConflictError, title="Duplicate SKU"): ...


# A SKU is a path segment (PATCH .../variants/{sku}): one with a "/" or a space could be
# listed but never changed, priced or stocked again.
SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_variant(v: Mapping[str, Any]) -> VariantData:
    sku = v.get("sku")
    if not isinstance(sku, str) or not SKU.match(sku):
        raise DomainError("sku: 1 to 64 of A-Z, a-z, 0-9, '.', '_' and '-', first a letter or digit",
                          field="sku")
    price = v.get("price")
    if not isinstance(price, int) or isinstance(price, bool) or price < 0:
        raise DomainError("price is a non-negative integer in minor units", field="price")
    currency = v.get("currency", CURRENCIES[0])
    if currency not in CURRENCIES:
        raise DomainError(f"currency: the marketplace sells in {', '.join(CURRENCIES)}", field="currency")
    stock = v.get("stock")
    if stock is not None and (not isinstance(stock, int) or stock < 0):
        raise DomainError("stock is a non-negative integer, or null when not tracked", field="stock")
    return VariantData(sku=sku, name=v.get("name") or sku, price=price, currency=currency,
                       stock=stock, is_available=bool(v.get("is_available", True)))


class Product(Aggregate):
    # v2: variants are Variant values; v1 snapshots held dicts.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["variants"] = {sku: Variant.from_data(v) for sku, v in state["variants"].items()}

    class Listed(Aggregate.Created):
        class_version = 2
        shop_id: str | None
        name: str
        slug: str
        category: str
        description: str
        variants: list[VariantData]
        images: list[str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # v1 products were listed before shops existed.
            state["shop_id"] = None

    class PriceChanged(Aggregate.Event):
        sku: str
        price: int

    class VariantAdded(Aggregate.Event):
        variant: VariantData

    class VariantChanged(Aggregate.Event):
        sku: str
        changes: dict[str, Any]  # name, stock, is_available

    class DetailsChanged(Aggregate.Event):
        changes: dict[str, Any]  # name, description, category, images

    class Delisted(Aggregate.Event):
        pass

    @event(Listed)
    def __init__(
        self,
        shop_id: str | None,
        name: str,
        slug: str,
        category: str,
        description: str,
        variants: list[VariantData],
        images: list[str],
    ) -> None:
        self.shop_id = shop_id
        self.name = name
        self.slug = slug
        self.category = category
        self.description = description
        self.variants: dict[str, Variant] = {v["sku"]: Variant.from_data(v) for v in variants}
        self.images = list(images)
        self.delisted = False

    @classmethod
    def list_new(
        cls,
        product_id: UUID,
        *,
        shop_id: str | None = None,
        name: str,
        slug: str,
        category: str,
        description: str,
        variants: Sequence[Mapping[str, Any]],
        images: list[str],
    ) -> Product:
        """Lists a product under an id chosen by the caller (the catalog owns its ids)."""
        if not variants:
            raise DomainError("a product needs at least one variant", field="variants")
        if len(variants) > MAX_VARIANTS:
            raise DomainError(f"at most {MAX_VARIANTS} variants", field="variants")
        checked = [check_variant(v) for v in variants]
        skus = [v["sku"] for v in checked]
        if len(set(skus)) != len(skus):
            raise DomainError("variant SKUs must be unique", field="variants")
        return cls._create(
            cls.Listed, id=product_id, shop_id=shop_id, name=name, slug=slug, category=category,
            description=description, variants=checked, images=images,
        )

    def _live(self) -> None:
        if self.delisted:
            raise ProductNotFoundError(f"product {self.id} is no longer listed")

    def variant(self, sku: str) -> Variant:
        self._live()
        try:
            return self.variants[sku]
        except KeyError:
            raise UnknownSkuError(f"product {self.id} has no SKU {sku!r}", field="sku") from None

    def change_price(self, sku: str, price: int) -> None:
        self.variant(sku)
        if not isinstance(price, int) or price < 0:
            raise DomainError("price is a non-negative integer in minor units", field="price")
        if price != self.variants[sku].price:
            self._price_changed(sku=sku, price=price)

    @event(PriceChanged)
    def _price_changed(self, sku: str, price: int) -> None:
        self.variants[sku] = replace(self.variants[sku], price=price)

    def add_variant(self, variant: Mapping[str, Any]) -> None:
        self._live()
        checked = check_variant(variant)
        if checked["sku"] in self.variants:
            raise DuplicateSkuError(f"SKU {checked['sku']} exists", field="sku")
        if len(self.variants) >= MAX_VARIANTS:
            raise DomainError(f"at most {MAX_VARIANTS} variants", field="variants")
        self._variant_added(variant=checked)

    @event(VariantAdded)
    def _variant_added(self, variant: VariantData) -> None:
        self.variants[variant["sku"]] = Variant.from_data(variant)

    def change_variant(self, sku: str, changes: dict[str, Any]) -> None:
        """Name and availability; price goes through change_price (its own event). Stock is
        Commerce's (domain/commerce/stock.py): the figure here is only the opening level."""
        current = self.variant(sku)
        if "stock" in changes:
            raise DomainError("stock is set through Commerce's stock, not the catalog", field="stock")
        merged = check_variant({**asdict(current), **changes})
        diff: dict[str, Any] = {k: merged[k] for k in ("name", "is_available")
                if k in changes and merged[k] != getattr(current, k)}
        if diff:
            self._variant_changed(sku=sku, changes=diff)

    @event(VariantChanged)
    def _variant_changed(self, sku: str, changes: dict[str, Any]) -> None:
        self.variants[sku] = replace(self.variants[sku], **changes)

    def change_details(self, changes: dict[str, Any]) -> None:
        self._live()
        allowed = {"name", "description", "category", "images"}
        diff = {k: v for k, v in changes.items() if k in allowed and getattr(self, k) != v}
        if diff:
            self._details_changed(changes=diff)

    @event(DetailsChanged)
    def _details_changed(self, changes: dict[str, Any]) -> None:
        for k, v in changes.items():
            setattr(self, k, v)

    def delist(self) -> None:
        self._live()
        self._delisted()

    @event(Delisted)
    def _delisted(self) -> None:
        self.delisted = True
