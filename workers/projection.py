"""Runs a read model: applies each logged event to its tables; drops and rebuilds it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import psycopg
from psycopg import Connection, sql

from projections import tracking
from projections.read_model import ReadModel, tolerate_nul
from runtime import Runtime
from workers.log_follower import MAX_BATCH_SIZE, LogFollower, LoggedEvent, reading


def projection_follower(runtime: Runtime, model: ReadModel) -> LogFollower:
    def handle(conn: Connection, batch: Sequence[LoggedEvent]) -> None:
        tolerate_nul(conn)
        if model.batch_lock is not None:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (model.batch_lock,))
        if model.apply_batch is not None:
            model.apply_batch(conn, [logged.event for logged in batch])
            return
        for logged in batch:
            model.apply(conn, logged.event)

    return LogFollower(
        follower=model.name,
        app=runtime.applications[model.application],
        handle=handle,
        database_url=runtime.database_url,
        poll_interval=runtime.settings.worker_poll_interval_seconds,
        batch_size=runtime.settings.worker_batch_size,
        max_batch_size=MAX_BATCH_SIZE,  # read models only: a rebuild or catch-up grows its batches
        wants=reading(model.reads),
    )


Progress = Callable[[int, int], None]  # (position reached, log head)


def rebuild(runtime: Runtime, model: ReadModel, progress: Progress | None = None) -> int:
    """Drops the read model and replays the whole log into it, passing over the events
    operators recorded skips for. Safe while workers run: they wait on the position row
    lock taken here. `eventmart status` shows it while it runs. An event it cannot apply
    raises EventFailed, naming it. Returns the events this call applied (live workers of the
    same read model may take some batches: `replayed` gives the true count); `progress` is
    told the position and the log head after every batch."""
    follower = projection_follower(runtime, model)
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        with conn.transaction():
            tracking.lock_position(conn, model.name, model.application)
            conn.execute(model.drop_sql)
            conn.execute(model.create_sql)
            tracking.start_rebuild(conn, model.name, model.application)
        try:
            if progress is None:
                return follower.catch_up(conn)
            head = log_head(conn, model.application)
            total = 0
            while n := follower.step(conn):
                total += n
                head = max(head, log_head(conn, model.application))
                progress(tracking.position_of(conn, model.name, model.application), head)
            return total
        finally:
            with contextlib.suppress(psycopg.Error):  # a lost connection ends the mark too
                tracking.end_rebuild(conn, model.name, model.application)


def log_head(conn: Connection, application: str) -> int:
    row = conn.execute(sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(
        sql.Identifier(f"{application}_events"))).fetchone()
    return int(row[0]) if row else 0


def replayed(conn: Connection, application: str, position: int) -> int:
    """How many events the log holds up to `position` (ids have gaps: not the position)."""
    row = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE notification_id <= %s").format(
        sql.Identifier(f"{application}_events")), (position,)).fetchone()
    return int(row[0]) if row else 0
