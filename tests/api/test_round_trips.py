"""Commands in few round trips: each aggregate read once per command, several in one
statement (none when all are cached: the append checks them), the session and the user in one
query, the append and the caller's write position in one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from runtime import Runtime, build_applications
from tests.support.statements import counting_statements


def test_a_cart_add_reads_each_aggregate_once_in_one_statement(
        new_client: Callable[..., TestClient], shop: dict[str, Any], runtime: Runtime) -> None:
    customer = new_client()
    add = {"item_id": shop["tea"]["id"], "quantity": 1}
    first = customer.post("/api/v1/consumer/cart/add", json=add)
    assert first.status_code == 200

    with counting_statements() as sent:
        r = customer.post("/api/v1/consumer/cart/add", json=add)

    assert r.status_code == 200, r.text
    assert [line["qty"] for line in r.json()["items"]] == [2]
    # Two statements, each one round trip: session and user in one query; the append, in
    # autocommit, with the caller's write position. The cart, the product, its shop and its
    # stock are cached since the first add; the append checks in its own statement that none
    # of them has changed since (the commerce log for the cart and the stock, the catalog's
    # for the product and the shop).
    assert len(sent.sent) == 2, sent.sent
    assert "FROM sessions s JOIN user" in sent.sent[0]
    append = sent.sent[1]
    assert "commerce_events" in append and "user_write_positions" in append
    assert append.count("NOT EXISTS") == 2 and '"catalog_events"' in append

    # When another process (a cache of its own) changes the cart meanwhile
    other = build_applications(runtime.settings, runtime.database_url)
    try:
        owner, cart_id = UUID(first.json()["owner_id"]), UUID(first.json()["id"])
        other[1].add_cart_item(owner_id=owner, cart_id=cart_id, product_id=UUID(shop["rice"]["id"]),
                               sku="SKU-0", qty=1)
    finally:
        for app in other:
            app.close()
    with counting_statements() as sent:
        r = customer.post("/api/v1/consumer/cart/add", json=add)

    # Then the append finds the cart changed and appends nothing; the retry reads the cart,
    # the product, the shop and the stock in one statement, and appends
    assert r.status_code == 200, r.text
    assert sorted(line["qty"] for line in r.json()["items"]) == [1, 3]
    assert len(sent.sent) == 4, sent.sent
    assert "NOT EXISTS" in sent.sent[1] and "unnest(%s::uuid[]" in sent.sent[2]
    assert "commerce_events" in sent.sent[3] and "NOT EXISTS" not in sent.sent[3]


def test_the_session_is_checked_on_every_request(new_client: Callable[..., TestClient]) -> None:
    customer = new_client()
    assert customer.get("/auth/me").status_code == 200
    assert customer.post("/auth/logout").status_code == 204
    assert customer.get("/auth/me").status_code == 401


def waits(sent: list[str]) -> bool:
    return any("user_write_positions" in s and "max(position)" in s for s in sent)


def test_a_read_waits_only_for_logs_the_user_wrote_to(new_client: Callable[..., TestClient]) -> None:
    customer = new_client()
    with counting_statements() as sent:  # nobody writes to the support log for everyone
        assert customer.get("/api/v1/consumer/support/tickets").json()["count"] == 0
    assert not waits(sent.sent), sent.sent
    assert "FROM sessions s JOIN user" in sent.sent[0]
    assert customer.post("/api/v1/consumer/support/ticket", json={
        "subject": "Late", "category": "delivery", "message": "where is it"}).status_code == 201

    with counting_statements() as sent:
        mine = customer.get("/api/v1/consumer/support/tickets").json()

    assert mine["count"] == 1, "the write is seen"
    assert waits(sent.sent), sent.sent
