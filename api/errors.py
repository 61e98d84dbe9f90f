"""Every error leaves as RFC 9457 problem+json. Domain errors map to HTTP here, once."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import psycopg
from eventsourcing import persistence as es_persistence
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.db import ServerBusyError
from domain.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    UpstreamError,
)
from projections import tracking

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class NotAuthenticatedError(Exception):
    def __init__(self, detail: str = "sign in first") -> None:
        self.detail = detail


class ForbiddenError(Exception):
    def __init__(self, detail: str = "your role does not allow this") -> None:
        self.detail = detail


class ReadModelBehindError(Exception):
    """The command succeeded, but the view its answer is built from has not caught up within
    the read-your-writes wait: 503 with Retry-After, so the client re-reads instead of
    repeating the command."""

    def __init__(self, detail: str = "saved; the view is still catching up, read it again shortly") -> None:
        self.detail = detail


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    request: Request | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": f"/problems/{_slug(title)}", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if request is not None:
        body["instance"] = request.url.path
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# The first class the error is an instance of decides its status; any other DomainError is a 400.
_STATUSES: tuple[tuple[type[DomainError], int], ...] = (
    (UpstreamError, 502), (AuthenticationError, 401), (PermissionDeniedError, 403),
    (RateLimitedError, 429), (NotFoundError, 404), (ConflictError, 409),
)


def status_for(error: DomainError) -> int:
    return next((status for cls, status in _STATUSES if isinstance(error, cls)), 400)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        out.append({"field": ".".join(loc) or None, "message": err.get("msg"), "code": err.get("type")})
    return out


# The database is down, restarting, or refused for the moment (a pool timeout is a
# psycopg OperationalError; the event store wraps psycopg's errors in its own): 503, retry.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError, psycopg.InterfaceError,
    es_persistence.OperationalError, es_persistence.InterfaceError,
)
_NO_CONNECTION: tuple[type[Exception], ...] = (ServerBusyError, *DATABASE_UNAVAILABLE)


async def _remember_saved(request: Request, application: str, position: int | None) -> None:
    """Read-your-writes for a command that saved and then raised: the signed-in caller's
    next read waits for that save, as after any other write."""
    user = getattr(request.state, "user", None)
    if user is None or position is None:
        return
    try:
        async with request.app.state.db_gate.connection() as conn:
            await run_in_threadpool(tracking.record_write, conn, user.id, application, position)
    except _NO_CONNECTION as exc:  # the refusal still stands
        log.warning("could not record the write of a refused command: %s", exc)


INTERNAL_ERROR_DETAIL = "something went wrong on our side; the request id is in the X-Request-ID header"


def internal_error(path: str) -> JSONResponse:
    """The 500 answer. Sent by the request-id middleware (api/logging.py), which also logs the
    exception, once, with its request id: an exception handler here would run outside that
    middleware, and Starlette re-raises after it for the server to log a second time."""
    body = {"type": "/problems/internal-server-error", "title": "Internal Server Error",
            "status": 500, "detail": INTERNAL_ERROR_DETAIL, "instance": path}
    return JSONResponse(body, status_code=500, media_type=PROBLEM_JSON)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(
            400, "Invalid request", "the request failed validation",
            errors=_field_errors(exc), request=request,
        )

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        if exc.saved is not None:  # saved, then refused: still the caller's write
            await _remember_saved(request, *exc.saved)
        errors = [{"field": exc.field, "message": exc.detail}] if exc.field else None
        headers = None
        if isinstance(exc, RateLimitedError):
            headers = {"Retry-After": str(exc.retry_after)}
        elif isinstance(exc, AuthenticationError):
            headers = {"WWW-Authenticate": "Bearer"}
        return problem(
            status_for(exc), exc.title, exc.detail, errors=errors, headers=headers, request=request
        )

    @app.exception_handler(NotAuthenticatedError)
    async def _unauthenticated(request: Request, exc: NotAuthenticatedError) -> JSONResponse:
        return problem(
            401, "Not authenticated", exc.detail,
            headers={"WWW-Authenticate": "Bearer"}, request=request,
        )

    @app.exception_handler(ForbiddenError)
    async def _forbidden(request: Request, exc: ForbiddenError) -> JSONResponse:
        return problem(403, "Forbidden", exc.detail, request=request)

    @app.exception_handler(ReadModelBehindError)
    async def _behind(request: Request, exc: ReadModelBehindError) -> JSONResponse:
        return problem(503, "Read model catching up", exc.detail, headers={"Retry-After": "1"},
                       request=request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        headers = dict(exc.headers) if exc.headers else None
        return problem(exc.status_code, title, detail, headers=headers, request=request)

    @app.exception_handler(ServerBusyError)
    async def _busy(request: Request, exc: ServerBusyError) -> JSONResponse:
        return problem(503, "Service Unavailable", exc.detail,
                       headers={"Retry-After": str(exc.retry_after)}, request=request)

    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable on %s %s: %s: %s", request.method, request.url.path,
                    type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        return problem(503, "Service Unavailable", "the database is unavailable; try again shortly",
                       headers={"Retry-After": "1"}, request=request)

    for error_class in DATABASE_UNAVAILABLE:
        app.add_exception_handler(error_class, _database_unavailable)
