"""The app's routes and the README's endpoint table, side by side."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute

from api.dependencies import RoleGate, current_user
from api.openapi import dependency_calls, flatten

__all__ = ["NOT_LISTED", "documented", "documented_code", "flatten", "required_roles"]

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(GET|POST|PATCH|PUT|DELETE) ([^`]+)` \| ([^|]+?) \|")
CODE = re.compile(r"^\| `(GET|POST|PATCH|PUT|DELETE) ([^`]+)` \| [^|]+? \| `([a-z_]+\.py)` \|")
NOT_LISTED = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def documented() -> dict[tuple[str, str], str]:
    """(method, path) -> who may call it, as the README's endpoint table says."""
    rows = {}
    for line in README.read_text().splitlines():
        if m := ROW.match(line):
            rows[(m.group(1), m.group(2))] = m.group(3).strip()
    return rows


def documented_code() -> dict[tuple[str, str], str]:
    """(method, path) -> the api/routes module the README's table says serves it."""
    rows = {}
    for line in README.read_text().splitlines():
        if m := CODE.match(line):
            rows[(m.group(1), m.group(2))] = m.group(3)
    return rows


def required_roles(route: APIRoute) -> str:
    """'anyone', 'signed in', or the sorted roles of the route's RoleGate."""
    calls = dependency_calls(route)
    gates = [c for c in calls if isinstance(c, RoleGate)]
    if gates:
        return ", ".join(sorted(gates[0].roles))
    return "signed in" if current_user in calls else "anyone"

