from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from projections import notifications, tracking
from projections.read_model import ReadModel
from tests.support.commerce import fund
from tests.support.problems import assert_problem
from tests.support.waiting import eventually
from workers.projection import rebuild


def inbox(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get("/api/v1/consumer/notifications", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def caught_up(conn: psycopg.Connection[Any], model: ReadModel, head: int) -> bool:
    return tracking.caught_up(conn, model.name, model.application, head)


def titles(client: TestClient) -> list[str]:
    return [n["title"] for n in inbox(client, page_size=100)["results"]]


def test_orders_wallet_and_support_tell_the_customer(new_client, staff_client, shop, runtime) -> None:  # type: ignore[no-untyped-def]
    client, other = new_client(), new_client()
    assert inbox(client) == {"count": 0, "next": None, "previous": None, "unread": 0, "results": []}
    fund(runtime, client, 100_000)
    eventually(lambda: "Wallet" in titles(client))
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    order = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "wallet"}).json()
    shop["vendor"].post(f"/v1/vendor/orders/{order['id']}/accept")
    ticket = client.post("/api/v1/consumer/support/ticket", json={"subject": "Rice?", "message": "When?"}).json()
    staff_client("support").post(f"/v1/admin/support/tickets/{ticket['id']}/reply", json={"text": "Tomorrow"})

    box = inbox(client)
    assert [n["title"] for n in box["results"]] == [
        "Support replied: Rice?", "Order accepted", "Order placed", "Wallet"]
    assert box["unread"] == 4 and all(n["read_at"] is None for n in box["results"])
    placed = box["results"][2]
    assert placed["link"] == f"/orders/{order['id']}" and "₹274.00" in placed["body"]  # ₹249 + ₹25 delivery
    assert box["results"][3]["body"] == "Your wallet was credited ₹1,000.00. Balance ₹1,000.00."
    assert inbox(other)["count"] == 0, "nobody sees another customer's notifications"

    # Marking another customer's notification read does nothing, and says so.
    assert other.post("/api/v1/consumer/notifications/mark-read", json={"ids": [placed["id"]]}).json() == {
        "marked": 0, "unread": 0}
    r = client.post("/api/v1/consumer/notifications/mark-read", json={"ids": [placed["id"], placed["id"]]})
    assert r.json() == {"marked": 1, "unread": 3}
    assert [n["id"] for n in inbox(client, unread=True)["results"]].count(placed["id"]) == 0
    assert client.post("/api/v1/consumer/notifications/mark-read", json={"all": True}).json() == {
        "marked": 3, "unread": 0}
    assert client.post("/api/v1/consumer/notifications/mark-read", json={"all": True}).json()["marked"] == 0

    for bad in [{}, {"ids": [placed["id"]], "all": True}, {"ids": ["nope"]}, {"all": False}]:
        assert_problem(client.post("/api/v1/consumer/notifications/mark-read", json=bad), 400)


def test_offers_reach_only_customers_who_opted_in(new_client, staff_client) -> None:  # type: ignore[no-untyped-def]
    keen, shy = new_client(), new_client()
    keen.post("/api/v1/consumer/settings/update", json={"marketing_opt_in": True})
    now = datetime.now(UTC)
    code = f"N{uuid.uuid4().hex[:8].upper()}"
    r = staff_client("admin").post("/v1/admin/offers", json={
        "code": code, "description": "₹20 off snacks", "discount_type": "flat", "value": 2000,
        "valid_from": now.isoformat(), "valid_until": (now + timedelta(days=3)).isoformat()})
    assert r.status_code == 201, r.text
    eventually(lambda: f"New offer: {code}" in titles(keen))
    promo = next(n for n in inbox(keen, page_size=100)["results"] if n["title"] == f"New offer: {code}")
    assert (promo["kind"], promo["body"], promo["link"]) == ("promotion", "₹20 off snacks", f"/offers/{code}")
    assert f"New offer: {code}" not in titles(shy)
    # A broadcast is marked read for one customer only.
    keen.post("/api/v1/consumer/notifications/mark-read", json={"ids": [promo["id"]]})
    shy.post("/api/v1/consumer/settings/update", json={"marketing_opt_in": True})
    shy_promo = next(n for n in inbox(shy, page_size=100)["results"] if n["title"] == f"New offer: {code}")
    assert shy_promo["read_at"] is None


def test_a_rebuild_keeps_ids_and_read_marks(new_client, runtime, staff_client) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    fund(runtime, client, 5000)
    ticket = client.post("/api/v1/consumer/support/ticket", json={"subject": "Hi", "message": "x"}).json()
    staff_client("support").post(f"/v1/admin/support/tickets/{ticket['id']}/status",
                                 json={"status": "resolved", "note": "done"})
    eventually(lambda: inbox(client)["count"] == 2)
    first = inbox(client)["results"][0]
    client.post("/api/v1/consumer/notifications/mark-read", json={"ids": [first["id"]]})
    before = inbox(client)
    heads = {"commerce": runtime.commerce.recorder.max_notification_id(),
             "support": runtime.support.recorder.max_notification_id()}
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        for model in (notifications.READ_MODEL, notifications.SUPPORT_READ_MODEL):
            eventually(partial(caught_up, conn, model, heads[model.application]))
        everyone = conn.execute("SELECT * FROM notifications ORDER BY id").fetchall()
        rebuild(runtime, notifications.SUPPORT_READ_MODEL)
        assert conn.execute("SELECT * FROM notifications ORDER BY id").fetchall() == everyone
        rebuild(runtime, notifications.READ_MODEL)
        assert conn.execute("SELECT * FROM notifications ORDER BY id").fetchall() == everyone
    assert inbox(client) == before and before["unread"] == 1
