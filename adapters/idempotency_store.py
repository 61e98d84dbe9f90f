"""The idempotency keys' table and its retention (the protocol is api/idempotency.py): kept
24 h, then swept by the payment expiry timer. Here, not in api/, so that neither migrations
nor workers import the API."""

from __future__ import annotations

from datetime import datetime, timedelta

from psycopg import Connection

# Tables (idempotency_keys): eventmart/schema/, applied by `eventmart migrate`.

KEEP_FOR = timedelta(hours=24)
SWEEP_BATCH = 5000


def sweep(conn: Connection, now: datetime) -> int:
    """Deletes keys past the 24 h retention, in batches. Returns how many."""
    deleted = 0
    while True:
        n = conn.execute(
            "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys "
            "WHERE created_at < %s LIMIT %s))", (now - KEEP_FOR, SWEEP_BATCH)).rowcount
        deleted += n
        if n < SWEEP_BATCH:
            return deleted
