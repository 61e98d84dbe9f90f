"""The OpenAPI document against the README's endpoint table and the error contract."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from identity.users import ALL_ROLES
from tests.support.routes import NOT_LISTED, documented

PROBLEM = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def spec(app) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = TestClient(app).get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, item in spec["paths"].items()
            for method, op in item.items() if path not in NOT_LISTED}


def test_every_readme_endpoint_is_in_the_spec_and_back(spec: dict[str, Any]) -> None:
    assert set(operations(spec)) == set(documented())


def test_roles_in_the_readme_are_declared_as_401_and_403(spec: dict[str, Any]) -> None:
    ops = operations(spec)
    for key, roles in documented().items():
        responses = ops[key]["responses"]
        if roles == "anyone":
            continue
        assert "401" in responses, key
        refused = roles != "signed in" and set(ALL_ROLES) - set(roles.split(", "))
        assert ("403" in responses) == bool(refused), key


def test_errors_are_problems_and_validation_is_400(spec: dict[str, Any]) -> None:
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "errors"} <= set(problem["properties"])
    assert set(problem["properties"]["errors"]["items"]["properties"]) == {"field", "message", "code"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for key, op in operations(spec).items():
        responses = op["responses"]
        assert "422" not in responses, key
        if op.get("parameters") or op.get("requestBody"):
            assert "400" in responses, key
        if op.get("requestBody"):
            assert "413" in responses, key
        for code, response in responses.items():
            if int(code) >= 400:
                assert response["content"] == {"application/problem+json": {"schema": PROBLEM}}, (key, code)
            if code in ("429", "503"):
                assert "Retry-After" in response["headers"], (key, code)


def test_database_routes_declare_503_and_path_parameters_404(spec: dict[str, Any]) -> None:
    for (method, path), op in operations(spec).items():
        if path not in ("/healthz", "/metrics", "/api/v1/support/faq"):
            assert "503" in op["responses"], (method, path)
        if "{" in path:
            assert "404" in op["responses"], (method, path)


def test_every_request_body_has_an_example(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for key, op in operations(spec).items():
        if "requestBody" not in op:
            continue
        found = False
        for media in op["requestBody"]["content"].values():
            found |= "example" in media or "examples" in media
            schema = media["schema"]
            for option in [schema, *schema.get("anyOf", [])]:
                if "$ref" in option:
                    option = schemas[option["$ref"].rsplit("/", 1)[-1]]
                found |= "examples" in option
        assert found, key


def test_no_declared_limit_is_looser_than_the_edge_enforces(spec: dict[str, Any]) -> None:
    # api/text.py caps every list at MAX_ITEMS and every string at MAX_STRING, whatever a field
    # declares: a schema that promises more sends clients' valid requests to a 400.
    from api.text import MAX_ITEMS, MAX_STRING

    loose: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("maxItems", 0) > MAX_ITEMS or node.get("maxLength", 0) > MAX_STRING:
                loose.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(spec["components"]["schemas"], "schemas")
    assert not loose, loose
