"""Customer Journey orders: /api/v1/consumer/order/confirm, .../order/history and
/api/v1/consumer/orders/{id}/cancel, confirm-modified, rate."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from adapters.locks import advisory_lock
from api import idempotency
from api.dependencies import ConnectionDep, Customer, CustomerCall, RuntimeDep
from api.pagination import Paginated
from api.routes import orders
from api.routes.orders import ORDER, OrderOut, conversation, post_message
from api.routes.wallet import wallet_lock
from api.routing import Router
from api.text import RequestModel
from domain.commerce.order import Action, IssueCategory
from domain.commerce.values import DeliveryAddressRef, ReturnItemData
from identity import delivery_addresses, profiles

router = Router(prefix="/api/v1/consumer", tags=["consumer orders"])


class ConfirmIn(RequestModel):
    payment_mode: Literal["cash", "wallet"]
    delivery_notes: str = Field(default="", max_length=500)
    address_id: UUID | None = Field(default=None, description="one of your saved addresses")

    model_config = {"json_schema_extra": {"examples": [
        {"payment_mode": "wallet", "delivery_notes": "Ring twice",
         "address_id": "5b0d1d1e-2c9f-4c1a-8d53-2f6c6f0c8a11"}]}}


class MessageIn(RequestModel):
    text: str = Field(min_length=1, max_length=2000)

    model_config = {"json_schema_extra": {"examples": [{"text": "Please leave it with the guard."}]}}


class MessageOut(BaseModel):
    id: str
    sender_id: str
    sender_role: str
    text: str
    at: str


class MessagesOut(BaseModel):
    count: int
    results: list[MessageOut]


class IssueIn(RequestModel):
    category: IssueCategory
    description: str = Field(min_length=1, max_length=2000)

    model_config = {"json_schema_extra": {"examples": [
        {"category": "missing_item", "description": "The rice was not in the bag."}]}}


class ReturnItem(RequestModel):
    item_id: str = Field(min_length=1, max_length=64, description="an order line id")
    quantity: Annotated[int, Field(strict=True, ge=1, le=99)]


class ReturnIn(RequestModel):
    items: list[ReturnItem] = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=1000)

    model_config = {"json_schema_extra": {"examples": [{
        "items": [{"item_id": "3f6c1a52-1c7e-4f4e-9a51-9a3f5b1e2d11", "quantity": 1}],
        "reason": "the seal was broken",
    }]}}


class RateIn(RequestModel):
    rating: Annotated[int, Field(strict=True, ge=1, le=5)]
    comment: str = Field(default="", max_length=1000)

    model_config = {"json_schema_extra": {"examples": [{"rating": 5, "comment": "fresh and on time"}]}}


@router.post("/order/confirm", status_code=201, response_model=OrderOut,
             summary="Place the order from your cart: cash on delivery or wallet (atomic)",
             responses={400: {"description": "empty cart, insufficient funds, bad address"}})
def confirm(body: ConfirmIn, me: CustomerCall, key: idempotency.IdempotencyKey = None) -> Any:
    saved_address = profiles.get_address(me.conn, me.user.id, body.address_id) if body.address_id else None

    def execute(claim_id: UUID | None) -> tuple[int, dict[str, Any]]:
        # The order's event holds a reference to a copy, never the address itself.
        address = (DeliveryAddressRef(delivery_addresses.keep(me.conn, me.user.id, saved_address,
                                                              now=me.runtime.clock())[delivery_addresses.REF])
                   if saved_address else None)
        with advisory_lock(me.conn, wallet_lock(me.user.id)):  # wallet orders take turns with debits
            saved = me.runtime.commerce.confirm_order(owner_id=me.user.id, payment_mode=body.payment_mode,
                                                      delivery_notes=body.delivery_notes, address=address,
                                                      order_id=claim_id)
        return 201, me.settle(saved, ORDER)

    if key is None:
        status, out = execute(None)
        return JSONResponse(out, status_code=status)
    return idempotency.keyed(me.conn, me.runtime, me.user, endpoint="POST /api/v1/consumer/order/confirm",
                             key=key, body=body, execute=execute)


# The Customer Journey's names for two Flow Specs endpoints: the same handlers, under this
# family's URLs and summaries.
router.add_api_route("/order/history", orders.my_orders, methods=["GET"], name="history",
                     response_model=Paginated[OrderOut],
                     summary="Your orders, newest first, with shop name, totals and status")
router.add_api_route("/orders/{order_id}/cancel", orders.cancel, methods=["POST"], name="cancel",
                     response_model=OrderOut,
                     summary="Cancel while not yet dispatched; wallet payments come back at once")


@router.post("/orders/{order_id}/confirm-modified", response_model=OrderOut,
             summary="Accept the shop's change to your order; any difference is refunded")
def confirm_modified(order_id: UUID, me: CustomerCall) -> dict[str, Any]:
    return me.settle(me.runtime.commerce.advance_order(me.actor, order_id, Action.CONFIRM_MODIFIED), ORDER)


@router.post("/orders/{order_id}/rate", response_model=OrderOut,
             summary="Rate a delivered order once (1-5); feeds the shop's rating")
def rate(order_id: UUID, body: RateIn, me: CustomerCall) -> dict[str, Any]:
    return me.settle(me.runtime.commerce.rate_order(me.actor, order_id, body.rating, body.comment), ORDER)


@router.post("/orders/{order_id}/message", status_code=201, response_model=OrderOut,
             summary="Write to the shop about this order")
def message(order_id: UUID, body: MessageIn, me: CustomerCall) -> dict[str, Any]:
    return post_message(me, order_id, body.text)


@router.get("/orders/{order_id}/messages", response_model=MessagesOut,
            summary="The conversation with the shop, oldest first")
def messages(order_id: UUID, user: Customer, runtime: RuntimeDep, conn: ConnectionDep) -> dict[str, Any]:
    return conversation(runtime, conn, user, order_id)


@router.post("/orders/{order_id}/issue", status_code=201, response_model=OrderOut,
             summary="Report a problem; support resolves it")
def issue(order_id: UUID, body: IssueIn, me: CustomerCall) -> dict[str, Any]:
    saved = me.runtime.commerce.raise_order_issue(me.actor, order_id, body.category, body.description)
    return me.settle(saved, ORDER)


@router.post("/orders/{order_id}/return/raise", status_code=201, response_model=OrderOut,
             summary="Ask to return delivered items within the return window")
def raise_return(order_id: UUID, body: ReturnIn, me: CustomerCall) -> dict[str, Any]:
    items = [ReturnItemData(item_id=i.item_id, quantity=i.quantity) for i in body.items]
    return me.settle(me.runtime.commerce.request_order_return(me.actor, order_id, items, body.reason), ORDER)
