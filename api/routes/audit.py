"""Auditors read the log itself: /v1/audit/products/{product_id}/history (price history
included). This reads stored events, the record of what happened, not a read model."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.dependencies import RoleGate, RuntimeDep
from domain.catalog.product import Product, ProductNotFoundError
from identity.users import User

router = APIRouter(prefix="/v1/audit", tags=["audit"])

Auditor = Annotated[User, Depends(RoleGate("auditor", "admin"))]
ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}


class HistoryEntry(BaseModel):
    version: int
    type: str
    timestamp: str
    data: dict[str, Any]


class PriceEntry(BaseModel):
    sku: str
    price: int
    timestamp: str


class ProductHistory(BaseModel):
    product_id: str
    events: list[HistoryEntry]
    prices: list[PriceEntry]


@router.get("/products/{product_id}/history", response_model=ProductHistory,
            summary="Every change to a product, and each variant's price over time")
def product_history(product_id: UUID, user: Auditor, runtime: RuntimeDep) -> dict[str, Any]:
    events: list[Any] = list(runtime.catalog.events.get(product_id))
    if not events or not isinstance(events[0], Product.Listed):
        raise ProductNotFoundError(f"product {product_id} not found")
    out, prices = [], []
    for e in events:
        data = {k: v for k, v in e.__dict__.items() if k not in ENVELOPE}
        out.append({"version": e.originator_version, "type": type(e).__qualname__,
                    "timestamp": e.timestamp.isoformat(), "data": data})
        if isinstance(e, Product.Listed):
            prices += [{"sku": v["sku"], "price": v["price"], "timestamp": e.timestamp.isoformat()}
                       for v in e.variants]
        elif isinstance(e, Product.VariantAdded):
            prices.append({"sku": e.variant["sku"], "price": e.variant["price"],
                           "timestamp": e.timestamp.isoformat()})
        elif isinstance(e, Product.PriceChanged):
            prices.append({"sku": e.sku, "price": e.price, "timestamp": e.timestamp.isoformat()})
    return {"product_id": str(product_id), "events": out, "prices": prices}
