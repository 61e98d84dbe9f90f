"""Every stored event reaches Kafka: topic per context, keyed by aggregate id, in order."""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from datetime import datetime, timedelta

import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition

from eventmart.migrations import migrate
from projections.tracking import position_of
from runtime import Runtime, open_runtime
from tests.infra import KafkaBroker, fresh_database
from tests.support.db import scalar
from tests.support.settings import make_settings
from tests.support.waiting import eventually
from workers import build_followers
from workers.kafka_relay import FOLLOWER as KAFKA_RELAY
from workers.kafka_relay import chunks, topic_for
from workers.log_follower import Supervisor

TOPIC = topic_for("commerce")
PARTITIONS = 3


def test_cart_events_are_published_in_order_with_headers(runtime: Runtime, kafka: str, product) -> None:  # type: ignore[no-untyped-def]
    owner = uuid.uuid4()
    cart_id = runtime.commerce.open_cart(owner).value.id
    saved = runtime.commerce.add_cart_item(
        owner_id=owner, cart_id=cart_id, product_id=uuid.UUID(product["id"]), sku="DJ-100", qty=3
    )
    item_id = saved.value[1]
    runtime.commerce.remove_cart_item(owner_id=owner, cart_id=cart_id, item_id=item_id)

    consumer = KafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False,
                             consumer_timeout_ms=1000)
    mine: list = []
    try:
        def partitions() -> set[int] | None:
            return consumer.partitions_for_topic("eventmart.commerce")

        parts = [TopicPartition("eventmart.commerce", p) for p in eventually(partitions)]
        consumer.assign(parts)
        consumer.seek_to_beginning()

        def collect() -> bool:
            for records in consumer.poll(timeout_ms=500).values():
                mine.extend(r for r in records if r.key == str(cart_id).encode())
            return len(mine) >= 3

        eventually(collect, timeout=30)
    finally:
        consumer.close()

    bodies = [json.loads(r.value) for r in mine]
    assert [b["version"] for b in bodies] == [1, 2, 3]
    assert [b["type"] for b in bodies] == [
        "commerce.cart.opened", "commerce.cart.item_added", "commerce.cart.item_removed"]
    assert [b["schema_version"] for b in bodies] == [1, 2, 1]
    assert bodies[1]["data"]["qty"] == 3 and bodies[1]["data"]["unit_price"] == 19950
    assert bodies[0]["data"]["owner_id"] == str(owner)
    assert datetime.fromisoformat(bodies[0]["timestamp"]).utcoffset() == timedelta(0)
    assert len({r.partition for r in mine}) == 1, "one aggregate, one partition, one order"
    headers = dict(mine[1].headers)
    assert headers["event_type"] == b"commerce.cart.item_added"
    assert headers["schema_version"] == b"2"
    assert headers["version"] == b"2" and int(headers["position"]) == bodies[1]["position"]
    assert not any(b"domain." in r.value or b"domain." in v for r in mine for _, v in r.headers)


def _consume_all(
    bootstrap: str, topic: str, want: set[tuple[str, int]], partitions: int | None = None
) -> list[tuple[str, int]]:
    """(aggregate id, version) of every record in the topic, in partition order, once all
    of `want` have been seen; `partitions`: how many the topic must have."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             allow_auto_create_topics=False)
    seen: list[tuple[str, int]] = []
    try:
        parts = [TopicPartition(topic, p) for p in eventually(
            lambda: consumer.partitions_for_topic(topic), timeout=60)]
        assert partitions is None or len(parts) == partitions, "made by ensure_topics"
        consumer.assign(parts)
        consumer.seek_to_beginning()

        def collect() -> bool:
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    body = json.loads(r.value)
                    assert r.key == body["aggregate_id"].encode()
                    seen.append((body["aggregate_id"], body["version"]))
            return want <= set(seen)

        eventually(collect, timeout=60)
    finally:
        consumer.close()
    return seen


def test_relay_survives_a_broker_restart_that_loses_every_topic(
    postgres: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker is killed mid-run and comes back empty (memory storage) on the same port:
    the relay rebuilds its producer and topics, and every event arrives, in per-key order."""
    broker = KafkaBroker()
    broker.start()
    with fresh_database(postgres) as url:
        settings = make_settings(url, kafka_bootstrap_servers=broker.bootstrap,
                                 kafka_send_timeout_seconds=3.0, worker_batch_size=7,
                                 kafka_topic_partitions=PARTITIONS)
        migrate(settings, url)
        rt = open_runtime(settings, database_url=url)
        supervisor = Supervisor(build_followers(rt, [KAFKA_RELAY]))
        supervisor.start()
        try:
            product_id = uuid.uuid4()
            rt.catalog.list_product(
                product_id=product_id, name="Assam Tea", slug=f"assam-{product_id.hex[:8]}",
                category="groceries",
                variants=[{"sku": "AS-100", "name": "100 g", "price": 9900, "currency": "INR"}])
            carts: dict[uuid.UUID, tuple[uuid.UUID, str | None]] = {}  # owner: (cart, item)
            versions: dict[str, int] = {}

            def commands(rounds: int) -> None:
                """Several events for each of 6 carts (keys), interleaved."""
                for _ in range(rounds):
                    for owner in [*carts] or [uuid.uuid4() for _ in range(6)]:
                        cart_id, item = carts.get(owner, (None, None))
                        if cart_id is None:
                            cart = rt.commerce.open_cart(owner).value
                        elif item is None:
                            cart, item = rt.commerce.add_cart_item(
                                owner_id=owner, cart_id=cart_id, product_id=product_id,
                                sku="AS-100", qty=1).value
                        else:
                            cart = rt.commerce.change_cart_item(
                                owner_id=owner, cart_id=cart_id, item_id=item,
                                qty=versions[str(cart_id)] + 1).value
                        carts[owner] = (cart.id, item)
                        versions[str(cart.id)] = cart.version

            def relayed() -> bool:
                with psycopg.connect(url) as conn:
                    head = scalar(conn, "SELECT max(notification_id) FROM commerce_events")
                    return position_of(conn, KAFKA_RELAY, "commerce") == head

            def expected() -> set[tuple[str, int]]:
                return {(c, v) for c, last in versions.items() for v in range(1, last + 1)}

            def failures() -> int:  # runs of the commerce relay the supervisor caught
                return sum(
                    r.name == "workers.log_follower" and r.levelno >= logging.ERROR
                    and f"{KAFKA_RELAY}/commerce" in r.getMessage() for r in caplog.records)

            consumed: list[tuple[str, int]] = []

            def publish_and_consume(partitions: int | None = PARTITIONS) -> None:
                """Waits for the relay to store its position at the log head, then reads
                everything not yet seen before the broker forgets it."""
                eventually(relayed, timeout=120)
                consumed.extend(_consume_all(
                    broker.bootstrap, TOPIC, expected() - set(consumed), partitions))

            commands(3)
            publish_and_consume()

            # 1. Down, with events waiting: the send times out; every restart of the
            # relay meets a dead broker until it is back, empty, on the same port.
            broker.kill()
            commands(3)
            eventually(failures, timeout=120)
            broker.start()
            commands(3)
            publish_and_consume()

            # 2. Restarted (empty) between two batches: the live producer meets a broker
            # that knows neither its topic nor its producer id.
            failed = failures()
            broker.kill()
            broker.start()
            commands(3)
            # tansu creates a topic a client merely asks about (ignoring
            # allow_auto_create_topics=False), with its own partition count: the live
            # producer may do so before the relay's ensure_topics.
            publish_and_consume(partitions=None)
            assert failures() > failed, "the old producer failed and was replaced"
        finally:
            supervisor.stop()
            rt.close()
            broker.stop()

    mine = {str(c) for c, _ in carts.values()}
    delivered = [(c, v) for c, v in consumed if c in mine]
    assert set(delivered) == expected(), "every event at least once"
    first_seen: dict[str, list[int]] = {}
    for c, v in dict.fromkeys(delivered):  # de-duplicated, first occurrence kept
        first_seen.setdefault(c, []).append(v)
    for c, seq in first_seen.items():
        assert seq == list(range(1, versions[c] + 1)), f"per-key order for {c}: {seq}"
    # kafka-python's own loggers: WARNING and above, each message once per back-off step.
    kafka_lines = Counter((r.name, str(r.msg)) for r in caplog.records if r.name.startswith("kafka"))
    assert all(r.levelno >= logging.WARNING for r in caplog.records if r.name.startswith("kafka"))
    assert max(kafka_lines.values(), default=0) <= 2, kafka_lines


def test_chunks_bound_the_bytes_per_producer_batch() -> None:
    rec = (b"k", b"v" * 100, [("version", b"1")])
    sizes = [len(c) for c in chunks([rec] * 10, limit=3 * 240)]
    assert sizes == [3, 3, 3, 1]
    big: tuple[bytes, bytes, list[tuple[str, bytes]]] = (b"k", b"v" * 1000, [])
    assert [len(c) for c in chunks([rec, big, rec], limit=500)] == [1, 1, 1]
    assert list(chunks([])) == []
