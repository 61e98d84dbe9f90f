"""Read models that share rows with another, rebuilt blue/green: the product rows of
catalog_search carry the stock figures that stock_levels patches in. Rebuilding either must
neither show buyers an older figure meanwhile nor swap in a stale one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from projections import catalog_search, stock_levels
from runtime import Runtime
from tests.support.runtimes import own_runtime
from workers.bluegreen import rebuild
from workers.projection import projection_follower


@pytest.fixture
def stocked(postgres: str) -> Iterator[tuple[Runtime, uuid.UUID]]:
    """A product whose variant A opened with 10 units and was counted down to 7, projected."""
    with own_runtime(postgres) as runtime:
        product_id = uuid.uuid4()
        runtime.catalog.list_product(
            product_id=product_id, name="Ragi Flour", slug=f"ragi-{product_id.hex[:8]}",
            category="groceries",
            variants=[{"sku": "A", "name": "1 kg", "price": 9000, "currency": "INR", "stock": 10}])
        runtime.commerce.set_stock_level(product_id, "A", 7, by="vendor")
        catch_up(runtime)
        assert stock_shown(runtime, product_id) == 7
        runtime.settings.worker_batch_size = 1  # every event a batch: progress after each
        yield runtime, product_id


def catch_up(runtime: Runtime) -> None:
    """The live workers of both read models, run to the head of their logs."""
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        for model in (catalog_search.READ_MODEL, stock_levels.READ_MODEL):
            projection_follower(runtime, model).catch_up(conn)


def stock_shown(runtime: Runtime, product_id: uuid.UUID) -> Any:
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        row = conn.execute("SELECT variants FROM catalog_products WHERE product_id = %s",
                           (product_id,)).fetchone()
    assert row is not None
    return row[0][0]["stock"]


def test_rebuilding_stock_levels_never_shows_buyers_a_replayed_figure(
    stocked: tuple[Runtime, uuid.UUID],
) -> None:
    runtime, product_id = stocked
    shown: list[Any] = []

    def meanwhile(reached: int, head: int) -> None:
        # What buyers see after each batch of the replay (its first event opens the stock at
        # 10); after the first, the vendor counts again and the live workers apply it.
        shown.append(stock_shown(runtime, product_id))
        if len(shown) == 1:
            runtime.commerce.set_stock_level(product_id, "A", 3, by="vendor")
            catch_up(runtime)

    # When stock_levels is rebuilt blue/green,
    done = rebuild(runtime, stock_levels.READ_MODEL, meanwhile)
    assert done is not None and done.generation == 2
    # Then buyers saw the live figures only (7, then the new count), never the replay's 10,
    assert shown[0] == 7 and set(shown[1:]) == {3}
    # and after the swap the levels and the product rows agree on the latest count.
    assert stock_shown(runtime, product_id) == 3
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        assert stock_levels.level(conn, product_id, "A")["units_left"] == 3  # type: ignore[index]


def test_rebuilding_the_catalog_keeps_stock_counted_during_the_replay(
    stocked: tuple[Runtime, uuid.UUID],
) -> None:
    runtime, product_id = stocked
    changed: list[int] = []

    def meanwhile(reached: int, head: int) -> None:
        # The product's row is in the new generation after the first batch; the vendor then
        # counts again, which the live stock_levels worker patches into the serving rows only.
        if not changed:
            changed.append(reached)
            runtime.commerce.set_stock_level(product_id, "A", 4, by="vendor")
            catch_up(runtime)
            assert stock_shown(runtime, product_id) == 4

    # When catalog_search is rebuilt blue/green while that happens,
    done = rebuild(runtime, catalog_search.READ_MODEL, meanwhile)
    assert done is not None and changed
    # Then the generation that took over shows the count made during its replay.
    assert stock_shown(runtime, product_id) == 4
