"""Offers: /api/v1/consumer/offers for shoppers; /v1/admin/offers and
/v1/vendor/shops/{shop_id}/offers to create them (and .../{code}/deactivate to stop them)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Query
from psycopg import Connection
from pydantic import AwareDatetime, BaseModel, Field

from api.commands import Settlement, from_value
from api.dependencies import AdminCall, ConnectionDep, Customer, RuntimeDep, VendorCall
from api.read_your_writes import await_read_model
from api.routing import Router
from api.text import RequestModel
from domain.commerce.coupon import MAX_PAISE, MAX_USES, Coupon
from projections import offers, tracking

router = Router(tags=["offers"])


class OfferIn(RequestModel):
    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$")
    description: str = Field(default="", max_length=300)
    discount_type: Literal["flat", "percent"]
    value: Annotated[int, Field(strict=True, gt=0, le=MAX_PAISE, description="paise (flat) or percent")]
    cap: Annotated[int, Field(strict=True, gt=0, le=MAX_PAISE)] | None = Field(
        default=None, description="largest percent discount")
    min_order: Annotated[int, Field(strict=True, ge=0, le=MAX_PAISE)] = 0
    valid_from: AwareDatetime = Field(description="with a zone offset; 1970 to 9000")
    valid_until: AwareDatetime = Field(description="with a zone offset; 1970 to 9000")
    usage_limit_total: Annotated[int, Field(strict=True, ge=1, le=MAX_USES)] | None = None
    usage_limit_per_user: Annotated[int, Field(strict=True, ge=1, le=MAX_USES)] | None = 1
    shop_id: UUID | None = Field(default=None, description="admins: a shop's offer; none: platform-wide")

    model_config = {"json_schema_extra": {"examples": [{
        "code": "WELCOME50", "description": "₹50 off your first order over ₹299",
        "discount_type": "flat", "value": 5000, "min_order": 29900,
        "valid_from": "2026-11-01T00:00:00Z", "valid_until": "2026-12-31T23:59:59Z",
        "usage_limit_total": 1000, "usage_limit_per_user": 1}]}}


class OfferOut(BaseModel):
    code: str
    description: str
    shop_id: str | None
    discount_type: str
    value: int
    cap: int | None
    min_order: int
    valid_from: str
    valid_until: str
    usage_limit_total: int | None
    usage_limit_per_user: int | None
    uses: int
    active: bool


class OffersOut(BaseModel):
    count: int
    results: list[OfferOut]


def offer_out(row: dict[str, Any]) -> dict[str, Any]:
    return {"code": row["code"], "description": row["description"],
            "shop_id": str(row["shop_id"]) if row["shop_id"] else None, **row["terms"],
            "valid_from": row["valid_from"].isoformat(), "valid_until": row["valid_until"].isoformat(),
            "usage_limit_total": row["usage_limit_total"], "uses": row["uses"], "active": row["active"]}


def coupon_out(coupon: Coupon) -> dict[str, Any]:
    t = coupon.terms
    return offer_out({"code": coupon.code, "description": t.get("description", ""),
                      "shop_id": t.get("shop_id"), "terms": {k: t.get(k) for k in offers.TERMS},
                      "valid_from": t["valid_from"], "valid_until": t["valid_until"],
                      "usage_limit_total": t.get("usage_limit_total"), "uses": len(coupon.uses),
                      "active": coupon.active})


def everyone(conn: Connection, coupon: Coupon) -> list[UUID]:
    return [tracking.EVERYONE]


# The answer comes from the coupon itself; every shopper's next offers read waits for it.
OFFER = Settlement[Coupon, dict[str, Any]](application="commerce", concerns=everyone,
                                           answer=from_value(coupon_out))


@router.get("/api/v1/consumer/offers", response_model=OffersOut,
            summary="Offers you can use now: platform-wide and shops'")
def live_offers(user: Customer, runtime: RuntimeDep, conn: ConnectionDep,
                shop: Annotated[UUID | None, Query(description="only this shop's and platform offers")] = None,
                ) -> dict[str, Any]:
    # Offers made or stopped are everyone's writes (OFFER's concerns): wait for them.
    await_read_model(runtime, conn, user, offers.READ_MODEL)
    rows = [offer_out(r) for r in offers.live(conn, runtime.clock(), shop)]
    return {"count": len(rows), "results": rows}


def terms(body: OfferIn, shop_id: UUID | None) -> dict[str, Any]:
    out = body.model_dump(exclude={"shop_id"})
    out["code"] = body.code.upper()
    out["shop_id"] = str(shop_id) if shop_id else None
    return out


@router.post("/v1/admin/offers", status_code=201, response_model=OfferOut,
             summary="Create a platform-wide (or any shop's) offer")
def create_offer(body: OfferIn, me: AdminCall) -> dict[str, Any]:
    return me.settle(me.runtime.commerce.create_coupon(me.actor, terms(body, body.shop_id)), OFFER)


@router.post("/v1/admin/offers/{code}/deactivate", response_model=OfferOut, summary="Stop an offer")
def deactivate_offer(code: str, me: AdminCall) -> dict[str, Any]:
    return me.settle(me.runtime.commerce.deactivate_coupon(me.actor, code), OFFER)


@router.post("/v1/vendor/shops/{shop_id}/offers", status_code=201, response_model=OfferOut,
             summary="Create an offer for your shop")
def create_shop_offer(shop_id: UUID, body: OfferIn, me: VendorCall) -> dict[str, Any]:
    return me.settle(me.runtime.commerce.create_coupon(me.actor, terms(body, shop_id)), OFFER)


@router.post("/v1/vendor/shops/{shop_id}/offers/{code}/deactivate", response_model=OfferOut,
             summary="Stop an offer of your shop")
def deactivate_shop_offer(shop_id: UUID, code: str, me: VendorCall) -> dict[str, Any]:
    return me.settle(me.runtime.commerce.deactivate_coupon(me.actor, code, shop_id), OFFER)
