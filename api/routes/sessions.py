"""Token refresh and signing out: /api/v1/token/refresh, /api/v1/logout, /api/v1/logout-all."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import Request, Response, status
from pydantic import BaseModel, Field

from api.dependencies import ConnectionDep, CurrentUser, RuntimeDep
from api.routes.auth import clear_cookie, sign_out
from api.routes.otp import Tokens, token_response
from api.routing import Router
from api.text import RequestModel
from identity import sessions, users

router = Router(prefix="/api/v1", tags=["sessions"])


class RefreshIn(RequestModel):
    refresh_token: str = Field(min_length=1, max_length=256)

    model_config = {"json_schema_extra": {"examples": [{"refresh_token": "rt_2b7f0c8e9d4a4f1b"}]}}


class LoggedOutEverywhere(BaseModel):
    revoked_sessions: int


@router.post("/token/refresh", response_model=Tokens,
             summary="Rotate a refresh token; re-use of a dead one revokes that sign-in",
             responses={401: {"description": "unknown, expired or re-used refresh token"}})
def refresh(body: RefreshIn, runtime: RuntimeDep, conn: ConnectionDep) -> dict[str, Any]:
    user_id, pair = sessions.rotate_refresh_token(
        conn, body.refresh_token, now=runtime.clock(),
        access_ttl=timedelta(seconds=runtime.settings.access_token_ttl_seconds),
        refresh_ttl=timedelta(seconds=runtime.settings.refresh_token_ttl_seconds),
    )
    user = users.get_user(conn, user_id)
    assert user is not None
    return token_response(pair, user)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT,
             summary="Sign out this device: ends its session or token family")
def logout(request: Request, runtime: RuntimeDep, conn: ConnectionDep) -> Response:
    return sign_out(request, runtime, conn)


@router.post("/logout-all", response_model=LoggedOutEverywhere,
             summary="Sign out everywhere: every session, cookie and refresh token, at once")
def logout_all(
    user: CurrentUser, response: Response, runtime: RuntimeDep, conn: ConnectionDep
) -> dict[str, Any]:
    revoked = sessions.end_all_sessions(conn, user.id, now=runtime.clock())
    clear_cookie(response, runtime)
    return {"revoked_sessions": revoked}
