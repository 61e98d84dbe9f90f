"""Publishes every stored event to Kafka: topic per context, keyed by aggregate id.

At-least-once: the position moves only after the broker acknowledged the whole batch,
so a crash in between publishes the batch again. Consumers de-duplicate on
(aggregate id, version), both in the message.

Recovery: each run of the follower (the first, and every restart by the supervisor)
creates its topics and a fresh producer; any send that fails or is not acknowledged
within `KAFKA_SEND_TIMEOUT_SECONDS` closes that producer and fails the run, so a broker
that restarted, lost its topics or forgot our producer id is met by a new producer
after the supervisor's back-off, never by the dead one.

Per-key order, across failures too: a batch is sent in chunks small enough that each
partition gets one producer batch per chunk (records wait in the accumulator until
`flush`; the producer is idempotent, so one request in flight per partition), and a
chunk is sent only after the previous one was acknowledged. A partition's record batch
is appended or not as a whole, so whatever a failure leaves in the topic is a prefix of
the batch per key, followed by the batch again from its start: first occurrences of
(aggregate id, version) stay in order.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from psycopg import Connection

from domain.event_catalogue import entry_for_topic, public_data, to_json_value
from runtime import Runtime
from workers.log_follower import LogFollower, LoggedEvent

log = logging.getLogger(__name__)

FOLLOWER = "kafka_relay"

# One producer batch per partition holds up to BATCH_BYTES; a chunk of a relay batch
# carries at most CHUNK_BYTES (estimated), so its records for any one partition fit one.
BATCH_BYTES = 1_000_000
CHUNK_BYTES = BATCH_BYTES // 2
_RECORD_OVERHEAD = 128  # record framing and header names, generously


def topic_for(app_name: str) -> str:
    return f"eventmart.{app_name}"


def message(logged: LoggedEvent) -> dict[str, Any]:
    """The public form: the catalogue's type (never a class path, which changes when code
    moves), ids as strings, times ISO 8601 UTC, money in minor units. An event type missing
    from the catalogue fails the batch (the worker stops on that event and names it) rather
    than leak a class path; tests/domain/test_event_catalogue.py keeps the catalogue whole."""
    event = logged.event
    entry = entry_for_topic(logged.notification.topic)
    return {
        "aggregate_id": str(event.originator_id),
        "version": event.originator_version,
        "type": entry.public_type,
        "schema_version": entry.schema_version,
        "position": logged.notification.id,
        "timestamp": to_json_value(event.timestamp),
        "data": public_data(event),
    }


Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


def record(logged: LoggedEvent) -> Record:
    body = message(logged)
    return (
        body["aggregate_id"].encode(),
        json.dumps(body, default=str, separators=(",", ":")).encode(),
        [
            ("event_type", body["type"].encode()),
            ("schema_version", str(body["schema_version"]).encode()),
            ("version", str(body["version"]).encode()),
            ("position", str(body["position"]).encode()),
        ],
    )


def chunks(records: Sequence[Record], limit: int = CHUNK_BYTES) -> Iterator[Sequence[Record]]:
    """Consecutive runs of records of at most `limit` estimated bytes (a bigger record
    goes alone)."""
    start, size = 0, 0
    for i, (key, value, headers) in enumerate(records):
        n = len(key) + len(value) + sum(len(v) for _, v in headers) + _RECORD_OVERHEAD
        if i > start and size + n > limit:
            yield records[start:i]
            start, size = i, 0
        size += n
    if start < len(records):
        yield records[start:]


def ensure_topics(
    bootstrap: str, topics: Sequence[str], partitions: int, timeout: float = 30.0
) -> None:
    """Creates the topics that are missing; an existing topic is left as it is."""
    timeout_ms = int(timeout * 1000)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="eventmart-admin",
                             bootstrap_timeout_ms=timeout_ms, request_timeout_ms=timeout_ms)
    try:
        for topic in topics:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


def close_producer(producer: KafkaProducer) -> None:
    """Closes at once, dropping whatever is unsent: the batch will be sent again.

    `close(timeout=0)` alone raises while records are pending (its flush times out) and
    leaves the I/O thread retrying the dead broker, so force that thread closed first.
    """
    sender = getattr(producer, "_sender", None)  # kafka-python 3.0.x internals
    if sender is not None:
        sender.force_close()
        sender.join(5)
    try:
        producer.close(timeout=0)
    except Exception:  # noqa: BLE001 - closing a broken producer must not mask the cause
        log.debug("closing the Kafka producer failed", exc_info=True)


class _RateLimit(logging.Filter):
    """Passes each distinct message (logger, template) at most once per `interval`."""

    def __init__(self, interval: float) -> None:
        super().__init__()
        self.interval = interval
        self.last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        if now - self.last.get(key, -self.interval) < self.interval:
            return False
        self.last[key] = now
        return True


_KAFKA_LOG_LIMIT = _RateLimit(30.0)


def quiet_kafka_logs() -> None:
    """kafka-python logs every metadata refresh (INFO) and every failed reconnect (ERROR):
    keep its loggers at WARNING (unless configured otherwise) and pass each distinct
    message at most once per 30 s, the supervisor's longest back-off. Called at each run,
    so loggers of modules kafka-python imported late get the filter too."""
    root = logging.getLogger("kafka")
    if root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
    # A logger's filters see only its own records, not its children's: give each one.
    root.addFilter(_KAFKA_LOG_LIMIT)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.startswith("kafka.") and isinstance(logger, logging.Logger):
            logger.addFilter(_KAFKA_LOG_LIMIT)  # no-op when already there


class RelayFollower(LogFollower):
    """A LogFollower whose every run starts with the topics and a fresh producer."""

    def __init__(self, runtime: Runtime, app_name: str) -> None:
        settings = runtime.settings
        assert settings.kafka_bootstrap_servers, "the relay needs KAFKA_BOOTSTRAP_SERVERS"
        self.bootstrap = settings.kafka_bootstrap_servers
        self.topic = topic_for(app_name)
        self.partitions = settings.kafka_topic_partitions
        self.send_timeout = settings.kafka_send_timeout_seconds
        self.producer: KafkaProducer | None = None
        super().__init__(
            follower=FOLLOWER,
            app=runtime.applications[app_name],
            handle=self.publish,
            database_url=runtime.database_url,
            poll_interval=settings.worker_poll_interval_seconds,
            batch_size=settings.worker_batch_size,
        )

    def connect(self) -> KafkaProducer:
        ensure_topics(self.bootstrap, [self.topic], self.partitions, self.send_timeout)
        timeout_ms = int(self.send_timeout * 1000)
        return KafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=f"eventmart-relay-{self.app.name}",
            acks="all",
            enable_idempotence=True,  # broker de-duplicates retries; one request in flight per partition
            batch_size=BATCH_BYTES,
            # Records wait for flush(): a chunk's records for one partition form one batch.
            linger_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
            delivery_timeout_ms=2 * timeout_ms,  # must exceed linger + request timeout
            max_block_ms=timeout_ms,  # send() waiting for metadata
            # A broker that lost the topic must not recreate it with its own defaults: the
            # next run's ensure_topics does, with our partition count.
            allow_auto_create_topics=False,
        )

    def run(self) -> None:
        quiet_kafka_logs()
        self.producer = self.connect()
        try:
            super().run()
        finally:
            producer, self.producer = self.producer, None
            close_producer(producer)

    def publish(self, conn: Connection, batch: Sequence[LoggedEvent]) -> None:
        producer = self.producer
        assert producer is not None, "publish runs inside run()"
        for chunk in chunks([record(logged) for logged in batch]):
            futures = [
                producer.send(self.topic, key=key, value=value, headers=headers)
                for key, value, headers in chunk
            ]
            producer.flush(timeout=self.send_timeout)  # KafkaTimeoutError if not acked in time
            for f in futures:
                # Raises if the broker did not take it: the run fails, the producer is
                # closed and the whole batch is sent again by a new one.
                f.get(timeout=self.send_timeout)


def relay_follower(runtime: Runtime, app_name: str) -> LogFollower:
    return RelayFollower(runtime, app_name)
