"""Appends per second against a raw single-row INSERT, in one interleaved run.

    .venv/bin/python bench/append_bench.py [--duration 3] [--rounds 2] [--threads 1,8]

Starts a throwaway embedded PostgreSQL (temp directory; never ./var), migrates it, then for
each writer-thread count runs every path for `--duration` seconds, in the order A B C ... and
back (... C B A) over `--rounds`, so machine noise hits every path alike. Each thread has its
own aggregates (no optimistic-concurrency conflicts) and, for the raw INSERT, its own
connection. Paths:

- raw INSERT: one autocommit single-row INSERT of a 200-byte payload (the baseline);
- library save / our save: `app.save(wallet)` of one new event on an in-memory aggregate,
  through the eventsourcing library's recorder (LOCK TABLE + NOTIFY in each transaction) and
  through ours (adapters/recorder.py);
- debit_wallet, add_cart_item: the commands (load, decide, save), with the library's
  recorder (before) and ours (after).

No workers run while appends are measured. Then, with every worker running in this process
(as an app built with `run_workers=True` runs them; `eventmart serve` runs them in a process
apart from the API's), `--lag-samples` debit_wallet commands, one at a time, each timed
from its return to the moment `wallet_balance` has passed it (`tracking.caught_up`, polled
on a connection of its own): the read-your-writes wait, idle and while 8 threads append.
Prints a table of rates and ratios to the raw INSERT at the same thread count, the lag
percentiles, and writes bench/results/append.json (`--out`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from adapters.database import create_database, eventsourcing_env, start_embedded  # noqa: E402
from adapters.recorder import LockFreeApplicationRecorder  # noqa: E402
from bench.lag import percentiles  # noqa: E402
from bench.results import write_section  # noqa: E402
from domain.commerce.application import CommerceApplication  # noqa: E402
from eventmart.migrations import migrate  # noqa: E402
from projections import tracking  # noqa: E402
from runtime import Runtime, open_runtime  # noqa: E402
from tests.support.settings import make_settings  # noqa: E402
from workers import start_workers  # noqa: E402

PRODUCTS = 20
ADDS_PER_CART = 1_500  # below 20 products x 99 per line
DEFAULT_OUT = ROOT / "bench" / "results" / "append.json"
TARGET = 0.5  # issue 16: command append >= 0.5 of the raw INSERT at 8 writers

Op = Callable[[], None]
Path_ = Callable[[int], Op]  # thread number -> one operation of that thread


def library_commerce(rt: Runtime, url: str) -> CommerceApplication:
    """The commerce application on the library's own recorder (the code before issue 16)."""
    env = eventsourcing_env(url, pool_size=rt.settings.event_store_pool_size,
                            max_overflow=rt.settings.event_store_max_overflow, create_table=False)
    del env["APPLICATION_RECORDER_TOPIC"]
    env["PERSISTENCE_MODULE"] = "eventsourcing.postgres"  # its snapshot recorder too
    app = CommerceApplication(env, prices=rt.catalog, return_window=timedelta(days=7),
                              points_per_100=1)
    assert not isinstance(app.recorder, LockFreeApplicationRecorder)
    return app


def raw_insert(url: str, connections: dict[int, psycopg.Connection[Any]]) -> Path_:
    payload = os.urandom(200)

    def make(n: int) -> Op:
        conn = connections.get(n)
        if conn is None:
            conn = connections[n] = psycopg.connect(url, autocommit=True)
        def op() -> None:
            conn.execute("INSERT INTO bench_raw (payload) VALUES (%s)", (payload,), prepare=True)
        return op
    return make


def save_one(app: CommerceApplication) -> Path_:
    def make(n: int) -> Op:
        wallet = app.wallet(uuid.uuid4())

        def op() -> None:
            wallet.credit(1, kind="adjustment", reference="bench")
            app.save(wallet)
        return op
    return make


def debit(app: CommerceApplication) -> Path_:
    def make(n: int) -> Op:
        owner = uuid.uuid4()
        wallet = app.wallet(owner)
        wallet.credit(10**9, kind="adjustment", reference="bench")
        app.save(wallet)
        def op() -> None:
            app.debit_wallet(owner, 1, "bench", key=str(uuid.uuid4()))
        return op
    return make


def add_item(app: CommerceApplication, products: list[uuid.UUID]) -> Path_:
    def make(n: int) -> Op:
        state = {"adds": 0, "owner": uuid.uuid4()}
        state["cart"] = app.open_cart(state["owner"]).value.id  # type: ignore[arg-type]

        def op() -> None:
            if state["adds"] == ADDS_PER_CART:
                state.update(adds=0, owner=uuid.uuid4())
                state["cart"] = app.open_cart(state["owner"]).value.id  # type: ignore[arg-type]
            app.add_cart_item(owner_id=state["owner"], cart_id=state["cart"],  # type: ignore[arg-type]
                              product_id=products[state["adds"] % len(products)], sku="B", qty=1)  # type: ignore[operator]
            state["adds"] += 1  # type: ignore[operator]
        return op
    return make


def lag(rt: Runtime, samples: int, background: Path_ | None) -> dict[str, Any]:
    """Milliseconds from a debit's return until wallet_balance has passed it."""
    owner = uuid.uuid4()
    wallet = rt.commerce.wallet(owner)
    wallet.credit(10**9, kind="adjustment", reference="bench")
    rt.commerce.save(wallet)
    stop = threading.Event()

    def load(n: int) -> None:
        assert background is not None
        op = background(n)
        while not stop.is_set():
            op()

    loaders = [threading.Thread(target=load, args=(n,)) for n in range(8 if background else 0)]
    for t in loaders:
        t.start()
    waits: list[float] = []
    try:
        with psycopg.connect(rt.database_url, autocommit=True) as conn:
            for _ in range(samples):
                position = rt.commerce.debit_wallet(owner, 1, "bench", key=str(uuid.uuid4())).position
                assert position is not None
                began = time.perf_counter()
                while not tracking.caught_up(conn, "wallet_balance", "commerce", position):
                    time.sleep(0.0005)
                waits.append((time.perf_counter() - began) * 1000)
    finally:
        stop.set()
        for t in loaders:
            t.join()
    return percentiles(waits)


def caught_up(rt: Runtime, followers: list[str], give_up: float = 600.0) -> None:
    """Waits until these followers of the commerce log have passed what is in it now."""
    deadline = time.monotonic() + give_up
    with psycopg.connect(rt.database_url, autocommit=True) as conn:
        head = conn.execute("SELECT coalesce(max(notification_id), 0) FROM commerce_events").fetchone()
        for follower in followers:
            while not tracking.caught_up(conn, follower, "commerce", int(head[0]) if head else 0):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{follower} did not catch up in {give_up:.0f} s")
                time.sleep(0.05)


def measure(path: Path_, threads: int, duration: float) -> dict[str, Any]:
    ops = [path(n) for n in range(threads)]  # set-up (aggregates, carts) is not timed
    counts = [0] * threads
    errors = [0] * threads
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def work(n: int) -> None:
        op = ops[n]
        start.wait()
        while time.perf_counter() < deadline[0]:
            try:
                op()
                counts[n] += 1
            except Exception:
                errors[n] += 1

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    deadline[0] = time.perf_counter() + duration
    began = time.perf_counter()
    start.wait()
    for t in pool:
        t.join()
    took = time.perf_counter() - began
    return {"ops": sum(counts), "errors": sum(errors), "seconds": round(took, 3),
            "per_s": sum(counts) / took}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", default="1,8")
    parser.add_argument("--lag-samples", type=int, default=200)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]
    began = time.monotonic()

    server = start_embedded(Path(tempfile.mkdtemp(prefix="eventmart-append-bench-")), throwaway=True)
    url = create_database(server.get_uri("postgres"), "append_bench")
    settings = make_settings(url, event_store_pool_size=10)
    migrate(settings, url)
    rt = open_runtime(settings, database_url=url)
    library = library_commerce(rt, url)
    connections: dict[int, psycopg.Connection[Any]] = {}
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_raw (id bigserial PRIMARY KEY, payload bytea)")
        products = [uuid.uuid4() for _ in range(PRODUCTS)]
        for i, product_id in enumerate(products):
            rt.catalog.list_product(product_id=product_id, name=f"Bench {i}", slug=f"bench-{i}",
                                    category="bench", variants=[
                                        {"sku": "B", "name": "B", "price": 100, "currency": "INR"}])
        paths: dict[str, Path_] = {
            "raw INSERT": raw_insert(url, connections),
            "library save": save_one(library),
            "our save": save_one(rt.commerce),
            "debit_wallet (library)": debit(library),
            "debit_wallet (ours)": debit(rt.commerce),
            "add_cart_item (library)": add_item(library, products),
            "add_cart_item (ours)": add_item(rt.commerce, products),
        }
        runs: list[dict[str, Any]] = []
        for threads in thread_counts:
            for r in range(args.rounds):
                order = list(paths) if r % 2 == 0 else list(reversed(paths))
                for name in order:
                    result = measure(paths[name], threads, args.duration)
                    runs.append({"path": name, "threads": threads, "round": r, **result})
                    print(f"  {threads} threads, round {r}: {name:<24} {result['per_s']:>8.0f}/s"
                          f" ({result['errors']} errors)", flush=True)
        supervisor = start_workers(rt)
        try:
            # "Idle" means idle: not the catch-up of the appends measured above.
            caught_up(rt, [w.follower for w in supervisor.followers if w.application == "commerce"])
            lags = {"idle": lag(rt, args.lag_samples, None),
                    "8 writers": lag(rt, args.lag_samples, save_one(rt.commerce))}
        finally:
            supervisor.stop()
    finally:
        for conn in connections.values():
            conn.close()
        library.close()
        rt.close()
        server.cleanup()

    rows = []
    for threads in thread_counts:
        def rate(name: str, threads: int = threads) -> float:
            mine = [r["per_s"] for r in runs if r["path"] == name and r["threads"] == threads]
            return sum(mine) / len(mine)
        base = rate("raw INSERT")
        for name in paths:
            rows.append({"path": name, "threads": threads, "per_s": round(rate(name), 1),
                         "ratio": round(rate(name) / base, 3)})
    print(f"\n{'path':<26}{'threads':>8}{'per s':>10}{'ratio':>8}")
    for row in rows:
        print(f"{row['path']:<26}{row['threads']:>8}{row['per_s']:>10.0f}{row['ratio']:>8.2f}")
    for name, figures in lags.items():
        print(f"read-your-writes wait ({name}): p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
              f"max {figures['max_ms']} ms over {figures['samples']} debits")
    took = time.monotonic() - began
    print(f"\n{len(runs)} runs in {took:.0f}s; ratio = path's rate / raw INSERT's rate at the same "
          f"thread count (averages over {args.rounds} interleaved rounds); target for the "
          f"commands at 8 threads: >= {TARGET}")
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "load_average": os.getloadavg()},
        "settings": {"duration_s": args.duration, "rounds": args.rounds, "threads": thread_counts,
                     "event_store_pool_size": settings.event_store_pool_size},
        "total_s": round(took, 1),
        "target_ratio": TARGET,
        "results": rows,
        "read_your_writes_wait": lags,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    if args.out == DEFAULT_OUT:  # `make bench`: also its section of bench/results/latest.json
        write_section("append", {k: v for k, v in report.items() if k not in ("measured_at", "machine")})
        print("wrote the append section of bench/results/latest.json")


if __name__ == "__main__":
    main()
