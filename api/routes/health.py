"""GET /healthz (process alive) and GET /readyz (database reachable, workers keeping up)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from psycopg import sql

from api.dependencies import RuntimeDep
from api.errors import problem
from projections import READ_MODELS

router = APIRouter(tags=["health"])

# A worker that has not beaten for this long is considered stopped.
STALE_AFTER_SECONDS = 15.0


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database reachable and every projection worker alive",
    responses={503: {"description": "not ready", "content": {"application/problem+json": {}}}},
)
def readyz(request: Request, runtime: RuntimeDep) -> Any:
    try:
        with runtime.pool.connection(timeout=2) as conn:
            rows = conn.execute(
                "SELECT follower, application, position, "
                "extract(epoch FROM now() - heartbeat_at) FROM follower_positions"
            ).fetchall()
            heads = {
                app: conn.execute(
                    sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(
                        sql.Identifier(f"{app}_events")
                    )
                ).fetchone()[0]  # type: ignore[index]
                for app in runtime.applications
            }
    except Exception as exc:  # any failure to reach the database means not ready
        return problem(503, "Not ready", f"database unreachable: {type(exc).__name__}")
    projections: dict[str, Any] = {}
    problems = []
    for follower, app, position, age in rows:
        if follower not in READ_MODELS:
            continue
        projections[follower] = {
            "position": position,
            "lag": max(heads.get(app, 0) - position, 0),
            "heartbeat_age_seconds": None if age is None else round(float(age), 3),
        }
        if age is None or float(age) > STALE_AFTER_SECONDS:
            problems.append(f"projection {follower} is not running")
    supervisor = getattr(request.app.state, "supervisor", None)
    if supervisor is not None and not supervisor.alive():
        problems.append("an in-process worker thread died")
    if problems:
        return problem(503, "Not ready", "; ".join(problems))
    return JSONResponse({"status": "ready", "database": "ok", "projections": projections})
