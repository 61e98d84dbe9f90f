"""Process managers: follow a log and issue commands elsewhere.

Their commands are idempotent (a shop counts one rating per order), so a redelivered event
after a crash changes nothing: at-least-once delivery is enough.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from psycopg import Connection

from domain.commerce.order import Order
from eventmart.runtime import Runtime
from workers.log_follower import LogFollower, LoggedEvent

SHOP_RATINGS = "shop_ratings"
POLICIES = {SHOP_RATINGS: "commerce"}


def shop_ratings(runtime: Runtime) -> LogFollower:
    """Order rated -> the shop's rating (average and count) includes it."""

    def handle(conn: Connection, batch: Sequence[LoggedEvent]) -> None:
        for logged in batch:
            event = logged.event
            if isinstance(event, Order.Rated) and event.shop_id:
                runtime.catalog.rate_shop(UUID(event.shop_id), order_id=str(event.originator_id),
                                          rating=event.rating)

    return LogFollower(
        follower=SHOP_RATINGS, app=runtime.commerce, handle=handle,
        database_url=runtime.database_url,
        poll_interval=runtime.settings.worker_poll_interval_seconds,
        batch_size=runtime.settings.worker_batch_size,
    )
