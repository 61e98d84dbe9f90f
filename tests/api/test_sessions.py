from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.problems import assert_problem
from tests.support.users import PASSWORD, random_email


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refresh(client: TestClient, token: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/token/refresh", json={"refresh_token": token})


def test_refresh_rotates_the_pair(anonymous: TestClient, phone_client) -> None:  # type: ignore[no-untyped-def]
    first = phone_client().tokens
    r = refresh(anonymous, first["refresh_token"])
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["user"]["id"] == first["user"]["id"]
    assert anonymous.get("/auth/me", headers=bearer(second["access_token"])).status_code == 200


def test_reusing_a_refresh_token_revokes_the_whole_family(anonymous: TestClient, phone_client) -> None:  # type: ignore[no-untyped-def]
    first = phone_client().tokens
    second = refresh(anonymous, first["refresh_token"]).json()
    assert_problem(refresh(anonymous, first["refresh_token"]), 401)  # the replay
    # Everything issued in that sign-in is dead, including the thief's or owner's new pair.
    assert_problem(refresh(anonymous, second["refresh_token"]), 401)
    assert_problem(anonymous.get("/auth/me", headers=bearer(second["access_token"])), 401)
    assert_problem(anonymous.get("/auth/me", headers=bearer(first["access_token"])), 401)


def test_other_sign_ins_survive_a_revoked_family(anonymous: TestClient, phone_client, clock) -> None:  # type: ignore[no-untyped-def]
    client = phone_client()
    clock.advance(31)
    other = phone_client(client.phone).tokens
    first = client.tokens
    refresh(anonymous, first["refresh_token"])
    refresh(anonymous, first["refresh_token"])
    assert anonymous.get("/auth/me", headers=bearer(other["access_token"])).status_code == 200


def test_garbage_refresh_token_is_401(anonymous: TestClient) -> None:
    assert_problem(refresh(anonymous, "nope"), 401)
    assert_problem(anonymous.post("/api/v1/token/refresh", json={}), 400)


def test_access_token_expires_and_refresh_gets_a_new_one(anonymous: TestClient, phone_client, clock) -> None:  # type: ignore[no-untyped-def]
    tokens = phone_client().tokens
    clock.advance(901)
    assert_problem(anonymous.get("/auth/me", headers=bearer(tokens["access_token"])), 401)
    fresh = refresh(anonymous, tokens["refresh_token"]).json()
    assert anonymous.get("/auth/me", headers=bearer(fresh["access_token"])).status_code == 200


def test_refresh_token_expires(anonymous: TestClient, phone_client, clock) -> None:  # type: ignore[no-untyped-def]
    tokens = phone_client().tokens
    clock.advance(30 * 24 * 3600 + 1)
    assert_problem(refresh(anonymous, tokens["refresh_token"]), 401)


def test_logout_ends_this_sign_in_only(anonymous: TestClient, phone_client, clock) -> None:  # type: ignore[no-untyped-def]
    client = phone_client()
    clock.advance(31)
    other = phone_client(client.phone).tokens
    assert client.post("/api/v1/logout").status_code == 204
    assert_problem(client.get("/auth/me"), 401)
    assert_problem(refresh(anonymous, client.tokens["refresh_token"]), 401)
    assert anonymous.get("/auth/me", headers=bearer(other["access_token"])).status_code == 200


def test_logout_all_ends_three_parallel_sessions_at_once(  # type: ignore[no-untyped-def]
    anonymous: TestClient, phone_client, clock
) -> None:
    device_a = phone_client()
    pairs = [device_a.tokens]
    for _ in range(2):
        clock.advance(31)
        pairs.append(phone_client(device_a.phone).tokens)
    assert len({p["user"]["id"] for p in pairs}) == 1
    for p in pairs:
        assert anonymous.get("/auth/me", headers=bearer(p["access_token"])).status_code == 200

    r = device_a.post("/api/v1/logout-all")
    assert r.status_code == 200 and r.json()["revoked_sessions"] >= 3
    for p in pairs:
        assert_problem(anonymous.get("/auth/me", headers=bearer(p["access_token"])), 401)
        assert_problem(refresh(anonymous, p["refresh_token"]), 401)


def test_logout_all_ends_cookie_sessions_too(app) -> None:  # type: ignore[no-untyped-def]
    email = random_email()
    browsers = [TestClient(app, raise_server_exceptions=False) for _ in range(3)]
    browsers[0].post("/auth/register", json={"email": email, "password": PASSWORD})
    for b in browsers:
        assert b.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
    out = browsers[1].post("/api/v1/logout-all")
    assert out.status_code == 200 and 'eventmart_session=""' in out.headers["set-cookie"]
    for b in browsers:
        assert_problem(b.get("/auth/me"), 401)
