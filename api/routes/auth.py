"""Flow Specs §1: /auth/register, /auth/login, /auth/me, /auth/logout."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, Request, Response, status
from psycopg import Connection
from pydantic import BaseModel, EmailStr, Field

from api.db import ServerBusyError
from api.dependencies import (
    ConnectionDep,
    CurrentUser,
    GateDep,
    HashSlotsDep,
    RuntimeDep,
    client_ip,
    credentials,
)
from api.errors import DATABASE_UNAVAILABLE, NotAuthenticatedError
from api.routing import Router
from api.text import RequestModel
from domain.errors import RateLimitedError
from identity import login_throttle, sessions, users
from runtime import Runtime

router = Router(prefix="/auth", tags=["auth"])


class Registration(RequestModel):
    email: EmailStr
    # The bounds of users.check_password_strength, declared (letters of any script plus
    # digits or symbols is checked there).
    password: str = Field(min_length=8, max_length=128)
    role: Literal["customer", "vendor"] = "customer"

    model_config = {
        "json_schema_extra": {
            "examples": [{"email": "asha@example.com", "password": "s3cret-pass", "role": "customer"}]
        }
    }


class Credentials(RequestModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)

    model_config = {
        "json_schema_extra": {"examples": [{"email": "asha@example.com", "password": "s3cret-pass"}]}
    }


class UserOut(BaseModel):
    id: str
    email: str | None
    phone: str | None
    role: str
    name: str | None
    city: str | None
    society: str | None
    basic_onboarding_done: bool
    role_onboarding_done: bool
    created_at: str
    updated_at: str

    model_config = {
        "json_schema_extra": {
            "examples": [{
                "id": "6f1c1b8e-1f7e-4d0a-9c55-0c7d1c2e9a10", "email": "asha@example.com",
                "phone": None, "role": "customer", "name": None, "city": None, "society": None,
                "basic_onboarding_done": False, "role_onboarding_done": False,
                "created_at": "2026-11-22T10:00:00+00:00", "updated_at": "2026-11-22T10:00:00+00:00",
            }]
        }
    }


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=UserOut,
             summary="Create an account (roles: customer, vendor)",
             responses={409: {"description": "the email is taken"},
                        429: {"description": "too many sign-ups hashing at once; see Retry-After"}})
async def register(body: Registration, runtime: RuntimeDep, gate: GateDep,
                   hashing: HashSlotsDep) -> dict[str, Any]:
    users.check_password_strength(body.password)
    # Hashed holding no connection: sign-ups waiting for a hash slot leave the pool to others.
    password_hash = await hashing.hash(body.password)
    user = await gate.run(lambda conn: users.create_user(
        conn, role=body.role, email=body.email, password_hash=password_hash, now=runtime.clock()))
    return user.public()


@router.post("/login", response_model=UserOut, summary="Sign in; sets the session cookie",
             responses={401: {"description": "bad credentials (one message for any)"},
                        429: {"description": "too many failed sign-ins; see Retry-After"}})
async def login(
    body: Credentials, response: Response, runtime: RuntimeDep, gate: GateDep,
    hashing: HashSlotsDep, ip: Annotated[str, Depends(client_ip)],
) -> dict[str, Any]:
    settings, now = runtime.settings, runtime.clock()
    window = timedelta(seconds=settings.login_failure_window_seconds)

    def claim_and_find(conn: Connection) -> tuple[users.User, str | None] | None:
        # Before any hashing: a flood of guesses costs a query each, not an argon2 hash.
        login_throttle.claim_attempt(conn, email=body.email, client_ip=ip, now=now,
                                     per_account=settings.login_failures_per_account,
                                     per_ip=settings.login_failures_per_ip, window=window)
        return users.find_by_email(conn, body.email)

    async def release_claim() -> None:
        with contextlib.suppress(ServerBusyError, *DATABASE_UNAVAILABLE):  # best effort, under load
            await gate.run(lambda conn: login_throttle.release_claim(
                conn, email=body.email, client_ip=ip, now=now))

    found = await gate.run(claim_and_find)
    password_hash = found[1] if found else None
    # Verify even for unknown emails: same answer and about the same time either way. No
    # connection is held meanwhile (api/hashing.py).
    try:
        verified = await hashing.verify(password_hash, body.password)
    except RateLimitedError:  # no hash slot in time: shed for load, not a wrong password
        await release_claim()
        raise
    if not verified or found is None:
        await gate.run(lambda conn: login_throttle.record_failure(
            conn, email=body.email, client_ip=ip, now=now, window=window))
        raise NotAuthenticatedError("invalid email or password")
    user = found[0]
    ttl = timedelta(seconds=runtime.settings.session_ttl_seconds)
    # A hash made with older settings is made again now that the password is known: until
    # then each sign-in pays the old cost (4 threads a hash, see identity/users.py).
    rehashed = None
    if password_hash and runtime.passwords.needs_rehash(password_hash):
        with contextlib.suppress(RateLimitedError):  # no slot now: the next sign-in will
            rehashed = await hashing.hash(body.password)

    def start_session(conn: Connection) -> str:
        login_throttle.record_success(conn, email=body.email, client_ip=ip, now=now)
        if rehashed is not None:
            users.set_password_hash(conn, user.id, rehashed)
        return sessions.start_session(conn, user.id, now=runtime.clock(), ttl=ttl)

    try:
        token = await gate.run(start_session)
    except ServerBusyError:  # the right password, shed for load: not a failed sign-in
        await release_claim()
        raise
    response.set_cookie(
        runtime.settings.session_cookie_name,
        token,
        max_age=runtime.settings.session_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=not runtime.settings.is_dev,
        path="/",
    )
    return user.public()


@router.get("/me", response_model=UserOut, summary="The signed-in user")
def me(user: CurrentUser) -> dict[str, Any]:
    return user.public()


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT,
             summary="End this session and clear its cookie")
def logout(request: Request, runtime: RuntimeDep, conn: ConnectionDep) -> Response:
    return sign_out(request, runtime, conn)


def sign_out(request: Request, runtime: Runtime, conn: Connection) -> Response:
    """Both URL families' logout: ends the presented session or token family."""
    token = credentials(request, runtime)
    if token:
        sessions.end_session(conn, token, now=runtime.clock())
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_cookie(response, runtime)
    return response


def clear_cookie(response: Response, runtime: Runtime) -> None:
    response.delete_cookie(
        runtime.settings.session_cookie_name, path="/", httponly=True, samesite="lax",
        secure=not runtime.settings.is_dev,
    )
