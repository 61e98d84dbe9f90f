"""Walks the README's endpoint table: it must match the code, and the code must enforce it."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient

from identity.users import ALL_ROLES
from tests.support.problems import assert_problem
from tests.support.profiles import ADDRESS
from tests.support.routes import NOT_LISTED, documented, documented_code, flatten, required_roles
from tests.support.users import PASSWORD, random_email


def api_routes(app) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    out = []
    for route in flatten(app.routes):
        if route.path not in NOT_LISTED:
            for method in sorted(route.methods or ()):
                out.append((method, route.path, required_roles(route)))
    return out


def test_readme_table_matches_the_code(app) -> None:  # type: ignore[no-untyped-def]
    in_code = {(m, p): roles for m, p, roles in api_routes(app)}
    in_readme = {k: ", ".join(sorted(r.split(", "))) if r not in ("anyone", "signed in") else r
                 for k, r in documented().items()}
    assert in_readme == in_code


def test_readme_names_the_module_of_every_endpoint(app) -> None:  # type: ignore[no-untyped-def]
    """A reader goes from a URL to its code in one hop: the table's `code` column."""
    in_code = {(m, r.path): f"{r.endpoint.__module__.rsplit('.', 1)[-1]}.py"
               for r in flatten(app.routes) if r.path not in NOT_LISTED for m in r.methods or ()}
    assert documented_code() == in_code


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def test_anonymous_callers_get_401_everywhere_but_public_endpoints(app, anonymous: TestClient) -> None:  # type: ignore[no-untyped-def]
    checked = 0
    for method, path, roles in api_routes(app):
        if roles == "anyone":
            continue
        assert_problem(anonymous.request(method, concrete(path), json={}), 401)
        checked += 1
    assert checked >= 15


@pytest.fixture(scope="module")
def role_clients(app, runtime) -> dict[str, TestClient]:  # type: ignore[no-untyped-def]
    from identity.users import create_user
    clients: dict[str, TestClient] = {}
    for role in ALL_ROLES:
        email = random_email()
        with runtime.pool.connection() as conn:
            create_user(conn, role=role, email=email, password_hash=runtime.passwords.hash(PASSWORD),
                        now=runtime.clock())
        client = TestClient(app, raise_server_exceptions=False)
        assert client.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
        clients[role] = client
    return clients


def test_every_other_role_gets_403(app, role_clients: dict[str, TestClient]) -> None:  # type: ignore[no-untyped-def]
    checked = 0
    for method, path, roles in api_routes(app):
        if roles in ("anyone", "signed in"):
            continue
        allowed = set(roles.split(", "))
        for role in sorted(ALL_ROLES - allowed):
            r = role_clients[role].request(method, concrete(path), json={})
            assert_problem(r, 403)
            checked += 1
    assert checked >= 40


OWNED = {"cart_id", "address_id", "item_id", "order_id", "payment_id"}


def test_another_users_resources_are_404(app, new_client, product) -> None:  # type: ignore[no-untyped-def]
    owner, intruder = new_client(), new_client()
    cart = owner.post("/v1/carts").json()
    item = owner.post(f"/v1/carts/{cart['id']}/items",
                      json={"product_id": product["id"], "sku": "DJ-100", "qty": 1}).json()["item_id"]
    address = owner.post("/api/v1/consumer/address/add", json=ADDRESS).json()["id"]
    order = owner.post("/v1/checkouts", json={"cart_id": cart["id"]},
                       headers={"Idempotency-Key": "walk"}).json()
    payment = owner.post("/v1/payments", headers={"Idempotency-Key": "walk"}, json={
        "amount": order["total_amount"], "currency": "INR", "order_id": order["order_id"],
        "return_url": "https://example.com/back"}).json()
    cart = owner.post("/v1/carts").json()
    item = owner.post(f"/v1/carts/{cart['id']}/items",
                      json={"product_id": product["id"], "sku": "DJ-100", "qty": 1}).json()["item_id"]
    ids = {"cart_id": cart["id"], "item_id": item, "address_id": address,
           "order_id": order["order_id"], "payment_id": payment["payment_id"]}
    bodies = {"POST": {"product_id": product["id"], "sku": "DJ-100", "qty": 1, "label": "x",
                       "text": "hi", "rating": 5, "category": "other", "description": "x",
                       "items": [{"item_id": "x", "quantity": 1}], "reason": "x"},
              "PATCH": {"qty": 2}}
    checked = 0
    for method, path, roles in api_routes(app):
        params = set(re.findall(r"\{([^}]+)\}", path))
        if not params or not params <= OWNED or "sandbox" in path or path.endswith("qr.png"):
            continue
        if roles not in ("signed in",) and "customer" not in roles.split(", "):
            continue
        url = re.sub(r"\{([^}]+)\}", lambda m: ids[m.group(1)], path)
        assert_problem(intruder.request(method, url, json=bodies.get(method)), 404)
        checked += 1
    assert checked >= 15
    # ...and the owner's things are untouched.
    assert owner.get(f"/v1/carts/{cart['id']}").json()["items"][0]["qty"] == 1
    assert owner.get("/api/v1/consumer/addresses").json()["results"][0]["label"] == "Home"
