"""The app's routes and the README's endpoint table, side by side."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute

from api.dependencies import RoleGate, current_user

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(GET|POST|PATCH|PUT|DELETE) ([^`]+)` \| ([^|]+?) \|")
NOT_LISTED = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def documented() -> dict[tuple[str, str], str]:
    """(method, path) -> who may call it, as the README's endpoint table says."""
    rows = {}
    for line in README.read_text().splitlines():
        if m := ROW.match(line):
            rows[(m.group(1), m.group(2))] = m.group(3).strip()
    return rows


def required_roles(route: APIRoute) -> str:
    """'anyone', 'signed in', or the sorted roles of the route's RoleGate."""
    calls: list[Any] = []
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        calls.append(dep.call)
        stack.extend(dep.dependencies)
    gates = [c for c in calls if isinstance(c, RoleGate)]
    if gates:
        return ", ".join(sorted(gates[0].roles))
    return "signed in" if current_user in calls else "anyone"


def flatten(routes: list[Any]) -> list[APIRoute]:
    """FastAPI >= 0.16x keeps included routers nested; older versions flatten them."""
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):
            out.extend(flatten(route.original_router.routes))
    return out
