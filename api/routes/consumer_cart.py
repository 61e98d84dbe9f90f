"""Customer Journey cart: /api/v1/consumer/cart/add, view, update, remove, clear.

The same Cart aggregate as /v1/carts: one active cart per user, holding one shop's items."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import Field

from api.commands import Caller
from api.dependencies import ConnectionDep, Customer, CustomerCall, RuntimeDep
from api.read_your_writes import await_read_model, remember_write
from api.routes.carts import CartOut
from api.routing import Router
from api.text import RequestModel
from domain.commerce.cart import MAX_QTY_PER_LINE, cart_id_for
from domain.saving import Saved
from projections import cart_view

router = Router(prefix="/api/v1/consumer/cart", tags=["consumer cart"])

Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_QTY_PER_LINE)]


class AddIn(RequestModel):
    item_id: UUID = Field(description="the item (product) id")
    quantity: Quantity = 1
    sku: str | None = Field(default=None, max_length=64,
                            description="which variant; default: the first one in stock")
    replace: bool = Field(default=False, description="empty a cart holding another shop's items")

    model_config = {"json_schema_extra": {"examples": [
        {"item_id": "878f518f-95ce-5cc6-b8bf-9f9525bd8345", "quantity": 2}]}}


class UpdateIn(RequestModel):
    item_id: str = Field(min_length=1, max_length=64, description="a cart line id or an item id")
    quantity: Annotated[int, Field(strict=True, ge=0, le=MAX_QTY_PER_LINE)] = Field(
        description="0 removes the line")
    sku: str | None = Field(default=None, max_length=64)

    model_config = {"json_schema_extra": {"examples": [{
        "item_id": "3f6c1a52-1c7e-4f4e-9a51-9a3f5b1e2d11", "quantity": 2,
    }]}}


class CouponIn(RequestModel):
    code: str = Field(min_length=1, max_length=32)

    model_config = {"json_schema_extra": {"examples": [{"code": "WELCOME50"}]}}


class RemoveIn(RequestModel):
    item_id: str = Field(min_length=1, max_length=64, description="a cart line id or an item id")
    sku: str | None = Field(default=None, max_length=64)

    model_config = {"json_schema_extra": {"examples": [{"item_id": "3f6c1a52-1c7e-4f4e-9a51-9a3f5b1e2d11"}]}}


def answer(saved: Saved[Any], me: Caller) -> dict[str, Any]:
    remember_write(me.conn, me.user, "commerce", saved.position)
    value = saved.value[0] if isinstance(saved.value, tuple) else saved.value
    return cart_view.summary(value)


@router.post("/add", response_model=CartOut, summary="Add an item (409: other shop, unavailable, closed)")
def add(body: AddIn, me: CustomerCall) -> dict[str, Any]:
    saved = me.runtime.commerce.add_to_my_cart(owner_id=me.user.id, product_id=body.item_id, sku=body.sku,
                                               qty=body.quantity, replace=body.replace)
    return answer(saved, me)


@router.get("/view", response_model=CartOut,
            summary="Your cart: lines, subtotal, discount, delivery fee, total")
def view(user: Customer, runtime: RuntimeDep, conn: ConnectionDep) -> dict[str, Any]:
    await_read_model(runtime, conn, user, cart_view.READ_MODEL)
    cart_id = cart_id_for(user.id)
    return cart_view.find_cart(conn, cart_id, user.id) or cart_view.empty(cart_id, user.id)


@router.post("/update", response_model=CartOut, summary="Set a line's quantity (0 removes it)")
def update(body: UpdateIn, me: CustomerCall) -> dict[str, Any]:
    saved = me.runtime.commerce.update_my_cart(owner_id=me.user.id, ref=body.item_id, sku=body.sku,
                                               qty=body.quantity)
    return answer(saved, me)


@router.post("/remove", response_model=CartOut, summary="Remove a line")
def remove(body: RemoveIn, me: CustomerCall) -> dict[str, Any]:
    return answer(me.runtime.commerce.remove_from_my_cart(owner_id=me.user.id, ref=body.item_id, sku=body.sku),
                  me)


@router.post("/clear", response_model=CartOut, summary="Empty the cart")
def clear(me: CustomerCall) -> dict[str, Any]:
    return answer(me.runtime.commerce.clear_my_cart(owner_id=me.user.id), me)


@router.post("/apply-coupon", response_model=CartOut,
             summary="Apply a coupon; the totals are recomputed on the server",
             responses={400: {"description": "invalid, expired, below minimum or used up (reason given)"}})
def apply_coupon(body: CouponIn, me: CustomerCall) -> dict[str, Any]:
    return answer(me.runtime.commerce.apply_coupon(owner_id=me.user.id, code=body.code), me)


@router.post("/remove-coupon", response_model=CartOut,
             summary="Take the coupon off the cart (also one no longer offered); idempotent")
def remove_coupon(me: CustomerCall) -> dict[str, Any]:
    return answer(me.runtime.commerce.remove_coupon(owner_id=me.user.id), me)
