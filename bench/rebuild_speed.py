"""Rebuild speed of the commerce read models against the raw scan and scan+decode rates of the
same log, in one run (ratios, since these machines are noisy).

    .venv/bin/python -m bench.rebuild_speed [--events 100000]

Makes its own throwaway embedded PostgreSQL and a commerce log written in bulk saves (wallets
with many movements, orders through their whole life, carts with many changes), then rebuilds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from adapters.database import create_database, start_embedded
from domain.commerce.cart import Cart
from domain.commerce.order import Action, Order
from domain.commerce.values import OrderLine
from domain.commerce.wallet import Wallet
from domain.money import Money
from eventmart.migrations import migrate
from projections import READ_MODELS
from runtime import open_runtime
from runtime.settings import Settings
from workers.log_follower import read_log
from workers.projection import rebuild

LINES = [
    OrderLine(item_id="a", product_id=str(uuid.uuid4()), sku="A", name="Tea", qty=2,
              unit_price=24900, line_total=49800),
    OrderLine(item_id="b", product_id=str(uuid.uuid4()), sku="B", name="Rice", qty=1,
              unit_price=64500, line_total=64500),
]


def fill(rt, events: int) -> int:  # type: ignore[no-untyped-def]
    """About `events` commerce events: a third wallets, a third orders, a third carts."""
    written = 0
    now = datetime.now(UTC)
    while written < events:
        owner = str(uuid.uuid4())
        wallet = Wallet(owner_id=owner, currency="INR")
        for i in range(20):
            wallet.credit(1000 + i, kind="load", reference=f"load:{i}")
        cart = Cart(owner_id=owner, currency="INR")
        for i in range(20):
            cart.add_item(item_id=f"i{i}", product_id=LINES[0].product_id, sku=f"S{i}", name="Tea",
                          qty=1, price=Money(100, "INR"), shop_id=None, replace=False)
        orders = []
        for _ in range(3):
            order = Order.place(customer_id=owner, shop_id=str(uuid.uuid4()),
                                lines=LINES, currency="INR",
                                delivery_fee=0, discount=0, payment_mode="cash")
            for action in (Action.ACCEPT, Action.PACK, Action.DISPATCH, Action.DELIVER):
                order.advance(action, by="vendor", at=now)
            orders.append(order)
        recordings = rt.commerce.save(wallet, cart, *orders)
        written += len(recordings)
    return written


def scan_rates(url: str, app) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    with psycopg.connect(url, autocommit=True) as conn:
        started, n, after = time.perf_counter(), 0, 0
        scan = ("SELECT notification_id, state FROM commerce_events WHERE notification_id > %s "
                "ORDER BY notification_id LIMIT 5000")
        while rows := conn.execute(scan, (after,)).fetchall():
            n, after = n + len(rows), rows[-1][0]
        raw = n / (time.perf_counter() - started)
        started, n, after = time.perf_counter(), 0, 0
        while batch := read_log(conn, app, after, 5000):
            n, after = n + len(batch), batch[-1].notification.id
        decoded = n / (time.perf_counter() - started)
    return raw, decoded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--models", default="wallet_balance,wallet_history,rewards,cart_view,order_history")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="eventmart-bench-"))
    server = start_embedded(data, throwaway=True)
    try:
        url = create_database(server.get_uri("postgres"), "bench")
        settings = Settings(database_url=url, data_dir=data, kafka_bootstrap_servers=None)  # type: ignore[call-arg]
        migrate(settings, url)
        rt = open_runtime(settings, database_url=url)
        started = time.perf_counter()
        n = fill(rt, args.events)
        print(f"log: {n} commerce events in {time.perf_counter() - started:.1f}s")
        raw, decoded = scan_rates(url, rt.commerce)
        print(f"{'scan':>16}: {raw:>9,.0f} events/s")
        print(f"{'scan+decode':>16}: {decoded:>9,.0f} events/s")
        for name in args.models.split(","):
            started = time.perf_counter()
            count = rebuild(rt, READ_MODELS[name])
            rate = count / (time.perf_counter() - started)
            print(f"{name:>16}: {rate:>9,.0f} events/s  ({rate / decoded:.2f} of scan+decode)")
        rt.close()
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
