"""/api/v1/consumer/wishlist, .../wishlist/add and .../wishlist/remove."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel

from api.dependencies import ConnectionDep, Customer, CustomerCall
from api.routes.catalog_views import ProductOut, product_out
from api.routing import Router
from api.text import RequestModel
from identity import wishlist
from projections import catalog_search

router = Router(prefix="/api/v1/consumer/wishlist", tags=["wishlist"])


class WishlistIn(RequestModel):
    item_id: UUID

    model_config = {"json_schema_extra": {"examples": [{"item_id": "878f518f-95ce-5cc6-b8bf-9f9525bd8345"}]}}


class WishlistEntry(BaseModel):
    item: ProductOut | None
    item_id: str
    listed: bool
    added_at: str


class WishlistOut(BaseModel):
    count: int
    results: list[WishlistEntry]


class WishlistChange(BaseModel):
    item_id: str
    changed: bool


@router.get("", response_model=WishlistOut,
            summary="Saved items with their current price and availability, newest first")
def get_wishlist(user: Customer, conn: ConnectionDep) -> dict[str, Any]:
    saved = wishlist.entries(conn, user.id)
    rows = catalog_search.products_by_id(conn, [pid for pid, _ in saved])
    results = []
    for product_id, added_at in saved:
        row = rows.get(product_id)
        listed = row is not None and not row["delisted"]
        results.append({"item_id": str(product_id), "item": product_out(row) if row else None,
                        "listed": listed, "added_at": added_at.isoformat()})
    return {"count": len(results), "results": results}


@router.post("/add", response_model=WishlistChange, summary="Save an item (idempotent)")
def add(body: WishlistIn, me: CustomerCall) -> dict[str, Any]:
    me.runtime.catalog.get_product(body.item_id)  # 404 for unknown or delisted items
    return {"item_id": str(body.item_id),
            "changed": wishlist.add(me.conn, me.user.id, body.item_id, now=me.runtime.clock())}


@router.post("/remove", response_model=WishlistChange, summary="Forget an item (idempotent)")
def remove(body: WishlistIn, user: Customer, conn: ConnectionDep) -> dict[str, Any]:
    return {"item_id": str(body.item_id), "changed": wishlist.remove(conn, user.id, body.item_id)}
