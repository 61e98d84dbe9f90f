"""Issue 10 through the API: stock is never sold twice, refunds never exceed what is owed,
returns refund what was paid for the returned units."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

from domain.commerce.order import Order
from projections import stock_levels, tracking
from runtime import Runtime
from tests.support.commerce import balance, delivered_order, fund
from tests.support.db import scalar
from tests.support.problems import assert_problem
from workers.policies import expire_overdue_payments


def set_stock(vendor: TestClient, item: dict[str, Any], units: int, sku: str = "SKU-0") -> dict[str, Any]:
    r = vendor.patch(f"/v1/vendor/products/{item['id']}/variants/{sku}", json={"stock": units})
    assert r.status_code == 200, r.text
    return dict(r.json())


def variant(product: dict[str, Any], sku: str = "SKU-0") -> dict[str, Any]:
    return next(v for v in product["variants"] if v["sku"] == sku)


def left(runtime: Runtime, item: dict[str, Any], sku: str = "SKU-0") -> int | None:
    stock = runtime.commerce.stock(item["id"], sku, None)
    return stock.left if stock is not None and stock.tracked else None


def projected(runtime: Runtime, follower: str = stock_levels.READ_MODEL.name, app: str = "commerce") -> None:
    """Waits until the read model has every event logged so far (its own position)."""
    with runtime.pool.connection() as conn:
        head = scalar(conn, f"SELECT coalesce(max(notification_id), 0) FROM {app}_events")
        deadline = time.monotonic() + 30
        while tracking.position_of(conn, follower, app) < head:
            assert time.monotonic() < deadline, f"{follower} stuck below {head}"
            time.sleep(0.01)


def line_of(order: dict[str, Any], name: str) -> str:
    return str(next(i["item_id"] for i in order["items"] if i["name"].startswith(name)))


def online_order(client: TestClient, item: dict[str, Any], qty: int) -> Any:
    """A checkout awaiting online payment (Flow Specs), `qty` of the item's SKU-0."""
    cart = client.post("/v1/carts").json()
    client.post(f"/v1/carts/{cart['id']}/items", json={"product_id": item["id"], "sku": "SKU-0", "qty": qty})
    r = client.post("/v1/checkouts", json={"cart_id": cart["id"]}, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    return r


def confirm(client: TestClient, mode: str = "cash") -> Any:
    return client.post("/api/v1/consumer/order/confirm", json={"payment_mode": mode})


def test_two_customers_cannot_both_buy_the_last_five(new_client, shop, anonymous, runtime) -> None:  # type: ignore[no-untyped-def]
    tea = shop["tea"]
    assert variant(set_stock(shop["vendor"], tea, 5))["stock"] == 5
    first, second = new_client(), new_client()
    for c in (first, second):
        assert c.post("/api/v1/consumer/cart/add", json={"item_id": tea["id"], "quantity": 5}).status_code == 200
    assert confirm(first).status_code == 201
    refused = assert_problem(confirm(second), 409)
    assert "only 0 of Assam Tea" in refused["detail"] and "SKU-0" in refused["detail"]
    assert left(runtime, tea) == 0
    assert second.get("/api/v1/consumer/cart/view").json()["items"], "a refused order changes nothing"
    projected(runtime)
    shown = anonymous.get(f"/v1/products/{tea['id']}/").json()
    assert variant(shown)["stock"] == 0 and variant(shown)["in_stock"] is False
    assert_problem(second.post("/api/v1/consumer/cart/add", json={"item_id": tea["id"]}), 409)


def test_thirty_concurrent_orders_for_five_units_place_five(new_client, shop, runtime, anonymous) -> None:  # type: ignore[no-untyped-def]
    tea = shop["tea"]
    set_stock(shop["vendor"], tea, 5)
    clients = [new_client() for _ in range(30)]
    for c in clients:
        assert c.post("/api/v1/consumer/cart/add", json={"item_id": tea["id"]}).status_code == 200
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(confirm, clients))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(201) == 5 and codes.count(409) == 25, codes
    assert left(runtime, tea) == 0
    stock = runtime.commerce.stock(tea["id"], "SKU-0", None)
    assert stock is not None and stock.units_held == 5 and stock.stocked == 5

    placed = next(r.json() for r in answers if r.status_code == 201)
    buyer = next(c for c, r in zip(clients, answers, strict=True) if r.status_code == 201)
    assert buyer.post(f"/api/v1/consumer/orders/{placed['id']}/cancel").status_code == 200
    assert left(runtime, tea) == 1
    projected(runtime)
    assert variant(anonymous.get(f"/v1/products/{tea['id']}/").json())["stock"] == 1


def test_reject_modify_and_delivery_move_the_stock(new_client, shop, runtime) -> None:  # type: ignore[no-untyped-def]
    tea, vendor = shop["tea"], shop["vendor"]
    set_stock(vendor, tea, 10)
    client = new_client()
    client.post("/api/v1/consumer/cart/add", json={"item_id": tea["id"], "quantity": 4})
    order = confirm(client).json()
    assert left(runtime, tea) == 6
    line = order["items"][0]["item_id"]
    assert vendor.post(f"/v1/vendor/orders/{order['id']}/modify", json={"quantities": {line: 1}}).status_code == 200
    assert left(runtime, tea) == 6, "a proposal keeps the units until the customer agrees"
    assert client.post(f"/api/v1/consumer/orders/{order['id']}/confirm-modified").status_code == 200
    assert left(runtime, tea) == 9
    for step in ("packed", "out-for-delivery", "delivered"):
        assert vendor.post(f"/v1/vendor/orders/{order['id']}/{step}").status_code == 200
    stock = runtime.commerce.stock(tea["id"], "SKU-0", None)
    assert stock is not None and (stock.sold, stock.units_held, stock.left) == (1, 0, 9)

    other = new_client()
    other.post("/api/v1/consumer/cart/add", json={"item_id": tea["id"], "quantity": 2})
    rejected = confirm(other).json()
    assert left(runtime, tea) == 7
    assert vendor.post(f"/v1/vendor/orders/{rejected['id']}/reject", json={"reason": "closing"}).status_code == 200
    assert left(runtime, tea) == 9


def test_returned_units_go_back_on_sale_only_when_the_vendor_restocks(new_client, shop, staff_client, runtime) -> None:  # type: ignore[no-untyped-def]
    tea, vendor, support = shop["tea"], shop["vendor"], staff_client("support")
    set_stock(vendor, tea, 5)
    client = new_client()
    order = delivered_order(client, vendor, tea, qty=2)
    line = order["items"][0]["item_id"]
    ret = client.post(f"/api/v1/consumer/orders/{order['id']}/return/raise",
                      json={"items": [{"item_id": line, "quantity": 1}], "reason": "extra"}).json()["returns"][0]
    assert_problem(vendor.post(f"/v1/vendor/orders/{order['id']}/returns/{ret['id']}/restock"), 400)
    support.post(f"/v1/admin/orders/{order['id']}/returns/{ret['id']}/approve")
    assert left(runtime, tea) == 3, "approval alone does not put goods back on sale"
    assert_problem(new_client("vendor").post(f"/v1/vendor/orders/{order['id']}/returns/{ret['id']}/restock"), 404)
    assert vendor.post(f"/v1/vendor/orders/{order['id']}/returns/{ret['id']}/restock").status_code == 200
    assert vendor.post(f"/v1/vendor/orders/{order['id']}/returns/{ret['id']}/restock").status_code == 200
    assert left(runtime, tea) == 4, "restocked once"


def test_a_failed_payment_releases_and_a_later_payment_takes_them_again(new_client, shop, runtime) -> None:  # type: ignore[no-untyped-def]
    tea = shop["tea"]
    set_stock(shop["vendor"], tea, 3)
    r = online_order(new_client(), tea, 3)
    order_id = uuid.UUID(r.json()["order_id"])
    assert left(runtime, tea) == 0
    runtime.commerce.record_order_payment_failure(order_id, "pay-1", "declined")
    assert left(runtime, tea) == 3
    assert runtime.commerce.record_order_payment(order_id, "pay-2", r.json()["total_amount"])
    assert left(runtime, tea) == 0
    order = runtime.commerce.repository.get(order_id)
    assert isinstance(order, Order) and order.status == "pending"


def test_the_refund_exploit_of_issue_10_is_refused(new_client, shop, staff_client, runtime) -> None:  # type: ignore[no-untyped-def]
    """Wallet order, vendor modification (refunded), one approved return (refunded): asking for
    the remainder while keeping the goods is a 400 and changes nothing."""
    client, vendor, support = new_client(), shop["vendor"], staff_client("support")
    fund(runtime, client, 500_000)
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"], "quantity": 3})
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["rice"]["id"], "quantity": 2})
    order = confirm(client, "wallet").json()
    paid = order["total"]
    tea_line, rice_line = line_of(order, "Assam"), line_of(order, "Basmati")
    vendor.post(f"/v1/vendor/orders/{order['id']}/modify", json={"quantities": {tea_line: 2}})
    client.post(f"/api/v1/consumer/orders/{order['id']}/confirm-modified")
    for step in ("packed", "out-for-delivery", "delivered"):
        assert vendor.post(f"/v1/vendor/orders/{order['id']}/{step}").status_code == 200
    ret = client.post(f"/api/v1/consumer/orders/{order['id']}/return/raise",
                      json={"items": [{"item_id": rice_line, "quantity": 1}], "reason": "torn"}).json()["returns"][0]
    support.post(f"/v1/admin/orders/{order['id']}/returns/{ret['id']}/approve")
    before = balance(runtime, client)
    assert before == 500_000 - paid + 24900 + 64500
    remainder = paid - 24900 - 64500
    assert_problem(client.post("/api/v1/consumer/wallet/refund", json={"order_id": order["id"], "amount": remainder}), 400)
    assert_problem(client.post("/api/v1/consumer/wallet/refund", json={"order_id": order["id"], "amount": 1}), 400)
    assert balance(runtime, client) == before
    stored = runtime.commerce.repository.get(uuid.UUID(order["id"]))
    assert stored.refunded == 24900 + 64500 and stored.owed == 0 and stored.refunded <= stored.paid


def test_a_return_refunds_what_was_paid_after_the_coupon(new_client, shop, staff_client, runtime) -> None:  # type: ignore[no-untyped-def]
    admin, support, client = staff_client("admin"), staff_client("support"), new_client()
    code = f"TEN{uuid.uuid4().hex[:6]}".upper()
    r = admin.post("/v1/admin/offers", json={
        "code": code, "description": "100 off", "discount_type": "flat", "value": 10000, "cap": None,
        "min_order": 0, "valid_from": "2025-01-01T00:00:00Z", "valid_until": "2031-01-01T00:00:00Z",
        "usage_limit_total": 100, "usage_limit_per_user": 1})
    assert r.status_code == 201, r.text
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"], "quantity": 2})
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["rice"]["id"], "quantity": 1})
    assert client.post("/api/v1/consumer/cart/apply-coupon", json={"code": code}).status_code == 200
    order = confirm(client, "cash").json()
    assert order["discount"] == 10000
    for step in ("accept", "packed", "out-for-delivery", "delivered"):
        assert shop["vendor"].post(f"/v1/vendor/orders/{order['id']}/{step}").status_code == 200
    tea_line, rice_line = line_of(order, "Assam"), line_of(order, "Basmati")
    ret = client.post(f"/api/v1/consumer/orders/{order['id']}/return/raise",
                      json={"items": [{"item_id": tea_line, "quantity": 2}, {"item_id": rice_line, "quantity": 1}],
                            "reason": "all of it"}).json()["returns"][0]
    # The README's worked example: 22,722 + 22,721 + 58,857 = 104,300, not the list price 114,300.
    assert ret["amount"] == 104_300
    before = balance(runtime, client)
    support.post(f"/v1/admin/orders/{order['id']}/returns/{ret['id']}/approve")
    assert balance(runtime, client) == before + 104_300
    stored = runtime.commerce.repository.get(uuid.UUID(order["id"]))
    assert stored.refunded == 104_300 <= stored.paid


def test_an_online_order_left_unpaid_stops_holding_stock(new_client, shop, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    tea = shop["tea"]
    set_stock(shop["vendor"], tea, 2)
    client = new_client()
    r = online_order(client, tea, 2)
    assert left(runtime, tea) == 0
    projected(runtime, "order_history")
    with runtime.pool.connection() as conn:
        expire_overdue_payments(runtime, conn)
        assert left(runtime, tea) == 0, "still inside its window"
        clock.advance(31 * 60)
        expire_overdue_payments(runtime, conn)
    assert left(runtime, tea) == 2
    assert client.get(f"/v1/orders/{r.json()['order_id']}").json()["status"] == "payment_failed"
