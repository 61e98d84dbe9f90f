"""`eventmart seed-demo`: a realistic catalog, deterministic and idempotent."""

from __future__ import annotations

from typing import Any

import psycopg

from eventmart.demo import seed_demo
from eventmart.migrations import migrate
from projections import catalog_search, offers
from runtime import open_runtime
from tests.infra import fresh_database
from tests.support.settings import make_settings
from workers.projection import projection_follower


def test_seed_demo_builds_a_browsable_marketplace_once(postgres: str) -> None:
    with fresh_database(postgres) as url:
        settings = make_settings(url)
        migrate(settings, url)
        runtime = open_runtime(settings, database_url=url)
        try:
            with runtime.pool.connection() as conn:
                first = seed_demo(runtime.catalog, conn, runtime.passwords, commerce=runtime.commerce)
                head = runtime.catalog.recorder.max_notification_id()
                commerce_head = runtime.commerce.recorder.max_notification_id()
                again = seed_demo(runtime.catalog, conn, runtime.passwords, commerce=runtime.commerce)
            assert (first.categories, first.added, first.offers) == (20, 48 + 48 * 40, 3 + 12)
            assert (again.categories, again.added, again.offers) == (0, 0, 0)
            assert runtime.catalog.recorder.max_notification_id() == head, "a re-run writes nothing"
            assert runtime.commerce.recorder.max_notification_id() == commerce_head
            assert {e.split("1@")[0] for e in first.users if "1@" in e} == {
                "admin", "support", "auditor", "vendor", "customer"}

            with psycopg.connect(url, autocommit=True) as conn:
                projection_follower(runtime, catalog_search.READ_MODEL).catch_up(conn)
                shops = conn.execute("SELECT count(*), count(DISTINCT city), count(DISTINCT society), "
                                     "count(DISTINCT shop_type), bool_or(is_open), bool_or(NOT is_open) "
                                     "FROM catalog_shops").fetchone()
                assert shops == (48, 4, 12, 10, True, True)
                products = conn.execute("SELECT count(*), count(DISTINCT category), "
                                        "bool_or(available), bool_or(NOT available) "
                                        "FROM catalog_products").fetchone()
                assert products == (1920, 20, True, True)
                found = catalog_search.search_products(
                    conn, catalog_search.ProductFilters(q="basmati"), page=1, size=5)
                assert found.count > 0 and all("Basmati" in r["name"] for r in found.rows)

                projection_follower(runtime, offers.READ_MODEL).catch_up(conn)
                live = offers.live(conn, runtime.clock())
                assert {"WELCOME50", "SAVE10", "BIGBASKET150"} <= {o["code"] for o in live}
                shop_offers = [o for o in live if o["shop_id"]]
                assert len(shop_offers) == 12
                # A shop's offer is its vendor's, so the vendor can stop it.
                shop: Any = runtime.catalog.repository.get(shop_offers[0]["shop_id"])
                assert runtime.commerce.coupon(shop_offers[0]["code"]).created_by == shop.vendor_id
        finally:
            runtime.close()
