"""The public event catalogue: every stored event type has a stable public name, a schema
version that moves with its shape, and a JSON Schema its stored data satisfies."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from datetime import UTC, datetime
from uuid import uuid4

import jsonschema_rs
import pytest
from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.utils import get_topic, register_topic

import domain
from domain.commerce.order import Order
from domain.commerce.wallet import Wallet
from domain.event_catalogue import (
    AGGREGATES,
    UnknownEventTypeError,
    all_entries,
    entry_for_topic,
    event_json_schema,
    fingerprint,
    public_data,
    public_type,
)
from tests.spec import Stream
from tests.support import event_docs


def domain_aggregates() -> set[type[Aggregate]]:
    for module in pkgutil.walk_packages(domain.__path__, "domain."):
        importlib.import_module(module.name)
    found: set[type[Aggregate]] = set()
    todo = [Aggregate]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("domain."):
                found.add(sub)
    return found


def test_every_aggregate_of_the_domain_has_a_public_name() -> None:
    assert domain_aggregates() == {k.cls for k in AGGREGATES}


def test_every_event_class_declared_on_an_aggregate_is_in_the_catalogue() -> None:
    catalogued = {e.event_class for e in all_entries()}
    for kind in AGGREGATES:
        source = inspect.getsource(kind.cls)
        declared = set(re.findall(r"^    class (\w+)\(", source, re.MULTILINE))
        for name in declared:
            cls = getattr(kind.cls, name)
            if issubclass(cls, CanMutateAggregate):
                assert cls in catalogued, f"{kind.cls.__name__}.{name} has no public type"


def test_public_names_are_unique_and_dotted_lowercase() -> None:
    names = [e.public_type for e in all_entries()]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z]+\.[a-z_]+\.[a-z_]+", n) for n in names), names
    assert public_type(get_topic(Order.Placed)) == "commerce.order.placed"
    assert public_type(get_topic(Wallet.Debited)) == "commerce.wallet.debited"


def test_no_event_changed_shape_without_a_new_schema_version() -> None:
    recorded = event_docs.recorded_fingerprints()
    assert event_docs.shape_changes(recorded) == []
    missing = [e.public_type for e in all_entries()
               if str(e.schema_version) not in recorded.get(e.public_type, {})]
    assert missing == [], "new event types or versions: run python -m tests.support.event_docs"


def test_a_field_added_under_the_same_version_is_caught() -> None:
    recorded = event_docs.recorded_fingerprints()
    placed = recorded["commerce.order.placed"]["1"]
    tampered = {**recorded, "commerce.order.placed": {"1": {**placed, "gift_note": "str"}}}

    problems = event_docs.shape_changes(tampered)

    assert len(problems) == 1
    assert "commerce.order.placed" in problems[0] and "class_version" in problems[0]


def test_the_writer_keeps_old_versions_and_never_rewrites_a_recorded_one() -> None:
    recorded = event_docs.recorded_fingerprints()
    with_old = {**recorded, "commerce.cart.item_added": {
        "1": {"item_id": "str"}, **recorded["commerce.cart.item_added"]}}

    updated = event_docs.updated_fingerprints(with_old)

    assert updated["commerce.cart.item_added"]["1"] == {"item_id": "str"}
    assert updated["commerce.cart.item_added"]["2"] == recorded["commerce.cart.item_added"]["2"]


def test_every_later_schema_version_has_its_upcasters() -> None:
    for e in all_entries():
        for v in range(1, e.schema_version):
            assert callable(getattr(e.event_class, f"upcast_v{v}_v{v + 1}", None)), e.public_type


def test_the_checked_in_catalogue_document_is_up_to_date() -> None:
    assert event_docs.CATALOGUE_MD.read_text() == event_docs.catalogue_markdown(), (
        "run python -m tests.support.event_docs")


def test_a_topic_from_before_a_move_resolves_to_the_same_public_type() -> None:
    register_topic("old.path.order:Order.Placed", Order.Placed)
    assert public_type("old.path.order:Order.Placed") == "commerce.order.placed"
    with pytest.raises(UnknownEventTypeError):
        entry_for_topic("nowhere:Nothing.Happened")


def test_stored_data_matches_the_schema_money_ids_and_times_as_json() -> None:
    stream = Stream(Order)
    when = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    placed = stream.event(
        Order.Placed, customer_id=str(uuid4()), shop_id=None,
        lines=[{"item_id": "i1", "product_id": str(uuid4()), "sku": "500g", "name": "Atta",
                "qty": 2, "unit_price": 19950, "line_total": 39900}], currency="INR",
        amounts={"subtotal": 39900, "delivery_fee": 0, "discount": 0, "total": 39900},
        payment_mode="cod", delivery_notes="", address={"delivery_address": str(uuid4())},
        status="placed", discounts=[])
    changed = stream.event(Order.StatusChanged, action="accept", status="accepted", by="v",
                           note="", at=when)
    for event in (placed, changed):
        entry = entry_for_topic(get_topic(type(event)))
        data = public_data(event)
        jsonschema_rs.validate(event_json_schema(entry), data)
        assert "originator_id" not in data and "timestamp" not in data
    assert public_data(changed)["at"] == "2026-03-01T12:30:00+00:00"
    schema = event_json_schema(entry_for_topic(get_topic(Order.Placed)))
    assert schema["properties"]["amounts"]["properties"]["total"] == {"type": "integer"}
    assert "minor units" in schema["properties"]["amounts"]["description"]
    with pytest.raises(jsonschema_rs.ValidationError):
        jsonschema_rs.validate(schema, {**public_data(placed), "amounts": {"subtotal": 39900, "delivery_fee": 0, "discount": 0, "total": 399.5}})


def test_every_schema_is_a_valid_json_schema() -> None:
    for e in all_entries():
        jsonschema_rs.Draft202012Validator(event_json_schema(e))
        assert set(event_json_schema(e)["properties"]) == set(fingerprint(e))
