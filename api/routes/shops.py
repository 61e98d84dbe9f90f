"""Customer Journey browsing: /api/v1/consumer/shops, .../shops/search, /api/v1/shop/{id}/items."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Query

from api.dependencies import ConnectionDep, Customer
from api.pagination import PageDep, Paginated
from api.routes.catalog import Money, check_price_range
from api.routes.catalog_views import ProductOut, ShopOut, product_out, shop_out
from api.routing import Router
from domain.catalog.shop import ShopNotFoundError, ShopType
from domain.errors import DomainError
from identity.users import User
from projections import catalog_search
from projections.paging import Page

router = Router(prefix="/api/v1", tags=["shops"])

Place = Annotated[str | None, Query(min_length=1, max_length=120)]


def home_city(user: User, city: str | None) -> str:
    chosen = city or user.city
    if not chosen:
        raise DomainError("pass ?city= or finish basic onboarding to set your city", field="city")
    return chosen


class ShopWithNearby(ShopOut):
    in_your_society: bool


def shops_page(page: PageDep, found: Page) -> dict[str, Any]:
    results = [{**shop_out(r), "in_your_society": bool(r.get("nearby"))} for r in found.rows]
    return page.envelope(found.count, results)


@router.get("/consumer/shops", response_model=Paginated[ShopWithNearby],
            summary="Shops in your city (your society first), open ones first",
            responses={400: {"description": "no ?city= and no city from onboarding"}})
def nearby_shops(
    user: Customer,
    conn: ConnectionDep,
    page: PageDep,
    city: Place = None,
    society: Place = None,
    status: Literal["open", "closed"] | None = None,
    type: Annotated[ShopType | None, Query(description="shop type")] = None,  # noqa: A002
    tags: Annotated[str | None, Query(max_length=200, description="comma-separated; all must match")] = None,
) -> dict[str, Any]:
    filters = catalog_search.ShopFilters(
        city=home_city(user, city), society=society, prefer_society=society or user.society,
        status=status, shop_type=type,
        tags=tuple(t.strip() for t in (tags or "").split(",") if t.strip()),
    )
    return shops_page(page, catalog_search.search_shops(conn, filters, page=page.page, size=page.size))


@router.get("/consumer/shops/search", response_model=Paginated[ShopWithNearby],
            summary="Search shops by name, type, tags or what they sell; open first, then by rating",
            responses={400: {"description": "no ?city= and no city from onboarding"}})
def search_shops(
    user: Customer,
    conn: ConnectionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    min_price: Money = None,
    max_price: Money = None,
    rating: Annotated[float | None, Query(ge=0, le=5, description="minimum average rating")] = None,
    available: Annotated[bool | None, Query(description="only shops with items in stock")] = None,
    city: Place = None,
) -> dict[str, Any]:
    check_price_range(min_price, max_price)
    filters = catalog_search.ShopFilters(
        city=home_city(user, city), prefer_society=None, q=q, min_price=min_price,
        max_price=max_price, min_rating=rating, available=available,
    )
    return shops_page(page, catalog_search.search_shops(conn, filters, page=page.page, size=page.size))


@router.get("/shop/{shop_id}/items", response_model=Paginated[ProductOut],
            summary="A shop's items that are available now")
def shop_items(shop_id: UUID, conn: ConnectionDep, page: PageDep) -> dict[str, Any]:
    if catalog_search.find_shop(conn, shop_id) is None:
        raise ShopNotFoundError(f"shop {shop_id} not found")
    filters = catalog_search.ProductFilters(shop=shop_id, available=True, ordering=None)
    found = catalog_search.search_products(conn, filters, page=page.page, size=page.size)
    return page.envelope(found.count, [product_out(r) for r in found.rows])
