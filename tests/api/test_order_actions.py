from __future__ import annotations

import uuid

from tests.support.commerce import balance, delivered_order
from tests.support.problems import assert_problem


def test_customer_and_vendor_talk_about_an_order(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client, vendor, stranger = new_client(), shop["vendor"], new_client()
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    order = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}).json()
    r = client.post(f"/api/v1/consumer/orders/{order['id']}/message", json={"text": "Ring twice"})
    assert r.status_code == 201
    vendor.post(f"/v1/vendor/orders/{order['id']}/message", json={"text": "Sure, on our way"})
    thread = client.get(f"/api/v1/consumer/orders/{order['id']}/messages").json()
    assert [(m["sender_role"], m["text"]) for m in thread["results"]] == [
        ("customer", "Ring twice"), ("vendor", "Sure, on our way")]
    assert vendor.get(f"/v1/vendor/orders/{order['id']}/messages").json()["count"] == 2
    assert_problem(client.post(f"/api/v1/consumer/orders/{order['id']}/message", json={"text": ""}), 400)
    assert_problem(stranger.post(f"/api/v1/consumer/orders/{order['id']}/message", json={"text": "hi"}), 404)
    assert_problem(stranger.get(f"/api/v1/consumer/orders/{order['id']}/messages"), 404)
    log = client.get(f"/v1/orders/{order['id']}").json()["action_log"]
    assert [a["action"] for a in log][-2:] == ["message", "message"]


def test_issue_raised_and_resolved_by_support(new_client, shop, staff_client) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    order = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}).json()
    assert_problem(client.post(f"/api/v1/consumer/orders/{order['id']}/issue",
                               json={"category": "aliens", "description": "x"}), 400)
    r = client.post(f"/api/v1/consumer/orders/{order['id']}/issue",
                    json={"category": "late_delivery", "description": "an hour late"})
    assert r.status_code == 201
    issue = r.json()["issues"][0]
    assert issue["status"] == "open" and issue["category"] == "late_delivery"
    support = staff_client("support")
    assert support.get("/v1/admin/orders", params={"customer": client.user["id"]}).json()["count"] == 1  # type: ignore[attr-defined]
    resolved = support.post(f"/v1/admin/orders/{order['id']}/issues/{issue['id']}/resolve",
                            json={"resolution": "coupon issued"})
    assert resolved.status_code == 200 and resolved.json()["issues"][0]["status"] == "resolved"
    assert_problem(support.post(f"/v1/admin/orders/{order['id']}/issues/{issue['id']}/resolve",
                                json={"resolution": "again"}), 400)
    assert_problem(support.post(f"/v1/admin/orders/{order['id']}/issues/{uuid.uuid4()}/resolve",
                                json={"resolution": "x"}), 404)
    assert client.get(f"/v1/orders/{order['id']}").json()["issues"][0]["resolution"] == "coupon issued"


def test_return_approved_refunds_to_the_wallet(new_client, shop, staff_client, runtime) -> None:  # type: ignore[no-untyped-def]
    client, support = new_client(), staff_client("support")
    order = delivered_order(client, shop["vendor"], shop["tea"], qty=2)
    assert order["paid"] == order["total"], "cash collected at the door counts as paid"
    line = order["items"][0]["item_id"]
    assert_problem(client.post(f"/api/v1/consumer/orders/{order['id']}/return/raise",
                               json={"items": [{"item_id": line, "quantity": 3}], "reason": "x"}), 400)
    r = client.post(f"/api/v1/consumer/orders/{order['id']}/return/raise",
                    json={"items": [{"item_id": line, "quantity": 1}], "reason": "stale"})
    assert r.status_code == 201
    ret = r.json()["returns"][0]
    assert ret["amount"] == 24900 and ret["status"] == "requested"
    before = balance(runtime, client)
    approved = support.post(f"/v1/admin/orders/{order['id']}/returns/{ret['id']}/approve", json={"note": "ok"})
    assert approved.status_code == 200 and approved.json()["returns"][0]["status"] == "approved"
    assert approved.json()["refunded"] == 24900
    assert balance(runtime, client) == before + 24900
    assert_problem(support.post(f"/v1/admin/orders/{order['id']}/returns/{ret['id']}/approve"), 400)


def test_return_rejected_and_window_closed(new_client, shop, staff_client, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    client, support = new_client(), staff_client("support")
    order = delivered_order(client, shop["vendor"], shop["tea"], qty=1)
    line = order["items"][0]["item_id"]
    ret = client.post(f"/api/v1/consumer/orders/{order['id']}/return/raise",
                      json={"items": [{"item_id": line, "quantity": 1}], "reason": "meh"}).json()["returns"][0]
    rejected = support.post(f"/v1/admin/orders/{order['id']}/returns/{ret['id']}/reject", json={"note": "opened"})
    assert rejected.json()["returns"][0]["status"] == "rejected" and rejected.json()["refunded"] == 0
    clock.advance(8 * 24 * 3600)
    late = client.post(f"/api/v1/consumer/orders/{order['id']}/return/raise",
                       json={"items": [{"item_id": line, "quantity": 1}], "reason": "late"})
    assert "window" in assert_problem(late, 400)["detail"]


def test_only_delivered_orders_are_returned(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    order = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}).json()
    line = order["items"][0]["item_id"]
    assert_problem(client.post(f"/api/v1/consumer/orders/{order['id']}/return/raise",
                               json={"items": [{"item_id": line, "quantity": 1}], "reason": "x"}), 400)
