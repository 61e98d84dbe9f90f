"""Auditors check the log: /v1/audit/seals (the tamper-evidence seals) and
/v1/audit/reconcile (the money read models against the log). Read-only; auditor and admin.

The work is in projections/audit_chain.py and projections/reconcile.py (also behind
`eventmart audit ...`); these routes only serve it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from api.dependencies import Auditor, ConnectionDep, RuntimeDep
from api.routing import Router
from projections import audit_chain
from projections.reconcile import reconcile as run_reconcile

router = Router(prefix="/v1/audit", tags=["audit"])

Application = Literal["catalog", "commerce", "payments", "support"]

SEAL_EXAMPLE: dict[str, Any] = {
    "application": "commerce", "seq": 42, "from_position": 41000, "position": 42000,
    "events": 1000, "chain_hash": "9f2c6d1e0b4a7c3f5e8d2a1b6c9e0f3a4d7b2c5e8f1a0d3c6b9e2f5a8d1c4b7e",
    "sealed_at": "2026-11-24T09:30:00.123456+00:00",
}


class SealOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [SEAL_EXAMPLE]}}

    application: str
    seq: int = Field(description="1, 2, ... per application; seals are contiguous")
    from_position: int = Field(description="the previous seal's position (exclusive)")
    position: int = Field(description="the last log position this seal covers")
    events: int = Field(description="events covered (positions have gaps)")
    chain_hash: str = Field(description="hex SHA-256 of the chain after the event at `position`")
    sealed_at: str = Field(description="ISO 8601, UTC")
    digests: str | None = Field(default=None, description=(
        "base64 of the first 8 bytes of each covered event's SHA-256, in position order "
        "(with digests=true): what lets `eventmart audit verify --seals` name a changed event"))


class SealsOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [
        {"application": "commerce", "results": [SEAL_EXAMPLE], "next_after": 42}]}}

    application: str
    results: list[SealOut]
    next_after: int | None = Field(description="pass as `after` for the next page; null: no more")


@router.get("/seals", response_model=SealsOut,
            summary="The tamper-evidence seals of one log, in order")
def list_seals(
    user: Auditor, conn: ConnectionDep,
    application: Annotated[Application, Query(description="whose log")] = "commerce",
    after: Annotated[int, Query(ge=0, le=2**31 - 1, description="seals after this seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    digests: Annotated[bool, Query(description="include each seal's per-event digests")] = False,
) -> dict[str, Any]:
    found = audit_chain.seals(conn, application, after_seq=after, limit=limit + 1)
    page = found[:limit]
    return {"application": application,
            "results": [s.as_json(digests=digests) for s in page],
            "next_after": page[-1].seq if len(found) > limit else None}


class DriftOut(BaseModel):
    kind: str = Field(description="wallet, reward_ledger or order")
    aggregate_id: str
    field: str
    expected: Any = Field(description="from the log (null: no such aggregate in the log)")
    found: Any = Field(description="in the read model (null: no row)")
    read_model: str


class ReconcileOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "ok": True,
        "positions": {"wallet_balance": 5120, "rewards": 5120, "order_history": 5118},
        "events": 3400, "drifts": [], "unreadable": [],
        "totals": {
            "wallets": {"wallets": 12, "loads": 500000, "refunds": 24900, "credit_adjustments": 0,
                        "spends": 310000, "debit_adjustments": 0, "balances": 214900,
                        "read_model_balances": 214900, "conserved": True},
            "rewards": {"ledgers": 9, "earned": 1200, "reversed": 0, "redeemed": 300, "restored": 0,
                        "points": 900, "read_model_points": 900, "conserved": True},
            "orders": {"orders": 40, "total": 1250000, "paid": 900000, "refunded": 24900,
                       "conserved": True}}}]}}

    ok: bool = Field(description="no drift, and every total is conserved")
    positions: dict[str, int] = Field(description="each read model's log position compared at")
    events: int = Field(description="wallet, reward and order events folded")
    drifts: list[DriftOut]
    unreadable: list[dict[str, Any]] = Field(
        description="stored events that do not decode (position, aggregate_id, version, error): "
                    "not folded, so their aggregates' totals may be off")
    totals: dict[str, dict[str, Any]]


@router.get("/reconcile", response_model=ReconcileOut,
            summary="Fold every wallet, reward ledger and order stream and compare with the read models")
def reconcile(user: Auditor, conn: ConnectionDep, runtime: RuntimeDep) -> dict[str, Any]:
    return run_reconcile(conn, runtime.commerce.mapper).as_json()
