"""An auditor can change nothing: every state-changing route (POST, PUT, PATCH, DELETE) of the
app, called by an auditor, is refused, except the few listed below for a stated reason."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.routes import NOT_LISTED, flatten, required_roles

COMMANDS = {"POST", "PUT", "PATCH", "DELETE"}

# Routes an auditor's call does not refuse with 403, the status it gets instead with an
# empty body, and why that is no change made as an auditor.
NOT_403: dict[tuple[str, str], tuple[int, str]] = {
    # Anonymous sign-up and sign-in: they never act as the caller. Register cannot make an
    # auditor (customer or vendor only) and makes a separate account, as anyone may.
    ("POST", "/auth/register"): (400, "anonymous sign-up; an empty body is refused"),
    ("POST", "/auth/login"): (400, "signing in is not a change to the business"),
    ("POST", "/api/v1/send-otp"): (400, "anonymous phone sign-in"),
    ("POST", "/api/v1/verify-otp"): (400, "anonymous phone sign-in"),
    ("POST", "/api/v1/token/refresh"): (400, "rotates the caller's own refresh token"),
    # Ending one's own sessions: an auditor must be able to sign out.
    ("POST", "/auth/logout"): (204, "ends the auditor's own session"),
    ("POST", "/api/v1/logout"): (204, "ends the auditor's own session"),
    ("POST", "/api/v1/logout-all"): (200, "ends every session of the auditor, and only theirs"),
    # A question, not a command: POST because the query is a body. Answered from read models.
    ("POST", "/api/v1/agent/query"): (400, "read-only; an empty query is refused"),
    # The payment provider's calls: the signature, not a session, is the credential.
    ("POST", "/v1/payments/webhooks/sandbox"): (401, "needs the provider's signature"),
    # The sandbox provider's hosted page (dev mode only): it simulates the provider, and
    # only for a real payment id, which an auditor's random one is not.
    ("POST", "/v1/payments/sandbox/{payment_id}/pay"): (404, "provider simulation, dev only"),
    ("POST", "/v1/payments/sandbox/{payment_id}/fail"): (404, "provider simulation, dev only"),
}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def test_an_auditor_gets_403_from_every_command(
        app: FastAPI, staff_client: Callable[[str], TestClient]) -> None:
    commands = [(method, route.path, required_roles(route))
                for route in flatten(app.routes) if route.path not in NOT_LISTED
                for method in sorted(route.methods or ()) if method in COMMANDS]
    assert not set(NOT_403) - {(m, p) for m, p, _ in commands}, "stale entries in NOT_403"
    auditor = staff_client("auditor")
    refused = 0
    for method, path, roles in commands:
        if (method, path) in NOT_403:
            continue
        assert "auditor" not in roles.split(", "), f"{method} {path} lets auditors in"
        assert roles not in ("anyone", "signed in"), (
            f"{method} {path} is open to auditors ({roles}): gate it, or add it to NOT_403 with a reason")
        r = auditor.request(method, concrete(path), json={})
        assert r.status_code == 403, f"{method} {path}: {r.status_code} {r.text}"
        refused += 1
    assert refused >= 60
    for (method, path), (status, why) in NOT_403.items():
        caller = staff_client("auditor")  # the logouts end the caller's sessions
        r = caller.request(method, concrete(path), json={})
        assert r.status_code == status, f"{method} {path} ({why}): {r.status_code} {r.text}"
    assert auditor.get("/auth/me").status_code == 200  # the walk changed nothing of its own
