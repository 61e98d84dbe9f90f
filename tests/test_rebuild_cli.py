"""`eventmart rebuild NAME|all`: replays with progress and ends with the true count and rate."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

from domain.commerce.wallet import Wallet
from eventmart.migrations import migrate
from projections import READ_MODELS
from runtime import open_runtime
from tests.infra import fresh_database
from tests.support.cli import EVENTMART
from tests.support.settings import make_settings
from workers.projection import rebuild, replayed


def test_rebuild_reports_progress_and_the_true_count(postgres: str, tmp_path: Path) -> None:
    with fresh_database(postgres) as url:
        migrate(make_settings(url), url)
        rt = open_runtime(make_settings(url), database_url=url)
        try:
            for _ in range(30):
                wallet = Wallet(owner_id=str(uuid.uuid4()), currency="INR")
                wallet.credit(100, kind="load", reference="r")
                rt.commerce.save(wallet)
            seen: list[tuple[int, int]] = []
            # Several batches (7, 14, 28, then the 11 left: a rebuild's batches grow while it is
            # behind), so progress is told several times.
            rt.settings.worker_batch_size = 7
            rebuild(rt, READ_MODELS["wallet_balance"], progress=lambda p, h: seen.append((p, h)))
            positions = [p for p, _ in seen]
            assert len(seen) >= 4 and positions == sorted(positions) and seen[-1][0] == seen[-1][1]
            with rt.pool.connection() as conn:
                assert replayed(conn, "commerce", seen[-1][0]) == 60  # 30 Opened + 30 Credited
        finally:
            rt.close()
        done = subprocess.run([*EVENTMART, "rebuild", "all"], capture_output=True, text=True, timeout=300,
                              env={"DATABASE_URL": url, "EVENTMART_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin",
                                   "LOG_LEVEL": "WARNING"})
        assert done.returncode == 0, done.stderr
        lines = dict(re.findall(r"^rebuilt (\w+): (\d+) events", done.stdout, re.M))
        assert set(lines) == set(READ_MODELS)
        assert lines["wallet_balance"] == "60" and lines["support_tickets"] == "0"
        assert "events/s" in done.stdout
