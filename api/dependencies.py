"""Shared FastAPI dependencies: the runtime, a database connection, the signed-in user, and
the role sets that gate routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import fields
from typing import Annotated

from fastapi import Depends, Request
from psycopg import Connection

from api.commands import Caller
from api.db import DatabaseGate
from api.errors import NotAuthenticatedError
from api.hashing import HashSlots
from api.read_your_writes import SignedInUser, writer_of_this_request
from domain.actor import Role
from domain.errors import PermissionDeniedError
from identity import sessions
from identity.users import SELF_SERVICE_ROLES, User
from projections import tracking
from runtime import Runtime

# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in the
# thread pool, a hand-off to a thread and back for a few attribute reads.


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_gate(request: Request) -> DatabaseGate:
    gate: DatabaseGate = request.app.state.db_gate
    return gate


GateDep = Annotated[DatabaseGate, Depends(get_gate)]


async def get_hash_slots(request: Request) -> HashSlots:
    slots: HashSlots = request.app.state.hash_slots
    return slots


HashSlotsDep = Annotated[HashSlots, Depends(get_hash_slots)]


async def get_connection(request: Request) -> AsyncIterator[Connection]:
    """Async on purpose: the wait for a connection happens in the event loop, not in a thread
    (see api/db.py). Returned when the endpoint returns, before the response is sent."""
    async with (await get_gate(request)).connection() as conn:
        yield conn


ConnectionDep = Annotated[Connection, Depends(get_connection, scope="function")]


def credentials(request: Request, runtime: Runtime) -> str | None:
    """The session token, from the cookie or an Authorization: Bearer header."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.cookies.get(runtime.settings.session_cookie_name)


def current_user(request: Request, runtime: RuntimeDep, conn: ConnectionDep) -> User:
    token = credentials(request, runtime)
    if not token:
        raise NotAuthenticatedError()
    found = sessions.signed_in(conn, token, now=runtime.clock(), writes_of=(tracking.EVERYONE,))
    if found is None:
        raise NotAuthenticatedError("session expired or signed out")
    user = SignedInUser(**{f.name: getattr(found[0], f.name) for f in fields(User)},
                        wrote_to=found[1])
    request.state.user = user  # a domain error that saved records its write for this user
    writer_of_this_request(user)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


class RoleGate:
    """Lets through signed-in users whose role is one of `roles`; others get 403.
    The access-control test and the OpenAPI's 403s read `roles` off every route, so keep
    gates declarative."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)

    def admit(self, user: User) -> User:
        if user.role not in self.roles:
            raise PermissionDeniedError(
                f"this needs one of the roles: {', '.join(sorted(self.roles))}"
            )
        return user


class UserGate(RoleGate):
    """Answers with the user: for routes that need only who is asking."""

    async def __call__(self, user: CurrentUser) -> User:
        return self.admit(user)


class CallerGate(RoleGate):
    """Answers with the caller: the user with the runtime and this request's connection,
    the very one every other dependency of the request gets (FastAPI caches it)."""

    async def __call__(self, user: CurrentUser, runtime: RuntimeDep, conn: ConnectionDep) -> Caller:
        return Caller(self.admit(user), runtime, conn)


# Who may call what, each role set once: `X` answers with the user, `XCall` with the caller.
Customer = Annotated[User, Depends(UserGate(Role.CUSTOMER))]
CustomerCall = Annotated[Caller, Depends(CallerGate(Role.CUSTOMER))]
SelfService = Annotated[User, Depends(UserGate(*SELF_SERVICE_ROLES))]
SelfServiceCall = Annotated[Caller, Depends(CallerGate(*SELF_SERVICE_ROLES))]
# Vendors act on their own shops and their orders, admins on any.
Vendor = Annotated[User, Depends(UserGate(Role.VENDOR, Role.ADMIN))]
VendorCall = Annotated[Caller, Depends(CallerGate(Role.VENDOR, Role.ADMIN))]
Staff = Annotated[User, Depends(UserGate(Role.SUPPORT, Role.ADMIN))]
StaffCall = Annotated[Caller, Depends(CallerGate(Role.SUPPORT, Role.ADMIN))]
Admin = Annotated[User, Depends(UserGate(Role.ADMIN))]
AdminCall = Annotated[Caller, Depends(CallerGate(Role.ADMIN))]
Auditor = Annotated[User, Depends(UserGate(Role.AUDITOR, Role.ADMIN))]
# Anyone who may see an order: its customer, its shop's vendor, support, admins, auditors.
Reader = Annotated[User, Depends(UserGate(Role.CUSTOMER, Role.VENDOR, Role.SUPPORT, Role.ADMIN, Role.AUDITOR))]
# Customers refund their own cancelled orders; support and admins anyone's.
RefunderCall = Annotated[Caller, Depends(CallerGate(Role.CUSTOMER, Role.SUPPORT, Role.ADMIN))]
Uploader = Annotated[User, Depends(UserGate(Role.ADMIN, Role.CUSTOMER, Role.VENDOR))]


async def client_ip(request: Request) -> str:
    # The direct peer. Behind a proxy, run uvicorn with --proxy-headers so this is the client.
    return request.client.host if request.client else "unknown"
