"""Flow Specs §2: /v1/categories/ and /v1/products/ (public browsing and search)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel

from api.dependencies import ConnectionDep
from api.pagination import PageDep, Paginated
from api.routes.catalog_views import ProductOut, product_out
from api.routing import Router
from domain.catalog.category import CategoryNotFoundError
from domain.catalog.product import ProductNotFoundError
from domain.errors import DomainError
from projections import catalog_search

router = Router(prefix="/v1", tags=["catalog"])

Money = Annotated[int | None, Query(ge=0, le=10**12, description="minor units")]


class CategoryOut(BaseModel):
    slug: str
    name: str
    description: str
    featured: bool


class CategoryDetail(CategoryOut):
    product_count: int


def check_price_range(min_price: int | None, max_price: int | None) -> None:
    if min_price is not None and max_price is not None and min_price > max_price:
        raise DomainError("min_price must not exceed max_price", field="min_price")


@router.get("/categories/", response_model=Paginated[CategoryOut],
            summary="Categories, featured first")
def categories(
    conn: ConnectionDep, page: PageDep,
    featured: Annotated[bool | None, Query(description="only featured (true) or not (false)")] = None,
) -> dict[str, Any]:
    found = catalog_search.list_categories(conn, featured=featured, page=page.page, size=page.size)
    return page.envelope(found.count, found.rows)


@router.get("/categories/{slug}/", response_model=CategoryDetail, summary="One category")
def category(slug: str, conn: ConnectionDep) -> dict[str, Any]:
    row = catalog_search.find_category(conn, slug)
    if row is None:
        raise CategoryNotFoundError(f"no category {slug!r}")
    return row


@router.get("/products/", response_model=Paginated[ProductOut],
            summary="Products: filter by category, text, shop, price and availability")
def products(
    conn: ConnectionDep,
    page: PageDep,
    category: Annotated[str | None, Query(max_length=64, description="category slug")] = None,
    q: Annotated[str | None, Query(max_length=200, description="words; prefixes match")] = None,
    shop: UUID | None = None,
    min_price: Money = None,
    max_price: Money = None,
    available: bool | None = None,
    ordering: Literal["price", "-price", "rating", "newest"] | None = None,
) -> dict[str, Any]:
    check_price_range(min_price, max_price)
    if category is not None and catalog_search.find_category(conn, category) is None:
        raise CategoryNotFoundError(f"no category {category!r}", field="category")
    filters = catalog_search.ProductFilters(category=category, q=q, shop=shop, min_price=min_price,
                                            max_price=max_price, available=available,
                                            ordering=ordering)
    found = catalog_search.search_products(conn, filters, page=page.page, size=page.size)
    return page.envelope(found.count, [product_out(r) for r in found.rows], exact=found.exact)


@router.get("/products/{product_id}/", response_model=ProductOut,
            summary="One product with its variants and images")
def product(product_id: UUID, conn: ConnectionDep) -> dict[str, Any]:
    row = catalog_search.find_product(conn, product_id)
    if row is None:
        raise ProductNotFoundError(f"product {product_id} not found")
    return product_out(row)
