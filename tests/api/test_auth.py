from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from identity import sessions
from tests.support.problems import assert_problem
from tests.support.users import PASSWORD, random_email


def register(client: TestClient, email: str, password: str = PASSWORD, role: str = "customer"):
    return client.post("/auth/register", json={"email": email, "password": password, "role": role})


def test_register_returns_the_user(anonymous: TestClient) -> None:
    email = random_email()
    r = register(anonymous, email.upper(), role="vendor")
    assert r.status_code == 201
    user = r.json()
    assert user["email"] == email and user["role"] == "vendor" and "password" not in r.text


def test_duplicate_email_is_409_whatever_its_case(anonymous: TestClient) -> None:
    email = random_email()
    assert register(anonymous, email).status_code == 201
    assert_problem(register(anonymous, email.upper()), 409)


@pytest.mark.parametrize("email", ["not-an-email", "a@", "", "x" * 400 + "@example.com"])
def test_bad_email_is_400(anonymous: TestClient, email: str) -> None:
    body = assert_problem(register(anonymous, email), 400)
    assert body["errors"][0]["field"] == "email"


@pytest.mark.parametrize("password", ["short1", "onlyletters", "12345678901", "a1" * 100])
def test_weak_password_is_400(anonymous: TestClient, password: str) -> None:
    body = assert_problem(register(anonymous, random_email(), password), 400)
    assert body["errors"][0]["field"] == "password"


@pytest.mark.parametrize("password", ["пароль12", "ééééééé1", "पासवर्ड१२३४!", "密码密码密码12"])
def test_letters_of_any_script_make_a_password(anonymous: TestClient, password: str) -> None:
    email = random_email()
    assert register(anonymous, email, password).status_code == 201
    assert anonymous.post("/auth/login", json={"email": email, "password": password}).status_code == 200


def test_the_password_bounds_are_declared(anonymous: TestClient) -> None:
    schema = anonymous.get("/openapi.json").json()["components"]["schemas"]["Registration"]
    assert schema["properties"]["password"] | {"minLength": 8, "maxLength": 128} == schema["properties"]["password"]


@pytest.mark.parametrize("password", ["толькобуквы", "пароль" * 2, "١٢٣٤٥٦٧٨٩"])
def test_a_password_of_letters_alone_or_digits_alone_in_any_script_is_weak(
        anonymous: TestClient, password: str) -> None:
    body = assert_problem(register(anonymous, random_email(), password), 400)
    assert body["errors"][0]["field"] == "password"


@pytest.mark.parametrize("role", ["admin", "support", "auditor", "root", ""])
def test_staff_roles_cannot_be_self_registered(anonymous: TestClient, role: str) -> None:
    email = random_email()
    assert_problem(register(anonymous, email, role=role), 400)
    r = anonymous.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 401, "a refused registration must not create the account"


def test_cookie_session_round_trip(anonymous: TestClient) -> None:
    email = random_email()
    register(anonymous, email)
    assert_problem(anonymous.get("/auth/me"), 401)

    r = anonymous.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200 and r.json()["email"] == email
    cookie = r.headers["set-cookie"]
    assert "eventmart_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie

    me = anonymous.get("/auth/me")
    assert me.status_code == 200 and me.json()["id"] == r.json()["id"]

    token = anonymous.cookies["eventmart_session"]
    out = anonymous.post("/auth/logout")
    assert out.status_code == 204 and 'eventmart_session=""' in out.headers["set-cookie"]
    assert_problem(anonymous.get("/auth/me"), 401)
    # The session is over on the server too: replaying the old cookie does not work.
    assert_problem(anonymous.get("/auth/me", cookies={"eventmart_session": token}), 401)


def test_bearer_token_is_accepted_like_the_cookie(anonymous: TestClient) -> None:
    email = random_email()
    register(anonymous, email)
    anonymous.post("/auth/login", json={"email": email, "password": PASSWORD})
    token = anonymous.cookies["eventmart_session"]
    anonymous.cookies.clear()
    r = anonymous.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["email"] == email


def test_bad_credentials_get_the_same_401_whether_or_not_the_email_exists(
    anonymous: TestClient,
) -> None:
    email = random_email()
    register(anonymous, email)
    wrong_password = anonymous.post("/auth/login", json={"email": email, "password": "nope-123"})
    unknown_email = anonymous.post(
        "/auth/login", json={"email": random_email(), "password": PASSWORD}
    )
    a, b = assert_problem(wrong_password, 401), assert_problem(unknown_email, 401)
    assert a["detail"] == b["detail"]
    assert "set-cookie" not in wrong_password.headers


def test_expired_session_is_401(anonymous: TestClient, runtime) -> None:  # type: ignore[no-untyped-def]
    email = random_email()
    user = register(anonymous, email).json()
    with runtime.pool.connection() as conn:
        token = sessions.start_session(
            conn, user["id"], now=runtime.clock() - timedelta(days=30), ttl=timedelta(days=1)
        )
    assert_problem(anonymous.get("/auth/me", cookies={"eventmart_session": token}), 401)


def test_garbage_cookie_is_401(anonymous: TestClient) -> None:
    assert_problem(anonymous.get("/auth/me", cookies={"eventmart_session": "forged"}), 401)


def test_password_is_stored_as_an_argon2_hash(anonymous: TestClient, runtime) -> None:  # type: ignore[no-untyped-def]
    email = random_email()
    register(anonymous, email)
    with runtime.pool.connection() as conn:
        (stored,) = conn.execute("SELECT password_hash FROM users WHERE email=%s", (email,)).fetchone()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_password_guessing_is_throttled_per_account_before_hashing(anonymous, new_client, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    user = new_client()
    email = user.user["email"]
    for _ in range(10):
        assert_problem(anonymous.post("/auth/login", json={"email": email, "password": "wrong-guess-1"}), 401)
    limited = anonymous.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert_problem(limited, 429)
    assert 0 < int(limited.headers["Retry-After"]) <= 901
    # The same answer for an account that does not exist.
    ghost = f"ghost-{uuid.uuid4().hex[:8]}@example.com"
    for _ in range(10):
        anonymous.post("/auth/login", json={"email": ghost, "password": "x"})
    assert_problem(anonymous.post("/auth/login", json={"email": ghost, "password": "x"}), 429)
    clock.advance(16 * 60)
    assert anonymous.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200


def test_concurrent_guesses_get_no_more_tries_than_the_limit(anonymous, new_client, runtime) -> None:  # type: ignore[no-untyped-def]
    email = new_client().user["email"]
    limit = runtime.settings.login_failures_per_account

    def guess(_: int) -> int:
        return anonymous.post("/auth/login", json={"email": email, "password": "wrong-guess"}).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(guess, range(limit + 14)))
    assert codes.count(401) == limit and codes.count(429) == 14, codes


def test_password_guessing_is_throttled_per_address(anonymous, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runtime.settings, "login_failures_per_ip", 3)
    with runtime.pool.connection() as conn:  # earlier tests' failures from the same test address
        conn.execute("DELETE FROM login_failures WHERE subject LIKE 'ip:%'")
    for i in range(3):
        anonymous.post("/auth/login", json={"email": f"spray-{i}-{uuid.uuid4().hex[:6]}@example.com", "password": "x"})
    assert_problem(anonymous.post("/auth/login", json={"email": "other@example.com", "password": "x"}), 429)


def test_a_hash_made_with_older_settings_is_made_again_at_sign_in(anonymous: TestClient, runtime) -> None:  # type: ignore[no-untyped-def]
    # Given an account whose hash was made with 4 threads (the settings before parallelism=1)
    from argon2 import PasswordHasher

    from identity import users

    email = random_email()
    old = PasswordHasher(memory_cost=runtime.settings.password_hash_memory_kib, parallelism=4).hash(PASSWORD)
    with runtime.pool.connection() as conn:
        user = users.create_user(conn, role="customer", email=email, password_hash=old, now=runtime.clock())
    # When its owner signs in, then the hash is made again with today's settings
    assert anonymous.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
    with runtime.pool.connection() as conn:
        (stored,) = conn.execute("SELECT password_hash FROM users WHERE id = %s", (user.id,)).fetchone()  # type: ignore[misc]
    assert stored != old and ",p=1$" in stored and not runtime.passwords.needs_rehash(stored)
    # And the password still signs in, and a wrong one does not
    assert anonymous.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
    assert_problem(anonymous.post("/auth/login", json={"email": email, "password": "wrong-pass-1"}), 401)
