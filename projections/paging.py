"""One page of a read model's rows and how many there are in all: what every list query
answers (the API wraps it in its envelope, api/pagination.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

Row = dict[str, Any]


@dataclass(frozen=True)
class Page:
    count: int
    rows: list[Row]
    exact: bool = True  # False: `count` is the planner's estimate (a broad listing)


def where(*conditions: tuple[str, Any], always: str = "true") -> tuple[str, list[Any]]:
    """`WHERE` and its parameters from (condition with one %s, value) pairs; a pair whose
    value is None (the filter was not asked for) is left out."""
    chosen = [(sql, value) for sql, value in conditions if value is not None]
    clause = " AND ".join([always, *(sql for sql, _ in chosen)])
    return f"WHERE {clause}", [value for _, value in chosen]


def page_of(
    conn: Connection, select: str, from_where: str, params: list[Any], order: str, page: int, size: int,
    select_params: tuple[Any, ...] = (),
) -> Page:
    """One page and the total. The count runs on the bare filter, without the select list:
    counting through a subquery that carries wide columns is several times slower."""
    with conn.cursor(row_factory=dict_row) as cur:
        count = cur.execute(f"SELECT count(*) AS n {from_where}", params).fetchone()
        rows = cur.execute(f"SELECT {select} {from_where} ORDER BY {order} LIMIT %s OFFSET %s",
                           [*select_params, *params, size, (page - 1) * size]).fetchall()
    return Page(count["n"] if count else 0, rows)
