from __future__ import annotations

import threading
import time
import uuid

from eventmart.runtime import Runtime
from projections import tracking

FOLLOWER = "ryw_probe"


def test_a_read_waits_until_the_read_model_has_the_users_last_write(runtime: Runtime) -> None:
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

    def catch_up_later() -> None:
        time.sleep(0.3)
        with runtime.pool.connection() as c:
            tracking.set_position(c, FOLLOWER, "commerce", here + 5)

    threading.Thread(target=catch_up_later).start()
    with runtime.pool.connection() as conn:
        started = time.monotonic()
        assert tracking.wait_for_user_writes(conn, user, FOLLOWER, "commerce", timeout=5)
        waited = time.monotonic() - started
        assert tracking.position_of(conn, FOLLOWER, "commerce") == here + 5
    assert waited >= 0.2, "it returned before the read model caught up"


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
