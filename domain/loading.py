"""Loading aggregates in few round trips: what a command attempt has already loaded, and the
interface of a version-checked cache that loads several aggregates in one statement.

Pure: the cache itself (SQL over the event and snapshot tables) lives outside the domain
(adapters/aggregate_cache.py) and is handed to the applications as an `AggregateSource`.

A command attempt (one try of a `retry_on_conflict` command) has a scope: every aggregate it
loads is served from the scope for the rest of the attempt, so a command that asks for the
same product twice costs one look-up, and a command can prefetch everything it will need in
one statement. A lost optimistic-concurrency race empties the scope, so the retry sees fresh
state.

Checked at the append, not before (`CommandScope.trusting`): a command's first attempt takes
what the cache holds without asking the store, and notes each such aggregate's version
(`unchecked`). Its save then appends only if none of them has gained an event since (the
append's own statement looks, adapters/recorder.py), so what it decided on was current when
it committed, as with a look-up first, one round trip fewer. An attempt that ends without a
save (an answer, or a refusal) asks the store about them before it answers. Either way, a
cached aggregate found stale makes the command run again, every aggregate looked up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from copy import deepcopy
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from types import UnionType
from typing import Any, Literal, Protocol, TypeVar, Union, get_args, get_origin, get_type_hints
from uuid import UUID

from eventsourcing.domain import Aggregate

# (application name, aggregate id)
Key = tuple[str, UUID]

A = TypeVar("A", bound=Aggregate)


class AggregateSource(Protocol):
    """Aggregates as they are stored now, several per round trip."""

    def load(self, wanted: Sequence[tuple[Any, UUID]]) -> dict[Key, Aggregate | None]:
        """The current state of each (application, id); None for one that does not exist.
        The aggregates returned are shared: callers must not change them (copy first)."""
        ...

    def remember(self, application: str, aggregates: Iterable[Aggregate]) -> None:
        """Aggregates just saved (no pending events): the next load starts from them."""
        ...

    def known(self, application: str, aggregate_id: UUID) -> tuple[bool, Aggregate | None]:
        """(True, what the cache holds) if it holds anything for that id, unchecked and
        possibly stale; None there: it did not exist when last looked up. (False, None):
        nothing held. For a command whose save checks that nothing has changed since
        (CommandScope.trusting)."""
        ...

    def peek(self, application: str, aggregate_id: UUID) -> Aggregate | None:
        """What the cache holds, unchecked and possibly stale: only to guess what else a
        command will need (a product's shop and variants), never to decide anything."""
        ...


class CommandScope(dict[Key, "Aggregate | None"]):
    """What a command attempt has loaded, by key; see the module's doc for `trusting`."""

    def __init__(self) -> None:
        super().__init__()
        # May the next load take the cache's aggregate unchecked? Only until the attempt
        # saves (a decision after a save must not rest on something unchecked: the save
        # cannot be undone to decide again) and never after a lost race or a stale one.
        self.trusting = True
        # The aggregates taken unchecked since the last save: key -> (application, version).
        self.unchecked: dict[Key, tuple[Any, int]] = {}

    def clear(self) -> None:
        """Stale or lost: the rest of the command looks everything up."""
        super().clear()
        self.unchecked.clear()
        self.trusting = False

    def saved(self) -> None:
        """The attempt's save appended, so every aggregate it took unchecked was current at
        that commit; what it loads from here on is looked up."""
        self.unchecked.clear()
        self.trusting = False


_scope: ContextVar[CommandScope | None] = ContextVar("eventmart_command_scope", default=None)


def current_scope() -> CommandScope | None:
    return _scope.get()


@contextmanager
def command_scope() -> Iterator[CommandScope]:
    """The scope of a command; a command called from inside another shares its scope, so
    what the outer one saved is what the inner one sees."""
    existing = _scope.get()
    if existing is not None:
        yield existing
        return
    token = _scope.set(CommandScope())
    try:
        scope = _scope.get()
        assert scope is not None
        yield scope
    finally:
        _scope.reset(token)


# Types whose values nothing can change: a copy shares them. Enum types join on first sight.
_IMMUTABLE: set[type] = {str, int, float, bool, bytes, type(None), UUID, datetime, date, time,
                         timedelta, Decimal}
# Types found not to be (containers, values with a mutable field), so they are looked at once.
_MUTABLE: set[type] = {dict, list, set}


T = TypeVar("T")


def shared_by_copies(kind: type[T]) -> type[T]:
    """Declares a class whose instances nobody changes once made, though they hold containers
    (a wallet's keyed debits): a copy of an aggregate shares them instead of copying what
    they hold. A change to such a value makes a new one."""
    _IMMUTABLE.add(kind)
    return kind


def copy_aggregate(aggregate: A) -> A:
    """A copy a command may change without touching the shared one (the cache's, the
    scope's): every container is copied, to any depth; immutable values are shared.
    `copy.deepcopy` did the same at many times the cost: it rebuilds every datetime and every
    frozen value, and some states grow with history (a wallet's idempotency keys, a shop's
    rated orders, a coupon's uses), so a command on a long-lived aggregate spent most of its
    time copying (14 ms of a wallet debit with 2,000 keyed debits)."""
    copied = object.__new__(type(aggregate))
    copied.__dict__.update({name: _copy(value) for name, value in aggregate.__dict__.items()})
    return copied


def _immutable(kind: type) -> bool:
    if kind in _IMMUTABLE:
        return True
    if kind in _MUTABLE:
        return False
    if issubclass(kind, Enum) or _immutable_value_type(kind):
        _IMMUTABLE.add(kind)
        return True
    _MUTABLE.add(kind)
    return False



def _immutable_value_type(kind: type) -> bool:
    """A frozen dataclass whose fields are all declared immutable (a cart line, a variant):
    its values are shared, and a dict of them copies at C speed."""
    params = getattr(kind, "__dataclass_params__", None)
    if params is None or not params.frozen:
        return False
    try:
        hints = get_type_hints(kind)
    except (NameError, TypeError):
        return False
    return all(_immutable_hint(hints[f.name]) for f in dataclasses.fields(kind))


def _immutable_hint(hint: Any) -> bool:
    origin = get_origin(hint)
    if origin is None:
        return isinstance(hint, type) and _immutable(hint)
    if origin is Literal:
        return True
    if origin in (Union, UnionType) or origin is tuple:
        return all(arg is Ellipsis or _immutable_hint(arg) for arg in get_args(hint))
    return False


def _copy(value: Any) -> Any:
    kind = type(value)
    if _immutable(kind):
        return value
    # The common case, all values immutable, is checked and copied at C speed.
    if kind is dict:
        if _IMMUTABLE.issuperset(map(type, value.values())):
            return value.copy()
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        if _IMMUTABLE.issuperset(map(type, value)):
            return value.copy()
        return [_copy(v) for v in value]
    if kind is set:
        return value.copy()  # members are hashable: immutable values
    if kind is tuple:
        return value if _IMMUTABLE.issuperset(map(type, value)) else tuple(_copy(v) for v in value)
    params = getattr(kind, "__dataclass_params__", None)
    if params is not None and params.frozen:
        fields = [getattr(value, f.name) for f in dataclasses.fields(value)]
        if all(_immutable(type(f)) for f in fields):
            return value  # a frozen value of immutable fields (a cart line, a variant)
    return deepcopy(value)
