"""Read-your-writes: the writes a signed-in user has made, recording a new one, and waiting
until a read model has them.

Apart from api/dependencies.py so that api/commands.py (which settles commands with these)
can be imported by it: the callers that dependencies hand to routes settle through commands.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from uuid import UUID

from psycopg import Connection
from starlette.types import Message, Receive, Scope, Send

from adapters.recorder import WRITER, WriteMark
from api.asgi import HttpMiddleware
from identity.users import User
from projections import tracking
from projections.read_model import ReadModel
from runtime import Runtime

# The read models this request's reads found behind its user's last write: the wait ran out,
# or their follower has stopped. The answer then says so (`BEHIND_HEADER`) instead of passing
# what the view holds off as current.
BEHIND: ContextVar[list[str] | None] = ContextVar("eventmart_behind", default=None)
BEHIND_HEADER = b"x-read-model-behind"


@dataclass(frozen=True)
class SignedInUser(User):
    """The user of this request, with the logs on which they (or everyone) had a write
    recorded when the request began, plus those this request records (`remember_write`):
    a view of any other log has no write of theirs to wait for."""

    wrote_to: set[str] = field(default_factory=set, compare=False, repr=False)


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
    writers = {UUID(str(u)) for u in concerns if u} | {user.id}
    mark = WRITER.get()
    if mark is not None and mark.user_id == user.id and mark.recorded.get(application, 0) >= position:
        writers.discard(user.id)  # the append recorded it, in its own statement
    for user_id in sorted(writers):  # one lock order, whatever the caller
        tracking.record_write(conn, user_id, application, position)


def writer_of_this_request(user: User) -> None:
    """The appends of the rest of this request record their position for `user`."""
    mark = WRITER.get()
    if mark is not None:
        mark.user_id = user.id


class WriterMiddleware(HttpMiddleware):
    """Gives each request its own `WriteMark`: set here, in the request's task, it is the same
    object in every thread the request's dependencies and endpoint run in, so the sign-in (a
    dependency) can name the writer for the endpoint's appends."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = WRITER.set(WriteMark())
        behind: list[str] = []
        behind_token = BEHIND.set(behind)

        async def send_saying_behind(message: Message) -> None:
            if behind and message["type"] == "http.response.start":
                names = ", ".join(dict.fromkeys(behind)).encode()
                message = {**message, "headers": [*message.get("headers", ()), (BEHIND_HEADER, names)]}
            await send(message)

        try:
            await self.app(scope, receive, send_saying_behind)
        finally:
            BEHIND.reset(behind_token)
            WRITER.reset(token)


def await_read_model(runtime: Runtime, conn: Connection, user: User, model: ReadModel) -> None:
    """Read-your-writes: wait (bounded) until `model` has this user's last write."""
    if isinstance(user, SignedInUser) and model.application not in user.wrote_to:
        return  # no write of theirs (nor everyone's) on that log: nothing to wait for
    if not tracking.wait_for_user_writes(
        conn, user.id, model.name, model.application,
        runtime.settings.read_your_writes_timeout_seconds,
    ) and (behind := BEHIND.get()) is not None:
        behind.append(model.name)
