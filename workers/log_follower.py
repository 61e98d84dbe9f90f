"""Follows one application's event log in order, exactly once per follower.

Each batch is read, handled and its new position stored in one transaction, under a row
lock on the follower's position: a crash anywhere rolls the whole batch back, and two
processes running the same follower never both apply an event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from psycopg import Connection, sql

from projections import tracking

log = logging.getLogger(__name__)

BATCH_SIZE = 500


@dataclass(frozen=True)
class LoggedEvent:
    notification: Notification
    event: Any


Handler = Callable[[Connection, Sequence[LoggedEvent]], None]


def events_table(app: Application[UUID]) -> str:
    return f"{app.name}_events"


def read_log(conn: Connection, app: Application[UUID], after: int, limit: int) -> list[LoggedEvent]:
    rows = conn.execute(
        sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(sql.Identifier(events_table(app))),
        (after, limit),
    ).fetchall()
    logged = []
    for nid, oid, version, topic, state in rows:
        n = Notification(
            id=nid, originator_id=oid, originator_version=version, topic=topic, state=bytes(state)
        )
        logged.append(LoggedEvent(n, app.mapper.to_domain_event(n)))
    return logged


class LogFollower:
    def __init__(
        self,
        *,
        follower: str,
        app: Application[UUID],
        handle: Handler,
        database_url: str,
        poll_interval: float = 0.5,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.follower = follower
        self.app = app
        self.handle = handle
        self.database_url = database_url
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.stopping = threading.Event()

    @property
    def label(self) -> str:
        return f"{self.follower}/{self.app.name}"

    def step(self, conn: Connection) -> int:
        """Handles the next batch; returns how many events it handled."""
        with conn.transaction():
            position = tracking.lock_position(conn, self.follower, self.app.name)
            batch = read_log(conn, self.app, position, self.batch_size)
            if not batch:
                tracking.beat(conn, self.follower, self.app.name)
                return 0
            self.handle(conn, batch)
            tracking.set_position(conn, self.follower, self.app.name, batch[-1].notification.id)
        return len(batch)

    def catch_up(self, conn: Connection) -> int:
        total = 0
        while not self.stopping.is_set() and (n := self.step(conn)):
            total += n
        return total

    def run(self) -> None:
        """Runs until stop(). LISTEN wakes it at once on new events; polling covers a
        LISTEN connection that stalls silently (eventsourcing issue #305)."""
        with psycopg.connect(self.database_url, autocommit=True) as conn, psycopg.connect(
            self.database_url, autocommit=True
        ) as listener:
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(events_table(self.app))))
            while not self.stopping.is_set():
                self.catch_up(conn)
                for _ in listener.notifies(timeout=self.poll_interval, stop_after=1):
                    pass

    def stop(self) -> None:
        self.stopping.set()


class Supervisor:
    """Runs followers in threads and restarts one that fails (database restart, broker
    down), with a growing pause so a persistent fault does not spin."""

    def __init__(self, followers: Sequence[LogFollower]) -> None:
        self.followers = list(followers)
        self.threads: list[threading.Thread] = []
        self.stopping = threading.Event()

    def _keep_running(self, follower: LogFollower) -> None:
        pause = 0.5
        while not self.stopping.is_set():
            try:
                follower.run()
            except Exception:
                log.exception("worker %s failed; restarting in %.1fs", follower.label, pause)
                self.stopping.wait(pause)
                pause = min(pause * 2, 30.0)

    def start(self) -> None:
        for f in self.followers:
            t = threading.Thread(target=self._keep_running, args=(f,), name=f.label, daemon=True)
            t.start()
            self.threads.append(t)
        log.info("workers running: %s", ", ".join(f.label for f in self.followers))

    def alive(self) -> bool:
        return all(t.is_alive() for t in self.threads)

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        for f in self.followers:
            f.stop()
        for t in self.threads:
            t.join(timeout)
