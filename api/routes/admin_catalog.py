"""Flow Specs §7, admin: /v1/admin/categories and /v1/admin/shops. Admins also use every
/v1/vendor/... route on any shop."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Query, status
from pydantic import Field

from api.commands import Settlement
from api.dependencies import Admin, AdminCall, ConnectionDep
from api.errors import ReadModelBehindError
from api.pagination import PageDep, Paginated
from api.routes.catalog import CategoryDetail
from api.routes.catalog_views import ShopOut, shop_out
from api.routes.vendor import CATALOG
from api.routing import Router
from api.text import RequestModel
from domain.catalog.category import Category
from projections import catalog_search

router = Router(prefix="/v1/admin", tags=["admin: catalog"])

class CategoryIn(RequestModel):
    slug: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=2000)
    featured: bool = False

    model_config = {"json_schema_extra": {"examples": [
        {"slug": "tea-coffee", "name": "Tea & Coffee", "featured": True}]}}


class CategoryEdit(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    featured: bool | None = None

    model_config = {"json_schema_extra": {"examples": [{"name": "Fresh Fruit", "featured": True}]}}


def category_row(conn: Any, slug: str) -> dict[str, Any]:
    row = catalog_search.find_category(conn, slug)
    if row is None:
        raise ReadModelBehindError()
    return row


# Answers with the read model's row, read once it has the write.
CATEGORY = Settlement[Category, dict[str, Any]](
    application="catalog", read_model=catalog_search.READ_MODEL,
    answer=lambda runtime, conn, user, category: category_row(conn, category.slug))


@router.post("/categories", status_code=status.HTTP_201_CREATED, response_model=CategoryDetail,
             summary="Create a category (slugs are never reused)")
def create_category(body: CategoryIn, me: AdminCall) -> dict[str, Any]:
    return me.settle(me.runtime.catalog.create_category(**body.model_dump()), CATEGORY)


@router.patch("/categories/{slug}", response_model=CategoryDetail, summary="Change a category")
def update_category(slug: str, body: CategoryEdit, me: AdminCall) -> dict[str, Any]:
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return me.settle(me.runtime.catalog.update_category(slug, changes), CATEGORY)


@router.delete("/categories/{slug}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Remove a category from browsing (its products stay)")
def remove_category(slug: str, me: AdminCall) -> None:
    me.settle(me.runtime.catalog.remove_category(slug), CATALOG)


@router.get("/shops", response_model=Paginated[ShopOut], summary="Every shop, any city")
def all_shops(
    user: Admin, conn: ConnectionDep, page: PageDep,
    city: Annotated[str | None, Query(max_length=120)] = None,
    vendor: UUID | None = None,
) -> dict[str, Any]:
    found = catalog_search.search_shops(conn, catalog_search.ShopFilters(city=city, vendor=vendor),
                                        page=page.page, size=page.size)
    return page.envelope(found.count, [shop_out(r) for r in found.rows])
