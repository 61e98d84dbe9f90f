from __future__ import annotations

import threading
import uuid

import psycopg

from projections import order_history
from tests.support.catalog import make_product, make_shop, unique
from tests.support.commerce import balance, cart_with, checkout, fund
from tests.support.problems import assert_problem
from tests.support.profiles import ADDRESS
from tests.support.waiting import eventually
from workers.projection import rebuild

# Flow Specs: checkout, orders, cancel


def test_checkout_turns_the_cart_into_an_order(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    cart_id = cart_with(client, shop["tea"], qty=2)
    assert_problem(checkout(client, cart_id), 400)  # no Idempotency-Key
    r = checkout(client, cart_id, key="k-1")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["total_amount"] == 2 * 24900 + 2500 and body["currency"] == "INR"  # under ₹499: fee
    assert body["status"] == "awaiting_payment"
    assert client.get(f"/v1/carts/{cart_id}").json()["items"] == []

    order = client.get(f"/v1/orders/{body['order_id']}").json()
    assert [(i["sku"], i["qty"], i["line_total"]) for i in order["items"]] == [("SKU-0", 2, 49800)]
    assert order["shop_name"] == "Green Basket" and order["status_log"][0]["status"] == "awaiting_payment"
    listed = client.get("/v1/orders").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == body["order_id"]


def test_delivery_fee_below_the_free_threshold(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    cart_id = cart_with(client, shop["tea"], qty=1)
    assert client.get(f"/v1/carts/{cart_id}").json()["total"] == 24900 + 2500
    body = checkout(client, cart_id, key="k").json()
    assert body["total_amount"] == 27400


def test_idempotent_checkout_replays_and_refuses_reuse(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    cart_id = cart_with(client, shop["tea"])
    first = checkout(client, cart_id, key="same")
    again = checkout(client, cart_id, key="same")
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert client.get("/v1/orders").json()["count"] == 1, "the replay placed no second order"
    other = client.post("/v1/checkouts", json={"cart_id": str(uuid.uuid4())},
                        headers={"Idempotency-Key": "same"})
    assert_problem(other, 409)
    # Keys are per user: someone else's "same" is a different key.
    stranger = new_client()
    assert checkout(stranger, cart_with(stranger, shop["tea"]), key="same").status_code == 201


def test_a_key_still_running_is_409(new_client, shop, runtime) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    cart_id = cart_with(client, shop["tea"])
    import hashlib
    import json
    fingerprint = hashlib.sha256(json.dumps({"cart_id": cart_id}, sort_keys=True).encode()).digest()
    with runtime.pool.connection() as conn:
        conn.execute("INSERT INTO idempotency_keys (user_id, endpoint, key, fingerprint, state, created_at) "
                     "VALUES (%s, 'POST /v1/checkouts', 'busy', %s, 'running', now())",
                     (client.user["id"], fingerprint))  # type: ignore[attr-defined]
    assert_problem(checkout(client, cart_id, key="busy"), 409)
    assert client.get(f"/v1/carts/{cart_id}").json()["items"] != []


def test_concurrent_requests_with_one_key_place_one_order(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    cart_id = cart_with(client, shop["tea"])
    results: list[int] = []
    start = threading.Barrier(4)

    def go() -> None:
        start.wait()
        results.append(checkout(client, cart_id, key="race").status_code)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) <= {201, 409} and 201 in results
    assert client.get("/v1/orders").json()["count"] == 1


def test_a_failed_request_frees_its_key(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    cart_id = client.post("/v1/carts").json()["id"]
    assert_problem(checkout(client, cart_id, key="retry-me"), 400)  # empty cart
    client.post(f"/v1/carts/{cart_id}/items", json={"product_id": shop["tea"]["id"], "sku": "SKU-0", "qty": 1})
    assert checkout(client, cart_id, key="retry-me").status_code == 201


def test_checkout_rechecks_prices_stock_and_hours(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client, vendor = new_client(), shop["vendor"]
    cart_id = cart_with(client, shop["tea"], qty=2)
    vendor.patch(f"/v1/vendor/products/{shop['tea']['id']}/variants/SKU-0", json={"price": 26000})
    changed = checkout(client, cart_id, key="a")
    assert_problem(changed, 409)
    assert "26000" in changed.json()["detail"]
    assert client.get(f"/v1/carts/{cart_id}").json()["items"][0]["unit_price"] == 26000
    vendor.patch(f"/v1/vendor/products/{shop['tea']['id']}/variants/SKU-0", json={"stock": 1})
    assert_problem(checkout(client, cart_id, key="b"), 409)
    vendor.patch(f"/v1/vendor/products/{shop['tea']['id']}/variants/SKU-0", json={"stock": 5})
    vendor.post(f"/v1/vendor/shops/{shop['id']}/status", json={"is_open": False})
    assert_problem(checkout(client, cart_id, key="c"), 409)
    vendor.post(f"/v1/vendor/shops/{shop['id']}/status", json={"is_open": True})
    ok = checkout(client, cart_id, key="d")
    assert ok.status_code == 201 and ok.json()["total_amount"] == 52000


def test_cancel_rules(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    order_id = checkout(client, cart_with(client, shop["tea"]), key="x").json()["order_id"]
    r = client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "changed my mind"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["status_log"][-1]["note"] == "changed my mind"
    again = client.post(f"/v1/orders/{order_id}/cancel")
    body = assert_problem(again, 400)
    assert "cancelled" in body["detail"]


def test_other_peoples_orders_are_404(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    owner, stranger, other_vendor = new_client(), new_client(), new_client("vendor")
    order_id = checkout(owner, cart_with(owner, shop["tea"]), key="x").json()["order_id"]
    assert_problem(stranger.get(f"/v1/orders/{order_id}"), 404)
    assert_problem(stranger.post(f"/v1/orders/{order_id}/cancel"), 404)
    assert_problem(stranger.post(f"/api/v1/consumer/orders/{order_id}/rate", json={"rating": 5}), 404)
    assert_problem(other_vendor.get(f"/v1/orders/{order_id}"), 404)
    assert_problem(other_vendor.post(f"/v1/vendor/orders/{order_id}/accept"), 404)
    assert shop["vendor"].get(f"/v1/orders/{order_id}").status_code == 200
    assert_problem(stranger.get(f"/v1/orders/{uuid.uuid4()}"), 404)
    assert owner.get(f"/v1/orders/{order_id}").json()["status"] == "awaiting_payment"


# Customer Journey: consumer cart, confirm, actions


def test_consumer_cart_is_hyperlocal(new_client, shop, staff_client) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    r = client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"], "quantity": 2})
    assert r.status_code == 200 and r.json()["subtotal"] == 49800 and r.json()["delivery_fee"] == 2500
    vendor2 = staff_client("vendor")
    other = make_shop(vendor2, unique("City"))
    vendor2.post(f"/v1/vendor/shops/{other['id']}/status", json={"is_open": True})
    soap = make_product(vendor2, other["id"], shop["category"], "Neem Soap", (4500,))
    assert_problem(client.post("/api/v1/consumer/cart/add", json={"item_id": soap["id"]}), 409)
    assert client.get("/api/v1/consumer/cart/view").json()["shop_id"] == shop["id"]
    replaced = client.post("/api/v1/consumer/cart/add", json={"item_id": soap["id"], "replace": True}).json()
    assert [i["name"] for i in replaced["items"]] == ["Neem Soap (pack 0)"]
    assert replaced["delivery_fee"] == 2500 and replaced["total"] == 4500 + 2500
    r = client.post("/api/v1/consumer/cart/update", json={"item_id": soap["id"], "quantity": 3})
    assert r.json()["items"][0]["qty"] == 3
    r = client.post("/api/v1/consumer/cart/update", json={"item_id": soap["id"], "quantity": 0})
    assert r.json()["items"] == [] and r.json()["total"] == 0
    client.post("/api/v1/consumer/cart/add", json={"item_id": soap["id"]})
    assert client.post("/api/v1/consumer/cart/clear").json()["items"] == []
    assert_problem(client.post("/api/v1/consumer/cart/remove", json={"item_id": soap["id"]}), 404)
    assert_problem(client.post("/api/v1/consumer/cart/add", json={"item_id": str(uuid.uuid4())}), 404)
    assert_problem(client.post("/api/v1/consumer/cart/add", json={"item_id": soap["id"], "quantity": 0}), 400)


def test_closed_shop_and_unavailable_items_are_409(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client, vendor = new_client(), shop["vendor"]
    vendor.patch(f"/v1/vendor/products/{shop['rice']['id']}/variants/SKU-0", json={"is_available": False})
    assert_problem(client.post("/api/v1/consumer/cart/add", json={"item_id": shop["rice"]["id"]}), 409)
    vendor.post(f"/v1/vendor/shops/{shop['id']}/status", json={"is_open": False})
    body = assert_problem(client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]}), 409)
    assert "closed" in body["detail"]


def test_confirm_cash_order(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    assert_problem(client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}), 400)
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["rice"]["id"]})
    r = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash", "delivery_notes": "gate 2"})
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "pending" and order["paid"] == 0 and order["delivery_notes"] == "gate 2"
    assert order["status_log"] == [{"status": "pending", "at": order["created_at"], "by": "customer", "note": ""}]
    assert client.get("/api/v1/consumer/cart/view").json()["items"] == []
    history = client.get("/api/v1/consumer/order/history").json()
    assert history["count"] == 1 and history["results"][0]["shop_name"] == "Green Basket"
    assert_problem(client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "card"}), 400)


def test_wallet_order_is_all_or_nothing(new_client, shop, runtime) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["rice"]["id"]})
    fund(runtime, client, 10_000)
    body = assert_problem(client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "wallet"}), 400)
    assert body["title"] == "Insufficient funds"
    assert balance(runtime, client) == 10_000
    assert len(client.get("/api/v1/consumer/cart/view").json()["items"]) == 1
    assert client.get("/api/v1/consumer/order/history").json()["count"] == 0

    fund(runtime, client, 60_000)
    order = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "wallet"}).json()
    assert order["paid"] == 64500 and order["status"] == "pending"
    assert balance(runtime, client) == 70_000 - 64500

    cancelled = client.post(f"/api/v1/consumer/orders/{order['id']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["refunded"] == 64500
    assert cancelled["refunds"][0]["method"] == "wallet"
    assert balance(runtime, client) == 70_000


def test_confirm_with_an_address(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client, stranger = new_client(), new_client()
    address = client.post("/api/v1/consumer/address/add", json=ADDRESS).json()
    theirs = stranger.post("/api/v1/consumer/address/add", json=ADDRESS).json()
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    assert_problem(client.post("/api/v1/consumer/order/confirm",
                               json={"payment_mode": "cash", "address_id": theirs["id"]}), 404)
    order = client.post("/api/v1/consumer/order/confirm",
                        json={"payment_mode": "cash", "address_id": address["id"]}).json()
    assert order["address"]["street"] == "Sarjapur Road" and order["address"]["id"] == address["id"]


def test_vendor_fulfils_and_the_customer_rates(new_client, shop, runtime) -> None:  # type: ignore[no-untyped-def]
    client, vendor = new_client(), shop["vendor"]
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    order_id = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}).json()["id"]
    mine = vendor.get("/v1/vendor/orders", params={"status": "pending"}).json()
    assert order_id in [o["id"] for o in mine["results"]]
    body = assert_problem(vendor.post(f"/v1/vendor/orders/{order_id}/delivered"), 400)
    assert "pending" in body["detail"]
    assert_problem(client.post(f"/api/v1/consumer/orders/{order_id}/rate", json={"rating": 5}), 400)
    for step, status in [("accept", "accepted"), ("packed", "packed"),
                         ("out-for-delivery", "out_for_delivery"), ("delivered", "delivered")]:
        r = vendor.post(f"/v1/vendor/orders/{order_id}/{step}")
        assert r.status_code == 200 and r.json()["status"] == status
    assert_problem(client.post(f"/api/v1/consumer/orders/{order_id}/cancel"), 400)
    rated = client.post(f"/api/v1/consumer/orders/{order_id}/rate", json={"rating": 4, "comment": "quick"})
    assert rated.json()["rating"]["rating"] == 4
    assert_problem(client.post(f"/api/v1/consumer/orders/{order_id}/rate", json={"rating": 5}), 409)
    log = [e["status"] for e in client.get(f"/v1/orders/{order_id}").json()["status_log"]]
    assert log == ["pending", "accepted", "packed", "out_for_delivery", "delivered"]
    # The shop-rating policy carries the rating to the catalog.
    eventually(lambda: client.get("/v1/products/", params={"shop": shop["id"]}).json()["results"][0]["shop_rating"] == 4.0)


def test_vendor_modification_needs_the_customers_confirmation(new_client, shop, runtime) -> None:  # type: ignore[no-untyped-def]
    client, vendor = new_client(), shop["vendor"]
    fund(runtime, client, 200_000)
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"], "quantity": 3})
    order = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "wallet"}).json()
    assert order["total"] == 74700 and balance(runtime, client) == 200_000 - 74700
    assert_problem(client.post(f"/api/v1/consumer/orders/{order['id']}/confirm-modified"), 400)
    line = order["items"][0]["item_id"]
    assert_problem(vendor.post(f"/v1/vendor/orders/{order['id']}/modify", json={"quantities": {line: 5}}), 400)
    modified = vendor.post(f"/v1/vendor/orders/{order['id']}/modify",
                           json={"quantities": {line: 1}, "note": "only one left"}).json()
    # The delivery fee agreed at placement stays: a shop's shortage costs the customer nothing.
    assert modified["status"] == "modified" and modified["proposed_change"]["total"] == 24900
    assert modified["total"] == 74700, "nothing changes before the customer agrees"
    confirmed = client.post(f"/api/v1/consumer/orders/{order['id']}/confirm-modified").json()
    assert confirmed["status"] == "accepted" and confirmed["total"] == 24900
    assert confirmed["refunded"] == 74700 - 24900
    assert balance(runtime, client) == 200_000 - 24900


def test_vendor_rejects_with_a_reason_and_the_wallet_is_refunded(new_client, shop, runtime) -> None:  # type: ignore[no-untyped-def]
    client, vendor = new_client(), shop["vendor"]
    fund(runtime, client, 100_000)
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["rice"]["id"]})
    order = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "wallet"}).json()
    assert_problem(vendor.post(f"/v1/vendor/orders/{order['id']}/reject", json={}), 400)
    rejected = vendor.post(f"/v1/vendor/orders/{order['id']}/reject", json={"reason": "out of stock"}).json()
    assert rejected["status"] == "rejected" and rejected["status_log"][-1]["note"] == "out of stock"
    assert balance(runtime, client) == 100_000


def test_support_sees_every_order(new_client, shop, staff_client) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    order_id = checkout(client, cart_with(client, shop["tea"]), key="s").json()["order_id"]
    support = staff_client("support")
    found = support.get("/v1/admin/orders", params={"customer": client.user["id"]}).json()  # type: ignore[attr-defined]
    assert [o["id"] for o in found["results"]] == [order_id]
    assert support.get(f"/v1/orders/{order_id}").status_code == 200


def test_rebuilding_order_history_gives_identical_rows(runtime, new_client, shop) -> None:  # type: ignore[no-untyped-def]
    from projections.tracking import caught_up
    client = new_client()
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"})
    head = runtime.commerce.recorder.max_notification_id()
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        eventually(lambda: caught_up(conn, "order_history", "commerce", head))
        before = conn.execute("SELECT * FROM order_history ORDER BY order_id").fetchall()
        rebuild(runtime, order_history.READ_MODEL)
        assert caught_up(conn, "order_history", "commerce", head)  # ids have gaps: no count
        after = conn.execute("SELECT * FROM order_history ORDER BY order_id").fetchall()
    assert len(before) > 3 and after == before
