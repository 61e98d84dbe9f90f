"""Flow Specs §3: /v1/carts and their items."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Response, status
from pydantic import BaseModel, Field
from pydantic.dataclasses import dataclass

from api.dependencies import ConnectionDep, Customer, CustomerCall, RuntimeDep
from api.read_your_writes import await_read_model, remember_write
from api.routing import Router
from api.text import RequestModel
from domain.commerce.cart import MAX_QTY_PER_LINE
from domain.commerce.values import CartLine
from projections import cart_view

router = Router(prefix="/v1/carts", tags=["carts"])

Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_QTY_PER_LINE)]
APP = "commerce"


class NewItem(RequestModel):
    product_id: UUID
    sku: str = Field(min_length=1, max_length=64)
    qty: Quantity
    replace: bool = Field(default=False, description="empty a cart holding another shop's items first")
    unit_price: Annotated[int, Field(strict=True, ge=0)] | None = Field(
        default=None,
        description="The price the client showed, in minor units. Optional; when given and "
        "different from the current catalog price the request fails with 409.",
    )

    model_config = {
        "json_schema_extra": {
            "examples": [{
                "product_id": "0b5e3d0a-7a51-5bd6-a8f5-2b4f4f1c7c11", "sku": "TEA-250G",
                "qty": 2, "unit_price": 24900,
            }]
        }
    }


class QuantityChange(RequestModel):
    qty: Quantity

    model_config = {"json_schema_extra": {"examples": [{"qty": 3}]}}


@dataclass(frozen=True)
class CartItemOut(CartLine):
    """The domain's cart line as the read model shows it, with its total."""

    line_total: int


class CartOut(BaseModel):
    id: str
    owner_id: str
    shop_id: str | None = Field(description="a cart holds one shop's items")
    currency: str
    items: list[CartItemOut]
    item_count: int
    total_amount: int = Field(description="Sum of line totals, in minor units of `currency`")
    subtotal: int = Field(description="Sum of line totals")
    coupon: dict[str, Any] | None = Field(default=None, description="applied coupon and its discount")
    points: int = Field(default=0, description="reward points held against this cart")
    points_discount: int = 0
    discount: int = Field(description="coupon plus points")
    delivery_fee: int = Field(description="₹25 below a ₹499 subtotal, else free")
    total: int = Field(description="subtotal - discount + delivery_fee: what checkout charges")
    created_at: str | None = Field(description="null for a cart nobody has written to yet")
    updated_at: str | None = Field(description="null for a cart nobody has written to yet")


class AddedItemOut(BaseModel):
    item_id: str
    cart: CartOut


@router.post("", response_model=CartOut, summary="Create or return your active cart",
             responses={201: {"model": CartOut, "description": "cart created"}})
def open_cart(response: Response, me: CustomerCall) -> dict[str, Any]:
    saved = me.runtime.commerce.open_cart(me.user.id)
    remember_write(me.conn, me.user, APP, saved.position)
    if saved.position is not None:
        response.status_code = status.HTTP_201_CREATED
    return cart_view.summary(saved.value)


@router.get("/{cart_id}", response_model=CartOut, summary="Cart summary: items and totals")
def get_cart(
    cart_id: UUID, user: Customer, runtime: RuntimeDep, conn: ConnectionDep
) -> dict[str, Any]:
    await_read_model(runtime, conn, user, cart_view.READ_MODEL)
    doc = cart_view.find_cart(conn, cart_id, user.id)
    if doc is None:  # not in the view (yet): a cart that exists is never a 404
        return cart_view.summary(runtime.commerce.get_cart(cart_id, user.id))
    return doc


@router.post("/{cart_id}/items", status_code=status.HTTP_201_CREATED,
             response_model=AddedItemOut, summary="Add a product variant to the cart")
def add_item(cart_id: UUID, body: NewItem, me: CustomerCall) -> dict[str, Any]:
    saved = me.runtime.commerce.add_cart_item(
        owner_id=me.user.id, cart_id=cart_id, product_id=body.product_id, sku=body.sku,
        qty=body.qty, expected_unit_price=body.unit_price, replace=body.replace,
    )
    remember_write(me.conn, me.user, APP, saved.position)
    cart, item_id = saved.value
    return {"item_id": item_id, "cart": cart_view.summary(cart)}


@router.patch("/{cart_id}/items/{item_id}", response_model=CartOut,
              summary="Change an item's quantity (re-priced from the catalog)")
def change_item(cart_id: UUID, item_id: UUID, body: QuantityChange, me: CustomerCall) -> dict[str, Any]:
    saved = me.runtime.commerce.change_cart_item(owner_id=me.user.id, cart_id=cart_id, item_id=str(item_id),
                                                 qty=body.qty)
    remember_write(me.conn, me.user, APP, saved.position)
    return cart_view.summary(saved.value)


@router.delete("/{cart_id}/items/{item_id}", response_model=CartOut,
               summary="Remove an item from the cart")
def remove_item(cart_id: UUID, item_id: UUID, me: CustomerCall) -> dict[str, Any]:
    saved = me.runtime.commerce.remove_cart_item(owner_id=me.user.id, cart_id=cart_id, item_id=str(item_id))
    remember_write(me.conn, me.user, APP, saved.position)
    return cart_view.summary(saved.value)
