"""Vendors manage their own shops and items under /v1/vendor/...; admins may act on any.

Commands answer with the read model's row once it includes the write (read-your-writes),
so a response looks exactly like the GET that follows it.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import status
from psycopg import Connection
from pydantic import BaseModel, Field

from api.commands import Settlement, actor
from api.dependencies import ConnectionDep, Vendor, VendorCall
from api.pagination import PageDep, Paginated
from api.routes.catalog_views import ProductOut, ShopOut, product_out, shop_out
from api.routes.uploads import ImageRef, check_image_refs
from api.routing import Router
from api.text import RequestModel
from domain.actor import Role
from domain.catalog.product import SKU, Product, ProductNotFoundError
from domain.catalog.shop import SHOP_TYPES, Shop, ShopNotFoundError
from domain.errors import DomainError
from domain.money import CURRENCIES
from identity.users import User, get_user
from projections import catalog_search, stock_levels
from runtime import Runtime

router = Router(prefix="/v1/vendor", tags=["vendor: shops and items"])

Name = Field(min_length=1, max_length=120)
Images: Any = Field(default_factory=list, max_length=10, description="image URLs (see uploads)")


class ShopIn(RequestModel):
    name: str = Name
    description: str = Field(default="", max_length=2000)
    city: str = Name
    society: str = Name
    shop_type: str = Field(description=f"one of {', '.join(SHOP_TYPES)}")
    tags: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(default_factory=list, max_length=20)
    opening_hours: dict[str, list[list[str]]] = Field(
        default_factory=dict, description='e.g. {"mon": [["09:00", "13:00"], ["16:00", "21:00"]]}')
    images: list[ImageRef] = Images
    vendor_id: UUID | None = Field(default=None, description="admins only: whose shop this is")

    model_config = {"json_schema_extra": {"examples": [{
        "name": "Green Basket", "city": "Bengaluru", "society": "Prestige Lakeside",
        "shop_type": "grocery", "tags": ["organic", "fresh"],
        "opening_hours": {"mon": [["08:00", "21:00"]], "tue": [["08:00", "21:00"]]},
    }]}}


class ShopEdit(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    city: str | None = Field(default=None, min_length=1, max_length=120)
    society: str | None = Field(default=None, min_length=1, max_length=120)
    shop_type: str | None = None
    tags: list[Annotated[str, Field(min_length=1, max_length=32)]] | None = Field(default=None, max_length=20)
    opening_hours: dict[str, list[list[str]]] | None = None
    images: list[ImageRef] | None = Field(default=None, max_length=10)

    model_config = {"json_schema_extra": {"examples": [{
        "description": "Fresh vegetables every morning", "tags": ["vegetables", "organic"],
        "opening_hours": {"mon": [["08:00", "13:00"], ["16:00", "21:00"]]},
    }]}}


class ShopStatus(RequestModel):
    is_open: bool

    model_config = {"json_schema_extra": {"examples": [{"is_open": True}]}}


class VariantIn(RequestModel):
    sku: str = Field(pattern=SKU.pattern, description="letters, digits, '.', '_' and '-'")
    name: str | None = Field(default=None, max_length=64)
    price: int = Field(strict=True, ge=0, le=10**10, description="minor units")
    currency: str = Field(default=CURRENCIES[0], pattern=f"^({'|'.join(CURRENCIES)})$",
                          description="what the marketplace sells in")
    stock: int | None = Field(default=None, strict=True, ge=0, le=10**7)
    is_available: bool = True

    model_config = {"json_schema_extra": {"examples": [{
        "sku": "ASSAM-250", "name": "250 g", "price": 14900, "currency": "INR", "stock": 40,
    }]}}


class VariantEdit(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    price: int | None = Field(default=None, strict=True, ge=0, le=10**10)
    stock: int | None = Field(default=None, strict=True, ge=0, le=10**7)
    is_available: bool | None = None

    model_config = {"json_schema_extra": {"examples": [{"price": 13900, "stock": 25}]}}


class ProductIn(RequestModel):
    name: str = Name
    category: str = Field(min_length=1, max_length=64, description="category slug")
    description: str = Field(default="", max_length=4000)
    variants: list[VariantIn] = Field(min_length=1, max_length=50)
    images: list[ImageRef] = Images

    model_config = {"json_schema_extra": {"examples": [{
        "name": "Assam Tea", "category": "tea-coffee", "description": "Strong CTC black tea.",
        "variants": [{"sku": "TEA-250G", "name": "250 g", "price": 24900, "stock": 40}],
    }]}}


class ProductEdit(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    category: str | None = Field(default=None, min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=4000)
    images: list[ImageRef] | None = Field(default=None, max_length=10)

    model_config = {"json_schema_extra": {"examples": [{
        "name": "Assam Tea", "description": "Strong CTC leaf",
    }]}}


def nothing(runtime: Runtime, conn: Connection, user: User, value: object) -> None:
    return None


def shop_row(conn: Connection, shop_id: UUID) -> dict[str, Any]:
    row = catalog_search.find_shop(conn, shop_id)
    if row is None:
        raise ShopNotFoundError(f"shop {shop_id} not found")
    return shop_out(row)


def product_row(conn: Connection, product_id: UUID) -> dict[str, Any]:
    row = catalog_search.find_product(conn, product_id)
    if row is None:
        raise ProductNotFoundError(f"product {product_id} not found")
    return product_out(row)


# Catalog commands settle once the read model has the write; shop and product commands then
# answer with its row, so a response looks exactly like the GET that follows it.
CATALOG = Settlement[Any, None](application="catalog", read_model=catalog_search.READ_MODEL, answer=nothing)
SHOP = Settlement[Shop, dict[str, Any]](application="catalog", read_model=catalog_search.READ_MODEL,
                                        answer=lambda runtime, conn, user, shop: shop_row(conn, shop.id))
PRODUCT = Settlement[Product, dict[str, Any]](
    application="catalog", read_model=catalog_search.READ_MODEL,
    answer=lambda runtime, conn, user, product: product_row(conn, product.id))
STOCK = Settlement[Any, None](application="commerce", read_model=stock_levels.READ_MODEL, answer=nothing)


def set_fields(model: BaseModel) -> dict[str, Any]:
    return {k: v for k, v in model.model_dump(exclude_unset=True).items() if v is not None}


@router.get("/shops", response_model=Paginated[ShopOut], summary="Your shops (admins: all)")
def my_shops(user: Vendor, conn: ConnectionDep, page: PageDep) -> dict[str, Any]:
    vendor = None if actor(user).is_admin else user.id
    found = catalog_search.search_shops(conn, catalog_search.ShopFilters(vendor=vendor),
                                        page=page.page, size=page.size)
    return page.envelope(found.count, [shop_out(r) for r in found.rows])


@router.post("/shops", status_code=status.HTTP_201_CREATED, response_model=ShopOut,
             summary="Register a shop (closed until you open it)")
def register_shop(body: ShopIn, me: VendorCall) -> dict[str, Any]:
    vendor_id = str(body.vendor_id) if body.vendor_id else str(me.user.id)
    if body.vendor_id is not None and body.vendor_id != me.user.id:
        # An admin's shop for someone else: a shop whose vendor is no vendor has no one to run it.
        owner = get_user(me.conn, body.vendor_id)
        if owner is None or owner.role != Role.VENDOR:
            raise DomainError("vendor_id is not a vendor's account", field="vendor_id")
    details = body.model_dump(exclude={"vendor_id"})
    check_image_refs(me.runtime, body.images)
    return me.settle(me.runtime.catalog.register_shop(me.actor, vendor_id=vendor_id, details=details), SHOP)


@router.patch("/shops/{shop_id}", response_model=ShopOut, summary="Change shop details")
def change_shop(shop_id: UUID, body: ShopEdit, me: VendorCall) -> dict[str, Any]:
    check_image_refs(me.runtime, body.images)
    return me.settle(me.runtime.catalog.change_shop(me.actor, shop_id, set_fields(body)), SHOP)


@router.post("/shops/{shop_id}/status", response_model=ShopOut, summary="Open or close the shop")
def shop_status(shop_id: UUID, body: ShopStatus, me: VendorCall) -> dict[str, Any]:
    return me.settle(me.runtime.catalog.set_shop_open(me.actor, shop_id, body.is_open), SHOP)


@router.get("/shops/{shop_id}/products", response_model=Paginated[ProductOut],
            summary="All of a shop's items, available or not")
def shop_products(shop_id: UUID, user: Vendor, conn: ConnectionDep, page: PageDep) -> dict[str, Any]:
    row = catalog_search.find_shop(conn, shop_id)
    if row is None or (not actor(user).is_admin and row["vendor_id"] != user.id):
        raise ShopNotFoundError(f"shop {shop_id} not found")
    found = catalog_search.search_products(conn, catalog_search.ProductFilters(shop=shop_id),
                                           page=page.page, size=page.size)
    return page.envelope(found.count, [product_out(r) for r in found.rows])


@router.post("/shops/{shop_id}/products", status_code=status.HTTP_201_CREATED,
             response_model=ProductOut, summary="Add an item to the shop")
def add_product(shop_id: UUID, body: ProductIn, me: VendorCall) -> dict[str, Any]:
    check_image_refs(me.runtime, body.images)
    saved = me.runtime.catalog.add_shop_product(
        me.actor, shop_id, name=body.name, category=body.category, description=body.description,
        variants=[v.model_dump() for v in body.variants], images=body.images,
    )
    return me.settle(saved, PRODUCT)


@router.patch("/products/{product_id}", response_model=ProductOut,
              summary="Change an item's name, category, description or images")
def change_product(product_id: UUID, body: ProductEdit, me: VendorCall) -> dict[str, Any]:
    check_image_refs(me.runtime, body.images)
    return me.settle(me.runtime.catalog.change_product(me.actor, product_id, set_fields(body)), PRODUCT)


@router.post("/products/{product_id}/variants", status_code=status.HTTP_201_CREATED,
             response_model=ProductOut, summary="Add a variant (SKU)")
def add_variant(product_id: UUID, body: VariantIn, me: VendorCall) -> dict[str, Any]:
    return me.settle(me.runtime.catalog.add_variant(me.actor, product_id, body.model_dump()), PRODUCT)


@router.patch("/products/{product_id}/variants/{sku}", response_model=ProductOut,
              summary="Change a variant's price, stock, availability or name")
def change_variant(product_id: UUID, sku: str, body: VariantEdit, me: VendorCall) -> dict[str, Any]:
    changes = set_fields(body)
    units = changes.pop("stock", None)
    if changes or units is None:
        me.settle(me.runtime.catalog.change_variant(me.actor, product_id, sku, changes), CATALOG)
    if units is not None:
        # Stock lives in Commerce, where orders reserve it in their own save.
        me.runtime.catalog.product_for(me.actor, product_id).variant(sku)
        me.settle(me.runtime.commerce.set_stock_level(product_id, sku, units,
                                                      by=f"{me.user.role}:{me.user.id}"), STOCK)
    return product_row(me.conn, product_id)


@router.post("/products/{product_id}/delist", status_code=status.HTTP_204_NO_CONTENT,
             summary="Stop selling an item (its history stays in the log)")
def delist(product_id: UUID, me: VendorCall) -> None:
    me.settle(me.runtime.catalog.delist_product(me.actor, product_id), CATALOG)
