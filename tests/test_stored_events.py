"""Events stored by earlier code stay readable: rows captured from the event store before the
domain's value objects and enums came in (tests/fixtures/stored_events.json, written by
tests/fixtures/capture_stored_events.py) replay, through a real PostgreSQL store and today's
upcasters, into aggregates equal to those the code of the day made of them.

tests/fixtures/stored_snapshots.json was written by the code of commit d7e7b32 (the last
before the value objects): a product and a cart saved past their snapshot interval, with
their events, their snapshot and the state they replayed into; and, by the code of the commit
before keyed debits became values (Wallet v2), a wallet with 104 keyed debits."""

from __future__ import annotations

import json
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate

from domain.actor import Role
from domain.catalog.product import Product, Variant
from domain.commerce.cart import Cart
from domain.commerce.order import Action, Order, OrderStatus, PaymentMode
from domain.commerce.values import AppliedCoupon, CartLine, DeliveryAddress, OrderLine
from domain.commerce.wallet import KeyedDebit, Wallet
from tests.support.runtimes import own_runtime
from tests.support.stored_events import insert_rows, load_fixture, plain_state, stored_event

FIXTURE = load_fixture()


@pytest.mark.parametrize("application", sorted(FIXTURE["applications"]))
def test_yesterdays_events_replay_into_the_same_aggregates(postgres: str, application: str) -> None:
    captured = FIXTURE["applications"][application]
    assert captured["aggregates"], "the fixture holds aggregates of every application"
    with own_runtime(postgres) as runtime:
        app = runtime.applications[application]
        # Given the rows as the store held them
        insert_rows(app, captured["rows"])
        for aggregate_id, expected in captured["aggregates"].items():
            # When today's code reads them
            aggregate: Aggregate = app.repository.get(UUID(aggregate_id))
            # Then it is the aggregate it was
            assert plain_state(aggregate) == expected, f"{type(aggregate).__name__} {aggregate_id}"


# The library's own base classes, and an event declared on Cart that no command records.
NEVER_RECORDED = {"Event", "Created", "CouponRemoved"}


def test_the_fixture_covers_every_cart_and_order_event() -> None:
    """Carts and orders are what the value objects changed: each of their event types, an
    order with an address and one with discounts are in the fixture."""
    rows = FIXTURE["applications"]["commerce"]["rows"]
    topics = {row["topic"] for row in rows}
    for aggregate in (Cart, Order):
        for name, value in vars(aggregate).items():
            if isinstance(value, type) and issubclass(value, Aggregate.Event) and name not in NEVER_RECORDED:
                assert f"{aggregate.__module__}:{aggregate.__qualname__}.{name}" in topics, name
    placed = [json.loads(row["state"]) for row in rows if row["topic"].endswith(":Order.Placed")]
    assert any(p["address"] for p in placed) and any(p["discounts"] for p in placed)


def test_orders_are_stored_in_the_shape_they_always_had(postgres: str) -> None:
    """The value objects stop at the event boundary: placing each captured order again with
    today's code stores the same JSON, so nothing needed an upcaster."""
    placed = [row for row in FIXTURE["applications"]["commerce"]["rows"]
              if row["topic"].endswith(":Order.Placed")]
    with own_runtime(postgres) as runtime:
        mapper = runtime.commerce.mapper
    for row in placed:
        was = json.loads(row["state"])
        # Given what a captured order was placed with
        address = DeliveryAddress.from_data(was["address"]) if was["address"] else None
        # When today's code places it
        order = Order.place(
            customer_id=was["customer_id"], shop_id=was["shop_id"],
            lines=[OrderLine.from_data(line) for line in was["lines"]], currency=was["currency"],
            delivery_fee=was["amounts"]["delivery_fee"], discount=was["amounts"]["discount"],
            payment_mode=was["payment_mode"], delivery_notes=was["delivery_notes"], address=address,
            order_id=UUID(row["originator_id"]), discounts=was["discounts"])
        (event,) = order.collect_events()
        now = json.loads(mapper.to_stored_event(event).state)
        # Then it stores what was stored, to the order of the keys (but for when it happened)
        assert list(now) == list(was) and {**now, "timestamp": None} == {**was, "timestamp": None}
        assert all(list(a) == list(b) for a, b in zip(now["lines"], was["lines"], strict=True))


SNAPSHOTS = load_fixture("stored_snapshots.json")


def values(aggregate: Aggregate) -> list[tuple[object, type]]:
    """The values the aggregate holds, each with the type it must have."""
    if isinstance(aggregate, Wallet):
        return [(debit, KeyedDebit) for debit in vars(aggregate)["debit_keys"].values()]
    if isinstance(aggregate, Cart):
        assert aggregate.coupon is not None, "the fixture's cart has a coupon"
        return [*((line, CartLine) for line in aggregate.lines.values()), (aggregate.coupon, AppliedCoupon)]
    assert isinstance(aggregate, Product)
    return [(variant, Variant) for variant in aggregate.variants.values()]


@pytest.mark.parametrize("application", sorted(SNAPSHOTS))
def test_yesterdays_snapshots_upcast_and_todays_round_trip(postgres: str, application: str) -> None:
    """A product, a cart and a wallet stored past their snapshot interval by the code before
    their value objects (the snapshots hold plain dicts: class_version 1), read by today's code
    through the upcasters; then snapshotted again by today's code (values through the
    transcoder)."""
    captured = SNAPSHOTS[application]
    with own_runtime(postgres) as runtime:
        app = runtime.applications[application]
        assert app.snapshots is not None
        # Given the events and a snapshot of their first 100, as stored then
        insert_rows(app, captured["rows"])
        app.snapshots.recorder.insert_events([stored_event(r) for r in captured["snapshots"]])
        for aggregate_id, expected in captured["aggregates"].items():
            # When today's code reads the aggregate from the snapshot on
            aggregate: Aggregate = app.repository.get(UUID(aggregate_id))
            # Then it is the aggregate it was, holding values where it held dicts
            assert plain_state(aggregate) == expected
            assert all(isinstance(v, kind) for v, kind in values(aggregate)), values(aggregate)
            # And a snapshot today's code takes reads back the same
            app.take_snapshot(UUID(aggregate_id))
            assert plain_state(app.repository.get(UUID(aggregate_id))) == expected
            latest = app.snapshots.recorder.select_events(UUID(aggregate_id), desc=True, limit=1)
            assert latest[0].originator_version == aggregate.version


def test_stored_strings_are_enum_values() -> None:
    """StrEnums replaced strings: every status, action, payment mode and role the fixture's events
    hold is a value of its enum, so renaming a member's value cannot pass unnoticed."""
    states = [json.loads(row["state"]) | {"topic": row["topic"]}
              for row in FIXTURE["applications"]["commerce"]["rows"]
              if row["topic"].startswith("domain.commerce.order:")]
    seen: dict[str, set[str]] = {"status": set(), "action": set(), "payment_mode": set(), "by": set()}
    for state in states:
        for name, values in seen.items():
            if name in state:
                values.add(state[name])
    assert seen["status"] and seen["status"] <= set(OrderStatus)
    assert seen["action"] and seen["action"] <= set(Action)
    assert seen["payment_mode"] == set(PaymentMode)
    assert seen["by"] and seen["by"] <= set(Role)
