from __future__ import annotations

from typing import Any

import psycopg
from psycopg import Connection

from projections import tracking


def scalar(conn: Connection[Any], query: str, params: tuple[Any, ...] = ()) -> Any:
    """The first column of the first row the query answers (there must be one)."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, f"no row for {query}"
    return row[0]


def query(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows a statement answers, on a connection of its own (none for a command)."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def follower_position(url: str, follower: str, app: str = "commerce") -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return tracking.position_of(conn, follower, app)
