"""Shared FastAPI dependencies: the runtime, a database connection, the signed-in user."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, fields
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from psycopg import Connection

from api.db import DatabaseGate
from api.errors import NotAuthenticatedError
from domain.actor import Role
from domain.errors import PermissionDeniedError
from identity import sessions
from identity.users import CUSTOMER, SELF_SERVICE_ROLES, User
from projections import tracking
from projections.read_model import ReadModel
from runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_gate(request: Request) -> DatabaseGate:
    gate: DatabaseGate = request.app.state.db_gate
    return gate


async def get_connection(request: Request) -> AsyncIterator[Connection]:
    """Async on purpose: the wait for a connection happens in the event loop, not in a thread
    (see api/db.py). Returned when the endpoint returns, before the response is sent."""
    async with get_gate(request).connection() as conn:
        yield conn


ConnectionDep = Annotated[Connection, Depends(get_connection, scope="function")]


def credentials(request: Request, runtime: Runtime) -> str | None:
    """The session token, from the cookie or an Authorization: Bearer header."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.cookies.get(runtime.settings.session_cookie_name)


@dataclass(frozen=True)
class SignedInUser(User):
    """The user of this request, with the logs on which they (or everyone) had a write
    recorded when the request began, plus those this request records (`remember_write`):
    a view of any other log has no write of theirs to wait for."""

    wrote_to: set[str] = field(default_factory=set, compare=False, repr=False)


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
    return user


CurrentUser = Annotated[User, Depends(current_user)]


class RoleGate:
    """Lets through signed-in users whose role is one of `roles`; others get 403.
    The access-control test reads `roles` off every route, so keep gates declarative."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)

    def __call__(self, user: CurrentUser) -> User:
        if user.role not in self.roles:
            raise PermissionDeniedError(
                f"this needs one of the roles: {', '.join(sorted(self.roles))}"
            )
        return user


Customer = Annotated[User, Depends(RoleGate(CUSTOMER))]
SelfService = Annotated[User, Depends(RoleGate(*SELF_SERVICE_ROLES))]


def client_ip(request: Request) -> str:
    # The direct peer. Behind a proxy, run uvicorn with --proxy-headers so this is the client.
    return request.client.host if request.client else "unknown"


def remember_write(conn: Connection, user: User, application: str, position: int | None,
                   *, concerns: Iterable[UUID | str | None] = ()) -> None:
    """Read-your-writes: the caller's next read of a view fed by `application` waits for
    `position`. `concerns` are the other users whose view the write changes (the order's
    customer when a vendor accepts it, the ticket's customer when staff answer): their next
    read waits for it too."""
    if position is None:
        return
    if isinstance(user, SignedInUser):
        user.wrote_to.add(application)  # a read later in this request waits for it
    others = {UUID(str(u)) for u in concerns if u}
    for user_id in sorted({user.id, *others}):  # one lock order, whatever the caller
        tracking.record_write(conn, user_id, application, position)


def await_read_model(runtime: Runtime, conn: Connection, user: User, model: ReadModel) -> None:
    """Read-your-writes: wait (bounded) until `model` has this user's last write."""
    if isinstance(user, SignedInUser) and model.application not in user.wrote_to:
        return  # no write of theirs (nor everyone's) on that log: nothing to wait for
    tracking.wait_for_user_writes(
        conn, user.id, model.name, model.application,
        runtime.settings.read_your_writes_timeout_seconds,
    )
