from __future__ import annotations

import uuid
from typing import Any

import psycopg

from projections import support_tickets
from projections.tracking import caught_up
from tests.support.problems import assert_problem
from tests.support.waiting import eventually
from workers.projection import rebuild


def test_a_ticket_from_question_to_resolution(new_client, staff_client, shop) -> None:  # type: ignore[no-untyped-def]
    client, support, stranger = new_client(), staff_client("support"), new_client()
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    order = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}).json()

    r = client.post("/api/v1/consumer/support/ticket", json={
        "subject": "Wrong tea", "category": "order", "message": "I got green tea", "order_id": order["id"]})
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert (ticket["status"], ticket["awaiting"], ticket["order_id"]) == ("open", "support", order["id"])
    assert [m["text"] for m in ticket["messages"]] == ["I got green tea"] and ticket["messages"][0]["at"]

    mine = client.get("/api/v1/consumer/support/tickets").json()
    assert mine["count"] == 1 and mine["results"][0]["id"] == ticket["id"]
    assert stranger.get("/api/v1/consumer/support/tickets").json()["count"] == 0
    assert_problem(stranger.get(f"/api/v1/consumer/support/ticket/{ticket['id']}"), 404)
    assert_problem(stranger.post(f"/api/v1/consumer/support/ticket/{ticket['id']}/message", json={"text": "hi"}), 404)

    queue = support.get("/v1/admin/support/tickets?status=open&page_size=100").json()
    assert ticket["id"] in [t["id"] for t in queue["results"]]
    answered = support.post(f"/v1/admin/support/tickets/{ticket['id']}/reply", json={"text": "Sorry! Replacing it."})
    assert answered.status_code == 200 and answered.json()["awaiting"] == "customer"
    support.post(f"/v1/admin/support/tickets/{ticket['id']}/status", json={"status": "resolved", "note": "replaced"})

    seen = client.get(f"/api/v1/consumer/support/ticket/{ticket['id']}").json()
    assert seen["status"] == "resolved"
    assert [(m["author_role"], m["text"]) for m in seen["messages"]] == [
        ("customer", "I got green tea"), ("staff", "Sorry! Replacing it.")]

    again = client.post(f"/api/v1/consumer/support/ticket/{ticket['id']}/message", json={"text": "Not yet"})
    assert again.json()["status"] == "open", "writing on a resolved ticket reopens it"
    support.post(f"/v1/admin/support/tickets/{ticket['id']}/status", json={"status": "closed"})
    closed = client.post(f"/api/v1/consumer/support/ticket/{ticket['id']}/message", json={"text": "?"})
    assert assert_problem(closed, 409)["title"] == "Ticket closed"
    assert client.get(f"/api/v1/consumer/support/ticket/{ticket['id']}").json()["message_count"] == 3


def test_the_queue_shows_tickets_to_deal_with_first_and_closed_ones_await_no_one(  # type: ignore[no-untyped-def]
        new_client, staff_client) -> None:
    # Given an old ticket, closed, and a newer one still open
    client, support = new_client(), staff_client("support")

    def ticket(subject: str) -> str:
        r = client.post("/api/v1/consumer/support/ticket", json={
            "subject": subject, "category": "other", "message": "hello"})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    old, new = ticket("Old question"), ticket("New question")
    closed = support.post(f"/v1/admin/support/tickets/{old}/status", json={"status": "closed"})
    assert closed.status_code == 200 and closed.json()["awaiting"] is None
    support.post(f"/v1/admin/support/tickets/{new}/reply", json={"text": "Looking"})
    client.post(f"/api/v1/consumer/support/ticket/{new}/message", json={"text": "Thanks"})
    # When staff open the whole queue (once it has the customer's last message: staff reads
    # do not wait for a customer's writes)
    def whole_queue() -> list[dict[str, Any]] | None:
        q = support.get("/v1/admin/support/tickets", params={"page_size": 100}).json()["results"]
        return q if any(t["id"] == new and t["message_count"] == 3 for t in q) else None

    queue = eventually(whole_queue)
    ids = [t["id"] for t in queue]
    # Then the open ticket comes before the closed one, though it is newer
    assert ids.index(new) < ids.index(old)
    waiting = {t["status"] for t in queue[:ids.index(new) + 1]}
    assert waiting <= {"open", "in_progress"}, "nothing resolved or closed before an open ticket"
    assert [t["awaiting"] for t in queue if t["id"] in (old, new)] == ["support", None]
    assert client.get(f"/api/v1/consumer/support/ticket/{old}").json()["awaiting"] is None


def test_bad_tickets_are_refused_and_change_nothing(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client, other = new_client(), new_client()
    other.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    theirs = other.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}).json()
    for body, status in [
        ({"subject": "", "message": "x"}, 400),
        ({"subject": "x", "message": ""}, 400),
        ({"subject": "x", "message": "y", "category": "gossip"}, 400),
        ({"subject": "x", "message": "y", "order_id": "not-a-uuid"}, 400),
        ({"subject": "x", "message": "y", "order_id": theirs["id"]}, 404),
        ({"subject": "x", "message": "y", "order_id": str(uuid.uuid4())}, 404),
    ]:
        assert_problem(client.post("/api/v1/consumer/support/ticket", json=body), status)
    assert client.get("/api/v1/consumer/support/tickets").json()["count"] == 0
    assert_problem(client.get(f"/api/v1/consumer/support/ticket/{uuid.uuid4()}"), 404)


def test_faq_needs_no_sign_in(anonymous) -> None:  # type: ignore[no-untyped-def]
    faq = anonymous.get("/api/v1/support/faq").json()
    assert len(faq) >= 5 and all(e["question"].endswith("?") for e in faq)


def test_rebuilding_support_tickets_gives_identical_rows(runtime, new_client, staff_client) -> None:  # type: ignore[no-untyped-def]
    client, support = new_client(), staff_client("support")
    for n in range(3):
        t = client.post("/api/v1/consumer/support/ticket", json={"subject": f"Q{n}", "message": "help"}).json()
        support.post(f"/v1/admin/support/tickets/{t['id']}/reply", json={"text": "hello"})
    head = runtime.support.recorder.max_notification_id()

    def rows(conn: psycopg.Connection) -> list[list[Any]]:
        return [conn.execute("SELECT * FROM support_tickets ORDER BY ticket_id").fetchall(),
                conn.execute("SELECT * FROM support_messages ORDER BY ticket_id, version").fetchall()]

    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        eventually(lambda: caught_up(conn, "support_tickets", "support", head))
        before = rows(conn)
        rebuild(runtime, support_tickets.READ_MODEL)
        assert caught_up(conn, "support_tickets", "support", head)
        assert rows(conn) == before and len(before[1]) >= 6
