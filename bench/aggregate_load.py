"""Aggregate load time as its history grows, for `make bench`.

    .venv/bin/python bench/aggregate_load.py [--sizes 10,1000,100000] [--runs 200]
                                             [--aggregates cart,stock]

Carts and a variant's stock with 10 events, and just before a snapshot near 1,000 and 100,000
(10 has no snapshot yet): 999 and 99,999 for a cart (a snapshot every 25 events), 999 and
99,999 for a stock (every 25). Each cart alternates adding and removing a line, each stock
holding units for an order and giving them back, so the state stays small and only the
history grows. Three ways to load, each timed `--runs` times (p50, p95):

- `repository`: the library's `repository.get` (latest snapshot, then the events after it:
  two statements), what an application without the cache does;
- `cold cache`: the version-checked cache (adapters/aggregate_cache.py) with nothing cached:
  one statement for the snapshot and the events after it;
- `warm cache`: the cache holding the aggregate: one statement that finds no newer event.

Then a keyed `debit_wallet` on wallets holding 10 / 1,000 / 20,000 keyed debits (`--keys`).

The baseline of each way is its own load of the 10-event aggregate in the same run; target: every
ratio of p50s <= 2 (flat within 2x; p95s on this shared machine are mostly noise).
Uses DATABASE_URL when set, else a throwaway embedded PostgreSQL.
Writes the "aggregate_load" section of bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.aggregate_cache import VersionCheckedCache  # noqa: E402
from bench.common import test_server_runtime  # noqa: E402
from bench.results import write_section  # noqa: E402
from domain.commerce.cart import Cart  # noqa: E402
from domain.commerce.stock import Stock  # noqa: E402
from domain.loading import command_scope  # noqa: E402
from domain.money import Money  # noqa: E402

CHUNK = 2_000  # events per save while building a history
TARGET = 2.0


def build_cart(app: Any, events: int) -> uuid.UUID:
    cart = Cart(owner_id=str(uuid.uuid4()), currency="INR")
    n = 0

    def step() -> None:
        nonlocal n
        if n % 2 == 0:
            cart.add_item(item_id=f"line-{n}", product_id="p", sku="s", name="tea (100 g)", qty=1,
                          price=Money(100, "INR"), shop_id="shop")
        else:
            cart.remove_item(f"line-{n - 1}")
        n += 1
    return build(app, cart, step, events)


def build_stock(app: Any, events: int) -> uuid.UUID:
    stock = Stock.open(str(uuid.uuid4()), "S", 1_000)
    n = 0

    def step() -> None:
        nonlocal n
        if n % 2 == 0:
            stock.reserve(f"order-{n}", 1, "tea")
        else:
            stock.release(f"order-{n - 1}", None, "cancelled")
        n += 1
    return build(app, stock, step, events)


def build(app: Any, aggregate: Any, step: Any, events: int) -> uuid.UUID:
    """Saves `events` events, one a step, CHUNK at a time. Snapshots are taken where a save
    crosses an interval, as the application takes them."""
    pending = 1
    while aggregate.version < events:  # each event raises the version at once
        step()
        pending += 1
        if pending >= CHUNK:
            app.save(aggregate)
            pending = 0
    app.save(aggregate)
    assert aggregate.version == events, (aggregate.version, events)
    return uuid.UUID(str(aggregate.id))


BUILDERS = {"cart": (Cart, build_cart), "stock": (Stock, build_stock)}


def keyed_debits(app: Any, keys: list[int], runs: int) -> list[dict[str, Any]]:
    """`debit_wallet` with an idempotency key, one thread, on wallets already holding 10,
    1,000, 20,000 keyed debits of the last 48 hours (a wallet debited once a second holds
    172,800): the command's cost should not grow with them. Ratio to the 10-key wallet."""
    owners: dict[int, uuid.UUID] = {}
    for count in keys:
        owner = owners[count] = uuid.uuid4()
        wallet = app.wallet(owner)
        wallet.credit(10**9, kind="adjustment", reference="bench")
        numbers = iter(range(count))
        build(app, wallet, lambda: wallet.debit(1, kind="debit", reference="bench",  # noqa: B023
                                                key=f"k{next(numbers)}"), wallet.version + count)  # noqa: B023
    results: list[dict[str, Any]] = []
    base = 0.0
    for count in keys:
        owner = owners[count]
        figures = timed(lambda: app.debit_wallet(owner, 1, "bench", key=str(uuid.uuid4())), runs)  # noqa: B023
        base = base or figures["p50_ms"]
        ratio = round(figures["p50_ms"] / base, 2)
        results.append({"aggregate": "wallet", "way": "keyed debit", "keys": count, **figures,
                        "ratio_p50": ratio, "ratio_met": ratio <= TARGET})
        print(f"wallet keyed debit {count:>7} keys  p50 {figures['p50_ms']:7.3f} ms  "
              f"p95 {figures['p95_ms']:7.3f} ms  ratio {ratio:5.2f} (target <= {TARGET})", flush=True)
    return results


def timed(load: Any, runs: int) -> dict[str, float]:
    load()  # warm: connections, prepared statements
    ms = []
    for _ in range(runs):
        started = time.perf_counter()
        load()
        ms.append((time.perf_counter() - started) * 1000)
    ms.sort()
    return {"p50_ms": round(ms[len(ms) // 2], 3), "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,1000,100000", help="events (each but 10 taken minus 1)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--aggregates", default="cart,stock", help=f"of {', '.join(BUILDERS)}")
    parser.add_argument("--keys", default="10,1000,20000",
                        help="keyed debits a wallet holds before its debits are timed; '' for none")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    results: list[dict[str, Any]] = []
    intervals: dict[str, int] = {}
    with test_server_runtime() as (rt, url):
        app = rt.commerce
        for name in args.aggregates.split(","):
            kind, build_one = BUILDERS[name]
            interval = intervals[name] = app.snapshotting_intervals[kind]
            ids: dict[int, uuid.UUID] = {}
            for size in sizes:
                events = size if size < interval else size - 1  # just before the next snapshot
                started = time.perf_counter()
                ids[size] = build_one(app, events)
                print(f"{name} with {events} events built in {time.perf_counter() - started:.1f}s",
                      flush=True)
            results += measure(app, name, ids, sizes, args.runs)
        if args.keys:
            results += keyed_debits(app, [int(k) for k in args.keys.split(",")], args.runs)
        rt.close()
    write_section("aggregate_load", {"settings": {"runs": args.runs, "snapshot_intervals": intervals},
                                     "target_ratio": TARGET, "results": results})
    print("wrote the aggregate_load section of bench/results/latest.json")


def measure(app: Any, name: str, ids: dict[int, uuid.UUID], sizes: list[int],
            runs: int) -> list[dict[str, Any]]:
    def repository(aggregate_id: uuid.UUID) -> Any:
        return lambda: app.repository.get(aggregate_id)

    def cold(aggregate_id: uuid.UUID) -> Any:
        return lambda: VersionCheckedCache([app]).load([(app, aggregate_id)])

    warm_cache = VersionCheckedCache([app])

    def warm(aggregate_id: uuid.UUID) -> Any:
        warm_cache.load([(app, aggregate_id)])
        return lambda: warm_cache.load([(app, aggregate_id)])

    ways = {"repository": repository, "cold cache": cold, "warm cache": warm}
    results: list[dict[str, Any]] = []
    for way, make in ways.items():
        base = 0.0
        for size in sizes:
            figures = timed(make(ids[size]), runs)
            with command_scope():
                loaded = app.repository.get(ids[size])
            base = base or figures["p50_ms"]
            ratio = round(figures["p50_ms"] / base, 2)
            results.append({"aggregate": name, "way": way, "events": loaded.version, **figures,
                            "ratio_p50": ratio, "ratio_met": ratio <= TARGET})
            print(f"{name:<6} {way:<11} {loaded.version:>7} events  p50 {figures['p50_ms']:7.3f} ms  "
                  f"p95 {figures['p95_ms']:7.3f} ms  ratio {ratio:5.2f} (target <= {TARGET})", flush=True)
    return results


if __name__ == "__main__":
    main()
