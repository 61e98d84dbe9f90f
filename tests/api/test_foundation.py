from __future__ import annotations

import os

from fastapi.testclient import TestClient

from tests.support.problems import assert_problem
from tests.support.waiting import eventually


def test_healthz(anonymous: TestClient) -> None:
    body = anonymous.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["process"]["pid"] == os.getpid()


def test_readyz_reports_projections(anonymous: TestClient) -> None:
    # Ready once every worker has beaten (they may only just have started).
    r = eventually(lambda: (r := anonymous.get("/readyz")).status_code == 200 and r, timeout=30)
    assert r.json()["database"] == "ok" and "cart_view" in r.json()["projections"]
    workers = r.json()["workers"]
    assert {"order_payments", "payment_expiry", "kafka_relay/commerce"} <= workers.keys()
    assert workers["order_payments"]["state"] == "running" and "lag" in workers["order_payments"]


def test_unknown_route_is_a_problem(anonymous: TestClient) -> None:
    assert_problem(anonymous.get("/nowhere"), 404)


def test_wrong_method_is_a_problem(anonymous: TestClient) -> None:
    assert_problem(anonymous.put("/auth/me"), 405)


def test_unexpected_error_is_a_500_problem_without_internals(app, runtime) -> None:  # type: ignore[no-untyped-def]
    @app.get("/__boom")
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    try:
        r = TestClient(app, raise_server_exceptions=False).get("/__boom")
        body = assert_problem(r, 500)
        assert "secret internal detail" not in r.text and "Traceback" not in r.text
        assert body["title"] == "Internal Server Error"
    finally:
        app.router.routes = [rt for rt in app.router.routes if getattr(rt, "path", "") != "/__boom"]


def test_request_id_is_echoed_or_made_up(anonymous: TestClient) -> None:
    assert anonymous.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert len(anonymous.get("/healthz").headers["x-request-id"]) == 32


def test_openapi_documents_the_endpoints_with_examples(anonymous: TestClient) -> None:
    spec = anonymous.get("/openapi.json").json()
    for path in ["/auth/register", "/auth/login", "/auth/me", "/auth/logout", "/v1/carts",
                 "/v1/carts/{cart_id}", "/v1/carts/{cart_id}/items",
                 "/v1/carts/{cart_id}/items/{item_id}"]:
        assert path in spec["paths"], path
    assert spec["components"]["schemas"]["NewItem"]["examples"]
    assert anonymous.get("/docs").status_code == 200
