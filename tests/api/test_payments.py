from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from adapters import payment_providers
from domain.payments.payment import ProviderError
from tests.support.commerce import RETURN, new_order, pay, webhook
from tests.support.problems import assert_problem
from tests.support.waiting import eventually
from workers.policies import expire_overdue_payments


def order_status(client: TestClient, order_id: str) -> str:
    return str(client.get(f"/v1/orders/{order_id}").json()["status"])


def test_pay_through_the_sandbox_checkout_page(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    order = new_order(client, shop)
    r = pay(client, order)
    assert r.status_code == 201, r.text
    payment = r.json()
    assert payment["status"] == "pending" and payment["amount"] == order["total_amount"]
    assert payment["checkout_url"].endswith(f"/v1/payments/sandbox/{payment['payment_id']}/checkout")

    qr = client.get(payment["qr_url"].removeprefix("http://127.0.0.1:8000"))
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/png"
    assert qr.content.startswith(b"\x89PNG")

    page = client.get(f"/v1/payments/sandbox/{payment['payment_id']}/checkout")
    assert page.status_code == 200 and "Pay</button>" in page.text and "Fail</button>" in page.text

    done = client.post(f"/v1/payments/sandbox/{payment['payment_id']}/pay", follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"{RETURN}?payment_id={payment['payment_id']}&status=succeeded"
    assert client.get(f"/v1/payments/{payment['payment_id']}").json()["status"] == "succeeded"
    eventually(lambda: order_status(client, order["order_id"]) == "pending")
    detail = client.get(f"/v1/orders/{order['order_id']}").json()
    assert detail["paid"] == order["total_amount"]
    assert [p["payment_id"] for p in detail["payments"]] == [payment["payment_id"]]
    assert_problem(pay(client, order), 409)  # paid: nothing more to pay


def test_payment_requests_are_checked(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client, stranger = new_client(), new_client()
    order = new_order(client, shop)
    assert_problem(client.post("/v1/payments", json={"amount": order["total_amount"], "currency": "INR",
                                                     "order_id": order["order_id"], "return_url": RETURN}), 400)
    assert_problem(pay(client, order, amount=order["total_amount"] - 1), 400)
    assert_problem(pay(client, order, currency="USD"), 400)
    assert_problem(pay(client, order, return_url="javascript:alert(1)"), 400)
    assert_problem(pay(stranger, order), 404)
    assert_problem(pay(client, order, order_id=str(uuid.uuid4())), 404)
    client.post(f"/v1/orders/{order['order_id']}/cancel")
    assert_problem(pay(client, order), 409)


def test_payment_creation_is_idempotent(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    order = new_order(client, shop)
    first, again = pay(client, order, key="p1"), pay(client, order, key="p1")
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    assert_problem(pay(client, order, key="p1", return_url=RETURN + "/other"), 409)


def test_provider_failure_is_502_and_retryable(new_client, shop, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    order = new_order(client, shop)

    def broken(*args: Any) -> Any:
        raise ProviderError("timed out")

    monkeypatch.setattr(runtime.payments.provider, "create_intent", broken)
    assert_problem(pay(client, order, key="retry"), 502)
    monkeypatch.undo()
    assert pay(client, order, key="retry").status_code == 201


def test_webhook_signature_and_replay(new_client, shop, runtime, anonymous) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    order = new_order(client, shop)
    payment_id = pay(client, order).json()["payment_id"]
    _, _, forged = webhook(anonymous, runtime, payment_id, secret="not-the-secret")
    assert_problem(forged, 401)
    unsigned = anonymous.post("/v1/payments/webhooks/sandbox", content=b'{"type":"payment.succeeded"}')
    assert_problem(unsigned, 401)
    assert client.get(f"/v1/payments/{payment_id}").json()["status"] == "pending"

    raw, signature, ok = webhook(anonymous, runtime, payment_id)
    assert ok.status_code == 200 and ok.json()["applied"] is True
    replay = anonymous.post("/v1/payments/webhooks/sandbox", content=raw,
                            headers={payment_providers.SIGNATURE_HEADER: signature})
    assert replay.status_code == 200 and replay.json()["applied"] is False
    eventually(lambda: order_status(client, order["order_id"]) == "pending")
    assert client.get(f"/v1/orders/{order['order_id']}").json()["paid"] == order["total_amount"]


@pytest.mark.parametrize("body", [
    {"id": "e", "type": "payment.succeeded", "payment_id": 123},
    {"id": "e", "type": "payment.succeeded", "payment_id": ["x"]},
    {"id": "e", "type": "payment.refunded", "payment_id": "9b2f4c1e-8d0a-4e1b-9f63-2a7c5d1e0b44"},
    ["not", "an", "object"],
])
def test_a_signed_but_malformed_webhook_is_a_400(anonymous, runtime, body: Any) -> None:  # type: ignore[no-untyped-def]
    raw = json.dumps(body).encode()
    r = anonymous.post("/v1/payments/webhooks/sandbox", content=raw, headers={
        payment_providers.SIGNATURE_HEADER: payment_providers.sign(runtime.settings.webhook_secret, raw),
        "content-type": "application/json"})
    assert_problem(r, 400)


def test_failed_payment_then_retry(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    order = new_order(client, shop)
    first = pay(client, order).json()["payment_id"]
    done = client.post(f"/v1/payments/sandbox/{first}/fail", follow_redirects=False)
    assert done.headers["location"].endswith("status=failed")
    eventually(lambda: order_status(client, order["order_id"]) == "payment_failed")
    second = pay(client, order).json()["payment_id"]
    client.post(f"/v1/payments/sandbox/{second}/pay", follow_redirects=False)
    eventually(lambda: order_status(client, order["order_id"]) == "pending")
    # A "fail" pressed after paying changes nothing, and the payer is told it succeeded
    again = client.post(f"/v1/payments/sandbox/{second}/fail", follow_redirects=False)
    assert again.headers["location"].endswith("status=succeeded")


def test_unpaid_payments_expire(new_client, shop, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    order = new_order(client, shop)
    payment_id = pay(client, order).json()["payment_id"]
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        # Read-your-writes: the creation is the customer's write, so the view has it now.
        assert client.get(f"/v1/payments/{payment_id}").json()["status"] == "pending"
        clock.advance(14 * 60)
        expire_overdue_payments(runtime, conn)
        assert client.get(f"/v1/payments/{payment_id}").json()["status"] == "pending"
        clock.advance(2 * 60)
        expire_overdue_payments(runtime, conn)  # the in-process sweep may have got there first
    # The sweep records the expiry as the customer's write (whichever sweep did it): no wait here.
    assert client.get(f"/v1/payments/{payment_id}").json()["status"] == "expired"
    eventually(lambda: order_status(client, order["order_id"]) == "payment_failed")


def test_money_that_arrives_for_a_cancelled_order_goes_back(new_client, shop, runtime, anonymous) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    order = new_order(client, shop)
    payment_id = pay(client, order).json()["payment_id"]
    client.post(f"/v1/orders/{order['order_id']}/cancel")
    webhook(anonymous, runtime, payment_id)
    eventually(lambda: client.get(f"/v1/payments/{payment_id}").json()["refunded"] == order["total_amount"])
    detail = client.get(f"/v1/orders/{order['order_id']}").json()
    assert detail["status"] == "cancelled" and detail["paid"] == 0 and detail["refunded"] == 0


def test_cancelling_a_paid_online_order_refunds_through_the_provider(new_client, shop, runtime, anonymous) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    order = new_order(client, shop)
    payment_id = pay(client, order).json()["payment_id"]
    webhook(anonymous, runtime, payment_id)
    eventually(lambda: order_status(client, order["order_id"]) == "pending")
    cancelled = client.post(f"/v1/orders/{order['order_id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    eventually(lambda: client.get(f"/v1/orders/{order['order_id']}").json()["refunded"] == order["total_amount"])
    refunds = client.get(f"/v1/orders/{order['order_id']}").json()["refunds"]
    assert len(refunds) == 1 and refunds[0]["method"] == "provider"
    assert client.get(f"/v1/payments/{payment_id}").json()["refunded"] == order["total_amount"]


def test_someone_elses_payment_is_404(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client, stranger = new_client(), new_client()
    payment_id = pay(client, new_order(client, shop)).json()["payment_id"]
    assert_problem(stranger.get(f"/v1/payments/{payment_id}"), 404)
    assert_problem(client.get(f"/v1/payments/{uuid.uuid4()}"), 404)
