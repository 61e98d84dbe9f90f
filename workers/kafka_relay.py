"""Publishes every stored event to Kafka: topic per context, keyed by aggregate id.

At-least-once: the position moves only after the broker acknowledged the whole batch,
so a crash in between publishes the batch again. Consumers de-duplicate on
(aggregate id, version), both in the message.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from psycopg import Connection

from eventmart.runtime import Runtime
from workers.log_follower import LogFollower, LoggedEvent

log = logging.getLogger(__name__)

FOLLOWER = "kafka_relay"
_ENVELOPE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def topic_for(app_name: str) -> str:
    return f"eventmart.{app_name}"


def message(logged: LoggedEvent) -> dict[str, Any]:
    event = logged.event
    return {
        "aggregate_id": str(event.originator_id),
        "version": event.originator_version,
        "type": logged.notification.topic,
        "position": logged.notification.id,
        "timestamp": event.timestamp.isoformat(),
        "data": {k: v for k, v in event.__dict__.items() if k not in _ENVELOPE_FIELDS},
    }


def ensure_topics(bootstrap: str, topics: Sequence[str], partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="eventmart-admin")
    try:
        for topic in topics:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


def relay_follower(runtime: Runtime, app_name: str) -> LogFollower:
    bootstrap = runtime.settings.kafka_bootstrap_servers
    assert bootstrap, "the relay needs KAFKA_BOOTSTRAP_SERVERS"
    topic = topic_for(app_name)
    producer: KafkaProducer | None = None

    def handle(conn: Connection, batch: Sequence[LoggedEvent]) -> None:
        nonlocal producer
        if producer is None:
            ensure_topics(bootstrap, [topic], runtime.settings.kafka_topic_partitions)
            producer = KafkaProducer(
                bootstrap_servers=bootstrap,
                acks="all",
                enable_idempotence=True,
                client_id=f"eventmart-relay-{app_name}",
            )
        futures = []
        for logged in batch:
            body = message(logged)
            futures.append(
                producer.send(
                    topic,
                    key=body["aggregate_id"].encode(),
                    value=json.dumps(body, default=str, separators=(",", ":")).encode(),
                    headers=[
                        ("event_type", logged.notification.topic.encode()),
                        ("version", str(body["version"]).encode()),
                        ("position", str(body["position"]).encode()),
                    ],
                )
            )
        producer.flush(timeout=30)
        for f in futures:
            f.get(timeout=30)  # raises if the broker did not take it: batch is retried

    return LogFollower(
        follower=FOLLOWER,
        app=runtime.applications[app_name],
        handle=handle,
        database_url=runtime.database_url,
        poll_interval=runtime.settings.worker_poll_interval_seconds,
        batch_size=runtime.settings.worker_batch_size,
    )
