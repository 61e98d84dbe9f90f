"""Auditor reads, and one aggregate of every kind made through the API."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema_rs
from fastapi.testclient import TestClient

from domain.catalog.category import category_id
from domain.commerce.cart import cart_id_for
from domain.commerce.coupon import coupon_id
from domain.commerce.rewards import ledger_id_for
from domain.commerce.stock import stock_id_for
from domain.commerce.wallet import wallet_id_for
from domain.event_catalogue import entry_for_public_type, event_json_schema
from domain.payments.allowance import allowance_id
from runtime import Runtime
from tests.support.commerce import fund, user_id
from tests.support.waiting import eventually


def whole_stream(auditor: TestClient, aggregate_id: str | uuid.UUID, page: int = 100) -> list[dict[str, Any]]:
    """Every event of the stream, following `next_from_version`."""
    events: list[dict[str, Any]] = []
    from_version: int | None = 1
    while from_version is not None:
        r = auditor.get(f"/v1/audit/streams/{aggregate_id}/events",
                        params={"from_version": from_version, "limit": page})
        assert r.status_code == 200, r.text
        events += r.json()["events"]
        from_version = r.json()["next_from_version"]
    return events


def whole_log(auditor: TestClient, application: str, after: int, page: int = 100,
              **filters: Any) -> list[dict[str, Any]]:
    """The log after `after`, following `next_after` to its end."""
    events: list[dict[str, Any]] = []
    cursor: int | None = after
    while cursor is not None:
        r = auditor.get("/v1/audit/log", params={"application": application, "after": cursor,
                                                  "limit": page, **filters})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [e["position"] for e in body["events"]] == sorted(
            {e["position"] for e in body["events"]}), "positions in order, once each"
        assert all(e["position"] > cursor for e in body["events"])
        events += body["events"]
        cursor = body["next_after"]
    return events


def log_by_cursor(auditor: TestClient, application: str, cursor: str, page: int,
                  wanted: Callable[[list[dict[str, Any]]], bool] = lambda _: True,
                  **filters: Any) -> tuple[list[dict[str, Any]], str]:
    """The log from `cursor`, following `next_cursor` until a page is not full and `wanted`
    holds of what was read (a page stops below a transaction still running: the suite's
    workers may hold one). Returns the events and the last cursor."""
    events: list[dict[str, Any]] = []

    def more() -> bool:
        nonlocal cursor
        r = auditor.get("/v1/audit/log", params={"application": application, "cursor": cursor,
                                                  "limit": page, **filters})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["next_after"] is None
        events.extend(body["events"])
        cursor = body["next_cursor"]
        return len(body["events"]) < page and wanted(events)

    eventually(more, timeout=60, interval=0.01)
    return events, cursor


def head(auditor: TestClient, application: str) -> int:
    r = auditor.get("/v1/audit/log", params={"application": application, "limit": 1,
                                              "after": 2**62})
    return int(r.json()["head"])


def assert_public(event: dict[str, Any]) -> None:
    """The event's data satisfies its catalogued schema; its time is ISO 8601 UTC."""
    entry = entry_for_public_type(event["type"])
    assert event["schema_version"] == entry.schema_version
    jsonschema_rs.validate(event_json_schema(entry), event["data"])
    assert datetime.fromisoformat(event["timestamp"]).utcoffset() == timedelta(0)


def one_of_each(runtime: Runtime, new_client: Callable[..., TestClient], admin: TestClient,
                shop: dict[str, Any]) -> dict[str, str]:
    """Aggregate kind -> the id of one aggregate of that kind, each made the way users do."""
    customer = new_client()
    owner = user_id(customer)
    fund(runtime, customer, 100_000)
    ledger = runtime.commerce.ledger(owner)
    ledger.earn(f"seed-{uuid.uuid4()}", 100)
    runtime.commerce.save(ledger)
    tea = shop["tea"]
    assert shop["vendor"].patch(f"/v1/vendor/products/{tea['id']}/variants/SKU-0",
                                json={"stock": 50}).status_code == 200
    customer.post("/api/v1/consumer/cart/add", json={"item_id": tea["id"], "quantity": 1})
    order = customer.post("/api/v1/consumer/order/confirm", json={"payment_mode": "wallet"})
    assert order.status_code == 201, order.text
    code = f"A{uuid.uuid4().hex[:8].upper()}"
    now = datetime.now(UTC)
    assert admin.post("/v1/admin/offers", json={
        "code": code, "discount_type": "flat", "value": 500, "min_order": 1000,
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=1)).isoformat()}).status_code == 201
    load = customer.post("/api/v1/consumer/wallet/load", json={"amount": 5000},
                         headers={"Idempotency-Key": str(uuid.uuid4())})
    assert load.status_code == 201, load.text
    ticket = customer.post("/api/v1/consumer/support/ticket", json={
        "subject": "Late", "category": "delivery", "message": "still waiting"})
    assert ticket.status_code == 201, ticket.text
    return {
        "cart": str(cart_id_for(owner)), "order": order.json()["id"],
        "wallet": str(wallet_id_for(owner)), "reward_ledger": str(ledger_id_for(owner)),
        "coupon": str(coupon_id(code)), "stock": str(stock_id_for(tea["id"], "SKU-0")),
        "category": str(category_id(shop["category"])), "shop": shop["id"], "product": tea["id"],
        "payment": load.json()["payment_id"],
        "load_allowance": str(allowance_id(owner, runtime.clock().astimezone(UTC).date())),
        "ticket": ticket.json()["id"],
    }
