"""Flow Specs §4-§6: /v1/checkouts, /v1/orders, /v1/orders/{id}, /v1/orders/{id}/cancel."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi.responses import JSONResponse
from psycopg import Connection
from pydantic import BaseModel, Field

from api import idempotency
from api.commands import Caller, Settlement
from api.dependencies import ConnectionDep, Customer, CustomerCall, Reader, RuntimeDep
from api.errors import ReadModelBehindError
from api.pagination import PageDep, PageRequest, Paginated
from api.read_your_writes import await_read_model, remember_write
from api.routing import Router
from api.text import RequestModel
from domain.commerce.order import Order, OrderNotFoundError
from domain.commerce.values import OrderLine
from identity import delivery_addresses
from identity.users import User
from projections import catalog_search, order_history
from runtime import Runtime

router = Router(tags=["orders"])

class CheckoutIn(RequestModel):
    cart_id: UUID

    model_config = {"json_schema_extra": {"examples": [{"cart_id": "0bef1515-a7d7-5478-8abc-9056b23ae2c7"}]}}


class CheckoutOut(BaseModel):
    order_id: str
    total_amount: int
    currency: str
    status: str


class StatusEntry(BaseModel):
    status: str
    at: str
    by: str
    note: str


class OrderOut(BaseModel):
    id: str
    customer_id: str
    shop_id: str | None
    shop_name: str | None
    status: str
    payment_mode: str
    currency: str
    items: list[OrderLine]  # the domain's value, as the read model keeps it
    subtotal: int
    discount: int
    discounts: list[dict[str, Any]] = Field(description="what the discount is made of: coupon, points")
    delivery_fee: int
    total: int
    paid: int
    refunded: int
    delivery_notes: str
    address: dict[str, Any] | None
    proposed_change: dict[str, Any] | None = Field(description="a vendor modification awaiting you")
    rating: dict[str, Any] | None
    status_log: list[StatusEntry]
    payments: list[dict[str, Any]]
    refunds: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    issues: list[dict[str, Any]]
    returns: list[dict[str, Any]]
    action_log: list[dict[str, Any]] = Field(description="every action on the order, in order")
    created_at: str
    updated_at: str


class CancelIn(RequestModel):
    reason: str = Field(default="", max_length=500)

    model_config = {"json_schema_extra": {"examples": [{"reason": "ordered by mistake"}]}}


def can_see(conn: Connection, user: User, doc: dict[str, Any]) -> bool:
    if user.role in ("support", "admin", "auditor"):
        return True
    if user.role == "vendor":
        return catalog_search.vendor_of(conn, doc["shop_id"]) == user.id
    return doc["customer_id"] == str(user.id)


def order_view(runtime: Runtime, conn: Connection, user: User, order_id: UUID) -> dict[str, Any]:
    await_read_model(runtime, conn, user, order_history.READ_MODEL)
    doc = order_history.find_order(conn, order_id)
    if doc is None or not can_see(conn, user, doc):
        raise OrderNotFoundError(f"order {order_id} not found")
    delivery_addresses.resolve(conn, [doc])
    return doc


def conversation(runtime: Runtime, conn: Connection, user: User, order_id: UUID) -> dict[str, Any]:
    """An order's messages, oldest first: the customer's and the shop's URLs alike."""
    found = order_view(runtime, conn, user, order_id)["messages"]
    return {"count": len(found), "results": found}


def post_message(me: Caller, order_id: UUID, text: str) -> dict[str, Any]:
    """A message on an order, from its customer or its shop: each has its own URL and gate."""
    return me.settle(me.runtime.commerce.post_order_message(me.actor, order_id, text), ORDER)


def orders_page(runtime: Runtime, conn: Connection, user: User, page: PageRequest, *,
                customer: UUID | None = None, shops: list[UUID] | None = None,
                status: str | None = None) -> dict[str, Any]:
    """Every list of orders, in both URL families: newest first, once the read model has the
    user's writes."""
    await_read_model(runtime, conn, user, order_history.READ_MODEL)
    found = order_history.list_orders(conn, customer=customer, shops=shops, status=status,
                                      page=page.page, size=page.size)
    delivery_addresses.resolve(conn, found.rows)
    return page.envelope(found.count, found.rows)


def concerned(conn: Connection, order: Order) -> list[UUID | str | None]:
    """Whose view of the order a write changes: its customer and its shop's vendor."""
    return [order.customer_id, catalog_search.vendor_of(conn, order.shop_id)]


def projected(runtime: Runtime, conn: Connection, user: User, order: Order) -> dict[str, Any]:
    if order_history.find_order(conn, order.id) is None:
        raise ReadModelBehindError()  # saved: a 404 here would invite a second order
    return order_view(runtime, conn, user, order.id)


# Command responses are the order as GET shows it, once the read model has it. The write is
# recorded for everyone it concerns: a vendor's accept shows in the customer's next read.
ORDER = Settlement[Order, dict[str, Any]](
    application="commerce", read_model=order_history.READ_MODEL, concerns=concerned, answer=projected)


@router.post("/v1/checkouts", status_code=201, response_model=CheckoutOut,
             summary="Turn the cart into an order awaiting payment (needs Idempotency-Key)",
             responses={409: {"description": "key reused, prices changed, item unavailable, shop closed"}})
def checkout(body: CheckoutIn, me: CustomerCall, key: idempotency.IdempotencyKey = None) -> JSONResponse:
    def execute(claim_id: UUID) -> tuple[int, dict[str, Any]]:
        saved = me.runtime.commerce.checkout(owner_id=me.user.id, cart_id=body.cart_id, order_id=claim_id)
        # The shop's vendor sees the new order too: their next read waits for it.
        remember_write(me.conn, me.user, "commerce", saved.position, concerns=concerned(me.conn, saved.value))
        order = saved.value
        return 201, {"order_id": str(order.id), "total_amount": order.total,
                     "currency": order.currency, "status": order.status}

    return idempotency.keyed(me.conn, me.runtime, me.user, endpoint="POST /v1/checkouts",
                             key=key, body=body, execute=execute)


@router.get("/v1/orders", response_model=Paginated[OrderOut], summary="Your orders, newest first")
def my_orders(user: Customer, runtime: RuntimeDep, conn: ConnectionDep, page: PageDep) -> dict[str, Any]:
    # Also GET /api/v1/consumer/order/history (api/routes/consumer_orders.py).
    return orders_page(runtime, conn, user, page, customer=user.id)


@router.get("/v1/orders/{order_id}", response_model=OrderOut,
            summary="One order: items, totals, payment, status log")
def get_order(order_id: UUID, user: Reader, runtime: RuntimeDep, conn: ConnectionDep) -> dict[str, Any]:
    return order_view(runtime, conn, user, order_id)


@router.post("/v1/orders/{order_id}/cancel", response_model=OrderOut,
             summary="Cancel while not yet dispatched; what was paid is refunded")
def cancel(order_id: UUID, me: CustomerCall, body: CancelIn | None = None) -> dict[str, Any]:
    # Also POST /api/v1/consumer/orders/{order_id}/cancel (api/routes/consumer_orders.py).
    reason = (body or CancelIn()).reason
    return me.settle(me.runtime.commerce.cancel_order(me.actor, order_id, reason=reason), ORDER)
