"""The OpenAPI document tells the truth: every status an operation can answer is declared.

FastAPI declares 422 for validation (the app answers 400) and knows nothing about the
statuses that dependencies and domain errors produce. This module post-processes the
generated document once, deriving the error statuses from each route:

- request input (parameters or a body), or anything that reaches the database -> 400
- the signed-in user (`current_user`) -> 401
- a `RoleGate` that refuses some signed-in role -> 403
- path parameters, or input naming another resource (`*_id`, slugs, codes) -> 404
- commands (POST, PATCH, PUT, DELETE other than sign-in and sign-out) -> 409
- a request body -> 413 (`MAX_REQUEST_BYTES`, `MAX_UPLOAD_BYTES`)
- the client address (`client_ip`, per-address limits) -> 429, with `Retry-After`
- the database (`get_runtime`, `get_connection`) -> 503, with `Retry-After` (read model
  behind the read-your-writes wait, database unreachable)

Statuses a route declares itself (`responses=` on the decorator) are kept, with their
descriptions. Every error answer is `application/problem+json` with the `Problem` schema
(RFC 9457 plus `errors`). Hooked from `create_app` with `app.openapi = openapi.builder(app)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from api.dependencies import RoleGate, client_ip, current_user, get_connection, get_runtime
from identity.users import ALL_ROLES

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An RFC 9457 problem; `errors` names the fields at fault.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "a URI reference naming the kind of problem",
                 "examples": ["/problems/invalid-request"]},
        "title": {"type": "string", "examples": ["Invalid request"]},
        "status": {"type": "integer", "minimum": 400, "maximum": 599, "examples": [400]},
        "detail": {"type": "string", "examples": ["the request failed validation"]},
        "instance": {"type": "string", "description": "the request path", "examples": ["/v1/carts"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["message"],
                "properties": {
                    "field": {"anyOf": [{"type": "string"}, {"type": "null"}],
                              "description": "dotted path of the field, or null for the whole body"},
                    "message": {"type": "string"},
                    "code": {"type": "string", "description": "machine-readable reason"},
                },
            },
        },
    },
}

RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                               "schema": {"type": "integer", "minimum": 1}}}

DESCRIPTIONS = {
    400: "invalid input (the problem's `errors` name the fields) or a business rule refused it",
    401: "not signed in, or the session or token has ended",
    403: "your role does not allow this",
    404: "no such resource, or it is not yours",
    409: "conflicts with the current state (or an idempotency key in use)",
    413: "request body too large",
    429: "too many requests; see Retry-After",
    502: "an upstream provider failed; nothing changed, retry",
    503: "the database is unreachable or the view is still catching up; see Retry-After",
}

# POSTs that are not commands on an aggregate: signing in and out, reading.
NOT_COMMANDS = frozenset({
    "/auth/login", "/auth/logout", "/api/v1/logout", "/api/v1/logout-all", "/api/v1/send-otp",
    "/api/v1/verify-otp", "/api/v1/token/refresh", "/api/v1/agent/query", "/api/v1/uploads/images",
})
# Input that names another resource, looked up (404 when unknown).
LOOKUP = re.compile(r"(^|_)(id|ids|slug|code|category|shop)$")


def flatten(routes: Iterable[Any]) -> list[APIRoute]:
    """FastAPI >= 0.16x keeps included routers nested; older versions flatten them."""
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):
            out.extend(flatten(route.original_router.routes))
    return out


def dependency_calls(route: APIRoute) -> list[Any]:
    calls: list[Any] = []
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        calls.append(dep.call)
        stack.extend(dep.dependencies)
    return calls


def _input_names(operation: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    names = {p["name"] for p in operation.get("parameters", []) if p.get("in") != "header"}
    content = operation.get("requestBody", {}).get("content", {})
    for media in content.values():
        schema = media.get("schema", {})
        ref = schema.get("$ref", "")
        if ref:
            schema = schemas.get(ref.rsplit("/", 1)[-1], {})
        names |= set(schema.get("properties", {}))
    return names


def error_statuses(route: APIRoute, method: str, operation: dict[str, Any],
                   schemas: dict[str, Any]) -> set[int]:
    calls = dependency_calls(route)
    touches_db = get_runtime in calls or get_connection in calls
    has_body = "requestBody" in operation
    has_input = has_body or any(p.get("in") != "header" or p.get("required")
                                for p in operation.get("parameters", []))
    statuses: set[int] = set()
    if has_input or touches_db:
        statuses.add(400)
    if current_user in calls:
        statuses.add(401)
    gates = [c for c in calls if isinstance(c, RoleGate)]
    if gates and set(ALL_ROLES) - gates[0].roles:
        statuses.add(403)
    if "{" in route.path_format or any(LOOKUP.search(n) for n in _input_names(operation, schemas)):
        statuses.add(404)
    if method != "get" and route.path_format not in NOT_COMMANDS:
        statuses.add(409)
    if has_body:
        statuses.add(413)
    if client_ip in calls:
        statuses.add(429)
    if touches_db:
        statuses.add(503)
    return statuses


def _problem_response(status: int, existing: dict[str, Any] | None) -> dict[str, Any]:
    description = (existing or {}).get("description") or DESCRIPTIONS.get(status) \
        or HTTPStatus(status).phrase
    response: dict[str, Any] = {"description": description,
                                "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}
    if status in (429, 503):
        response["headers"] = RETRY_AFTER
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return response


def _has_example(body: dict[str, Any], schemas: dict[str, Any]) -> bool:
    for media in body.get("content", {}).values():
        if "example" in media or "examples" in media:
            return True
        schema = media.get("schema", {})
        for option in [schema, *schema.get("anyOf", [])]:
            ref = option.get("$ref", "")
            if ref:
                option = schemas.get(ref.rsplit("/", 1)[-1], {})
            if "examples" in option or "example" in option:
                return True
    return False


MULTIPART_EXAMPLE = {"file": "(binary PNG, JPEG or WebP image)"}


def post_process(app: FastAPI, spec: dict[str, Any]) -> dict[str, Any]:
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for route in flatten(app.routes):
        if not route.include_in_schema:
            continue
        item = spec["paths"].get(route.path_format, {})
        for method in sorted(m.lower() for m in route.methods or ()):
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            declared = {int(code) for code in responses if code.isdigit()}
            for status in sorted(error_statuses(route, method, operation, schemas) | declared):
                if status >= 400:
                    responses[str(status)] = _problem_response(status, responses.get(str(status)))
            operation["responses"] = dict(sorted(responses.items()))
            body = operation.get("requestBody")
            if body and not _has_example(body, schemas):
                for media_type, media in body.get("content", {}).items():
                    if media_type.startswith("multipart/"):
                        media["example"] = MULTIPART_EXAMPLE
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec


def builder(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """`app.openapi = builder(app)`: FastAPI's document, post-processed once and cached."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, openapi_version=app.openapi_version,
                summary=app.summary, description=app.description, routes=app.routes,
                tags=app.openapi_tags, servers=app.servers,
            )
            app.openapi_schema = post_process(app, spec)
        return app.openapi_schema

    return openapi
