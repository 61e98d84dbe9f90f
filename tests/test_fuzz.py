"""Schemathesis over the app's own OpenAPI: every operation, as anonymous and as each role.

In-process (ASGI) against the session's app. Each (role, operation) that the role may call is
fuzzed by a brand-new user of that role, so no shared fixture is touched and one operation's
fuzz (an onboarding that turns a customer into a vendor, a logout-all) cannot spoil the next
one's. Calls a role is refused get a few examples only (they stop at the gate).

Checks: no server error, the status code is declared, the content type is declared, the body
conforms to the declared schema. Derandomized, so a run is the same every time; the number of
examples comes from the profile: `EVENTMART_FUZZ=soak` (`make soak`) runs many more.
Ordered last in the session (see conftest): it creates shops, offers and categories.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.openapi import flatten
from identity.users import ALL_ROLES, create_user
from runtime import Runtime
from tests.support.routes import required_roles
from tests.support.users import PASSWORD, random_email

pytestmark = pytest.mark.fuzz

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
SOAK = os.environ.get("EVENTMART_FUZZ") == "soak" or os.environ.get("EVENTMART_SOAK") == "1"
# Examples per (role, operation): the role may call it / it stops at the gate (401, 403).
ALLOWED_EXAMPLES = 60 if SOAK else 20
REFUSED_EXAMPLES = 5 if SOAK else 2
ROLES = ["anonymous", *sorted(ALL_ROLES)]


@pytest.fixture(scope="module")
def schema(app) -> Any:  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def access(app) -> dict[tuple[str, str], str]:  # type: ignore[no-untyped-def]
    return {(method, route.path_format): required_roles(route)
            for route in flatten(app.routes) for method in route.methods or ()}


def sign_in(app, runtime: Runtime, role: str) -> str:  # type: ignore[no-untyped-def]
    """A brand-new user of `role`; its session token."""
    client = TestClient(app, raise_server_exceptions=False)
    email = random_email()
    if role in ("customer", "vendor"):
        r = client.post("/auth/register", json={"email": email, "password": PASSWORD, "role": role})
        assert r.status_code == 201, r.text
    else:
        with runtime.pool.connection() as conn:
            create_user(conn, role=role, email=email, password_hash=runtime.passwords.hash(PASSWORD),
                        now=runtime.clock())
    r = client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.cookies[runtime.settings.session_cookie_name]


def allowed(role: str, roles: str) -> bool:
    if roles == "anyone":
        return True
    if role == "anonymous":
        return False
    return roles == "signed in" or role in roles.split(", ")


def fuzz_operation(operation: Any, examples: int, auth: dict[str, Any], seen: Counter[int]) -> None:
    strategies = [operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE)]
    with contextlib.suppress(Exception):  # nothing to negate (no parameters, no body)
        strategies.append(operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE))

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
              report_multiple_bugs=False)
    @given(case=st.one_of(strategies))
    def run(case: Any) -> None:
        response = case.call(**auth)
        seen[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=auth.get("headers"))

    run()


@pytest.mark.parametrize("role", ROLES)
def test_fuzz_every_operation(role: str, app, runtime: Runtime, schema: Any,  # type: ignore[no-untyped-def]
                              access: dict[tuple[str, str], str]) -> None:
    cookie = runtime.settings.session_cookie_name
    refused_auth: dict[str, Any] = {}
    if role != "anonymous":
        refused_auth = auth_for(role, sign_in(app, runtime, role), cookie)
    failures: list[str] = []
    started = time.monotonic()
    count, seen = 0, Counter[int]()
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        roles = access[key]
        may = allowed(role, roles)
        auth = refused_auth
        if may and role != "anonymous":
            auth = auth_for(role, sign_in(app, runtime, role), cookie)
        try:
            fuzz_operation(operation, ALLOWED_EXAMPLES if may else REFUSED_EXAMPLES, auth, seen)
        except (Exception, BaseExceptionGroup) as exc:  # every failing operation is reported
            failures.append(f"{key[0]} {key[1]} as {role}:\n{str(exc)[:3000]}")
        count += 1
    print(f"fuzzed {count} operations as {role} in {time.monotonic() - started:.1f} s, "
          f"{sum(seen.values())} calls, statuses {dict(sorted(seen.items()))}")
    assert not failures, f"{len(failures)} operations failed:\n\n" + "\n\n".join(failures)


def auth_for(role: str, token: str, cookie: str) -> dict[str, Any]:
    """Half the roles sign in with the bearer header, half with the session cookie."""
    if role in ("customer", "support", "auditor"):
        return {"headers": {"Authorization": f"Bearer {token}"}}
    return {"cookies": {cookie: token}}


def test_no_worker_stopped_after_the_fuzz(anonymous: TestClient) -> None:
    """Whatever the fuzz stored, every projection and policy still runs."""
    deadline = time.monotonic() + 20
    while True:
        r = anonymous.get("/readyz")
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert r.status_code == 200, r.text
