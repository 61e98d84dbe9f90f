"""Flow Specs §4 payments: /v1/payments, its status and QR code, the provider webhook, and the
sandbox provider's hosted checkout page (dev mode)."""

from __future__ import annotations

import html
import io
import json
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

import segno
from fastapi import Header, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from psycopg import Connection
from pydantic import BaseModel, Field

from adapters import payment_providers
from api import idempotency
from api.dependencies import ConnectionDep, CurrentUser, CustomerCall, RuntimeDep
from api.read_your_writes import await_read_model, remember_write
from api.routing import Router
from api.text import RequestModel
from domain.errors import AuthenticationError, DomainError, UpstreamError
from domain.payments.payment import PaymentNotFoundError, PaymentStateError, ProviderError
from projections import payments as payment_view
from projections import tracking
from runtime import Runtime

router = Router(tags=["payments"])


class PaymentIn(RequestModel):
    amount: Annotated[int, Field(strict=True, gt=0, description="minor units; must equal the order total")]
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    order_id: UUID
    return_url: str = Field(pattern=r"^https?://[^\s]{1,2000}$",
                            description="where the payer goes after paying")

    model_config = {"json_schema_extra": {"examples": [{
        "amount": 52300, "currency": "INR", "order_id": "4f0c8c0e-9a3e-4b8e-8f0e-1c2d3e4f5a6b",
        "return_url": "https://shop.example.com/orders/4f0c8c0e"}]}}


class PaymentOut(BaseModel):
    payment_id: str
    order_id: str
    status: str = Field(description="pending, succeeded, failed or expired")
    amount: int
    currency: str
    refunded: int
    qr_url: str
    checkout_url: str
    expires_at: str


def shape(runtime: Runtime, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "payment_id": str(row["payment_id"]), "order_id": str(row["order_id"]),
        "status": row["status"], "amount": row["amount"], "currency": row["currency"],
        "refunded": row["refunded"], "checkout_url": row["checkout_url"],
        "qr_url": f"{runtime.settings.public_base_url}/v1/payments/{row['payment_id']}/qr.png",
        "expires_at": row["expires_at"].isoformat(),
    }


class ProviderFailedError(UpstreamError):
    title = "Payment provider error"


@router.post("/v1/payments", status_code=201, response_model=PaymentOut,
             summary="Start paying an order (needs Idempotency-Key)",
             responses={409: {"description": "order not payable, or key reused"},
                        502: {"description": "provider failed; retry (same key is fine)"}})
def create_payment(body: PaymentIn, me: CustomerCall, key: idempotency.IdempotencyKey = None) -> Response:
    def execute(claim_id: UUID) -> tuple[int, dict[str, Any]]:
        started = me.runtime.payments.find(claim_id)  # a re-execution: the payment is the answer
        if started is not None:
            remember_write(me.conn, me.user, "payments", me.runtime.payments.log_head())
            return 201, shape(me.runtime, {
                "payment_id": started.id, "order_id": started.order_id, "status": "pending",
                "amount": started.amount, "currency": started.currency, "refunded": 0,
                "checkout_url": started.checkout_url, "expires_at": started.expires_at})
        order = me.runtime.commerce.payable_order(me.actor, body.order_id)
        if (body.amount, body.currency) != (order.total, order.currency):
            raise DomainError(f"the order is {order.total} {order.currency}", field="amount")
        try:
            saved = me.runtime.payments.start(order_id=order.id, customer_id=me.user.id, amount=order.total,
                                              currency=order.currency, return_url=body.return_url,
                                              now=me.runtime.clock(), payment_id=claim_id)
        except ProviderError as e:
            raise ProviderFailedError(f"the payment provider failed: {e}; try again") from e
        remember_write(me.conn, me.user, "payments", saved.position)
        p = saved.value
        return 201, shape(me.runtime, {"payment_id": p.id, "order_id": p.order_id, "status": p.status,
                                       "amount": p.amount, "currency": p.currency, "refunded": 0,
                                       "checkout_url": p.checkout_url, "expires_at": p.expires_at})

    return idempotency.keyed(me.conn, me.runtime, me.user, endpoint="POST /v1/payments",
                             key=key, body=body, execute=execute)


@router.get("/v1/payments/{payment_id}", response_model=PaymentOut, summary="A payment's status")
def get_payment(
    payment_id: UUID, user: CurrentUser, runtime: RuntimeDep, conn: ConnectionDep
) -> dict[str, Any]:
    await_read_model(runtime, conn, user, payment_view.READ_MODEL)
    row = payment_view.find_payment(conn, payment_id)
    if row is None:  # not in the view (yet): a payment that exists is never a 404
        p = runtime.payments.payment(payment_id)
        row = {"payment_id": p.id, "order_id": p.order_id, "customer_id": UUID(p.customer_id),
               "status": p.status, "amount": p.amount, "currency": p.currency,
               "refunded": p.refunded, "checkout_url": p.checkout_url, "expires_at": p.expires_at}
    if row["customer_id"] != user.id and user.role not in ("support", "admin", "auditor"):
        raise PaymentNotFoundError(f"payment {payment_id} not found")
    return shape(runtime, row)


@router.get("/v1/payments/{payment_id}/qr.png", response_class=Response,
            summary="QR code (PNG) of the payment's checkout URL",
            responses={200: {"content": {"image/png": {}}}})
def qr(payment_id: UUID, runtime: RuntimeDep) -> Response:
    # From the aggregate: the QR link is handed out as soon as the payment is created.
    payment = runtime.payments.payment(payment_id)
    out = io.BytesIO()
    segno.make(payment.checkout_url, error="m").save(out, kind="png", scale=6, border=2)
    return Response(out.getvalue(), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=900"})


def handle_webhook(runtime: Runtime, raw: bytes, signature: str | None,
                   conn: Connection | None = None) -> dict[str, Any]:
    """Applies a provider notification. The outcome is recorded as a write of the payment's
    customer, so that their next read of the payment shows it."""
    if not payment_providers.verify(runtime.settings.webhook_secret, raw, signature):
        raise AuthenticationError("bad webhook signature")
    try:
        note = json.loads(raw)
        payment_id = UUID(str(note["payment_id"]))
        outcome = {"payment.succeeded": True, "payment.failed": False}[note["type"]]
        event_id = str(note["id"])
    except (ValueError, KeyError, TypeError, AttributeError):  # a number or a list where text goes
        raise DomainError("malformed webhook body") from None
    try:
        saved = runtime.payments.record_outcome(payment_id, succeeded=outcome, provider_event=event_id,
                                                reason=str(note.get("reason") or ""))
    except PaymentStateError as e:  # e.g. "failed" after it succeeded: keep the success
        return {"received": True, "applied": False, "detail": e.detail}
    if saved.position is not None:
        if conn is None:
            with runtime.pool.connection() as own:
                tracking.record_write(own, UUID(saved.value.customer_id), "payments", saved.position)
        else:
            tracking.record_write(conn, UUID(saved.value.customer_id), "payments", saved.position)
    return {"received": True, "applied": saved.position is not None}


WEBHOOK_BODY = {
    "required": True,
    "content": {"application/json": {
        "schema": {"type": "object", "required": ["id", "type", "payment_id"], "properties": {
            "id": {"type": "string"},
            "type": {"type": "string", "enum": ["payment.succeeded", "payment.failed"]},
            "payment_id": {"type": "string", "format": "uuid"}, "reason": {"type": "string"}}},
        "example": {"id": "evt_5f1c2a9b0d3e4f67", "type": "payment.succeeded",
                    "payment_id": "0b5e7f3a-6d2c-4e8b-9f1a-2c3d4e5f6a7b", "reason": ""},
    }},
}
REDIRECT: dict[int | str, dict[str, Any]] = {
    303: {"description": "to the payment's return_url, with payment_id and status",
          "headers": {"Location": {"schema": {"type": "string"}}}}}


@router.post("/v1/payments/webhooks/sandbox", summary="Provider notification (HMAC-SHA256 signed)",
             responses={401: {"description": "bad or missing signature"}},
             openapi_extra={"requestBody": WEBHOOK_BODY})
async def sandbox_webhook(
    request: Request, runtime: RuntimeDep,
    signature: Annotated[str | None, Header(alias=payment_providers.SIGNATURE_HEADER)] = None,
) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    raw = await request.body()  # the signature covers these exact bytes
    return await run_in_threadpool(handle_webhook, runtime, raw, signature)


def sandbox(runtime: Runtime) -> payment_providers.SandboxProvider:
    provider = runtime.payments.provider
    if not isinstance(provider, payment_providers.SandboxProvider):
        raise PaymentNotFoundError("the sandbox provider is off (EVENTMART_ENV=prod)")
    return provider


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sandbox checkout</title>
<style>body{{font-family:system-ui;max-width:28rem;margin:3rem auto}}
button{{font-size:1.1rem;margin:.3rem}}</style>
</head><body><h1>Sandbox checkout</h1><p>Payment <code>{payment_id}</code></p>
<p>Amount: <strong>{amount}</strong> {currency}</p><p>Status: {status}</p>
<form method="post" action="{base}/pay"><button type="submit">Pay</button></form>
<form method="post" action="{base}/fail"><button type="submit">Fail</button></form>
<p><small>EventMart sandbox: no money moves.</small></p></body></html>"""


@router.get("/v1/payments/sandbox/{payment_id}/checkout", response_class=HTMLResponse,
            summary="Sandbox provider: hosted checkout page with Pay and Fail buttons")
def sandbox_page(payment_id: UUID, runtime: RuntimeDep) -> HTMLResponse:
    sandbox(runtime)
    payment = runtime.payments.payment(payment_id)  # the aggregate: the page opens at once
    return HTMLResponse(PAGE.format(
        payment_id=html.escape(str(payment_id)), amount=f"{payment.amount / 100:.2f}",
        currency=html.escape(payment.currency), status=html.escape(payment.status),
        base=f"/v1/payments/sandbox/{payment_id}"))


def _complete(runtime: Runtime, conn: Connection, payment_id: UUID, outcome: str) -> RedirectResponse:
    """Pay or fail, from the Payment aggregate: right after creation the payment view may not
    have the payment yet, and a 404 for a payment that exists would strand the payer."""
    provider = sandbox(runtime)
    return_url = runtime.payments.payment(payment_id).return_url
    raw, signature = provider.webhook(payment_id, outcome, "declined in sandbox" if outcome == "failed" else "")
    handle_webhook(runtime, raw, signature, conn)
    # The payment's status now, not the button pressed: a "fail" after a "pay" is ignored
    # (a succeeded payment stays succeeded) and the payer must not be told it failed.
    status = runtime.payments.payment(payment_id).status
    separator = "&" if "?" in return_url else "?"
    target = return_url + separator + urlencode({"payment_id": str(payment_id), "status": status})
    return RedirectResponse(target, status_code=303)


@router.post("/v1/payments/sandbox/{payment_id}/pay", status_code=303, response_class=RedirectResponse,
             responses=REDIRECT, summary="Sandbox provider: the payer pays")
def sandbox_pay(payment_id: UUID, runtime: RuntimeDep, conn: ConnectionDep) -> RedirectResponse:
    return _complete(runtime, conn, payment_id, "succeeded")


@router.post("/v1/payments/sandbox/{payment_id}/fail", status_code=303, response_class=RedirectResponse,
             responses=REDIRECT, summary="Sandbox provider: the payment fails")
def sandbox_fail(payment_id: UUID, runtime: RuntimeDep, conn: ConnectionDep) -> RedirectResponse:
    return _complete(runtime, conn, payment_id, "failed")
