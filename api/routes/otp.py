"""Customer Journey sign-in by phone: /api/v1/send-otp and /api/v1/verify-otp."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel, Field

from api.dependencies import ConnectionDep, RuntimeDep, client_ip
from api.routes.auth import UserOut
from api.routing import Router
from api.text import RequestModel
from identity import otp, sessions, users

router = Router(prefix="/api/v1", tags=["phone sign-in"])


class PhoneIn(RequestModel):
    phone: str = Field(max_length=32, description="E.164, e.g. +919812345678")

    model_config = {"json_schema_extra": {"examples": [{"phone": "+919812345678"}]}}


class CodeSent(BaseModel):
    detail: str
    expires_in: int
    debug_otp: str | None = Field(default=None, description="Only in dev mode (EVENTMART_ENV=dev)")


class VerifyIn(RequestModel):
    phone: str = Field(max_length=32)
    otp: str = Field(pattern=r"^[0-9]{6}$")

    model_config = {"json_schema_extra": {"examples": [{"phone": "+919812345678", "otp": "493021"}]}}


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    user: UserOut


def token_response(pair: sessions.TokenPair, user: users.User) -> dict[str, Any]:
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "bearer",
        "expires_in": pair.expires_in,
        "user": user.public(),
    }


@router.post(
    "/send-otp", response_model=CodeSent, response_model_exclude_none=True,
    summary="Text a 6-digit sign-in code (same answer whether or not the phone is registered)",
    responses={429: {"description": "rate limited; see Retry-After"}},
)
def send_otp(
    body: PhoneIn, runtime: RuntimeDep, conn: ConnectionDep, ip: Annotated[str, Depends(client_ip)]
) -> dict[str, Any]:
    sent = otp.send_code(
        conn, runtime.sms, phone=body.phone, client_ip=ip, now=runtime.clock(),
        secret_key=runtime.settings.secret_key,
        ip_per_hour=runtime.settings.otp_sends_per_ip_per_hour,
    )
    out: dict[str, Any] = {"detail": "code sent", "expires_in": sent.expires_in}
    if runtime.settings.is_dev:
        out["debug_otp"] = sent.code
    return out


@router.post(
    "/verify-otp", response_model=Tokens,
    summary="Exchange the code for tokens; creates the account on first sign-in",
    responses={401: {"description": "wrong or expired code"},
               429: {"description": "too many wrong codes: ask for a new one"}},
)
def verify_otp(body: VerifyIn, runtime: RuntimeDep, conn: ConnectionDep) -> dict[str, Any]:
    now = runtime.clock()
    phone = otp.verify_code(
        conn, phone=body.phone, code=body.otp, now=now, secret_key=runtime.settings.secret_key
    )
    user = users.user_for_phone(conn, phone, now=now)
    pair = sessions.issue_tokens(
        conn, user.id, now=now,
        access_ttl=timedelta(seconds=runtime.settings.access_token_ttl_seconds),
        refresh_ttl=timedelta(seconds=runtime.settings.refresh_token_ttl_seconds),
    )
    return token_response(pair, user)
