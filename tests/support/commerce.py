"""Money, carts, orders and payments through the API (and the wallet through the application)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient

from adapters import payment_providers
from runtime import Runtime

RETURN = "https://shop.example.com/orders/done"


def user_id(client: TestClient) -> uuid.UUID:
    return uuid.UUID(client.user["id"])  # type: ignore[attr-defined]


def fund(runtime: Runtime, client: TestClient, amount: int) -> None:
    wallet = runtime.commerce.wallet(user_id(client))
    wallet.credit(amount, kind="adjustment", reference=f"test:{uuid.uuid4()}")
    runtime.commerce.save(wallet)


def balance(runtime: Runtime, client: TestClient) -> int:
    return int(runtime.commerce.wallet(user_id(client)).balance)


def cart_with(client: TestClient, item: dict[str, Any], qty: int = 1) -> str:
    cart = client.post("/v1/carts").json()
    r = client.post(f"/v1/carts/{cart['id']}/items",
                    json={"product_id": item["id"], "sku": "SKU-0", "qty": qty})
    assert r.status_code == 201, r.text
    return str(cart["id"])


def checkout(client: TestClient, cart_id: str, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/v1/checkouts", json={"cart_id": cart_id}, headers=headers)


def delivered_order(client: TestClient, vendor: TestClient, item: dict[str, Any], qty: int = 2) -> dict[str, Any]:
    """A cash order of `qty` of `item`, taken by its vendor all the way to delivered."""
    client.post("/api/v1/consumer/cart/add", json={"item_id": item["id"], "quantity": qty})
    order = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}).json()
    for step in ("accept", "packed", "out-for-delivery", "delivered"):
        assert vendor.post(f"/v1/vendor/orders/{order['id']}/{step}").status_code == 200
    return dict(client.get(f"/v1/orders/{order['id']}").json())


def new_order(client: TestClient, shop: dict[str, Any]) -> dict[str, Any]:
    """Two teas from `shop`, checked out: the checkout's answer."""
    r = checkout(client, cart_with(client, shop["tea"], qty=2), key=str(uuid.uuid4()))
    assert r.status_code == 201, r.text
    return dict(r.json())


def pay(client: TestClient, order: dict[str, Any], key: str | None = None, **changes: Any) -> httpx.Response:
    body = {"amount": order["total_amount"], "currency": "INR", "order_id": order["order_id"],
            "return_url": RETURN, **changes}
    return client.post("/v1/payments", json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


def webhook(client: TestClient, runtime: Runtime, payment_id: str, outcome: str = "succeeded",
            secret: str | None = None) -> tuple[bytes, str, httpx.Response]:
    """The sandbox provider's signed webhook for `payment_id`, posted: (raw body, signature, response)."""
    provider = payment_providers.SandboxProvider("x", secret or runtime.settings.webhook_secret)
    raw, signature = provider.webhook(uuid.UUID(payment_id), outcome)
    return raw, signature, client.post("/v1/payments/webhooks/sandbox", content=raw,
                                       headers={payment_providers.SIGNATURE_HEADER: signature,
                                                "content-type": "application/json"})
