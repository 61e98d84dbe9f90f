"""Commands in few round trips: each aggregate read once per command, several in one
statement, the session and the user in one query, the append and the caller's write position
in one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.support.statements import counting_statements


def test_a_cart_add_reads_each_aggregate_once_in_one_statement(
        new_client: Callable[..., TestClient], shop: dict[str, Any]) -> None:
    customer = new_client()
    add = {"item_id": shop["tea"]["id"], "quantity": 1}
    assert customer.post("/api/v1/consumer/cart/add", json=add).status_code == 200

    with counting_statements() as sent:
        r = customer.post("/api/v1/consumer/cart/add", json=add)

    assert r.status_code == 200, r.text
    assert [line["qty"] for line in r.json()["items"]] == [2]
    # Three statements, each one round trip: session and user in one query; cart, product,
    # shop and stock in one; the append, in autocommit, with the caller's write position.
    assert len(sent.sent) == 3, sent.sent
    assert "FROM sessions s JOIN user" in sent.sent[0]
    assert "unnest(%s::uuid[]" in sent.sent[1]
    assert "commerce_events" in sent.sent[2] and "user_write_positions" in sent.sent[2]


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
