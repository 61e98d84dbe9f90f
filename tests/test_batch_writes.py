"""Large batch writes go through COPY and a temporary table; they write what the small,
pipelined ones write, NUL-free text and computed full-text columns included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from projections import batch
from projections.batch import Derived, Table
from projections.read_model import tolerate_nul
from tests.infra import fresh_database

TABLE = Table("batch_probe", "id", ("id", "name", "doc"), json=frozenset({"doc"}),
              derived=(Derived("search", "to_tsvector('simple', {})", ("words",)),))


@pytest.fixture
def conn(postgres: str) -> Iterator[psycopg.Connection]:
    with fresh_database(postgres) as url, psycopg.connect(url, autocommit=True) as c:
        tolerate_nul(c)
        c.execute("CREATE TABLE batch_probe (id int PRIMARY KEY, name text NOT NULL, doc jsonb NOT NULL, "
                  "search tsvector NOT NULL)")
        yield c


def rows(n: int, tag: str) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"tea\x00{tag}{i}", "doc": {"note": f"a\x00b{tag}"}, "words": f"green\x00 {tag}"}
            for i in range(n)]


def table(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT id, name, doc, search::text FROM batch_probe ORDER BY id").fetchall()


@pytest.mark.parametrize("n", [3, batch.COPY_FROM + 5])
def test_an_upsert_writes_then_overwrites_without_nul(conn: psycopg.Connection, n: int) -> None:
    with conn.transaction():
        TABLE.upsert(conn, rows(n, "x"))
    with conn.transaction():
        TABLE.upsert(conn, rows(n, "y"))
    found = table(conn)
    assert len(found) == n
    assert found[-1] == (n - 1, f"teay{n - 1}", {"note": "aby"}, "'green':1 'y':2")


@pytest.mark.parametrize("n", [3, batch.COPY_FROM + 5])
def test_insert_new_keeps_the_rows_already_there(conn: psycopg.Connection, n: int) -> None:
    with conn.transaction():
        TABLE.insert_new(conn, rows(n, "x"))
        TABLE.insert_new(conn, rows(n + 1, "y"))  # the same table twice in one transaction
    found = table(conn)
    assert [r[1] for r in found] == [f"teax{i}" for i in range(n)] + [f"teay{n}"]
