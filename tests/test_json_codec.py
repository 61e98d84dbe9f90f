"""jsonb values are read and written with orjson (adapters/json_codec.py), and still
round-trip exactly as with the standard library: integers past 64 bits, keys that are not
strings, deep nesting and NUL characters included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from adapters import json_codec
from projections.read_model import tolerate_nul, without_nul
from tests.infra import fresh_database

WIDE = [2**64, -(2**63) - 1, 10**30, 2**63, 2**64 - 1, -(2**63)]

scalars = (st.none() | st.booleans() | st.integers() | st.sampled_from(WIDE)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text())
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


# Through PostgreSQL, floats are its business (jsonb stores them as numeric and writes 1e16 back
# as an integer, before and after): the codec's part is the text and the integers.
exact_documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(WIDE) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def standard(value: Any) -> Any:
    """What the standard library's round trip gives (the meaning a stored value had before)."""
    return json.loads(json.dumps(value))


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 == 1.0, but an amount is an int)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@given(documents)
@settings(max_examples=300, deadline=None)
def test_a_value_round_trips_as_with_the_standard_library(value: Any) -> None:
    written = json_codec.dumps(value)
    assert same(json.loads(written), standard(value))  # what it writes means the same
    assert same(json_codec.loads(written), standard(value))  # and reads back the same
    assert same(json_codec.loads(json.dumps(value).encode()), standard(value))  # old rows too


@pytest.mark.parametrize("value", [
    {"amount": 2**64}, [10**30, -(2**63) - 1], {"id": "1234567890123456789012"},  # wide numbers
    {1: "a", 2: ["b"]},  # keys that are not strings: the standard library names them "1", "2"
    deep(300),  # deeper than orjson writes or reads
])
def test_where_orjson_differs_the_standard_library_answers(value: Any) -> None:
    written = json_codec.dumps(value)
    assert same(json.loads(written), standard(value))
    assert same(json_codec.loads(written), standard(value))  # an amount stays an int


@pytest.fixture
def conn(postgres: str) -> Iterator[psycopg.Connection]:
    with fresh_database(postgres) as url, psycopg.connect(url, autocommit=True) as c:
        tolerate_nul(c)
        c.execute("CREATE TABLE docs (id int PRIMARY KEY, doc jsonb NOT NULL)")
        yield c


@given(exact_documents)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_jsonb_round_trips_through_a_read_models_connection(conn: psycopg.Connection, value: Any) -> None:
    conn.execute("DELETE FROM docs")
    conn.execute("INSERT INTO docs VALUES (1, %s)", (Jsonb({"v": value}),))
    got = conn.execute("SELECT doc, doc::text FROM docs").fetchone()
    assert got is not None
    # What the standard library reads from PostgreSQL's text of the same value (numbers come
    # back as PostgreSQL writes them: 1e300 as an integer of 301 digits, before and after).
    assert same(got[0], json.loads(got[1]))
    # A NUL is dropped on the way in (projections/read_model.py); all else is kept.
    assert same(got[0], standard({"v": without_nul(value)}))


def test_the_api_pool_reads_wide_integers_exactly(runtime: Any) -> None:
    with runtime.pool.connection() as c:
        got = c.execute("SELECT %s::jsonb", (Jsonb({"paise": 2**64 + 1, "tiny": 5}),)).fetchone()
    assert got is not None and same(got[0], {"paise": 2**64 + 1, "tiny": 5})
