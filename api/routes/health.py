"""GET /healthz (process alive) and GET /readyz (database reachable, every worker that should
be running is running: projections, policies, the payment expiry sweep, the Kafka relay when
configured). /readyz also lists blue/green rebuilds in progress; they never make it fail: the
serving generation answers meanwhile."""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from api.dependencies import RuntimeDep
from api.errors import PROBLEM_JSON, problem
from api.routing import Router
from workers.health import expected_workers, rebuilds, worker_states

router = Router(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz(request: Request) -> dict[str, Any]:
    """`process`: which API process answered (`serve --workers N` runs several) and whether
    the log followers run inside it."""
    in_process = getattr(request.app.state, "supervisor", None) is not None
    return {"status": "ok", "process": {"pid": os.getpid(), "workers": in_process}}


@router.get(
    "/readyz",
    summary="Readiness: database reachable and every worker running",
    responses={503: {"description": "not ready", "content": {"application/problem+json": {}}}},
)
def readyz(request: Request, runtime: RuntimeDep) -> Any:
    try:
        with runtime.pool.connection(timeout=2) as conn:
            states = worker_states(conn, expected_workers(runtime.settings))
            building = [r.as_json() for r in rebuilds(conn)]
    except Exception as exc:  # any failure to reach the database means not ready
        return problem(503, "Not ready", f"database unreachable: {type(exc).__name__}")
    workers = {s.key: s.as_json() for s in states}
    problems = [p for s in states if (p := s.problem())]
    supervisor = getattr(request.app.state, "supervisor", None)
    if supervisor is not None:
        problems += [f"in-process worker {label} has stopped" for label in supervisor.dead()]
    body: dict[str, Any] = {
        "status": "ready",
        "database": "ok",
        "workers": workers,
        "projections": {k: w for k, w in workers.items() if w["kind"] == "projection"},
        "rebuilds": building,
    }
    if problems:
        response = problem(503, "Not ready", "; ".join(problems))
        return JSONResponse({**_body(response), "workers": workers, "rebuilds": building}, status_code=503,
                            media_type=PROBLEM_JSON)
    return JSONResponse(body)


def _body(response: JSONResponse) -> dict[str, Any]:
    return dict(json.loads(bytes(response.body)))
