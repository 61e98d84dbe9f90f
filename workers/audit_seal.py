"""The audit-seal follower: extends each application's SHA-256 event chain as its log grows
and writes a seal every N events or T seconds (projections/audit_chain.py).

Exactly-once like every follower: the seals, the chain's head and the follower's position
change in one transaction, under the position's row lock. It reads the stored rows as they
are and never decodes them, so an event no other worker can read is still sealed, and an
operator's skip (`worker --skip`) does not apply here: the chain covers every event.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from psycopg import Connection

from projections import audit_chain, tracking
from runtime import Runtime
from workers.log_follower import LogFollower, LoggedEvent, _read_rows

FOLLOWER = "audit_seal"


def _unused(conn: Connection, batch: Sequence[LoggedEvent]) -> None:
    raise AssertionError("the seal follower reads stored rows itself")


class SealFollower(LogFollower):
    def __init__(self, runtime: Runtime, app_name: str, *, every_events: int | None = None,
                 every_seconds: float | None = None) -> None:
        settings = runtime.settings
        super().__init__(follower=FOLLOWER, app=runtime.applications[app_name], handle=_unused,
                         database_url=runtime.database_url,
                         poll_interval=settings.worker_poll_interval_seconds,
                         batch_size=settings.worker_batch_size)
        self.every_events = every_events or settings.audit_seal_every_events
        self.every_seconds = (settings.audit_seal_every_seconds if every_seconds is None
                              else every_seconds)

    def woken_by(self, payload: str) -> bool:
        # Chained at the poll interval, in larger batches: nobody waits on the chain live, and
        # a step per burst of appends cost 7 statements (its position, the chain's head, the
        # read, the head, the position, BEGIN, COMMIT).
        return False

    def step(self, conn: Connection) -> int:
        """Chains the next batch; seals at every N-th event, and what is pending once T
        seconds have passed since the last seal (also when no new event came)."""
        app = self.app.name
        with conn.transaction():
            cursor = tracking.lock_cursor(conn, FOLLOWER, app)
            head = audit_chain.lock_head(conn, app, self.every_seconds)
            if head.position != cursor[1]:
                raise RuntimeError(
                    f"the audit chain of {app} is at position {head.position} but its follower at "
                    f"{cursor[1]}: the chain cannot be rebuilt, restore the follower's position")
            # In the log's reading order, like every follower (adapters/recorder.py): an event
            # committed late is chained after what was read before it, never skipped.
            read = _read_rows(conn, self.app, cursor, self.batch_size)
            rows, self.pending = read.rows, read.pending
            events = [audit_chain.StoredEvent(int(r.id), UUID(str(r.originator_id)), int(r.originator_version),
                                              str(r.topic), bytes(r.state)) for r in rows]
            for event in events:
                head.add(event)
                if head.pending_events >= self.every_events:
                    audit_chain.write_seal(conn, head)
            if head.pending_events and head.time_due and not head.sealed_now:
                audit_chain.write_seal(conn, head)
            if events or head.sealed_now:
                audit_chain.save_head(conn, head)
            if events:
                tracking.set_position(conn, FOLLOWER, app, head.position,
                                      transaction_id=rows[-1].transaction_id)
            else:
                tracking.beat(conn, [FOLLOWER], app)
        self.successes += 1
        self.more = len(rows) >= self.batch_size
        return len(events)


def seal_followers(runtime: Runtime) -> list[LogFollower]:
    return [SealFollower(runtime, app) for app in audit_chain.APPLICATIONS]
