from __future__ import annotations

import threading
import uuid

import pytest
from psycopg import Connection

from projections import tracking
from runtime import Runtime

FOLLOWER = "ryw_probe"


def test_a_read_waits_until_the_read_model_has_the_users_last_write(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    user = uuid.uuid4()
    with runtime.pool.connection() as conn:
        tracking.ensure_follower(conn, FOLLOWER, "commerce")
        # The probe is no real follower: start it past writes recorded for everyone (offers).
        broadcast = conn.execute("SELECT coalesce(max(position), 0) FROM user_write_positions "
                                 "WHERE user_id = %s", (tracking.EVERYONE,)).fetchone()
        here = max(tracking.position_of(conn, FOLLOWER, "commerce"), broadcast[0] if broadcast else 0)
        tracking.set_position(conn, FOLLOWER, "commerce", here)
        tracking.record_write(conn, user, "commerce", here + 5)
        tracking.record_write(conn, user, "commerce", here + 3)  # never moves backwards

    # The wait polls the follower's position: watch what it reads, and move the position only
    # once it has read it behind the user's write.
    seen: list[int] = []
    behind = threading.Event()
    read_position = tracking.position_of

    def watched(conn: Connection, follower: str, application: str) -> int:
        position = read_position(conn, follower, application)
        if follower == FOLLOWER:
            seen.append(position)
            if position < here + 5:
                behind.set()
        return position

    def catch_up_once_it_waits() -> None:
        if behind.wait(timeout=30):
            with runtime.pool.connection() as c:
                tracking.set_position(c, FOLLOWER, "commerce", here + 5)

    monkeypatch.setattr(tracking, "position_of", watched)
    mover = threading.Thread(target=catch_up_once_it_waits)
    mover.start()
    with runtime.pool.connection() as conn:
        assert tracking.wait_for_user_writes(conn, user, FOLLOWER, "commerce", timeout=30)
    mover.join()
    assert behind.is_set(), "it never read the position behind the write: it did not wait"
    assert seen[0] == here and seen[-1] == here + 5, "it returned before the read model caught up"
    with runtime.pool.connection() as conn:
        assert read_position(conn, FOLLOWER, "commerce") == here + 5


def test_the_wait_is_bounded(runtime: Runtime) -> None:
    user = uuid.uuid4()
    with runtime.pool.connection() as conn:
        tracking.ensure_follower(conn, FOLLOWER + "_stuck", "commerce")
        tracking.record_write(conn, user, "commerce", 10**12)
        assert not tracking.wait_for_user_writes(conn, user, FOLLOWER + "_stuck", "commerce", 0.2)


def test_a_user_without_writes_does_not_wait(runtime: Runtime) -> None:
    with runtime.pool.connection() as conn:
        assert tracking.wait_for_user_writes(conn, uuid.uuid4(), "cart_view", "commerce", 0)


def test_a_write_for_everyone_is_awaited_by_every_reader(runtime: Runtime) -> None:
    """An offer made by an admin: any customer's next read of a commerce view waits for it."""
    with runtime.pool.connection() as conn:
        tracking.ensure_follower(conn, FOLLOWER + "_all", "commerce")
        tracking.set_position(conn, FOLLOWER + "_all", "commerce", 0)
        tracking.record_write(conn, tracking.EVERYONE, "commerce", 1)
        assert not tracking.wait_for_user_writes(conn, uuid.uuid4(), FOLLOWER + "_all", "commerce", 0.1)
        tracking.set_position(conn, FOLLOWER + "_all", "commerce", 10**12)
        assert tracking.wait_for_user_writes(conn, uuid.uuid4(), FOLLOWER + "_all", "commerce", 0.1)
