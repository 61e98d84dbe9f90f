"""Cross-process mutual exclusion on a name, held by a PostgreSQL advisory lock.

Optimistic concurrency alone keeps money right, but under a burst on one wallet most writers
would lose their races and run out of retries; taking turns makes every debit that can be
paid succeed. Held on the caller's own connection, released even if the command fails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import Connection


@contextmanager
def advisory_lock(conn: Connection, name: str) -> Iterator[None]:
    conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (name,))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (name,))
