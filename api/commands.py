"""What every command endpoint shares: the signed-in user as the domain's `Actor`, how a
command's result becomes its answer (`settled`), read-your-writes included, and the `Caller`
that carries both into a route (from a `...Call` dependency in api/dependencies.py).

Each family of commands says how it settles once, as a `Settlement`: the application its
writes are in, whose views they change besides the caller's, the read model the answer waits
for (none when the answer comes from the saved aggregate itself) and the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar
from uuid import UUID

from psycopg import Connection

from api.read_your_writes import await_read_model, remember_write
from domain.actor import Actor
from domain.saving import Saved
from identity.users import User
from projections.read_model import ReadModel
from runtime import Runtime

V = TypeVar("V")
R = TypeVar("R")

Concerns = Iterable[UUID | str | None]


def actor(user: User) -> Actor:
    """The signed-in user as the domain sees them."""
    return Actor(str(user.id), user.role)


def no_one_else(conn: Connection, value: object) -> Concerns:
    return ()


@dataclass(frozen=True)
class Settlement(Generic[V, R]):
    application: str
    answer: Callable[[Runtime, Connection, User, V], R]
    read_model: ReadModel | None = None
    concerns: Callable[[Connection, V], Concerns] = no_one_else


def from_value(answer: Callable[[V], R]) -> Callable[[Runtime, Connection, User, V], R]:
    """An answer made from the saved aggregate alone: a lagging read model must not turn a
    successful command into an error."""
    return lambda runtime, conn, user, value: answer(value)


def settled(runtime: Runtime, conn: Connection, user: User, saved: Saved[V], how: Settlement[V, R]) -> R:
    """Records the write for the caller and everyone it concerns (their next read waits for
    it), waits until `how.read_model` has it, if any, and answers."""
    remember_write(conn, user, how.application, saved.position, concerns=how.concerns(conn, saved.value))
    if how.read_model is not None:
        await_read_model(runtime, conn, user, how.read_model)
    return how.answer(runtime, conn, user, saved.value)


@dataclass(frozen=True)
class Caller:
    """The signed-in user with what their command needs: the runtime and this request's
    connection. A route takes one instead of the three."""

    user: User
    runtime: Runtime
    conn: Connection

    @property
    def actor(self) -> Actor:
        return actor(self.user)

    def settle(self, saved: Saved[V], how: Settlement[V, R]) -> R:
        return settled(self.runtime, self.conn, self.user, saved, how)
