"""Customer Journey wallet: /api/v1/consumer/wallet, .../load, .../debit, .../refund, .../history.

Money in minor units. Every movement is a wallet event; balance and history are read models.
Debits take turns per wallet (advisory lock), so a burst of debits never fails for
contention, and the balance can never go below zero (the aggregate refuses). Loads are
bounded by the customer's LoadAllowance for the UTC day, taken in the same atomic save as
the load's payment, so parallel loads cannot exceed the daily limit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from adapters.locks import advisory_lock
from api import idempotency
from api.dependencies import ConnectionDep, Customer, CustomerCall, RefunderCall, RuntimeDep
from api.pagination import PageDep, Paginated
from api.read_your_writes import await_read_model, remember_write
from api.routes.payments import ProviderFailedError
from api.routing import Router
from api.text import RequestModel
from domain.commerce.wallet import wallet_id_for
from domain.payments.application import WALLET_LOAD, LoadLimits
from domain.payments.payment import ProviderError
from projections import wallet_balance, wallet_history

router = Router(prefix="/api/v1/consumer/wallet", tags=["wallet"])

Amount = Annotated[int, Field(strict=True, gt=0, le=10**9, description="minor units (paise)")]


class WalletOut(BaseModel):
    balance: int
    currency: str
    updated_at: str | None


class LoadIn(RequestModel):
    amount: Amount
    return_url: str | None = Field(default=None, pattern=r"^https?://[^\s]{1,2000}$")

    model_config = {"json_schema_extra": {"examples": [{"amount": 50000}]}}


class LoadOut(BaseModel):
    status: str = Field(description="pending until the payment succeeds; then credited")
    credited: bool
    amount: int
    payment_id: str
    checkout_url: str
    qr_url: str
    expires_at: str


class DebitIn(RequestModel):
    amount: Amount
    reference: str = Field(min_length=1, max_length=200)

    model_config = {"json_schema_extra": {"examples": [{"amount": 2500, "reference": "tip:order-1042"}]}}


class RefundIn(RequestModel):
    order_id: UUID
    amount: Amount
    reason: str = Field(default="", max_length=500, description="required for support and admin")

    model_config = {"json_schema_extra": {"examples": [{
        "order_id": "0b5e7f3a-6d2c-4e8b-9f1a-2c3d4e5f6a7b", "amount": 4500, "reason": "short delivery",
    }]}}


class HistoryLine(BaseModel):
    type: str = Field(description="load, debit, refund or adjustment")
    amount: int
    balance_after: int
    reference: str
    at: str


def wallet_state(balance: int, currency: str, updated_at: datetime | None) -> dict[str, Any]:
    return {"balance": balance, "currency": currency,
            "updated_at": updated_at.isoformat() if updated_at else None}


def wallet_lock(user_id: UUID) -> str:
    return f"wallet:{wallet_id_for(user_id)}"


@router.get("", response_model=WalletOut, summary="Your balance")
def get_wallet(user: Customer, runtime: RuntimeDep, conn: ConnectionDep) -> dict[str, Any]:
    await_read_model(runtime, conn, user, wallet_balance.READ_MODEL)
    row = wallet_balance.find(conn, user.id)
    if row is None:
        return wallet_state(0, "INR", None)
    return wallet_state(row["balance"], row["currency"], row["updated_at"])


@router.post("/load", status_code=201, response_model=LoadOut,
             summary="Add money through the payment provider (needs Idempotency-Key)",
             responses={502: {"description": "provider failed; retry"}})
def load(body: LoadIn, me: CustomerCall, key: idempotency.IdempotencyKey = None) -> JSONResponse:
    settings = me.runtime.settings

    def execute(claim_id: UUID) -> tuple[int, dict[str, Any]]:
        limits = LoadLimits(per_load=settings.wallet_max_load,
                            daily=settings.wallet_daily_load_limit)
        try:
            saved = me.runtime.payments.start(
                order_id=me.runtime.new_id(), customer_id=me.user.id, amount=body.amount, currency="INR",
                return_url=body.return_url or f"{settings.public_base_url}/api/v1/consumer/wallet",
                now=me.runtime.clock(), purpose=WALLET_LOAD, limits=limits, payment_id=claim_id)
        except ProviderError as e:
            raise ProviderFailedError(f"the payment provider failed: {e}; try again") from e
        remember_write(me.conn, me.user, "payments", saved.position)
        p = saved.value
        return 201, {"status": "pending", "credited": False, "amount": p.amount,
                     "payment_id": str(p.id), "checkout_url": p.checkout_url,
                     "qr_url": f"{settings.public_base_url}/v1/payments/{p.id}/qr.png",
                     "expires_at": p.expires_at.isoformat()}

    return idempotency.keyed(me.conn, me.runtime, me.user, endpoint="POST /api/v1/consumer/wallet/load",
                             key=key, body=body, execute=execute)


@router.post("/debit", response_model=WalletOut,
             summary="Pay from your wallet (needs Idempotency-Key); insufficient funds is 400")
def debit(body: DebitIn, me: CustomerCall, key: idempotency.IdempotencyKey = None) -> JSONResponse:
    def execute(claim_id: UUID) -> tuple[int, dict[str, Any]]:
        with advisory_lock(me.conn, wallet_lock(me.user.id)):
            saved = me.runtime.commerce.debit_wallet(me.user.id, body.amount, body.reference,
                                                     key=str(claim_id))
        remember_write(me.conn, me.user, "commerce", saved.position)
        wallet = saved.value
        done = wallet.keyed_debit(str(claim_id))  # this debit's outcome, even when re-executed
        assert done is not None
        return 200, wallet_state(done.balance_after, wallet.currency, done.at)

    return idempotency.keyed(me.conn, me.runtime, me.user, endpoint="POST /api/v1/consumer/wallet/debit",
                             key=key, body=body, execute=execute)


@router.post("/refund", response_model=WalletOut,
             summary="Refund what is still refundable of a cancelled, rejected or returned order")
def refund(body: RefundIn, me: RefunderCall) -> dict[str, Any]:
    with advisory_lock(me.conn, f"order-refund:{body.order_id}"):
        saved = me.runtime.commerce.refund_order_to_wallet(me.actor, body.order_id, body.amount, body.reason)
    wallet = saved.value
    remember_write(me.conn, me.user, "commerce", saved.position)
    return wallet_state(wallet.balance, wallet.currency, wallet.modified_on)


@router.get("/history", response_model=Paginated[HistoryLine], summary="Movements, newest first")
def history(user: Customer, runtime: RuntimeDep, conn: ConnectionDep, page: PageDep) -> dict[str, Any]:
    await_read_model(runtime, conn, user, wallet_history.READ_MODEL)
    found = wallet_history.page(conn, user.id, page=page.page, size=page.size)
    rows = [{**r, "at": r["at"].isoformat()} for r in found.rows]
    return page.envelope(found.count, rows)
