"""Given events, when a command, then new events or an error; given events, then rows.

In the style of Emmett's DeciderSpecification, for eventsourcing aggregates: the given
events are replayed through the aggregate's own event handlers (as the repository
would), the command runs on the result, and the events it records are compared.

For read models (`projection`): the given events are folded through the projection's pure
`evolve`, as its `apply` would fold them, and the row (or document) it ends with is compared.
No database either way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")

FIXED_TIME = datetime(2026, 1, 1, tzinfo=UTC)


class Stream(Generic[A]):
    """Builds the events of one aggregate, numbering versions for you."""

    def __init__(self, aggregate_class: type[A], aggregate_id: UUID | None = None) -> None:
        self.aggregate_class = aggregate_class
        self.id = aggregate_id or uuid4()
        self.version = 0

    def event(self, event_class: type[Aggregate.Event], **attrs: Any) -> Aggregate.Event:
        self.version += 1
        extra: dict[str, Any] = {}
        if issubclass(event_class, Aggregate.Created):
            extra["originator_topic"] = get_topic(self.aggregate_class)
        timestamp = attrs.pop("timestamp", FIXED_TIME)  # FIXED_TIME unless the spec says when
        return event_class(  # type: ignore[call-arg]
            originator_id=self.id, originator_version=self.version, timestamp=timestamp,
            **extra, **attrs,
        )


class Spec(Generic[A]):
    def __init__(self, given: list[Aggregate.Event]) -> None:
        self.given = given

    def when(self, command: Callable[[A], Any]) -> Then:
        aggregate: Any = None
        for e in self.given:
            aggregate = e.mutate(aggregate)
        assert aggregate is not None, "given no events: nothing to act on"
        return Then(aggregate, command)


def given(*events: Aggregate.Event) -> Spec[Any]:
    return Spec(list(events))


class Then:
    def __init__(self, aggregate: Any, command: Callable[[Any], Any]) -> None:
        self.aggregate = aggregate
        self.command = command

    def then(self, *expected: tuple[type[Aggregate.Event], dict[str, Any]]) -> Any:
        """Each expected event as (class, attributes that must match)."""
        self.command(self.aggregate)
        recorded = self.aggregate.collect_events()
        assert [type(e) for e in recorded] == [cls for cls, _ in expected]
        for event, (_, attrs) in zip(recorded, expected, strict=True):
            for name, value in attrs.items():
                assert getattr(event, name) == value, f"{type(event).__name__}.{name}"
        return self.aggregate

    def then_nothing(self) -> Any:
        return self.then()

    def then_error(self, error: type[Exception], match: str | None = None) -> None:
        with pytest.raises(error, match=match):
            self.command(self.aggregate)
        assert self.aggregate.collect_events() == [], "a failed command must record nothing"


class Projection(Generic[R]):
    """A read model's pure `evolve(row, event) -> row`, to be given events."""

    def __init__(self, evolve: Callable[[R | None, Any], R | None]) -> None:
        self.evolve = evolve

    def given(self, *events: Aggregate.Event) -> Projected[R]:
        row: R | None = None
        for event in events:
            row = self.evolve(row, event)
        return Projected(row)


def projection(evolve: Callable[[R | None, Any], R | None]) -> Projection[R]:
    """`projection(wallet_balance.evolve).given(opened, credited).then({...})`."""
    return Projection(evolve)


class Projected(Generic[R]):
    def __init__(self, row: R | None) -> None:
        self.row = row

    def then(self, expected: R) -> R:
        """The whole row (or document) the events fold into."""
        assert self.row == expected
        return self.row

    def then_including(self, **expected: Any) -> R:
        """Only these fields of the row (or document); the others are another spec's business."""
        assert self.row is not None, "the events fold into no row"
        found = {name: self.row[name] for name in expected}  # type: ignore[index]
        assert found == expected
        return self.row

    def then_nothing(self) -> None:
        """The events make no row (say, events of an aggregate whose creation was never seen)."""
        assert self.row is None
