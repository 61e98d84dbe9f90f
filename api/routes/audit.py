"""Auditors read the log itself, read-only (roles auditor and admin): any aggregate's stream
and its state at any version or time, each application's global log, the public event
catalogue, and a product's price history. These read stored events, the record of what
happened, not read models; event types are the catalogue's public names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic
from fastapi import Query
from psycopg import Connection
from pydantic import BaseModel, BeforeValidator, Field

from api.dependencies import Auditor, ConnectionDep, RuntimeDep
from api.routing import Router
from domain.catalog.product import Product, ProductNotFoundError
from domain.errors import ConflictError, DomainError, NotFoundError
from domain.event_catalogue import (
    MONEY_NOTE,
    UnknownEventTypeError,
    all_entries,
    entry_for_public_type,
    entry_for_topic,
    event_json_schema,
    public_type,
    to_json_value,
)
from domain.instants import EARLIEST, LATEST
from projections import event_log
from runtime import Runtime

router = Router(prefix="/v1/audit", tags=["audit"])

ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}


class HistoryEntry(BaseModel):
    version: int
    type: str
    timestamp: str
    data: dict[str, Any]


class PriceEntry(BaseModel):
    sku: str
    price: int
    timestamp: str


class ProductHistory(BaseModel):
    product_id: str
    events: list[HistoryEntry]
    prices: list[PriceEntry]


@router.get("/products/{product_id}/history", response_model=ProductHistory,
            summary="Every change to a product, and each variant's price over time")
def product_history(product_id: UUID, user: Auditor, runtime: RuntimeDep) -> dict[str, Any]:
    events: list[Any] = list(runtime.catalog.events.get(product_id))
    if not events or not isinstance(events[0], Product.Listed):
        raise ProductNotFoundError(f"product {product_id} not found")
    out, prices = [], []
    for e in events:
        data = {k: v for k, v in e.__dict__.items() if k not in ENVELOPE}
        out.append({"version": e.originator_version, "type": public_type(get_topic(type(e))),
                    "timestamp": e.timestamp.isoformat(), "data": data})
        if isinstance(e, Product.Listed):
            prices += [{"sku": v["sku"], "price": v["price"], "timestamp": e.timestamp.isoformat()}
                       for v in e.variants]
        elif isinstance(e, Product.VariantAdded):
            prices.append({"sku": e.variant["sku"], "price": e.variant["price"],
                           "timestamp": e.timestamp.isoformat()})
        elif isinstance(e, Product.PriceChanged):
            prices.append({"sku": e.sku, "price": e.price, "timestamp": e.timestamp.isoformat()})
    return {"product_id": str(product_id), "events": out, "prices": prices}


# -- streams, states, the global log, the catalogue (issue 15) ---------------------------
# The SQL is in projections/event_log.py; these routes check input and shape answers.

APPLICATION_NAMES = ("catalog", "commerce", "payments", "support")
ApplicationName = Literal["catalog", "commerce", "payments", "support"]

EVENT_EXAMPLE: dict[str, Any] = {
    "application": "commerce", "position": 48213,
    "aggregate_id": "9b2f4c1e-8d0a-4e1b-9f63-2a7c5d1e0b44", "version": 3,
    "type": "commerce.wallet.debited", "schema_version": 1,
    "timestamp": "2026-03-01T12:30:05.123456+00:00",
    "data": {"amount": 24900, "kind": "order", "reference": "order:5e1f0c2a-7b3d-4c8e-a1f9-6d2b8e4c0a17",
             "balance_after": 75100, "key": None},
}


class AuditEvent(BaseModel):
    application: str
    position: int = Field(description="the event's position in its application's log")
    aggregate_id: str
    version: int = Field(description="the aggregate's version after this event")
    type: str = Field(description="public event type, see GET /v1/audit/event-types")
    schema_version: int | None = Field(description="the schema `data` follows (null: unknown type)")
    timestamp: str | None = Field(description="when it happened, ISO 8601 UTC")
    data: dict[str, Any] | None = Field(
        description="the event's fields: money in minor units, ids strings, times ISO 8601 UTC; "
                    "null when the stored event cannot be decoded (see `error`)")
    error: str | None = None

    model_config = {"json_schema_extra": {"examples": [EVENT_EXAMPLE]}}


class StreamOut(BaseModel):
    aggregate_id: str
    application: str
    aggregate: str = Field(description="the aggregate kind: order, wallet, cart, ...")
    last_version: int
    events: list[AuditEvent]
    next_from_version: int | None = Field(description="pass as from_version for more; null: the end")

    model_config = {"json_schema_extra": {"examples": [{
        "aggregate_id": EVENT_EXAMPLE["aggregate_id"], "application": "commerce",
        "aggregate": "wallet", "last_version": 3, "events": [EVENT_EXAMPLE],
        "next_from_version": None}]}}


class StateOut(BaseModel):
    aggregate_id: str
    application: str
    aggregate: str
    version: int = Field(description="the version the replay stopped at")
    last_version: int = Field(description="the stream's latest version")
    timestamp: str = Field(description="when that version was recorded, ISO 8601 UTC")
    state: dict[str, Any] = Field(description="the aggregate's attributes after replaying "
                                              "versions 1..version with the domain's own classes")

    model_config = {"json_schema_extra": {"examples": [{
        "aggregate_id": EVENT_EXAMPLE["aggregate_id"], "application": "commerce",
        "aggregate": "wallet", "version": 2, "last_version": 3,
        "timestamp": "2026-03-01T12:29:41.004211+00:00",
        "state": {"owner_id": "0c6e2d8a-51f4-4b7e-9a2d-3f8b1c6e4d20", "currency": "INR",
                  "balance": 100000, "loads": ["payment:7f3a"]}}]}}


class LogOut(BaseModel):
    application: str
    events: list[AuditEvent]
    next_after: int | None = Field(
        description="by position: pass as `after` for the next page; null: nothing more right "
                    "now (poll later with `after` = the last position you saw); always null "
                    "when reading by `cursor`")
    next_cursor: str | None = Field(
        default=None,
        description="by cursor: pass as `cursor` for the next page, now or when polling later "
                    "(the same cursor when nothing is new); null when reading by position")
    head: int = Field(description="the log's last position when read")

    model_config = {"json_schema_extra": {"examples": [{
        "application": "commerce", "events": [EVENT_EXAMPLE], "next_after": 48213,
        "next_cursor": None, "head": 90112}]}}


LogCursor = Annotated[str | None, Query(
    pattern=r"^[0-9]{1,20}-[0-9]{1,19}$", examples=["0-0"],
    description="read in the workers' order, (transaction id, position), from this cursor: "
                "`0-0` for the start, then each page's `next_cursor`. Unlike `after`, a reader "
                "keeping the last cursor can never pass an event committed late; events come "
                "in commit order, so positions within a page are not always ascending. Not "
                "with `after`, `since` or `until`")]


def _cursor(text: str) -> tuple[int, int]:
    try:
        return event_log.parse_cursor(text)
    except ValueError as error:
        raise DomainError(str(error), field="cursor") from None


class EventTypeOut(BaseModel):
    type: str
    schema_version: int
    application: str
    aggregate: str
    json_schema: dict[str, Any] = Field(description="JSON Schema (2020-12) of the event's `data`")


class EventTypesOut(BaseModel):
    count: int
    results: list[EventTypeOut]

    model_config = {"json_schema_extra": {"examples": [{"count": 1, "results": [{
        "type": "commerce.wallet.debited", "schema_version": 1, "application": "commerce",
        "aggregate": "wallet", "json_schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "urn:eventmart:event:commerce.wallet.debited:v1",
            "title": "commerce.wallet.debited", "type": "object",
            "properties": {"amount": {"type": "integer", "description": MONEY_NOTE}},
            "required": ["amount"], "additionalProperties": False}}]}]}}


def _iso_8601(value: Any) -> Any:
    """pydantic reads a number as Unix time, in seconds or milliseconds by its size:
    `as_of=99999999999` was 1973. A time here is ISO 8601, as documented."""
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("an ISO 8601 time, like 2026-03-01T12:00:00Z")
    return value


IsoTime = Annotated[datetime | None, BeforeValidator(_iso_8601)]
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many events")]
Version = Annotated[int, Query(ge=1, le=2**31 - 1)]


def _utc(value: datetime | None, field: str) -> datetime | None:
    """Times without a zone are UTC; times outside 1970..9000 are refused."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST <= value <= LATEST:
        raise DomainError("the time must be between 1970 and 9000", field=field)
    return value


class UnreplayableStreamError(ConflictError):
    title = "Stream cannot be replayed"


class StreamNotFoundError(NotFoundError):
    title = "Stream not found"


def _stream(runtime: Runtime, conn: Connection, aggregate_id: UUID) -> tuple[event_log.StreamInfo, str]:
    found = event_log.find_stream(conn, APPLICATION_NAMES, aggregate_id)
    if found is None:
        raise StreamNotFoundError(f"no stored events for aggregate {aggregate_id}")
    try:
        kind = entry_for_topic(found.first_topic).aggregate
    except UnknownEventTypeError:
        kind = "unknown"
    return found, kind


@router.get("/streams/{aggregate_id}/events", response_model=StreamOut,
            summary="One aggregate's events in version order, from any application's log")
def stream_events(
    aggregate_id: UUID, user: Auditor, runtime: RuntimeDep, conn: ConnectionDep,
    from_version: Version = 1, limit: Limit = 100,
) -> dict[str, Any]:
    found, kind = _stream(runtime, conn, aggregate_id)
    app = runtime.applications[found.application]
    entries = event_log.stream_events(conn, app, aggregate_id, from_version=from_version,
                                      limit=limit)
    last = entries[-1].version if entries else None
    return {"aggregate_id": str(aggregate_id), "application": found.application,
            "aggregate": kind, "last_version": found.last_version,
            "events": [e.as_json() for e in entries],
            "next_from_version": last + 1 if last is not None and last < found.last_version else None}


@router.get("/streams/{aggregate_id}/state", response_model=StateOut,
            summary="The aggregate's state at a version or a time, replayed by its own class",
            responses={404: {"description": "no such aggregate, or it did not exist yet at `as_of`"},
                       409: {"description": "an event up to that version cannot be decoded; "
                                            "its stream's events show which, with an `error`"}})
def stream_state(
    aggregate_id: UUID, user: Auditor, runtime: RuntimeDep, conn: ConnectionDep,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1,
                                         description="replay up to this version")] = None,
    as_of: Annotated[IsoTime, Query(
        description="replay the events recorded at or before this time (ISO 8601; UTC if "
                    "no zone)")] = None,
) -> dict[str, Any]:
    if version is not None and as_of is not None:
        raise DomainError("give version or as_of, not both", field="as_of")
    when = _utc(as_of, "as_of")
    found, kind = _stream(runtime, conn, aggregate_id)
    app = runtime.applications[found.application]
    upto = min(version, found.last_version) if version is not None else found.last_version
    if when is not None:
        at = event_log.version_at(conn, app, aggregate_id, when, found.last_version)
        if at is None:
            raise StreamNotFoundError(f"aggregate {aggregate_id} did not exist yet at {when.isoformat()}")
        upto = at
    try:
        aggregate: Aggregate = app.repository.get(aggregate_id, version=upto)
    except Exception as error:  # noqa: BLE001 - a stored row that no longer decodes or applies
        raise UnreplayableStreamError(
            f"aggregate {aggregate_id} cannot be replayed to version {upto}: "
            f"{type(error).__name__}: {error}") from None
    state = {k: to_json_value(v) for k, v in vars(aggregate).items() if not k.startswith("_")}
    return {"aggregate_id": str(aggregate_id), "application": found.application,
            "aggregate": kind, "version": aggregate.version, "last_version": found.last_version,
            "timestamp": to_json_value(aggregate.modified_on), "state": state}


@router.get("/log", response_model=LogOut,
            summary="An application's global log in position order, filtered, page by page")
def global_log(
    user: Auditor, runtime: RuntimeDep, conn: ConnectionDep,
    application: Annotated[ApplicationName, Query(description="whose log")] = "commerce",
    after: Annotated[int, Query(ge=0, le=2**62, description="start after this position")] = 0,
    limit: Limit = 100,
    type: Annotated[list[str] | None, Query(  # noqa: A002 - the documented parameter name
        max_length=20, description="public event types (repeatable); any of them")] = None,
    aggregate_id: Annotated[UUID | None, Query(description="one aggregate's events")] = None,
    since: Annotated[IsoTime, Query(description="events at or after this time (ISO 8601)")] = None,
    until: Annotated[IsoTime, Query(description="events at or before this time (ISO 8601)")] = None,
    cursor: LogCursor = None,
) -> dict[str, Any]:
    if cursor is not None and (after or since or until):
        raise DomainError("a cursor reads in commit order: not with after, since or until",
                          field="cursor")
    topics: list[str] = []
    for name in dict.fromkeys(type or []):  # a type given twice is still one filter
        try:
            catalogued = entry_for_public_type(name)
        except UnknownEventTypeError:
            raise DomainError(f"unknown event type {name[:100]!r}: see /v1/audit/event-types",
                              field="type") from None
        if catalogued.application != application:
            raise DomainError(f"{name} is in the {catalogued.application} log", field="type")
        topics.append(catalogued.topic)
    app = runtime.applications[application]
    if cursor is not None:
        page = event_log.read_log_from(conn, app, _cursor(cursor), limit=limit, topics=topics,
                                       aggregate_id=aggregate_id)
        assert page.next_cursor is not None
        return {"application": application, "events": [e.as_json() for e in page.entries],
                "next_after": None, "next_cursor": "-".join(map(str, page.next_cursor)),
                "head": page.head}
    start, end = _utc(since, "since"), _utc(until, "until")
    if start and end and end < start:
        raise DomainError("until is before since", field="until")
    page = event_log.read_log(conn, app, after=after, limit=limit,
                              topics=topics, aggregate_id=aggregate_id, since=start, until=end)
    return {"application": application, "events": [e.as_json() for e in page.entries],
            "next_after": page.next_after, "head": page.head}


@router.get("/event-types", response_model=EventTypesOut,
            summary="The public event catalogue: every stored event type with its JSON Schema")
def event_types(user: Auditor) -> dict[str, Any]:
    results = [{"type": e.public_type, "schema_version": e.schema_version,
                "application": e.application, "aggregate": e.aggregate,
                "json_schema": event_json_schema(e)} for e in all_entries()]
    return {"count": len(results), "results": results}
