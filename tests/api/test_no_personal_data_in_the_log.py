"""The event log holds no personal data or secrets (issue 15 item 6): after real sign-ups
(phone with OTP, email), onboarding, saved addresses and orders delivered to them, no stored
event or snapshot state in any events table contains the phone numbers, emails, OTP codes,
names or address text those flows used."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg import sql

from domain.event_catalogue import entry_for_topic
from runtime import Runtime
from tests.support.commerce import fund, user_id
from tests.support.users import PASSWORD, random_email, random_phone


def stored_states(runtime: Runtime) -> Iterator[tuple[str, str, str]]:
    """(table, topic, state as text) of every row of every table the event store keeps."""
    with runtime.pool.connection() as conn:
        tables = [t for (t,) in conn.execute(
            "SELECT c.table_name FROM information_schema.columns c "
            "JOIN information_schema.columns o ON o.table_name = c.table_name "
            " AND o.table_schema = c.table_schema AND o.column_name = 'originator_id' "
            "WHERE c.table_schema = 'public' AND c.column_name = 'state' ORDER BY 1").fetchall()]
        assert {"commerce_events", "catalog_events", "payments_events", "support_events"} <= set(tables)
        for table in tables:
            cur = conn.execute(sql.SQL("SELECT topic, state FROM {}").format(sql.Identifier(table)))
            for topic, state in cur:
                yield table, topic, bytes(state).decode("utf-8", errors="replace")


def standalone(token: str) -> re.Pattern[str]:
    """The token not inside a longer word or number (a code is not the tail of a uuid or
    the microseconds of a time)."""
    return re.compile(rf"(?<![0-9A-Za-z.]){re.escape(token)}(?![0-9A-Za-z])", re.IGNORECASE)


def phone_sign_up(anonymous: TestClient, phone: str) -> tuple[TestClient, str]:
    sent = anonymous.post("/api/v1/send-otp", json={"phone": phone})
    assert sent.status_code == 200, sent.text
    code = sent.json()["debug_otp"]
    r = anonymous.post("/api/v1/verify-otp", json={"phone": phone, "otp": code})
    assert r.status_code == 200, r.text
    anonymous.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    anonymous.user = r.json()["user"]  # type: ignore[attr-defined]
    return anonymous, code


def onboard_and_order(client: TestClient, runtime: Runtime, shop: dict[str, Any],
                      person: dict[str, str], address: dict[str, str]) -> dict[str, Any]:
    basic = {"name": person["name"], "city": "Bengaluru", "society": "Lakeside", "role": "consumer"}
    assert client.post("/api/v1/onboarding/basic", json=basic).status_code == 200
    assert client.post("/api/v1/consumer/onboarding", json={
        "flat_number": person["flat"], "preferred_language": "en"}).status_code == 201
    saved = client.post("/api/v1/consumer/address/add", json=address)
    assert saved.status_code == 201, saved.text
    fund(runtime, client, 200_000)
    orders = []
    for mode in ("cash", "wallet"):
        client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"], "quantity": 1})
        r = client.post("/api/v1/consumer/order/confirm", json={
            "payment_mode": mode, "address_id": saved.json()["id"], "delivery_notes": "ring twice"})
        assert r.status_code == 201, r.text
        orders.append(r.json())
    for step in ("accept", "packed", "out-for-delivery", "delivered"):
        assert shop["vendor"].post(f"/v1/vendor/orders/{orders[0]['id']}/{step}").status_code == 200
    assert client.post(f"/api/v1/consumer/orders/{orders[1]['id']}/cancel").status_code == 200
    return {"address_id": saved.json()["id"], "order": orders[0]}


def test_no_phone_email_otp_name_or_address_is_stored_in_the_log(
        app: FastAPI, runtime: Runtime, shop: dict[str, Any],
        new_client: Callable[..., TestClient]) -> None:
    tag = uuid.uuid4().hex[:6]
    phone = random_phone()
    by_phone, code = phone_sign_up(TestClient(app, raise_server_exceptions=False), phone)
    email = random_email()
    by_email = TestClient(app, raise_server_exceptions=False)
    assert by_email.post("/auth/register", json={"email": email, "password": PASSWORD,
                                                 "role": "customer"}).status_code == 201
    login = by_email.post("/auth/login", json={"email": email, "password": PASSWORD})
    by_email.user = login.json()  # type: ignore[attr-defined]
    needles: dict[str, re.Pattern[str]] = {"phone": standalone(phone),
                                           "phone digits": standalone(phone.removeprefix("+91")),
                                           "email": standalone(email), "otp": standalone(code)}
    placed = []
    for n, client in enumerate((by_phone, by_email)):
        person = {"name": f"Meera Pii{tag}{n}", "flat": f"Flat-{tag}-{n}"}
        address = {"house_number": f"House-{tag}-{n}", "street": f"Pii Street {tag}{n}",
                   "landmark": f"Near Pii Temple {tag}{n}", "city": "Bengaluru",
                   "society": "Lakeside", "label": "Home",
                   "pincode": f"5{n + 6}{tag[:4].translate(str.maketrans('abcdef', '123456'))}"}
        placed.append(onboard_and_order(client, runtime, shop, person, address))
        needles |= {f"{k} {n}": standalone(v) for k, v in person.items()}
        needles |= {f"{k} {n}": standalone(address[k])
                    for k in ("house_number", "street", "landmark", "pincode")}
    assert user_id(by_phone) != user_id(by_email)

    found = [(table, topic, what) for table, topic, state in stored_states(runtime)
             for what, pattern in needles.items() if pattern.search(state)]

    assert found == [], f"personal data in the log: {found[:10]}"
    # ...yet the order still shows where it goes, as it was when placed.
    order = by_phone.get(f"/v1/orders/{placed[0]['order']['id']}").json()
    assert order["address"]["street"] == f"Pii Street {tag}0"
    assert order["address"]["id"] == placed[0]["address_id"]
    assert by_phone.post(f"/api/v1/consumer/address/{placed[0]['address_id']}/edit",
                         json={"street": "Moved Road"}).status_code == 200
    after_edit = by_phone.get(f"/v1/orders/{placed[0]['order']['id']}").json()
    assert after_edit["address"]["street"] == f"Pii Street {tag}0"


def test_every_stored_event_type_is_in_the_catalogue(runtime: Runtime) -> None:
    topics = {topic for table, topic, _ in stored_states(runtime) if table.endswith("_events")}
    assert topics
    for topic in topics:
        entry_for_topic(topic)  # raises for a type without a public name
