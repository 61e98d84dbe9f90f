"""Search latency on a large catalog: seed-demo at scale, project, then time typical queries.

    .venv/bin/python bench/catalog_search.py [--scale 53] [--runs 200]

Scale 53 gives 101,760 products in 2,544 shops. Uses DATABASE_URL when set, else a throwaway
embedded PostgreSQL. Prints p50/p95/max per query; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from eventmart.demo import seed_demo  # noqa: E402
from eventmart.migrations import migrate  # noqa: E402
from projections import catalog_search as cs  # noqa: E402
from runtime import open_runtime  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.infra import fresh_database, postgres_server  # noqa: E402
from workers.projection import projection_follower  # noqa: E402

QUERIES = {
    "q=tea": lambda c: cs.search_products(c, cs.ProductFilters(q="tea"), page=1, size=20),
    "q=bas ri (prefixes)": lambda c: cs.search_products(c, cs.ProductFilters(q="bas ri"), page=1, size=20),
    "category+price order": lambda c: cs.search_products(
        c, cs.ProductFilters(category="snacks", ordering="price"), page=1, size=20),
    "price range+available": lambda c: cs.search_products(
        c, cs.ProductFilters(min_price=10000, max_price=20000, available=True), page=1, size=20),
    "newest, page 50": lambda c: cs.search_products(c, cs.ProductFilters(), page=50, size=20),
    "shops in city": lambda c: cs.search_shops(
        c, cs.ShopFilters(city="Pune", prefer_society="Amanora Park"), page=1, size=20),
    "shop search q=chai": lambda c: cs.search_shops(
        c, cs.ShopFilters(city="Mumbai", q="chai", available=True), page=1, size=20),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=53)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with postgres_server() as server, fresh_database(server) as url:
        settings = make_settings(url)
        migrate(settings, url)
        rt = open_runtime(settings, database_url=url)
        started = time.perf_counter()
        with rt.pool.connection() as conn:
            seeded = seed_demo(rt.catalog, conn, rt.passwords, scale=args.scale)
        print(f"seeded {seeded.products} products in {seeded.shops} shops: "
              f"{time.perf_counter() - started:.1f}s")
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            events = projection_follower(rt, cs.READ_MODEL).catch_up(conn)
            elapsed = time.perf_counter() - started
            print(f"projected {events} events: {elapsed:.1f}s ({events / elapsed:.0f}/s)")
            conn.execute("VACUUM ANALYZE")
            for name, query in QUERIES.items():
                query(conn)  # warm
                times = []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    found = query(conn)
                    times.append((time.perf_counter() - t) * 1000)
                times.sort()
                p95 = times[int(len(times) * 0.95) - 1]
                print(f"{name:<24} hits={found.count:<7} p50={statistics.median(times):6.2f}ms "
                      f"p95={p95:6.2f}ms max={times[-1]:6.2f}ms")
        rt.close()


if __name__ == "__main__":
    main()
