"""Loading aggregates in few round trips: what a command attempt has already loaded, and the
interface of a version-checked cache that loads several aggregates in one statement.

Pure: the cache itself (SQL over the event and snapshot tables) lives outside the domain
(adapters/aggregate_cache.py) and is handed to the applications as an `AggregateSource`.

A command attempt (one try of a `retry_on_conflict` command) has a scope: every aggregate it
loads is checked against the store once, then served from the scope for the rest of the
attempt, so a command that asks for the same product twice costs one look-up, and a command
can prefetch everything it will need in one statement. A lost optimistic-concurrency race
empties the scope, so the retry sees fresh state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate

# (application name, aggregate id)
Key = tuple[str, UUID]


class AggregateSource(Protocol):
    """Aggregates as they are stored now, several per round trip."""

    def load(self, wanted: Sequence[tuple[Any, UUID]]) -> dict[Key, Aggregate | None]:
        """The current state of each (application, id); None for one that does not exist.
        The aggregates returned are shared: callers must not change them (copy first)."""
        ...

    def remember(self, application: str, aggregates: Iterable[Aggregate]) -> None:
        """Aggregates just saved (no pending events): the next load starts from them."""
        ...

    def peek(self, application: str, aggregate_id: UUID) -> Aggregate | None:
        """What the cache holds, unchecked and possibly stale: only to guess what else a
        command will need (a product's shop and variants), never to decide anything."""
        ...


_scope: ContextVar[dict[Key, Aggregate | None] | None] = ContextVar(
    "eventmart_command_scope", default=None)


def current_scope() -> dict[Key, Aggregate | None] | None:
    return _scope.get()


@contextmanager
def command_scope() -> Iterator[dict[Key, Aggregate | None]]:
    """The scope of a command; a command called from inside another shares its scope, so
    what the outer one saved is what the inner one sees."""
    existing = _scope.get()
    if existing is not None:
        yield existing
        return
    token = _scope.set({})
    try:
        scope = _scope.get()
        assert scope is not None
        yield scope
    finally:
        _scope.reset(token)
