"""The cart view under a worker that dies mid-way: restart, and the rows equal a rebuild."""

from __future__ import annotations

import signal
import uuid
from typing import Any, cast

import psycopg

from domain.commerce.cart import Cart
from domain.money import Money
from eventmart.migrations import migrate
from projections import cart_view
from projections.tracking import position_of
from runtime import open_runtime
from tests.infra import fresh_database
from tests.support.cli import eventmart
from tests.support.settings import make_settings
from tests.support.waiting import eventually

CARTS = 600
EVENTS_PER_CART = 4


def rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT cart_id, owner_id, version, doc FROM cart_view ORDER BY cart_id"
        ).fetchall()


def position(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return position_of(conn, "cart_view", "commerce")


def test_killed_worker_resumes_and_matches_a_rebuild(postgres: str) -> None:
    with fresh_database(postgres) as url:
        settings = make_settings(url)
        migrate(settings, url)
        runtime = open_runtime(settings, database_url=url)
        try:
            # Given many carts in the log, written many aggregates per transaction.
            carts = []
            for n in range(CARTS):
                cart = Cart(owner_id=str(uuid.uuid4()), currency="INR")
                for sku in ("A", "B"):
                    cart.add_item(item_id=str(uuid.uuid4()), product_id="p", sku=sku, name=sku,
                                  qty=1 + n % 5, price=Money(1000 + n, "INR"))
                cart.remove_item(next(iter(cart.lines)))
                carts.append(cart)
            for i in range(0, CARTS, 100):
                runtime.commerce.save(*carts[i:i + 100])
            head = runtime.commerce.recorder.max_notification_id()
            assert head is not None and head >= CARTS * EVENTS_PER_CART

            # When the worker is killed (SIGKILL, no clean-up) part-way through.
            env = {"DATABASE_URL": url, "WORKER_BATCH_SIZE": "7",
                   "WORKER_POLL_INTERVAL_SECONDS": "0.1", "LOG_LEVEL": "WARNING"}
            worker = eventmart("worker", "cart_view", env=env)
            reached = eventually(lambda: position(url) or None, timeout=30, interval=0.005)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            stopped_at = position(url)
            assert 0 < reached <= stopped_at < head, "the kill should land mid-way"
            assert len(rows(url)) < CARTS

            # Then a new worker carries on from the stored position to the end...
            worker = eventmart("worker", "cart_view", env=env)
            eventually(lambda: position(url) == head, timeout=60)
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(15) == 0
            resumed = rows(url)

            # ...and its rows equal a rebuild from position 0 (the operator's command),
            rebuilder = eventmart("rebuild", "cart_view", env=env)
            assert rebuilder.wait(60) == 0
            assert position(url) == head
            rebuilt = rows(url)
            assert len(resumed) == CARTS
            assert resumed == rebuilt
            for cart_id, _, version, doc in resumed[:25]:
                cart = runtime.commerce.repository.get(cart_id)
                assert version == cart.version
                assert doc == cart_view.summary(cart)  # ...and the aggregates.
        finally:
            runtime.close()


def test_evolve_matches_the_aggregate_summary() -> None:
    cart = Cart(owner_id=str(uuid.uuid4()), currency="INR")
    cart.add_item(item_id="a", product_id="p", sku="A", name="A", qty=2, price=Money(150, "INR"))
    cart.add_item(item_id="b", product_id="p", sku="B", name="B", qty=1, price=Money(99, "INR"))
    cart.change_quantity("a", 3, 160)
    cart.remove_item("b")
    doc = None
    for event in cart.collect_events():
        doc = cart_view.evolve(doc, cast(Cart.Event, event))
    assert doc == cart_view.summary(cart)
    assert doc is not None and doc["total_amount"] == 480 and doc["item_count"] == 3
