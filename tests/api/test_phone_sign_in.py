from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.problems import assert_problem
from tests.support.users import random_phone


def send(client: TestClient, phone: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/send-otp", json={"phone": phone})


def verify(client: TestClient, phone: str, code: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/verify-otp", json={"phone": phone, "otp": code})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_sign_in_by_phone_creates_the_user_once(anonymous: TestClient, clock) -> None:  # type: ignore[no-untyped-def]
    phone = random_phone()
    sent = send(anonymous, phone)
    assert sent.status_code == 200
    code = sent.json()["debug_otp"]
    assert len(code) == 6 and code.isdigit() and sent.json()["expires_in"] == 300

    r = verify(anonymous, phone, code)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert body["user"]["phone"] == phone and body["user"]["role"] == "customer"
    assert body["user"]["basic_onboarding_done"] is False
    me = anonymous.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == body["user"]["id"]

    clock.advance(31)
    again = verify(anonymous, phone, send(anonymous, phone).json()["debug_otp"])
    assert again.json()["user"]["id"] == body["user"]["id"]


def test_a_resend_within_30_seconds_is_429_while_another_phone_is_sent(anonymous: TestClient, phone_client) -> None:  # type: ignore[no-untyped-def]
    """The 429 is the resend gap, not the phone being known: after the gap, known and unknown
    phones get the same answer (the next test)."""
    known = phone_client().phone
    a, b = send(anonymous, random_phone()), send(anonymous, known)
    # phone_client's send was under 30 s ago: the known phone is rate-limited, not revealed.
    assert a.status_code == 200
    assert b.status_code == 429


def test_known_phone_after_the_gap_gets_the_same_shape(anonymous: TestClient, phone_client, clock) -> None:  # type: ignore[no-untyped-def]
    known = phone_client().phone
    clock.advance(31)
    a, b = send(anonymous, random_phone()), send(anonymous, known)
    assert a.status_code == b.status_code == 200
    assert a.json().keys() == b.json().keys()


def test_only_a_hash_of_the_code_is_stored(anonymous: TestClient, runtime) -> None:  # type: ignore[no-untyped-def]
    phone = random_phone()
    code = send(anonymous, phone).json()["debug_otp"]
    with runtime.pool.connection() as conn:
        (stored,) = conn.execute("SELECT code_hash FROM otp_codes WHERE phone=%s", (phone,)).fetchone()
    assert len(bytes(stored)) == 32 and code.encode() not in bytes(stored)


def test_prod_mode_does_not_echo_the_code(anonymous: TestClient, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runtime.settings, "env", "prod")
    r = send(anonymous, random_phone())
    assert r.status_code == 200 and "debug_otp" not in r.json()


def test_invalid_phones_are_400(anonymous: TestClient) -> None:
    for phone in ["9812345678", "+0123456789", "+91 98123 45678", "+91abc", "", "+1234"]:
        body = assert_problem(send(anonymous, phone), 400)
        assert body["errors"][0]["field"] == "phone"


def test_malformed_code_is_400(anonymous: TestClient) -> None:
    assert_problem(verify(anonymous, random_phone(), "12ab56"), 400)


def test_wrong_code_is_401_and_the_right_one_still_works(anonymous: TestClient) -> None:
    phone = random_phone()
    code = send(anonymous, phone).json()["debug_otp"]
    assert_problem(verify(anonymous, phone, wrong(code)), 401)
    assert verify(anonymous, phone, code).status_code == 200


def test_a_code_works_once(anonymous: TestClient) -> None:
    phone = random_phone()
    code = send(anonymous, phone).json()["debug_otp"]
    assert verify(anonymous, phone, code).status_code == 200
    assert_problem(verify(anonymous, phone, code), 401)


def test_a_code_expires_after_five_minutes(anonymous: TestClient, clock) -> None:  # type: ignore[no-untyped-def]
    phone = random_phone()
    code = send(anonymous, phone).json()["debug_otp"]
    clock.advance(301)
    assert_problem(verify(anonymous, phone, code), 401)


def test_unknown_phone_without_a_code_is_401(anonymous: TestClient) -> None:
    assert_problem(verify(anonymous, random_phone(), "123456"), 401)


def test_five_wrong_tries_burn_the_code_until_a_new_one_is_sent(anonymous: TestClient, clock) -> None:  # type: ignore[no-untyped-def]
    phone = random_phone()
    code = send(anonymous, phone).json()["debug_otp"]
    for _ in range(5):
        assert_problem(verify(anonymous, phone, wrong(code)), 401)
    burnt = verify(anonymous, phone, code)  # even the right code
    assert_problem(burnt, 429)
    assert int(burnt.headers["retry-after"]) >= 1
    clock.advance(31)
    fresh = send(anonymous, phone).json()["debug_otp"]
    assert verify(anonymous, phone, fresh).status_code == 200


def test_one_send_per_30_seconds_and_five_per_hour(anonymous: TestClient, clock) -> None:  # type: ignore[no-untyped-def]
    phone = random_phone()
    assert send(anonymous, phone).status_code == 200
    limited = send(anonymous, phone)
    assert_problem(limited, 429)
    assert 1 <= int(limited.headers["retry-after"]) <= 31
    for _ in range(4):
        clock.advance(31)
        assert send(anonymous, phone).status_code == 200
    clock.advance(31)
    hourly = send(anonymous, phone)
    assert_problem(hourly, 429)
    assert 31 < int(hourly.headers["retry-after"]) <= 3600
    clock.advance(3600)
    assert send(anonymous, phone).status_code == 200


def test_per_client_ip_limit(app, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runtime.settings, "otp_sends_per_ip_per_hour", 3)
    client = TestClient(app, raise_server_exceptions=False, client=("203.0.113.7", 40000))
    for _ in range(3):
        assert send(client, random_phone()).status_code == 200
    limited = send(client, random_phone())
    assert_problem(limited, 429)
    assert "retry-after" in limited.headers
    other_ip = TestClient(app, raise_server_exceptions=False, client=("203.0.113.8", 40000))
    assert send(other_ip, random_phone()).status_code == 200
