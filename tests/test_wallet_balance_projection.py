"""wallet_balance equals the fold of each wallet's events, across a killed worker and a rebuild."""

from __future__ import annotations

import contextlib
import random
import signal
import uuid
from typing import Any

import psycopg

from domain.commerce.wallet import InsufficientFundsError, Wallet
from eventmart.migrations import migrate
from projections.tracking import position_of
from runtime import open_runtime
from tests.infra import fresh_database
from tests.support.cli import eventmart
from tests.support.settings import make_settings
from tests.support.waiting import eventually

WALLETS = 300


def rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT wallet_id, owner_id, balance, version FROM wallet_balance "
                            "ORDER BY wallet_id").fetchall()


def position(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return position_of(conn, "wallet_balance", "commerce")


def test_wallet_balance_survives_a_killed_worker_and_rebuilds_exactly(postgres: str) -> None:
    rng = random.Random(7)
    with fresh_database(postgres) as url:
        settings = make_settings(url)
        migrate(settings, url)
        runtime = open_runtime(settings, database_url=url)
        try:
            wallets = []
            for _ in range(WALLETS):
                wallet = Wallet(owner_id=str(uuid.uuid4()), currency="INR")
                for step in range(rng.randint(3, 8)):
                    if rng.random() < 0.6:
                        wallet.credit(rng.randint(1, 5000), kind="load", reference=f"p{step}")
                    else:
                        with contextlib.suppress(InsufficientFundsError):
                            wallet.debit(rng.randint(1, 3000), kind="debit", reference=f"d{step}")
                wallets.append(wallet)
            for i in range(0, WALLETS, 50):
                runtime.commerce.save(*wallets[i:i + 50])
            head = runtime.commerce.recorder.max_notification_id()
            assert head is not None

            env = {"DATABASE_URL": url, "WORKER_BATCH_SIZE": "5", "LOG_LEVEL": "WARNING"}
            worker = eventmart("worker", "wallet_balance", env=env)
            eventually(lambda: position(url) > 0, timeout=30, interval=0.005)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            assert position(url) < head, "the kill should land mid-way"

            worker = eventmart("worker", "wallet_balance", env=env)
            eventually(lambda: position(url) == head, timeout=60)
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(15) == 0
            resumed = rows(url)

            # The fold of each wallet's events, replayed from the store.
            expected: list[tuple[Any, ...]] = sorted(
                (w.id, uuid.UUID(w.owner_id), runtime.commerce.repository.get(w.id).balance, w.version)
                for w in wallets)
            assert resumed == expected

            assert eventmart("rebuild", "wallet_balance", env=env).wait(60) == 0
            assert rows(url) == resumed
        finally:
            runtime.close()
