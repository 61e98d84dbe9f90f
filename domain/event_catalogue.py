"""The public event catalogue: a stable name, a schema version and a JSON Schema for every
event any application stores.

Stored topics are Python class paths (`domain.commerce.order:Order.Placed`): they change when
code moves, and they tell outsiders (auditors, Kafka consumers) about our module layout. The
public name (`commerce.order.placed`) is what leaves the process; it is pinned per aggregate
here, not derived from the module, so moving a module changes nothing public.

The schema version is the event class's `class_version`: a change of shape must come with an
upcaster anyway (old events stay readable), and tying the two means a stored event of version
N always matches the schema of version N after upcasting. `tests/domain/test_event_catalogue.py`
compares each event's fields with the checked-in `docs/events/fingerprints.json`, so a shape
change without a new version fails.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.utils import get_topic, resolve_topic

from domain.catalog.category import Category
from domain.catalog.product import Product
from domain.catalog.shop import Shop
from domain.commerce.cart import Cart
from domain.commerce.coupon import Coupon
from domain.commerce.order import Order
from domain.commerce.rewards import RewardLedger
from domain.commerce.stock import Stock
from domain.commerce.wallet import Wallet
from domain.payments.allowance import LoadAllowance
from domain.payments.payment import Payment
from domain.support.ticket import SupportTicket

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Stored on every event by the library; published as the envelope (aggregate_id, version,
# timestamp), never inside `data`.
ENVELOPE_FIELDS = frozenset({"originator_id", "originator_version", "timestamp",
                             "originator_topic"})

# Integer fields that hold money: documented as minor units in the schemas.
MONEY_FIELDS = frozenset({"amount", "price", "unit_price", "balance_after", "refund",
                          "refund_due", "amounts", "daily_limit"})
MONEY_NOTE = "money: an integer in minor units (paise, cents) of the currency"


@dataclass(frozen=True)
class AggregateKind:
    """One kind of aggregate: the application whose log holds it and its public name."""

    application: str
    name: str
    cls: type[Aggregate]
    # The class its streams start with; the library also gives every aggregate a generic
    # `Created`, which is never stored when another created event is declared.
    created: type[CanMutateAggregate[Any]]


# The public names, by the application whose log holds them: (name, class, the class its
# streams start with). Renaming an entry here renames a public type: don't; add instead.
_BY_APPLICATION: dict[str, tuple[tuple[str, type[Aggregate], type[CanMutateAggregate[Any]]], ...]] = {
    "commerce": (
        ("cart", Cart, Cart.Opened),
        ("order", Order, Order.Placed),
        ("wallet", Wallet, Wallet.Opened),
        ("reward_ledger", RewardLedger, RewardLedger.Opened),
        ("coupon", Coupon, Coupon.Created),
        ("stock", Stock, Stock.Opened),
    ),
    "catalog": (
        ("category", Category, Category.Created),
        ("shop", Shop, Shop.Registered),
        ("product", Product, Product.Listed),
    ),
    "payments": (
        ("payment", Payment, Payment.Created),
        ("load_allowance", LoadAllowance, LoadAllowance.Opened),
    ),
    "support": (
        ("ticket", SupportTicket, SupportTicket.Opened),
    ),
}

AGGREGATES: tuple[AggregateKind, ...] = tuple(
    AggregateKind(application, name, cls, created)
    for application, kinds in _BY_APPLICATION.items() for name, cls, created in kinds)

APPLICATIONS: tuple[str, ...] = tuple(_BY_APPLICATION)


@dataclass(frozen=True)
class CatalogueEntry:
    public_type: str  # e.g. "commerce.order.placed"
    schema_version: int
    application: str
    aggregate: str
    topic: str  # the stored class path, for operators reading the tables directly
    event_class: type[CanMutateAggregate[Any]]
    # name -> annotation as written, for the shape fingerprint
    fields: Mapping[str, str]

    def json_schema(self) -> dict[str, Any]:
        return event_json_schema(self)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _event_classes(kind: AggregateKind) -> Iterator[type[CanMutateAggregate[Any]]]:
    for name, value in vars(kind.cls).items():
        if not (isinstance(value, type) and issubclass(value, CanMutateAggregate)):
            continue
        if name == "Event" or (name == "Created" and value is not kind.created):
            continue  # the library's generic bases, never stored here
        yield value


def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    # Event classes are dataclasses made by the library's metaclass; mypy cannot see that.
    return dataclasses.fields(typing.cast(Any, cls))


def _entry(kind: AggregateKind, cls: type[CanMutateAggregate[Any]]) -> CatalogueEntry:
    fields = {f.name: " ".join(str(f.type).split()) for f in _fields(cls)
              if f.name not in ENVELOPE_FIELDS}
    return CatalogueEntry(
        public_type=f"{kind.application}.{kind.name}.{snake(cls.__name__)}",
        schema_version=int(getattr(cls, "class_version", 1)),
        application=kind.application,
        aggregate=kind.name,
        topic=get_topic(cls),
        event_class=cls,
        fields=fields,
    )


_ENTRIES: tuple[CatalogueEntry, ...] = tuple(
    _entry(kind, cls) for kind in AGGREGATES for cls in _event_classes(kind))
_BY_TOPIC: dict[str, CatalogueEntry] = {e.topic: e for e in _ENTRIES}
_BY_CLASS: dict[type, CatalogueEntry] = {e.event_class: e for e in _ENTRIES}
_BY_PUBLIC: dict[str, CatalogueEntry] = {e.public_type: e for e in _ENTRIES}


class UnknownEventTypeError(KeyError):
    pass


def all_entries() -> tuple[CatalogueEntry, ...]:
    """Every stored event type, grouped by aggregate kind in the order of AGGREGATES."""
    return _ENTRIES


def entry_for_topic(topic: str) -> CatalogueEntry:
    found = _BY_TOPIC.get(topic)
    if found is None:
        # A topic stored before a class moved resolves through the library's registered
        # topics (`register_topic`) to today's class.
        try:
            found = _BY_CLASS.get(resolve_topic(topic))
        except Exception as error:  # noqa: BLE001 - any failure to resolve means unknown
            raise UnknownEventTypeError(topic) from error
    if found is None:
        raise UnknownEventTypeError(topic)
    return found


def entry_for_public_type(public_type: str) -> CatalogueEntry:
    found = _BY_PUBLIC.get(public_type)
    if found is None:
        raise UnknownEventTypeError(public_type)
    return found


def public_type(topic: str) -> str:
    return entry_for_topic(topic).public_type


def topics_for(public_types: typing.Iterable[str]) -> list[str]:
    """The stored topics of these public types (for filtering the events tables by type)."""
    return [entry_for_public_type(p).topic for p in public_types]


def aggregate_kind(cls: type[Aggregate]) -> AggregateKind | None:
    return next((k for k in AGGREGATES if k.cls is cls), None)


# -- JSON values -------------------------------------------------------------------------

def to_json_value(value: Any) -> Any:
    """Ids as strings, times as ISO 8601 UTC, sets as sorted lists; money is already int."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):  # a dict, or a value that is one (a wallet's keyed debits)
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_json_value(v) for v in value), key=str)
    return value


def public_data(event: object) -> dict[str, Any]:
    """An event's own fields (without the envelope) as JSON values."""
    return {k: to_json_value(v) for k, v in vars(event).items() if k not in ENVELOPE_FIELDS}


# -- JSON Schema -------------------------------------------------------------------------

def _schema_for(hint: Any) -> dict[str, Any]:
    if hint is Any:
        return {}
    if hint is type(None):
        return {"type": "null"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is str:
        return {"type": "string"}
    if hint is UUID:
        return {"type": "string", "format": "uuid"}
    if hint is datetime:
        return {"type": "string", "format": "date-time",
                "description": "ISO 8601, UTC"}
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_schema_for(a) for a in args]}
    if origin in (list, tuple, set, frozenset):
        return {"type": "array", "items": _schema_for(args[0]) if args else {}}
    if origin is dict:
        value = _schema_for(args[1]) if len(args) == 2 else {}
        return {"type": "object", "additionalProperties": value} if value else {"type": "object"}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if typing.is_typeddict(hint):
        # The shape stored inside a dict field (an order line, an address): spelled out, so
        # that the fingerprint sees a key added, removed or retyped.
        hints = typing.get_type_hints(hint)
        return {"type": "object", "properties": {k: _schema_for(v) for k, v in hints.items()},
                "required": sorted(hint.__required_keys__)}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [m.value for m in hint]}
    raise TypeError(f"no JSON Schema for the annotation {hint!r}: add it to _schema_for")


def event_json_schema(entry: CatalogueEntry) -> dict[str, Any]:
    """The schema of the `data` object of this event type, from the class's type hints."""
    hints = typing.get_type_hints(entry.event_class)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in _fields(entry.event_class):
        if f.name in ENVELOPE_FIELDS:
            continue
        schema = _schema_for(hints[f.name])
        if f.name in MONEY_FIELDS:
            schema = {**schema, "description": MONEY_NOTE}
        properties[f.name] = schema
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:eventmart:event:{entry.public_type}:v{entry.schema_version}",
        "title": entry.public_type,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def fingerprint(entry: CatalogueEntry) -> dict[str, str]:
    """What must not change without a new schema version: each field's JSON Schema (keys of
    typed dicts included), compact."""
    properties = event_json_schema(entry)["properties"]
    return {name: json.dumps(properties[name], sort_keys=True, separators=(",", ":"))
            for name in sorted(properties)}
