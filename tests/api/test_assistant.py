from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.support.commerce import fund
from tests.support.problems import assert_problem
from tests.support.waiting import eventually


def ask(client: TestClient, query: str) -> dict[str, Any]:
    r = client.post("/api/v1/agent/query", json={"query": query})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_the_assistant_answers_from_the_callers_own_data(new_client, shop, runtime, anonymous, staff_client) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    assert ask(client, "Where is my order?")["answer"] == "You have no orders yet."
    fund(runtime, client, 100_000)
    eventually(lambda: ask(client, "wallet balance?")["answer"] == "Your wallet balance is ₹1,000.00.")

    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    order = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "wallet"}).json()
    shop["vendor"].post(f"/v1/vendor/orders/{order['id']}/accept")
    status = ask(client, "where is my order")
    assert status["intent"] == "order_status"
    assert "(₹274.00) is accepted" in status["answer"]
    assert {"label": "Open the order", "link": f"/orders/{order['id']}"} in status["links"]
    assert ask(client, "my balance")["answer"] == "Your wallet balance is ₹726.00."
    assert ask(new_client(), "my balance")["answer"] == "Your wallet balance is ₹0.00.", "nobody sees another's"

    found = ask(client, "find assam tea")
    assert found["intent"] == "search" and shop["tea"]["id"] in [i["id"] for i in found["items"]]
    assert ask(client, "points?")["answer"].startswith("You have 0 points")
    assert ask(client, "talk to support")["intent"] == "human"
    now = datetime.now(UTC)
    staff_client("admin").post("/v1/admin/offers", json={
        "code": f"A{uuid.uuid4().hex[:8].upper()}", "description": "₹30 off chai", "discount_type": "flat",
        "value": 3000, "valid_from": now.isoformat(), "valid_until": (now + timedelta(minutes=1)).isoformat()})
    # An offer is everyone's: the customer's next read waits for it (recorded for EVERYONE).
    offers = ask(client, "any offers?")
    assert offers["intent"] == "offers" and "₹30 off chai" in [o["description"] for o in offers["items"]]
    assert ask(client, "zzzz qqqq wwww xxxx yyyy")["intent"] == "unknown"

    assert_problem(client.post("/api/v1/agent/query", json={"query": ""}), 400)
    assert_problem(client.post("/api/v1/agent/query", json={"query": "x" * 501}), 400)
    assert_problem(anonymous.post("/api/v1/agent/query", json={"query": "hi"}), 401)
