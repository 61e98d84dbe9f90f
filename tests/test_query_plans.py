"""The statements every command, request and follower step runs read by index in the plan
PostgreSQL caches for them, however large the tables and whether or not they were analyzed.

psycopg prepares a statement after a few runs; PostgreSQL then keeps a generic plan (made
without the parameters' values) when its estimated cost is low, and makes it again only when
the table's statistics change. A generic plan that scans a growing log stays cheap on paper
and grows dear in fact: the aggregate look-up hash-joined a scan of the whole log until the
first ANALYZE (commands slowed from 2,051 to 999/s over 22,000 events), and the followers'
probe for an event behind a running transaction read the whole log on every step. Here every
table is filled well past a page or two with autovacuum off (never analyzed), and each
statement's generic plan (`EXPLAIN (GENERIC_PLAN)`) must not hold a sequential scan of it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest

from adapters.aggregate_cache import VersionCheckedCache
from eventmart.migrations import migrate
from identity.sessions import SIGNED_IN_SQL
from projections import cart_view, order_history, payments
from runtime import Runtime, open_runtime
from tests.infra import fresh_database
from tests.support.settings import make_settings
from workers.log_follower import _read_statement

ROWS = 20_000
BIG = ("commerce_events", "commerce_snapshots", "users", "sessions", "user_write_positions",
       "cart_view", "payment_view", "order_history")


@pytest.fixture(scope="module")
def filled(postgres: str) -> Iterator[Runtime]:
    with fresh_database(postgres) as url:
        settings = make_settings(url)
        migrate(settings, url)
        with psycopg.connect(url, autocommit=True) as conn:
            for table in BIG:
                conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
            conn.execute(
                "INSERT INTO commerce_events (originator_id, originator_version, topic, state) "
                "SELECT md5((g %% 500)::text)::uuid, g, 'bench', '\\x00' FROM generate_series(1, %s) g",
                (ROWS,))
            conn.execute(
                "INSERT INTO commerce_snapshots (originator_id, originator_version, topic, state) "
                "SELECT md5((g %% 500)::text)::uuid, g, 'bench', '\\x00' FROM generate_series(1, %s) g",
                (ROWS,))
            conn.execute(
                "INSERT INTO users (id, email, role) SELECT md5(g::text)::uuid, g || '@x.example', "
                "'customer' FROM generate_series(1, %s) g", (ROWS,))
            conn.execute(
                "INSERT INTO sessions (id, token_hash, user_id, created_at, expires_at) "
                "SELECT md5('s' || g)::uuid, sha256(g::text::bytea), md5(g::text)::uuid, now(), "
                "now() + interval '1 day' FROM generate_series(1, %s) g", (ROWS,))
            conn.execute(
                "INSERT INTO user_write_positions (user_id, application, position) "
                "SELECT md5(g::text)::uuid, a, g FROM generate_series(1, %s) g, "
                "unnest(ARRAY['commerce', 'catalog']) a", (ROWS,))
            conn.execute(
                "INSERT INTO cart_view (cart_id, owner_id, version, doc, updated_at) "
                "SELECT md5('c' || g)::uuid, md5(g::text)::uuid, 1, '{}', now() "
                "FROM generate_series(1, %s) g", (ROWS,))
            conn.execute(
                "INSERT INTO payment_view SELECT md5('p' || g)::uuid, 'order', md5('o' || g)::uuid, "
                "md5(g::text)::uuid, 100, 'INR', CASE WHEN g %% 100 = 0 THEN 'pending' ELSE 'succeeded' END, "
                "'fake', 'x', 'x', now() - g * interval '1 second', 0, now(), now() "
                "FROM generate_series(1, %s) g", (ROWS,))
            conn.execute(
                "INSERT INTO order_history SELECT md5('o' || g)::uuid, md5(g::text)::uuid, NULL, "
                "CASE WHEN g %% 100 = 0 THEN 'awaiting_payment' ELSE 'delivered' END, 'online', 'INR', "
                "100, '{}', now() - g * interval '1 second', now() FROM generate_series(1, %s) g", (ROWS,))
            analyzed = conn.execute(
                "SELECT count(*) FROM pg_stat_user_tables WHERE relname = ANY(%s) "
                "AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)", (list(BIG),)).fetchone()
            assert analyzed is not None and analyzed[0] == 0
        runtime = open_runtime(settings, database_url=url)
        try:
            yield runtime
        finally:
            runtime.close()


def numbered(statement: str) -> str:
    """psycopg's placeholders (`%s`, `%(name)s`) as the server's ($1, $2, ...)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1) or f"_{len(names)}"
        if match.group(1) is None or name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return re.sub(r"%(?:\((\w+)\))?s", number, statement).replace("%%", "%")


def generic_plan(runtime: Runtime, statement: str) -> str:
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        rows = conn.execute(f"EXPLAIN (GENERIC_PLAN) {numbered(statement)}").fetchall()
    return "\n".join(row[0] for row in rows)


def scans(plan: str) -> list[str]:
    return [table for table in BIG if re.search(rf"Seq Scan on {table}\b", plan)]


def test_the_aggregate_look_up_reads_by_index(filled: Runtime) -> None:
    cache = filled.commerce.aggregate_source
    assert isinstance(cache, VersionCheckedCache)
    for names in (("commerce",), ("catalog", "commerce")):
        plan = generic_plan(filled, cache.statement(names).as_string())
        assert scans(plan) == [], plan


@pytest.mark.parametrize("skips", [False, True])
def test_a_follower_step_reads_by_index(filled: Runtime, skips: bool) -> None:
    plan = generic_plan(filled, _read_statement("commerce_events", skips, (None, None)))
    assert scans(plan) == [], plan


def test_the_session_look_up_reads_by_index(filled: Runtime) -> None:
    plan = generic_plan(filled, SIGNED_IN_SQL)
    assert scans(plan) == [], plan


def test_a_read_model_batch_loads_its_rows_by_index(filled: Runtime) -> None:
    plan = generic_plan(filled, cart_view.TABLE.select_sql)
    assert scans(plan) == [], plan


def test_the_sweeps_find_what_is_due_by_index(filled: Runtime) -> None:
    for statement in (payments.TABLE.keys_due_sql("pending", "expires_at"),
                      order_history.TABLE.keys_due_sql("awaiting_payment", "created_at")):
        plan = generic_plan(filled, statement)
        assert scans(plan) == [], plan
