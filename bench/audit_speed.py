"""Speed and peak memory of the auditors' commands on a large commerce log, as ratios to a
raw server-side-cursor scan of the same rows in the same run (these machines are noisy).

    .venv/bin/python -m bench.audit_speed [--events 1000000]

Makes its own throwaway embedded PostgreSQL and a commerce log of wallets, reward ledgers and
orders (written with COPY: the events are the domain's own, stored by the application's
mapper, but not saved one transaction at a time). Each measurement runs in a child process
of its own so that its peak RSS is its own: export-events over the first tenth of the log and
over all of it (flat memory: the same peak), sealing (the audit_seal follower), verify, and
reconcile (after the three read models are built).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from domain.commerce.order import Order
from domain.commerce.rewards import RewardLedger
from domain.commerce.values import OrderLine
from domain.commerce.wallet import Wallet

LINES = [
    OrderLine(item_id="a", product_id=str(uuid.uuid4()), sku="A", name="Tea", qty=2,
              unit_price=24900, line_total=49800),
    OrderLine(item_id="b", product_id=str(uuid.uuid4()), sku="B", name="Rice", qty=1,
              unit_price=64500, line_total=64500),
]


def customer_events() -> list[Any]:
    """About 50 events of one customer: loads, orders delivered, one cancelled and refunded,
    points earned."""
    now = datetime.now(UTC)
    owner = str(uuid.uuid4())
    wallet = Wallet(owner_id=owner, currency="INR")
    for i in range(20):
        wallet.credit(50_000 + i, kind="load", reference=f"load:{i}")
    ledger = RewardLedger(owner_id=owner)
    orders = []
    for _ in range(3):
        order = Order.place(customer_id=owner, shop_id=str(uuid.uuid4()), lines=LINES, currency="INR",
                            delivery_fee=0, discount=0, payment_mode="cash")
        for action in ("accept", "pack", "dispatch", "deliver"):
            order.advance(action, by="vendor", at=now)
        ledger.earn(str(order.id), order.total // 100)
        orders.append(order)
    cancelled = Order.place(customer_id=owner, shop_id=str(uuid.uuid4()), lines=LINES, currency="INR",
                            delivery_fee=0, discount=0, payment_mode="wallet")
    wallet.debit(cancelled.total, kind="order", reference=str(cancelled.id))
    cancelled.mark_wallet_paid()
    due = cancelled.cancel(by="customer", reason="bench")
    wallet.credit(due, kind="refund", reference=str(cancelled.id))
    cancelled.record_refund(due, "wallet", f"wallet:{cancelled.id}")
    return [e for agg in (wallet, ledger, *orders, cancelled) for e in agg.collect_events()]


def fill(url: str, mapper: Any, events: int) -> int:
    written = 0
    with psycopg.connect(url, autocommit=True) as conn:
        while written < events:
            copy_in = "COPY commerce_events (originator_id, originator_version, topic, state) FROM STDIN"
            with conn.cursor() as cur, cur.copy(copy_in) as copy:
                for _ in range(200):
                    for event in customer_events():
                        stored = mapper.to_stored_event(event)
                        copy.write_row((stored.originator_id, stored.originator_version, stored.topic,
                                        stored.state))
                        written += 1
    return written


# Measurements, each in a child process (`--measure NAME`)


def measure(name: str, url: str, until: int | None) -> dict[str, Any]:
    from projections import audit_chain
    from projections.event_export import export
    from projections.reconcile import reconcile
    from runtime import open_runtime
    from runtime.settings import Settings
    from workers.audit_seal import SealFollower

    settings = Settings(database_url=url, kafka_bootstrap_servers=None,  # type: ignore[call-arg]
                        data_dir=Path(tempfile.mkdtemp()))
    rt = open_runtime(settings, database_url=url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT 1")
        ready_kb = _status_kb("VmRSS")  # everything imported and connected
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets the peak (VmHWM) to now: start-up's own peak is not the work's
        started = time.perf_counter()
        if name == "scan":
            n = sum(1 for _ in _scan(conn, until))
        elif name == "export":
            with open(os.devnull, "w") as out:
                n = export(conn, rt.commerce, out, until=until).events
        elif name == "seal":
            n = SealFollower(rt, "commerce", every_events=1000, every_seconds=60).catch_up(conn)
        elif name == "verify":
            result = audit_chain.verify(conn, "commerce", audit_chain.iter_seals(conn, "commerce"))
            assert result.ok, result
            n = result.events
        elif name == "reconcile":
            report = reconcile(conn, rt.commerce.mapper)
            assert report.ok, list(report.lines())[:5]
            n = report.events
        else:
            raise SystemExit(f"unknown measurement {name}")
    seconds = time.perf_counter() - started
    rt.close()
    peak_kb = _status_kb("VmHWM")
    return {"name": name, "events": n, "seconds": seconds, "peak_rss_mb": peak_kb / 1024,
            "added_mb": (peak_kb - ready_kb) / 1024}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(f"{field}:"))


def _scan(conn: psycopg.Connection[Any], until: int | None) -> Any:
    from projections.audit_chain import scan_events

    with conn.transaction():
        yield from scan_events(conn, "commerce", until=until or 2**63 - 1)


def child(name: str, url: str, until: int | None = None) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.audit_speed", "--measure", name, "--url", url]
    if until:
        args += ["--until", str(until)]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--measure")
    parser.add_argument("--url")
    parser.add_argument("--until", type=int)
    parser.add_argument("--no-reconcile", action="store_true",
                        help="skip building the read models (slow on a busy machine) and reconcile")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.url, args.until)))
        return

    from bench.common import embedded_runtime
    from projections import READ_MODELS
    from workers.projection import rebuild

    with embedded_runtime() as (rt, url):
        started = time.perf_counter()
        n = fill(url, rt.commerce.mapper, args.events)
        print(f"log: {n:,} commerce events written in {time.perf_counter() - started:.0f}s")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE commerce_events")
            tenth = conn.execute("SELECT notification_id FROM commerce_events ORDER BY notification_id "
                                 "OFFSET %s LIMIT 1", (n // 10,)).fetchone()
        assert tenth is not None
        if not args.no_reconcile:
            started = time.perf_counter()
            for model in ("wallet_balance", "rewards", "order_history"):
                rebuild(rt, READ_MODELS[model])
            print(f"read models built in {time.perf_counter() - started:.0f}s")
        rt.close()
        results = [child("scan", url), child("export", url, tenth[0]), child("export", url),
                   child("seal", url), child("verify", url), child("scan", url)]
        if not args.no_reconcile:
            results.append(child("reconcile", url))
        # The scan runs first and again after the others: the mean is the baseline.
        scans = [r for r in results if r["name"] == "scan"]
        base = sum(r["events"] / r["seconds"] for r in scans) / len(scans)
        print(f"{'measurement':<14}{'events':>11}{'s':>8}{'events/s':>11}{'of scan':>9}"
              f"{'peak RSS':>10}{'added':>9}")
        for r in results:
            rate = r["events"] / r["seconds"]
            print(f"{r['name']:<14}{r['events']:>11,}{r['seconds']:>8.1f}{rate:>11,.0f}"
                  f"{rate / base:>9.2f}{r['peak_rss_mb']:>8.0f}MB{r['added_mb']:>7.1f}MB")


if __name__ == "__main__":
    main()
