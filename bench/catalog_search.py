"""Search latency on a large catalog: seed-demo at scale, project, then time typical queries.

    .venv/bin/python bench/catalog_search.py [--scale 53] [--runs 200]

Scale 53 gives 101,760 products in 2,544 shops. Uses DATABASE_URL when set, else a throwaway
embedded PostgreSQL. Prints p50/p95/max per query; asserts nothing.

Each product query runs twice, interleaved: as before (every match counted exactly) and as now
(counted up to 10,000, then the planner's estimate: `count_exact` false). The baseline is a
product fetched by primary key (`find_product`), timed the same way; ratio = p95 / its p95.
Target: every query's p95 < 20 ms. Writes the "catalog_search" section of
bench/results/latest.json.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from bench.common import test_server_runtime  # noqa: E402
from bench.options import counts  # noqa: E402
from bench.results import write_section  # noqa: E402
from eventmart.demo import seed_demo  # noqa: E402
from projections import catalog_search as cs  # noqa: E402
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


PRODUCT_QUERIES = {"q=tea", "q=bas ri (prefixes)", "category+price order", "price range+available",
                   "newest, page 50"}
TARGET_P95_MS = 20.0


def main() -> None:
    args = counts(scale=53, runs=200)
    with test_server_runtime() as (rt, url):
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
            some_product = conn.execute("SELECT product_id FROM catalog_products LIMIT 1").fetchone()
            assert some_product is not None
            bound = cs.COUNT_EXACT_UP_TO

            def timed(query: Any, exact: bool) -> tuple[Any, list[float]]:
                cs.COUNT_EXACT_UP_TO = 10**12 if exact else bound
                times = []
                found = None
                for _ in range(args.runs):
                    t = time.perf_counter()
                    found = query(conn)
                    times.append((time.perf_counter() - t) * 1000)
                times.sort()
                return found, times

            def p95(times: list[float]) -> float:
                return round(times[int(len(times) * 0.95) - 1], 2)

            _, base_times = timed(lambda c: cs.find_product(c, some_product[0]), False)
            base = p95(base_times)
            print(f"{'baseline: product by key':<24} p50={statistics.median(base_times):6.2f}ms "
                  f"p95={base:6.2f}ms")
            results = []
            for name, query in QUERIES.items():
                query(conn)  # warm
                before_found, before = timed(query, True) if name in PRODUCT_QUERIES else (None, [])
                found, after = timed(query, False)
                row = {"query": name, "hits": found.count, "count_exact": found.exact,
                       "p50_ms": round(statistics.median(after), 2), "p95_ms": p95(after),
                       "max_ms": round(after[-1], 2), "ratio_p95": round(p95(after) / base, 1),
                       "target_met": p95(after) < TARGET_P95_MS}
                if before:
                    row["before_exact_count"] = {"hits": before_found.count, "p50_ms": round(
                        statistics.median(before), 2), "p95_ms": p95(before)}
                results.append(row)
                was = f" (exact count: p95={p95(before):6.2f}ms)" if before else ""
                print(f"{name:<24} hits={found.count:<7} exact={str(found.exact):<5} "
                      f"p50={statistics.median(after):6.2f}ms p95={p95(after):6.2f}ms max={after[-1]:6.2f}ms "
                      f"ratio={p95(after) / base:5.1f}{was}", flush=True)
            cs.COUNT_EXACT_UP_TO = bound
            write_section("catalog_search", {
                "settings": {"scale": args.scale, "runs": args.runs, "products": seeded.products,
                             "shops": seeded.shops, "count_exact_up_to": bound},
                "baseline": {"query": "product by primary key", "p95_ms": base},
                "target_p95_ms": TARGET_P95_MS, "results": results})
        rt.close()


if __name__ == "__main__":
    main()
