"""PostgreSQL crashes (an immediate stop: nothing flushed or checkpointed) while the read
models' followers work, or once they have caught up. After recovery every acknowledged append
is in the log and the read models equal the log's fold again: no event applied twice, none
lost. (The log's ~1,020 events straddle transaction id 1,000 on a fresh cluster: this test is
what found reconcile folding in the ids' text order, tests/audit/test_reconcile.py.)"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import pytest

from eventmart.migrations import migrate
from projections import READ_MODELS, tracking
from projections.reconcile import reconcile
from runtime import Runtime, open_runtime
from tests.infra import crash_postgres, own_postgres_server, start_postgres
from tests.support.settings import make_settings
from tests.support.waiting import eventually
from workers import start_workers

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="crashes an embedded server of its own")

WALLETS, SAVES, CREDITS_PER_SAVE = 20, 100, 10
FOLLOWERS = ("wallet_balance", "wallet_history")
# The WAL writer flushes rarely: whatever is not committed durably is lost by the crash.
SLOW_WAL_WRITER = {"wal_writer_delay": "10s"}


def head(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT max(notification_id) FROM commerce_events").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def caught_up(url: str, position: int) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return all(tracking.caught_up(conn, f, "commerce", position) for f in FOLLOWERS)


def credit_wallets(runtime: Runtime) -> dict[uuid.UUID, int]:
    """Wallets credited in many saves, each acknowledged (the save returned): their versions."""
    wallets = [runtime.commerce.wallet(uuid.uuid4()) for _ in range(WALLETS)]
    for n in range(SAVES):
        wallet = wallets[n % WALLETS]
        for k in range(CREDITS_PER_SAVE):
            wallet.credit(100 + k, kind="adjustment", reference=f"crash:{n}:{k}")
        runtime.commerce.save(wallet)
    return {w.id: w.version for w in wallets}


@pytest.mark.parametrize("when", ["while they catch up", "once they have caught up"])
def test_after_a_crash_the_read_models_equal_the_log(tmp_path: Path, when: str) -> None:
    with own_postgres_server(tmp_path, SLOW_WAL_WRITER) as server:
        url = server.get_uri("postgres")  # type: ignore[attr-defined]
        settings = make_settings(url)
        migrate(settings, url)
        runtime = open_runtime(settings, database_url=url)
        supervisor = start_workers(runtime, [*READ_MODELS])
        try:
            # Given acknowledged appends the read models' followers are applying
            acknowledged = credit_wallets(runtime)
            if when == "once they have caught up":
                written = head(url)
                eventually(lambda: caught_up(url, written), timeout=120, interval=0.01)
            # When PostgreSQL crashes, and starts again
            crash_postgres(server)
            start_postgres(server)
            # Then every acknowledged append survived (appends commit durably)
            with psycopg.connect(url, autocommit=True) as conn:
                versions: dict[uuid.UUID, int] = dict(conn.execute(
                    "SELECT originator_id, max(originator_version) FROM commerce_events "
                    "WHERE originator_id = ANY(%s) GROUP BY originator_id",
                    (list(acknowledged),)).fetchall())
            assert versions == acknowledged
            # and the followers, recovering on their own, reach the log's head
            last = head(url)
            eventually(lambda: caught_up(url, last), timeout=120, interval=0.1)
            # where the read models equal the fold of the log: nothing twice, nothing lost
            with psycopg.connect(url, autocommit=True) as conn:
                report = reconcile(conn, runtime.commerce.mapper)
                history = conn.execute(
                    "SELECT count(*) FROM wallet_history WHERE wallet_id = ANY(%s)",
                    (list(acknowledged),)).fetchone()
            assert report.drifts == []
            assert report.wallets.conserved
            assert report.wallets.balances == SAVES * sum(100 + k for k in range(CREDITS_PER_SAVE))
            assert history == (SAVES * CREDITS_PER_SAVE,)  # a row per credit
        finally:
            supervisor.stop()
            runtime.close()
