"""Helpers for the audit tests: writing wallet events, sealing a log, running `eventmart`."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg

from domain.commerce.wallet import Wallet
from eventmart.runtime import Runtime
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
