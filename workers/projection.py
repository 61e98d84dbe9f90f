"""Runs a read model: applies each logged event to its tables; rebuilds it blue/green."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from psycopg import Connection, sql

from projections.read_model import ReadModel, tolerate_nul
from runtime import Runtime
from workers import bluegreen
from workers.log_follower import MAX_BATCH_SIZE, LogFollower, LoggedEvent, reading


def projection_follower(runtime: Runtime, model: ReadModel, *, follower: str | None = None) -> LogFollower:
    """The live follower of `model` (held while its tables are of another version than the
    code: bluegreen.version_gate), or, with `follower`, the one that writes a new generation."""
    def handle(conn: Connection, batch: Sequence[LoggedEvent]) -> None:
        tolerate_nul(conn)
        if model.batch_lock is not None:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (model.batch_lock,))
        model.apply_batch(conn, [logged.event for logged in batch])

    return LogFollower(
        follower=follower or model.name,
        app=runtime.applications[model.application],
        handle=handle,
        database_url=runtime.database_url,
        poll_interval=runtime.settings.worker_poll_interval_seconds,
        batch_size=runtime.settings.worker_batch_size,
        gate=bluegreen.version_gate(model) if follower is None else None,
        max_batch_size=MAX_BATCH_SIZE,  # read models only: a rebuild or catch-up grows its batches
        wants=reading(model.reads),
        groupable=follower is None,
    )


Progress = Callable[[int, int], None]  # (position reached, log head)


def rebuild(runtime: Runtime, model: ReadModel, progress: Progress | None = None) -> int:
    """Rebuilds the read model blue/green (workers/bluegreen.py): a new generation replays the
    whole log beside the serving one, passing over the events operators recorded skips for, and
    takes over once caught up. Safe while workers run. Refused (bluegreen.RebuildRunning) while
    another process rebuilds it. An event it cannot apply raises EventFailed, naming it, and
    the serving generation stays. Returns the events the new generation applied; `progress` is
    told the position and the log head after every batch."""
    done = bluegreen.rebuild(runtime, model, progress)
    return done.applied if done is not None else 0


def log_head(conn: Connection, application: str) -> int:
    return bluegreen.log_head(conn, application)


def replayed(conn: Connection, application: str, position: int) -> int:
    """How many events the log holds up to `position` (ids have gaps: not the position)."""
    row = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE notification_id <= %s").format(
        sql.Identifier(f"{application}_events")), (position,)).fetchone()
    return int(row[0]) if row else 0
