"""Issue 12: bounded request bodies (checked while they stream) and security headers."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from api.app import create_app
from api.limits import SecurityHeadersMiddleware
from tests.support.problems import assert_problem


def test_a_body_over_the_limit_is_refused_before_it_is_read(new_client) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    big = json.dumps({"subject": "x", "category": "other", "message": "y" * (2 * 1024 * 1024)})
    r = client.post("/api/v1/consumer/support/ticket", content=big, headers={"content-type": "application/json"})
    assert_problem(r, 413)
    assert client.get("/api/v1/consumer/support/tickets").json()["count"] == 0


def test_a_streamed_body_is_cut_off_at_the_limit(new_client) -> None:  # type: ignore[no-untyped-def]
    client = new_client()

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"subject": "x", "category": "other", "message": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    r = client.post("/api/v1/consumer/support/ticket", content=chunks(), headers={"content-type": "application/json"})
    assert_problem(r, 413)
    assert client.get("/api/v1/consumer/support/tickets").json()["count"] == 0


def test_an_upload_over_the_limit_is_refused_while_streaming(new_client, runtime) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    data = b"\x89PNG\r\n\x1a\n" + b"0" * (runtime.settings.max_upload_bytes + 200_000)
    r = client.post("/api/v1/uploads/images", files={"file": ("a.png", data, "image/png")})
    assert_problem(r, 413)


def test_security_headers(anonymous) -> None:  # type: ignore[no-untyped-def]
    api = anonymous.get("/healthz")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "x-frame-options" not in api.headers and "strict-transport-security" not in api.headers  # dev
    docs = anonymous.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


def test_hsts_in_prod_and_no_server_banner() -> None:
    async def page(request):  # type: ignore[no-untyped-def]
        return HTMLResponse("<p>hi</p>", headers={"server": "uvicorn"})

    app = SecurityHeadersMiddleware(Starlette(routes=[Route("/", page)]), hsts=True)
    r = TestClient(app).get("/")
    assert r.headers["strict-transport-security"].startswith("max-age=")
    assert "server" not in r.headers and r.headers["x-frame-options"] == "DENY"


def test_docs_can_be_switched_off(runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runtime.settings, "api_docs_enabled", False)
    client = TestClient(create_app(runtime, run_workers=False), raise_server_exceptions=False)
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 404
