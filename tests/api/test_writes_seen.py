"""Read-your-writes for every write (issue 10, item 5): a command that saves and then refuses,
a vendor's or staff's write that changes a customer's view, the provider's and the expiry
sweep's writes to a payment. Each is recorded for every user it concerns, so that their next
read waits for it; a lagging projection is simulated by holding its position row lock, never
by sleeping."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg import sql

from projections import cart_view, support_tickets, tracking
from projections import payments as payment_view
from projections.read_model import ReadModel
from runtime import Runtime
from tests.support.commerce import RETURN, cart_with, checkout, new_order, pay
from tests.support.problems import assert_problem
from workers.log_follower import events_table
from workers.policies import expire_overdue_payments


@contextmanager
def paused(runtime: Runtime, model: ReadModel) -> Iterator[None]:
    """The projection cannot advance while we hold its position row (it takes the same lock
    per batch); it catches up as soon as we let go."""
    with psycopg.connect(runtime.database_url) as conn, conn.transaction():
        tracking.lock_position(conn, model.name, model.application)
        yield


def would_wait(runtime: Runtime, client: TestClient, model: ReadModel) -> bool:
    """Whether this user's next read of `model` waits: the model lacks one of their writes."""
    with runtime.pool.connection() as conn:
        return not tracking.wait_for_user_writes(
            conn, uuid.UUID(client.user["id"]), model.name, model.application, 0)  # type: ignore[attr-defined]


def head(runtime: Runtime, application: str) -> int:
    app = {"commerce": runtime.commerce, "support": runtime.support}[application]
    with runtime.pool.connection() as conn:
        row = conn.execute(sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(
            sql.Identifier(events_table(app)))).fetchone()
    return int(row[0]) if row else 0


def recorded(runtime: Runtime, client: TestClient, application: str) -> int:
    """The position this user's next read waits for."""
    with runtime.pool.connection() as conn:
        row = conn.execute("SELECT position FROM user_write_positions WHERE user_id=%s AND application=%s",
                           (client.user["id"], application)).fetchone()  # type: ignore[attr-defined]
    return int(row[0]) if row else 0


# (a) a command that saves and then raises


def test_a_checkout_refused_for_new_prices_is_still_the_customers_write(new_client, shop, runtime) -> None:  # type: ignore[no-untyped-def]
    client, vendor = new_client(), shop["vendor"]
    cart_id = cart_with(client, shop["tea"], qty=2)
    assert client.get(f"/v1/carts/{cart_id}").json()["items"][0]["unit_price"] == 24900
    vendor.patch(f"/v1/vendor/products/{shop['tea']['id']}/variants/SKU-0", json={"price": 26000})
    with paused(runtime, cart_view.READ_MODEL):
        assert_problem(checkout(client, cart_id, key="k"), 409)
        assert would_wait(runtime, client, cart_view.READ_MODEL), "the re-priced cart was not recorded"
    assert client.get(f"/v1/carts/{cart_id}").json()["items"][0]["unit_price"] == 26000


def test_the_customer_journey_confirm_records_the_repriced_cart_too(new_client, shop, runtime) -> None:  # type: ignore[no-untyped-def]
    client, vendor = new_client(), shop["vendor"]
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["rice"]["id"], "quantity": 1})
    assert client.get("/api/v1/consumer/cart/view").json()["items"][0]["unit_price"] == 64500
    vendor.patch(f"/v1/vendor/products/{shop['rice']['id']}/variants/SKU-0", json={"price": 60000})
    with paused(runtime, cart_view.READ_MODEL):
        r = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"})
        assert_problem(r, 409)
        assert would_wait(runtime, client, cart_view.READ_MODEL)
    cart = client.get("/api/v1/consumer/cart/view").json()
    assert cart["items"][0]["unit_price"] == 60000 and cart["subtotal"] == 60000


# (b) writes by staff and vendors that change what the customer sees


def test_staff_answers_show_in_the_customers_next_read(new_client, staff_client, runtime) -> None:  # type: ignore[no-untyped-def]
    client, staff = new_client(), staff_client("support")
    ticket = client.post("/api/v1/consumer/support/ticket",
                         json={"subject": "Where is my refund", "message": "Order cancelled"}).json()
    assert client.get(f"/api/v1/consumer/support/ticket/{ticket['id']}").json()["status"] == "open"
    with paused(runtime, support_tickets.READ_MODEL):
        r = staff.post(f"/v1/admin/support/tickets/{ticket['id']}/reply", json={"text": "Credited"})
        assert r.status_code == 200, r.text
        r = staff.post(f"/v1/admin/support/tickets/{ticket['id']}/status", json={"status": "resolved"})
        assert r.status_code == 200, r.text
        assert would_wait(runtime, client, support_tickets.READ_MODEL), "staff's write not recorded"
    seen = client.get(f"/api/v1/consumer/support/ticket/{ticket['id']}").json()
    assert seen["status"] == "resolved"
    assert [m["author_role"] for m in seen["messages"]] == ["customer", "staff"]
    listed = client.get("/api/v1/consumer/support/tickets").json()["results"]
    assert [(t["id"], t["status"]) for t in listed] == [(ticket["id"], "resolved")]


def cash_order(client: TestClient, item: dict[str, Any]) -> dict[str, Any]:
    client.post("/api/v1/consumer/cart/add", json={"item_id": item["id"], "quantity": 2})
    r = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"})
    assert r.status_code == 201, r.text
    return dict(r.json())


def acted(runtime: Runtime, actor: TestClient, path: str, concerned: TestClient,
          body: dict[str, Any] | None = None) -> dict[str, Any]:
    """`actor` posts; the write must be recorded for `concerned` as well."""
    before = head(runtime, "commerce")
    r = actor.post(path, json=body) if body is not None else actor.post(path)
    assert r.status_code in (200, 201), r.text
    assert recorded(runtime, concerned, "commerce") > before, f"{path} not recorded for the other party"
    return dict(r.json())


def test_vendor_order_moves_show_in_the_customers_next_read(new_client, shop, runtime) -> None:  # type: ignore[no-untyped-def]
    client, vendor = new_client(), shop["vendor"]
    order = cash_order(client, shop["tea"])
    for step, status in [("accept", "accepted"), ("packed", "packed"),
                         ("out-for-delivery", "out_for_delivery"), ("delivered", "delivered")]:
        acted(runtime, vendor, f"/v1/vendor/orders/{order['id']}/{step}", client)
        assert client.get(f"/v1/orders/{order['id']}").json()["status"] == status
        assert client.get("/api/v1/consumer/order/history").json()["results"][0]["status"] == status

    rejected = cash_order(client, shop["tea"])
    acted(runtime, vendor, f"/v1/vendor/orders/{rejected['id']}/reject", client, {"reason": "closed"})
    assert client.get(f"/v1/orders/{rejected['id']}").json()["status"] == "rejected"

    modified = cash_order(client, shop["tea"])
    line = modified["items"][0]["item_id"]
    acted(runtime, vendor, f"/v1/vendor/orders/{modified['id']}/modify", client,
          {"quantities": {line: 1}, "note": "one left"})
    assert client.get(f"/v1/orders/{modified['id']}").json()["proposed_change"] is not None

    message = acted(runtime, vendor, f"/v1/vendor/orders/{modified['id']}/message", client,
                    {"text": "Sorry, only one"})
    assert message["messages"][-1]["text"] == "Sorry, only one"
    thread = client.get(f"/api/v1/consumer/orders/{modified['id']}/messages").json()
    assert thread["results"][-1]["text"] == "Sorry, only one"


def test_a_customers_order_write_shows_in_the_vendors_next_read(new_client, shop, runtime) -> None:  # type: ignore[no-untyped-def]
    client, vendor = new_client(), shop["vendor"]
    order = cash_order(client, shop["tea"])
    acted(runtime, client, f"/api/v1/consumer/orders/{order['id']}/cancel", vendor, {"reason": "oops"})
    mine = vendor.get("/v1/vendor/orders", params={"shop": shop["id"]}).json()["results"]
    assert {o["id"]: o["status"] for o in mine}[order["id"]] == "cancelled"


def test_support_decisions_show_in_the_customers_next_read(new_client, shop, staff_client, runtime) -> None:  # type: ignore[no-untyped-def]
    client, vendor, support = new_client(), shop["vendor"], staff_client("support")
    order = cash_order(client, shop["tea"])
    issue = client.post(f"/api/v1/consumer/orders/{order['id']}/issue",
                        json={"category": "late_delivery", "description": "late"}).json()["issues"][0]
    acted(runtime, support, f"/v1/admin/orders/{order['id']}/issues/{issue['id']}/resolve", client,
          {"resolution": "apologies"})
    assert client.get(f"/v1/orders/{order['id']}").json()["issues"][0]["status"] == "resolved"

    for step in ("accept", "packed", "out-for-delivery", "delivered"):
        assert vendor.post(f"/v1/vendor/orders/{order['id']}/{step}").status_code == 200
    line = order["items"][0]["item_id"]
    ret = client.post(f"/api/v1/consumer/orders/{order['id']}/return/raise",
                      json={"items": [{"item_id": line, "quantity": 1}], "reason": "stale"}).json()["returns"][0]
    acted(runtime, support, f"/v1/admin/orders/{order['id']}/returns/{ret['id']}/reject", client,
          {"note": "opened"})
    assert client.get(f"/v1/orders/{order['id']}").json()["returns"][0]["status"] == "rejected"


# (c) the provider's and the sweep's writes, and the sandbox page right after creation


def test_the_sandbox_page_works_before_the_payment_view_has_the_payment(new_client, shop, runtime, anonymous) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    order = new_order(client, shop)
    with paused(runtime, payment_view.READ_MODEL):
        created = pay(client, order)
        assert created.status_code == 201, created.text
        payment_id = created.json()["payment_id"]
        page = anonymous.get(f"/v1/payments/sandbox/{payment_id}/checkout")
        assert page.status_code == 200 and f"{order['total_amount'] / 100:.2f}" in page.text
        assert anonymous.get(f"/v1/payments/{payment_id}/qr.png").headers["content-type"] == "image/png"
        done = anonymous.post(f"/v1/payments/sandbox/{payment_id}/pay", follow_redirects=False)
        assert done.status_code == 303, done.text
        assert done.headers["location"].startswith(RETURN) and "status=succeeded" in done.headers["location"]
        assert would_wait(runtime, client, payment_view.READ_MODEL), "the outcome is not the payer's write"
    assert client.get(f"/v1/payments/{payment_id}").json()["status"] == "succeeded"
    assert_problem(anonymous.post(f"/v1/payments/sandbox/{uuid.uuid4()}/pay", follow_redirects=False), 404)


def test_a_payment_lagging_in_its_view_is_answered_from_the_payment(new_client, shop, runtime) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    order = new_order(client, shop)
    with paused(runtime, payment_view.READ_MODEL):
        payment_id = pay(client, order).json()["payment_id"]
        seen = client.get(f"/v1/payments/{payment_id}")  # waits out the bound, then the aggregate
        assert seen.status_code == 200 and seen.json()["status"] == "pending"
        assert_problem(new_client().get(f"/v1/payments/{payment_id}"), 404)  # still not others'


def test_the_expiry_sweep_is_in_the_customers_next_read(new_client, shop, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    order = new_order(client, shop)
    payment_id = pay(client, order).json()["payment_id"]
    assert client.get(f"/v1/payments/{payment_id}").json()["status"] == "pending"
    with paused(runtime, payment_view.READ_MODEL), runtime.pool.connection() as conn:
        clock.advance(16 * 60)
        expire_overdue_payments(runtime, conn)  # the in-process sweep may get there first: same
        assert runtime.payments.payment(uuid.UUID(payment_id)).status == "expired"
        assert would_wait(runtime, client, payment_view.READ_MODEL)
    assert client.get(f"/v1/payments/{payment_id}").json()["status"] == "expired"
