"""Appends and followers for the proofs that a log appended without a table lock is read
without skipping (tests/test_append_without_lock.py): events that carry a unique token, a
writer session holding its own transaction, and followers that record what they handle."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from psycopg import Connection

from adapters.recorder import LockFreeApplicationRecorder
from projections import tracking
from workers.log_follower import LogFollower, LoggedEvent


class Tally(Aggregate):
    """A stream of numbered bumps; each carries a token no other event has, so an event
    that rolled back can never be mistaken for a later one with the same version."""

    class Bumped(Aggregate.Event):
        token: str


@dataclass
class Stream:
    id: UUID = field(default_factory=uuid.uuid4)
    version: int = 0  # the last committed version


def bumps(app: Application[UUID], stream: Stream, count: int) -> tuple[list[Any], list[str]]:
    """Stored events for the stream's next `count` versions, and their tokens."""
    tokens = [str(uuid.uuid4()) for _ in range(count)]
    events = [
        Tally.Bumped(originator_id=stream.id, originator_version=stream.version + i + 1,  # type: ignore[call-arg]
                     timestamp=Tally.Event.create_timestamp(), token=token)
        for i, token in enumerate(tokens)
    ]
    return [app.mapper.to_stored_event(e) for e in events], tokens


def recorder_of(app: Application[UUID]) -> LockFreeApplicationRecorder:
    recorder = app.recorder
    assert isinstance(recorder, LockFreeApplicationRecorder), "the runtime wires our recorder"
    return recorder


@contextmanager
def session(app: Application[UUID]) -> Iterator[Connection[Any]]:
    """A pooled event-store connection (it knows the stored-event type) outside autocommit,
    so the test decides when its transaction commits, rolls back or takes its id."""
    with recorder_of(app).datastore.get_connection() as conn:
        conn.autocommit = False
        try:
            # The library's connections end a transaction idle for 5 s; these are held open
            # on purpose, for as long as the test needs (SET LOCAL: this transaction only).
            conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
            yield conn
        finally:
            conn.rollback()
            conn.autocommit = True


def insert(app: Application[UUID], conn: Connection[Any], stored: Sequence[Any]) -> None:
    """The recorder's own INSERT, in the session's open transaction."""
    with conn.cursor() as curs:
        recorder_of(app)._insert_stored_events(curs, stored)


def take_transaction_id(conn: Connection[Any]) -> int:
    row = conn.execute("SELECT pg_current_xact_id()::text AS xid").fetchone()
    assert row is not None
    return int(row["xid"])  # the library's connections return dict rows


class Recording:
    """A follower's handled events, in the order it handled them: (token, aggregate id,
    version)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()

    def handle(self, conn: Connection[Any], batch: Sequence[LoggedEvent]) -> None:
        with self.lock:
            self.seen.extend((e.event.token, str(e.event.originator_id), e.event.originator_version)
                             for e in batch)


def recording_follower(app: Application[UUID], database_url: str, name: str,
                       conn: Connection[Any], *, batch_size: int = 50,
                       poll_interval: float = 0.2) -> tuple[LogFollower, Recording]:
    tracking.ensure_follower(conn, name, app.name)
    recording = Recording()
    follower = LogFollower(follower=name, app=app, handle=recording.handle,
                           database_url=database_url, poll_interval=poll_interval,
                           batch_size=batch_size)
    return follower, recording


def assert_seen_exactly(recording: Recording, committed: dict[str, tuple[str, int]],
                        rolled_back: set[str], who: str) -> None:
    """Every committed event once, none rolled back, each aggregate's versions in order."""
    tokens = [token for token, _, _ in recording.seen]
    assert len(tokens) == len(set(tokens)), f"{who} handled an event twice"
    assert not set(tokens) & rolled_back, f"{who} handled an event that rolled back"
    missing = set(committed) - set(tokens)
    assert not missing, f"{who} skipped {len(missing)} committed events"
    assert set(tokens) == set(committed)
    last: dict[str, int] = {}
    for _, aggregate, version in recording.seen:
        assert version == last.get(aggregate, 0) + 1, f"{who}: {aggregate} out of order"
        last[aggregate] = version
