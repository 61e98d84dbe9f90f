"""The shop side of an order: /v1/vendor/orders and its actions. Support and admin see every
order at /v1/admin/orders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import Query
from pydantic import Field

from api.dependencies import ConnectionDep, RuntimeDep, Staff, StaffCall, Vendor, VendorCall
from api.pagination import PageDep, Paginated
from api.routes.consumer_orders import MessageIn, MessagesOut
from api.routes.orders import ORDER, OrderOut, conversation, orders_page, post_message
from api.routing import Router
from api.text import RequestModel
from domain.commerce.order import Action, OrderStatus
from projections import catalog_search

router = Router(tags=["vendor: orders"])

Status = Annotated[OrderStatus | None, Query(description="only orders in this state")]


class NoteIn(RequestModel):
    note: str = Field(default="", max_length=500)

    model_config = {"json_schema_extra": {"examples": [{"note": "ready in 20 minutes"}]}}


class RejectIn(RequestModel):
    reason: str = Field(min_length=1, max_length=500)

    model_config = {"json_schema_extra": {"examples": [{"reason": "out of stock today"}]}}


class ModifyIn(RequestModel):
    quantities: dict[str, Annotated[int, Field(ge=0, le=99)]] = Field(
        min_length=1, description="order line id -> new (lower) quantity; 0 removes the line")
    note: str = Field(default="", max_length=500)

    model_config = {"json_schema_extra": {"examples": [
        {"quantities": {"a29d9fe7-1a9d-41ea-b83b-a1b8ace7b8fc": 1}, "note": "only one left"}]}}


@router.get("/v1/vendor/orders", response_model=Paginated[OrderOut],
            summary="Orders of your shops, newest first")
def shop_orders(
    user: Vendor, runtime: RuntimeDep, conn: ConnectionDep, page: PageDep, status: Status = None,
    shop: UUID | None = None,
) -> dict[str, Any]:
    if user.role == "admin":
        shops = [shop] if shop else None
    else:
        mine = catalog_search.shops_of(conn, user.id)
        shops = [s for s in mine if shop is None or s == shop]
    return orders_page(runtime, conn, user, page, shops=shops, status=status)


# The four forward steps share one handler; each is still its own operation in the OpenAPI.
STEPS = (
    ("accept", Action.ACCEPT, "order_accept", "Accept the order"),
    ("packed", Action.PACK, "order_pack", "Mark packed"),
    ("out-for-delivery", Action.DISPATCH, "order_dispatch", "Mark out for delivery"),
    ("delivered", Action.DELIVER, "order_deliver", "Mark delivered"),
)


def step(action: Action) -> Callable[..., dict[str, Any]]:
    def advance(order_id: UUID, me: VendorCall, body: NoteIn | None = None) -> dict[str, Any]:
        saved = me.runtime.commerce.advance_order(me.actor, order_id, action, (body or NoteIn()).note)
        return me.settle(saved, ORDER)
    return advance


for segment, action, name, summary in STEPS:
    router.add_api_route(f"/v1/vendor/orders/{{order_id}}/{segment}", step(action), methods=["POST"],
                         name=name, response_model=OrderOut, summary=summary)


@router.post("/v1/vendor/orders/{order_id}/reject", response_model=OrderOut,
             summary="Reject the order with a reason; what was paid is refunded")
def reject(order_id: UUID, body: RejectIn, me: VendorCall) -> dict[str, Any]:
    saved = me.runtime.commerce.cancel_order(me.actor, order_id, reason=body.reason, reject=True)
    return me.settle(saved, ORDER)


@router.post("/v1/vendor/orders/{order_id}/modify", response_model=OrderOut,
             summary="Lower quantities before accepting; the customer must confirm")
def modify(order_id: UUID, body: ModifyIn, me: VendorCall) -> dict[str, Any]:
    return me.settle(me.runtime.commerce.modify_order(me.actor, order_id, body.quantities, body.note), ORDER)


@router.get("/v1/admin/orders", response_model=Paginated[OrderOut],
            summary="Every order (support, admin), newest first")
def all_orders(user: Staff, runtime: RuntimeDep, conn: ConnectionDep, page: PageDep,
               status: Status = None, shop: UUID | None = None,
               customer: UUID | None = None) -> dict[str, Any]:
    return orders_page(runtime, conn, user, page, customer=customer, shops=[shop] if shop else None,
                       status=status)


@router.post("/v1/vendor/orders/{order_id}/message", status_code=201, response_model=OrderOut,
             summary="Write to the customer about this order")
def vendor_message(order_id: UUID, body: MessageIn, me: VendorCall) -> dict[str, Any]:
    return post_message(me, order_id, body.text)


@router.get("/v1/vendor/orders/{order_id}/messages", response_model=MessagesOut,
            summary="The conversation with the customer, oldest first")
def vendor_messages(order_id: UUID, user: Vendor, runtime: RuntimeDep, conn: ConnectionDep) -> dict[str, Any]:
    return conversation(runtime, conn, user, order_id)


class ResolveIn(RequestModel):
    resolution: str = Field(min_length=1, max_length=2000)

    model_config = {"json_schema_extra": {"examples": [{
        "resolution": "refunded the missing item to the wallet",
    }]}}


class DecisionIn(RequestModel):
    note: str = Field(default="", max_length=1000)

    model_config = {"json_schema_extra": {"examples": [{"note": "checked the photos"}]}}


@router.post("/v1/admin/orders/{order_id}/issues/{issue_id}/resolve", response_model=OrderOut,
             summary="Support: resolve an order issue")
def resolve_issue(order_id: UUID, issue_id: UUID, body: ResolveIn, me: StaffCall) -> dict[str, Any]:
    saved = me.runtime.commerce.resolve_order_issue(me.actor, order_id, str(issue_id), body.resolution)
    return me.settle(saved, ORDER)


@router.post("/v1/admin/orders/{order_id}/returns/{return_id}/approve", response_model=OrderOut,
             summary="Support: approve a return; the items' price goes to the customer's wallet")
def approve_return(order_id: UUID, return_id: UUID, me: StaffCall,
                   body: DecisionIn | None = None) -> dict[str, Any]:
    saved = me.runtime.commerce.decide_order_return(me.actor, order_id, str(return_id), approved=True,
                                                    note=(body or DecisionIn()).note)
    return me.settle(saved, ORDER)


@router.post("/v1/vendor/orders/{order_id}/returns/{return_id}/restock", response_model=OrderOut,
             summary="Vendor: an approved return's goods are back and fit to sell: its units go back on sale")
def restock_return(order_id: UUID, return_id: UUID, me: VendorCall) -> dict[str, Any]:
    return me.settle(me.runtime.commerce.restock_return(me.actor, order_id, str(return_id)), ORDER)


@router.post("/v1/admin/orders/{order_id}/returns/{return_id}/reject", response_model=OrderOut,
             summary="Support: reject a return")
def reject_return(order_id: UUID, return_id: UUID, body: DecisionIn, me: StaffCall) -> dict[str, Any]:
    saved = me.runtime.commerce.decide_order_return(me.actor, order_id, str(return_id), approved=False,
                                                    note=body.note)
    return me.settle(saved, ORDER)
