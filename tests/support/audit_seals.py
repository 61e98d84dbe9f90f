"""Helpers for the seal, reconciliation, replay and export tests: wallet events and money
histories written through the domain, a log sealed, `eventmart` run."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg

from domain.commerce.values import OrderLine
from domain.commerce.wallet import Wallet
from runtime import Runtime
from tests.support.cli import EVENTMART
from workers.audit_seal import SealFollower


def wallets(runtime: Runtime, count: int, *, loads: int = 1) -> list[uuid.UUID]:
    """`count` new wallets, each loaded `loads` times with 1,000 (1 + loads events each)."""
    ids = []
    for _ in range(count):
        wallet = Wallet(owner_id=str(uuid.uuid4()), currency="INR")
        for n in range(loads):
            wallet.credit(1000, kind="load", reference=f"load-{n}")
        runtime.commerce.save(wallet)
        ids.append(wallet.id)
    return ids


def seal(runtime: Runtime, application: str = "commerce", *, every_events: int = 5) -> int:
    """Runs the application's seal follower until it has chained the whole log, sealing every
    `every_events` events and the rest at the end; returns the position reached."""
    follower = SealFollower(runtime, application, every_events=every_events, every_seconds=0)
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        follower.catch_up(conn)
        follower.step(conn)  # seals what is left (due at once with every_seconds=0)
        row = conn.execute("SELECT position FROM follower_positions WHERE follower='audit_seal' "
                           "AND application=%s", (application,)).fetchone()
    assert row is not None
    return int(row[0])


def run_eventmart(url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"DATABASE_URL": url, "EVENTMART_DATA_DIR": str(tmp), "PATH": "/usr/bin:/bin",
           "LOG_LEVEL": "WARNING"}
    return subprocess.run([*EVENTMART, *args], capture_output=True, text=True, timeout=300, env=env)


def rows(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return conn.execute(query, params).fetchall()


def money_history(runtime: Runtime, customers: int = 3) -> list[dict[str, Any]]:
    """Per customer: a wallet loaded with 100,000, a wallet order of 2 x 15,000 cancelled and
    refunded to the wallet, and 500 points earned of which 200 were redeemed then restored.
    Returns each customer's ids."""
    from domain.commerce.order import Order
    from domain.commerce.rewards import RewardLedger

    made = []
    for _ in range(customers):
        owner = str(uuid.uuid4())
        wallet = Wallet(owner_id=owner, currency="INR")
        wallet.credit(100_000, kind="load", reference=f"pay-{uuid.uuid4()}")
        order = Order.place(customer_id=owner, shop_id=str(uuid.uuid4()), currency="INR",
                            lines=[OrderLine(item_id="l1", product_id=str(uuid.uuid4()), sku="S",
                                             name="Tea", qty=2, unit_price=15_000, line_total=30_000)],
                            delivery_fee=0, discount=0, payment_mode="wallet")
        wallet.debit(30_000, kind="order", reference=str(order.id))
        order.mark_wallet_paid()
        runtime.commerce.save(wallet, order)
        due = order.cancel(by="customer", reason="changed my mind")
        wallet.credit(due, kind="refund", reference=str(order.id))
        order.record_refund(due, "wallet", f"wallet:{order.id}")
        ledger = RewardLedger(owner_id=owner)
        ledger.earn(str(uuid.uuid4()), 500)
        ledger.reserve(200)
        ledger.redeem(str(order.id), 200)
        ledger.restore(str(order.id))
        runtime.commerce.save(wallet, order, ledger)
        made.append({"owner": owner, "wallet": wallet.id, "order": order.id, "ledger": ledger.id})
    return made


def project_money(runtime: Runtime) -> None:
    """Builds wallet_balance, rewards and order_history from the log as it is now."""
    from projections import READ_MODELS
    from workers.projection import rebuild

    for name in ("wallet_balance", "rewards", "order_history"):
        rebuild(runtime, READ_MODELS[name])
