"""Read-your-writes for every write (issue 10, item 5): a command that saves and then refuses,
a vendor's or staff's write that changes a customer's view, the provider's and the expiry
sweep's writes to a payment. Each is recorded for every user it concerns, so that their next
read waits for it; a lagging projection is simulated by holding its position row lock, never
by sleeping."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from fastapi.testclient import TestClient
from psycopg import sql

from eventmart.runtime import Runtime
from projections import cart_view, tracking
from projections.read_model import ReadModel
from tests.api.test_auth import assert_problem
from tests.api.test_orders import cart_with, checkout, shop  # noqa: F401  (fixture)
from workers.log_follower import events_table


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


def test_a_checkout_refused_for_new_prices_is_still_the_customers_write(new_client, shop, runtime) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    client, vendor = new_client(), shop["vendor"]
    cart_id = cart_with(client, shop["tea"], qty=2)
    assert client.get(f"/v1/carts/{cart_id}").json()["items"][0]["unit_price"] == 24900
    vendor.patch(f"/v1/vendor/products/{shop['tea']['id']}/variants/SKU-0", json={"price": 26000})
    with paused(runtime, cart_view.READ_MODEL):
        assert_problem(checkout(client, cart_id, key="k"), 409)
        assert would_wait(runtime, client, cart_view.READ_MODEL), "the re-priced cart was not recorded"
    assert client.get(f"/v1/carts/{cart_id}").json()["items"][0]["unit_price"] == 26000


def test_the_customer_journey_confirm_records_the_repriced_cart_too(new_client, shop, runtime) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
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
