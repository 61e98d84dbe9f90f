from __future__ import annotations

from typing import Any

from psycopg import Connection


def scalar(conn: Connection[Any], query: str, params: tuple[Any, ...] = ()) -> Any:
    """The first column of the first row the query answers (there must be one)."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, f"no row for {query}"
    return row[0]
