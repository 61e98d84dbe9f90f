"""Every stored event reaches Kafka: topic per context, keyed by aggregate id, in order."""

from __future__ import annotations

import json
import uuid

from kafka import KafkaConsumer, TopicPartition

from eventmart.runtime import Runtime
from tests.helpers import eventually


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
    assert [b["type"].rsplit(".", 1)[-1] for b in bodies] == ["Opened", "ItemAdded", "ItemRemoved"]
    assert bodies[1]["data"]["qty"] == 3 and bodies[1]["data"]["unit_price"] == 19950
    assert len({r.partition for r in mine}) == 1, "one aggregate, one partition, one order"
    headers = dict(mine[0].headers)
    assert headers["version"] == b"1" and int(headers["position"]) == bodies[0]["position"]
