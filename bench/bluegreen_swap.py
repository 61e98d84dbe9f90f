"""What readers see, and what it costs, when wallet_balance is rebuilt: in place (drop, replay
into the serving tables: what `eventmart rebuild` did before generations) against blue/green
(workers/bluegreen.py), in one run, with a reader looking up random wallets throughout.

    .venv/bin/python -m bench.bluegreen_swap [--events 50000]

Prints per way: the rebuild's rate, the ratio blue/green to in place, the reads that found a
wallet missing or at a lower balance than the log had when the rebuild started (wrong
reads), the readers' latency (p50, p99, max) and, for blue/green, how long the swap took.
Its own throwaway embedded PostgreSQL; figures are noisy on a shared machine: read the ratios.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
import uuid
from typing import Any

import psycopg

from bench.common import embedded_runtime
from domain.commerce.wallet import Wallet
from projections import tracking, wallet_balance
from runtime import Runtime
from workers.bluegreen import rebuild
from workers.projection import projection_follower

MODEL = wallet_balance.READ_MODEL


def fill(rt: Runtime, events: int) -> dict[str, int]:
    """Wallets of 20 credits each; returns each owner's balance."""
    balances: dict[str, int] = {}
    written = 0
    while written < events:
        batch = []
        for _ in range(50):
            owner = str(uuid.uuid4())
            wallet = Wallet(owner_id=owner, currency="INR")
            for i in range(20):
                wallet.credit(100 + i, kind="load", reference=f"load:{i}")
            balances[owner] = wallet.balance
            batch.append(wallet)
        written += len(rt.commerce.save(*batch))
    return balances


class Reader(threading.Thread):
    def __init__(self, url: str, balances: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.owners = list(balances)
        self.balances = balances
        self.stopping = threading.Event()
        self.latencies: list[float] = []
        self.wrong = 0

    def run(self) -> None:
        rng = random.Random(1)
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stopping.is_set():
                owner = rng.choice(self.owners)
                started = time.perf_counter()
                row = conn.execute("SELECT balance FROM wallet_balance WHERE owner_id = %s",
                                   (uuid.UUID(owner),)).fetchone()
                self.latencies.append(time.perf_counter() - started)
                if row is None or row[0] < self.balances[owner]:
                    self.wrong += 1


def in_place(rt: Runtime) -> None:
    """The rebuild as it was: drop, recreate, position 0, replay into the serving tables."""
    follower = projection_follower(rt, MODEL)
    with psycopg.connect(rt.database_url, autocommit=True) as conn:
        with conn.transaction():
            tracking.lock_position(conn, MODEL.name, MODEL.application)
            conn.execute(MODEL.drop_sql)
            conn.execute(MODEL.create_sql)
            tracking.start_rebuild(conn, MODEL.name, MODEL.application)
        follower.catch_up(conn)
        tracking.end_rebuild(conn, MODEL.name, MODEL.application)


def measure(rt: Runtime, balances: dict[str, int], way: str, events: int) -> dict[str, Any]:
    reader = Reader(rt.database_url, balances)
    reader.start()
    while not reader.latencies:
        time.sleep(0.01)  # the reader's first read: a baseline before the rebuild starts
    ticks: list[float] = []
    started = time.perf_counter()
    if way == "in place":
        in_place(rt)
    else:
        rebuild(rt, MODEL, lambda position, head: ticks.append(time.perf_counter()))
    seconds = time.perf_counter() - started
    reader.stopping.set()
    reader.join()
    lat = sorted(reader.latencies)
    return {"way": way, "rate": events / seconds, "wrong": reader.wrong, "reads": len(lat),
            "p50_ms": 1000 * statistics.median(lat), "p99_ms": 1000 * lat[int(len(lat) * 0.99)],
            "max_ms": 1000 * lat[-1],
            "swap_ms": 1000 * (ticks[-1] - ticks[-2]) if len(ticks) >= 2 else None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    with embedded_runtime() as (rt, url):
        balances = fill(rt, args.events)
        events = rt.commerce.recorder.max_notification_id() or 0
        with psycopg.connect(url, autocommit=True) as conn:
            projection_follower(rt, MODEL).catch_up(conn)
        print(f"log: {events} commerce events, {len(balances)} wallets")
        results = [measure(rt, balances, way, events)
                   for way in ("in place", "blue/green", "in place", "blue/green")]
        for r in results:
            swap = f", swap {r['swap_ms']:.0f} ms" if r["swap_ms"] is not None else ""
            print(f"{r['way']:>10}: {r['rate']:>8,.0f} events/s; {r['wrong']:>6} wrong of "
                  f"{r['reads']:>6} reads; read p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                  f"max {r['max_ms']:.0f} ms{swap}")
        rates = {w: statistics.mean(r["rate"] for r in results if r["way"] == w)
                 for w in ("in place", "blue/green")}
        print(f"rate blue/green / in place: {rates['blue/green'] / rates['in place']:.2f}")
        rt.close()


if __name__ == "__main__":
    main()
