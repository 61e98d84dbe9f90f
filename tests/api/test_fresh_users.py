"""No 5xx for a fresh user (issue 10, item 6): every GET route of the app, called by a brand-new
user of each role (and by nobody), answers 2xx or its documented 4xx."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route

from identity.users import ALL_ROLES
from tests.support.routes import flatten, required_roles

STAFF_ONLY = {"admin", "support", "auditor"}  # `eventmart users create` makes these


def get_routes(app: Any) -> list[Route]:
    """Every GET route, the included routers' as well as the docs'."""
    plain = [r for r in app.routes if isinstance(r, Route) and not isinstance(r, APIRoute)]
    return [r for r in [*plain, *flatten(app.routes)] if "GET" in (r.methods or ())]


def concrete(route: Route) -> str:
    """The path with its parameters filled: a random UUID, or an unknown slug or name."""
    path = route.path
    params = route.dependant.path_params if isinstance(route, APIRoute) else []
    for param in params:
        value = str(uuid.uuid4()) if param.field_info.annotation is uuid.UUID else f"no-such-{uuid.uuid4().hex[:8]}"
        path = path.replace(f"{{{param.name}}}", value).replace(f"{{{param.name}:path}}", value)
    assert "{" not in path, path
    return path


def allowed(route: Route, role: str | None) -> bool:
    if not isinstance(route, APIRoute):
        return True
    roles = required_roles(route)
    if roles == "anyone":
        return True
    if role is None:
        return False
    return roles == "signed in" or role in roles.split(", ")


def expected(route: Route, role: str | None) -> set[int]:
    """2xx, or the 4xx this route documents for this caller."""
    if not allowed(route, role):
        return {401} if role is None else {403}
    if not isinstance(route, APIRoute):
        return {200}
    documented = {int(code) for code in route.responses if str(code).startswith("4")}
    return {200, *documented} | ({404} if route.dependant.path_params else set())


@pytest.mark.parametrize("role", [None, *sorted(ALL_ROLES)])
def test_every_get_answers_a_fresh_user_without_a_server_error(app, new_client, staff_client, anonymous, role) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = anonymous if role is None else (
        staff_client(role) if role in STAFF_ONLY else new_client(role))
    routes = get_routes(app)
    assert len(routes) > 30, "the walk must see the included routers"
    wrong = []
    for route in routes:
        path = concrete(route)
        r = client.get(path)
        if r.status_code >= 500 or r.status_code not in expected(route, role):
            wrong.append((route.path, r.status_code, r.text[:300]))
        elif r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/problem+json"), (route.path, r.text)
            assert r.json()["status"] == r.status_code
    assert not wrong, wrong


def test_a_new_customers_cart_is_empty_with_null_timestamps(new_client, app) -> None:  # type: ignore[no-untyped-def]
    r = new_client().get("/api/v1/consumer/cart/view")
    assert r.status_code == 200, r.text
    cart = r.json()
    assert cart["items"] == [] and cart["total"] == 0 and cart["item_count"] == 0
    assert cart["created_at"] is None and cart["updated_at"] is None
    schema = app.openapi()["components"]["schemas"]["CartOut"]["properties"]
    for field in ("created_at", "updated_at"):
        assert {"type": "null"} in schema[field]["anyOf"], "the contract must say it can be null"
