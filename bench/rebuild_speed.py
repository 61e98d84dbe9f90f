"""Rebuild speed of the read models against the raw scan and scan+decode rates of the same log,
in one run (ratios, since these machines are noisy), with each rebuild's peak memory (RSS).

    .venv/bin/python -m bench.rebuild_speed [--events 100000,1000000] [--products 100000]
                                            [--models ...] [--profile MODEL] [--json PATH]

Makes its own throwaway embedded PostgreSQL. The logs are written fast: a few aggregates
are made once by the real domain and stored events made of them by the application's real
mapper; copies of those events with fresh aggregate, owner and shop ids (and varied product
names) are COPYed into the events table, interleaved across customers as a live log would
be. Commerce: per customer a wallet (20 loads, 5 payments), a cart (20 changes), 3 cash
orders through their whole life and a rewards ledger. Catalog: shops (opened, rated) of 40
products each, a quarter of them repriced.

Every measurement runs in a child process of its own (a rebuild as `eventmart rebuild`
runs it, through `workers.projection.rebuild`), which reports its events/s and its peak RSS
(VmHWM, reset once the child has started, so imports do not count). The 1,000,000-event log
is the 100,000-event log plus 900,000 more events.
Results go to the console and under "rebuilds" in the JSON file `make bench` writes.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.common import embedded_runtime
from bench.results import write_section
from domain.catalog.category import Category
from domain.catalog.product import Product
from domain.catalog.shop import Shop
from domain.commerce.cart import Cart
from domain.commerce.order import Action, Order
from domain.commerce.rewards import RewardLedger
from domain.commerce.values import OrderLine
from domain.commerce.wallet import Wallet
from domain.money import Money
from projections import READ_MODELS
from runtime import Runtime, open_runtime
from runtime.settings import Settings
from workers.log_follower import read_log
from workers.projection import rebuild

ROOT = Path(__file__).resolve().parent.parent
COMMERCE_MODELS = ("wallet_balance", "wallet_history", "cart_view", "order_history", "notifications")
TARGETS = {"wallet_balance": 100_000, "catalog_search": 20_000}  # events/s; others 50,000
OTHER_TARGET = 50_000
MIN_RATIO = 0.3  # of scan+decode

# Stand-ins in the template events, replaced in every copy.
OWNER = "0000000a-0000-4000-8000-00000000000a"
SHOP = "0000000b-0000-4000-8000-00000000000b"
VENDOR = "0000000c-0000-4000-8000-00000000000c"
NAME, SLUG, DESCRIPTION = "NAME-SLOT", "SLUG-SLOT", "DESCRIPTION-SLOT"
WORDS = ("assam", "darjeeling", "basmati", "sona", "masoori", "toor", "moong", "chana", "rajma",
         "ghee", "paneer", "atta", "jaggery", "cardamom", "turmeric", "chilli", "mustard", "sesame",
         "coconut", "mango", "pickle", "papad", "poha", "rava", "jowar", "bajra", "ragi", "tea",
         "coffee", "honey", "saffron", "cashew", "almond", "raisin", "dates", "kokum")
INTERLEAVE = 16  # customers (or shops) whose events are mixed in the log

Template = list[list[tuple[str, bytes]]]  # per aggregate: its events' (topic, state)


def _stored(rt: Runtime, app: str, *aggregates: Any) -> Template:
    mapper = rt.applications[app].mapper
    out = []
    for agg in aggregates:
        out.append([(s.topic, s.state) for s in map(mapper.to_stored_event, agg.collect_events())])
    return out


def commerce_template(rt: Runtime) -> Template:
    now = datetime.now(UTC)
    lines = [OrderLine(item_id="a", product_id=str(uuid.uuid4()), sku="A", name="Tea", qty=2,
                       unit_price=24900, line_total=49800),
             OrderLine(item_id="b", product_id=str(uuid.uuid4()), sku="B", name="Rice", qty=1,
                       unit_price=64500, line_total=64500)]
    wallet = Wallet(owner_id=OWNER, currency="INR")
    for i in range(20):
        wallet.credit(10_000 + i, kind="load", reference=f"load:{i}")
    for i in range(5):
        wallet.debit(500 + i, kind="debit", reference=f"purchase:{i}")
    cart = Cart(owner_id=OWNER, currency="INR")
    for i in range(20):
        cart.add_item(item_id=f"i{i % 7}", product_id=lines[0].product_id, sku=f"S{i % 7}", name="Tea",
                      qty=1 + i % 3, price=Money(100, "INR"), shop_id=SHOP, replace=False)
    ledger = RewardLedger(owner_id=OWNER)
    orders = []
    for _ in range(3):
        order = Order.place(customer_id=OWNER, shop_id=SHOP, lines=lines, currency="INR",
                            delivery_fee=0, discount=0, payment_mode="cash")
        for action in (Action.ACCEPT, Action.PACK, Action.DISPATCH, Action.DELIVER):
            order.advance(action, by="vendor", at=now)
        ledger.earn(str(order.id), 13)
        orders.append(order)
    return _stored(rt, "commerce", wallet, cart, ledger, *orders)


def catalog_template(rt: Runtime, products: int = 40) -> Template:
    shop = Shop(vendor_id=VENDOR, details={"name": NAME, "city": "Pune", "society": "Lakeside",
                                           "shop_type": "grocery", "tags": ["organic", "local"],
                                           "description": DESCRIPTION})
    shop.set_open(True)
    shop.rate("o1", 5)
    shop.rate("o2", 4)
    items = []
    for i in range(products):
        p = Product.list_new(uuid.uuid4(), shop_id=SHOP, name=NAME, slug=SLUG, category="groceries",
                             description=DESCRIPTION, images=[],
                             variants=[{"sku": "S-1", "name": "500 g", "price": 4900 + i, "currency": "INR",
                                        "stock": None},
                                       {"sku": "S-2", "name": "1 kg", "price": 8900 + i, "currency": "INR",
                                        "stock": None}])
        if i % 4 == 0:
            p.change_price("S-1", 5100 + i)
        items.append(p)
    return _stored(rt, "catalog", shop, *items)


def _fill(state: bytes, ids: dict[bytes, bytes], rng: random.Random) -> bytes:
    """A template event's state with fresh ids (and, for products and shops, fresh words)."""
    if b"-SLOT" in state:
        name = " ".join(rng.sample(WORDS, 2)).encode()
        state = state.replace(NAME.encode(), name).replace(SLUG.encode(), name.replace(b" ", b"-")).replace(
            DESCRIPTION.encode(), " ".join(rng.sample(WORDS, 6)).encode())
    for old, new in ids.items():
        state = state.replace(old, new)
    return state


def copies(template: Template, groups: int, rng: random.Random) -> Iterator[tuple[uuid.UUID, int, str, bytes]]:
    """`groups` copies of the template's aggregates, interleaved INTERLEAVE groups at a time
    (each aggregate's events stay in order)."""
    for start in range(0, groups, INTERLEAVE):
        streams = []
        for _ in range(min(INTERLEAVE, groups - start)):
            ids = {stand_in.encode(): str(uuid.uuid4()).encode() for stand_in in (OWNER, SHOP, VENDOR)}
            for events in template:
                aggregate_id = uuid.uuid4()
                streams.append(iter([(aggregate_id, v, topic, _fill(state, ids, rng))
                                     for v, (topic, state) in enumerate(events, start=1)]))
        while streams:
            for s in list(streams):
                row = next(s, None)
                if row is None:
                    streams.remove(s)
                else:
                    yield row


def append(url: str, app: str, template: Template, events: int, seed: int) -> int:
    """COPYs about `events` events of copies of the template into the application's log."""
    per_group = sum(map(len, template))
    groups = -(-events // per_group)
    rows = copies(template, groups, random.Random(seed))
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY {app}_events (originator_id, originator_version, topic, state) "
                      "FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["uuid", "int8", "text", "bytea"])
            for row in rows:
                copy.write_row(row)
        conn.execute(f"ANALYZE {app}_events")
    return groups * per_group


# Measurements, each in a child process.

def _runtime(url: str) -> Runtime:
    settings = Settings(database_url=url, data_dir=Path(tempfile.gettempdir()),  # type: ignore[call-arg]
                        kafka_bootstrap_servers=None)
    return open_runtime(settings, database_url=url)


def measure(url: str, what: str, app: str, profile: bool = False) -> dict[str, Any]:
    rt = _runtime(url)
    try:
        rss_before = _status_kib("VmRSS")
        # Linux: resets this process's peak RSS (VmHWM) to what it holds now, so that the
        # peak is the measurement's, not the imports'. (ru_maxrss cannot be used here: a
        # child's starts at the RSS of the parent that forked it, this script's 120+ MB.)
        Path("/proc/self/clear_refs").write_text("5")
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        if what in ("scan", "scan+decode"):
            n = _scan(url, rt, app, decode=what == "scan+decode")
        else:
            n = rebuild(rt, READ_MODELS[what])
        seconds = time.perf_counter() - started
        if profiler:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
        return {"events": n, "seconds": round(seconds, 3), "rate": round(n / seconds),
                "peak_rss_mb": round(_status_kib("VmHWM") / 1024, 1),
                "rss_before_mb": round(rss_before / 1024, 1)}
    finally:
        rt.close()


def _status_kib(field: str) -> int:
    """A memory figure of this process, in KiB (Linux /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def _scan(url: str, rt: Runtime, app: str, *, decode: bool) -> int:
    """The raw keyset scan the followers make (same columns, same batch), or that plus
    `mapper.to_domain_event` for every event."""
    n, after = 0, 0
    with psycopg.connect(url, autocommit=True) as conn:
        if decode:
            while batch := read_log(conn, rt.applications[app], after, 5000):
                n, after = n + len(batch), batch[-1].notification.id
            return n
        scan = (f"SELECT notification_id, originator_id, originator_version, topic, state FROM {app}_events "
                "WHERE notification_id > %s ORDER BY notification_id LIMIT 5000")
        while rows := conn.execute(scan, (after,)).fetchall():
            n, after = n + len(rows), rows[-1][0]
    return n


def in_child(url: str, what: str, app: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench.rebuild_speed", "--child", what, "--app", app,
                           "--url", url], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def target(name: str) -> int:
    return TARGETS.get(name, OTHER_TARGET)


def report(label: str, app: str, url: str, models: list[str]) -> dict[str, Any]:
    """Scan and scan+decode, the rebuilds, then scan+decode again: the machine's load moves
    during a run, so each rebuild is compared with the mean of the two decode rates."""
    out: dict[str, Any] = {}
    for what in ("scan", "scan+decode", *models, "scan+decode (after)"):
        r = out[what] = in_child(url, what.removesuffix(" (after)"), app)
        if what in READ_MODELS:
            r["target"] = target(what)
        print(f"{label:>10} {what:>19}: {r['rate']:>9,} events/s  peak RSS {r['peak_rss_mb']:6.1f} MB",
              flush=True)
    decode = (out["scan+decode"]["rate"] + out["scan+decode (after)"]["rate"]) / 2
    for what in models:
        r = out[what]
        ratio = r["of_scan_decode"] = round(r["rate"] / decode, 2)
        ok = r["met"] = r["rate"] >= target(what) and (what in TARGETS or ratio >= MIN_RATIO)
        goal = f"{target(what):,}/s" + ("" if what in TARGETS else f" and {MIN_RATIO}")
        note = f"target {goal}: {'met' if ok else 'MISSED'}"
        print(f"{label:>10} {what:>19}: {ratio:4.2f} of scan+decode ({decode:,.0f}/s), {note}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", default="100000,1000000", help="commerce log sizes, ascending")
    parser.add_argument("--products", type=int, default=100_000, help="catalog log: products (0: none)")
    parser.add_argument("--models", default=",".join(COMMERCE_MODELS))
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "latest.json"))
    parser.add_argument("--profile", help="only profile this read model's rebuild (cProfile, to stderr)")
    parser.add_argument("--child")
    parser.add_argument("--app", default="commerce")
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.url, args.child, args.app, profile=args.profile is not None)))
        return

    results: dict[str, Any] = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "logs": {}}
    with embedded_runtime() as (rt, url):
        commerce, catalog = commerce_template(rt), catalog_template(rt)
        rt.catalog.save(*[Category(slug=f"c{i}", name=f"Category {i}", description="", featured=i < 4)
                          for i in range(20)])
        rt.close()
        models = [m for m in args.models.split(",") if m]
        if args.profile:
            app = READ_MODELS[args.profile].application
            if app == "catalog":
                shops = -(-args.products // (len(catalog) - 1))
                append(url, "catalog", catalog, shops * sum(map(len, catalog)), seed=1)
            else:
                append(url, "commerce", commerce, int(args.events.split(",")[0]), seed=1)
            print(measure(url, args.profile, app, profile=True))
            return
        total = 0
        for size in map(int, args.events.split(",")):
            started = time.perf_counter()
            total += append(url, "commerce", commerce, size - total, seed=size)
            took = time.perf_counter() - started
            print(f"commerce log: {total:,} events (written in {took:.1f} s)", flush=True)
            results["logs"][f"commerce_{size}"] = {"events": total, "write_seconds": round(took, 1),
                                                   "results": report(f"{size:,}", "commerce", url, models)}
        if args.products:
            shops = -(-args.products // (len(catalog) - 1))
            started = time.perf_counter()
            events = append(url, "catalog", catalog, shops * sum(map(len, catalog)), seed=1)
            took = time.perf_counter() - started
            print(f"catalog log: {events:,} events, {args.products:,} products (written in {took:.1f} s)",
                  flush=True)
            results["logs"]["catalog"] = {"events": events, "products": args.products,
                                          "write_seconds": round(took, 1),
                                          "results": report("catalog", "catalog", url, ["catalog_search"])}
        sizes = sorted(k for k in results["logs"] if k.startswith("commerce_"))
        if len(sizes) >= 2:
            small, large = (results["logs"][k]["results"] for k in (sizes[0], sizes[-1]))
            growth = {m: round(large[m]["peak_rss_mb"] / small[m]["peak_rss_mb"], 2) for m in models}
            results["memory_growth"] = growth
            print("peak RSS, largest log / smallest:", ", ".join(f"{m} {g:.2f}x" for m, g in growth.items()))
    write_section("rebuilds", {"rebuilds": results}, Path(args.json))
    print(f"written to {args.json} (section rebuilds)")


if __name__ == "__main__":
    main()
