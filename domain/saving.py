"""What every application's commands share: results that carry their log position,
and optimistic-concurrency retries."""

from __future__ import annotations

import dataclasses
import functools
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, ParamSpec, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from domain.errors import ConcurrencyError, NotFoundError

P = ParamSpec("P")
T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)

CONFLICT_RETRIES = 10


@dataclass(frozen=True)
class Saved(Generic[T]):
    """A command's result and the log position of its last event, so that the caller
    can wait for read models to reach it (read-your-writes)."""

    value: T
    position: int | None


def retry_on_conflict(command: Callable[P, T]) -> Callable[P, T]:
    """Optimistic concurrency: a save that lost the race reloads and decides again."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(CONFLICT_RETRIES):
            started = time.monotonic()
            try:
                return command(*args, **kwargs)
            except IntegrityError:
                # Random back-off, in units of the command's own duration: writers in
                # lock-step would otherwise keep colliding, and the same one keep losing. A
                # fixed scale is too short on a busy machine, where a command takes longer.
                took = max(time.monotonic() - started, 0.001)
                time.sleep(random.uniform(0, took * 2 ** min(attempt, 4)))
        raise ConcurrencyError("too many concurrent updates, try again")

    return wrapper


class SetAsList(Transcoding):
    """Aggregates keep sets (payments seen, refunds recorded); snapshots must store them."""

    type = set
    name = "set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return sorted(obj, key=str)

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


class ValueAsDict(Transcoding):
    """A frozen dataclass value (a cart line, a variant) in a snapshot, as its fields."""

    def __init__(self, value_type: type[Any], name: str) -> None:
        self.type = value_type
        self.name = name

    def encode(self, obj: Any) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**data)


class EventMartApplication(Application[UUID]):
    # The context's not-found error for each kind of aggregate `get` looks up; other kinds
    # raise the plain NotFoundError.
    not_found_errors: ClassVar[Mapping[type[Aggregate], type[NotFoundError]]] = {}
    # Values its aggregates hold, by the name their snapshots store them under.
    snapshot_values: ClassVar[Mapping[str, type[Any]]] = {}

    def _get(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        """The aggregate of that kind, or None: a missing id and another kind look the same."""
        try:
            found: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, kind) else None

    def get(self, aggregate_id: UUID, kind: type[A]) -> A:
        """The aggregate of that kind, or the context's not-found error for it
        ("order <id> not found")."""
        found = self._get(aggregate_id, kind)
        if found is None:
            error = self.not_found_errors.get(kind, NotFoundError)
            raise error(f"{kind.__name__.lower()} {aggregate_id} not found")
        return found

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(SetAsList())
        for name, value_type in self.snapshot_values.items():
            transcoder.register(ValueAsDict(value_type, name))

    def log_head(self) -> int | None:
        """The log's last position. Whatever was saved before now is at or below it: the
        read-your-writes position of a command that found its effect already saved."""
        return self.recorder.max_notification_id()

    def save_all(self, *aggregates: Aggregate) -> int | None:
        """Saves atomically; returns the log position of the last new event."""
        recordings = self.save(*aggregates)
        return recordings[-1].notification.id if recordings else None
