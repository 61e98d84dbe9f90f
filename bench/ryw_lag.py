"""The read-your-writes wait of one code tree: from a debit_wallet command's return until
`wallet_balance` has passed its event, with every worker running in-process.

    .venv/bin/python bench/ryw_lag.py [--code DIR] [--samples 200] [--writers 0]

`--code` imports the application from another checkout (e.g. one from before issue 16), so
two trees can be compared in one session, alternating runs: this script only uses what both
have (open_runtime, start_workers, debit_wallet, follower positions). A throwaway embedded
PostgreSQL per run. `--writers N`: N threads keep appending one-event saves meanwhile.
Prints one JSON line: p50, p99 and max in ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--writers", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, str(args.code.resolve()))
    # The editable install's finder maps `eventmart` to this checkout whatever sys.path says.
    sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]

    import psycopg

    from adapters.database import create_database, start_embedded
    from eventmart.migrations import migrate
    from projections import tracking
    from runtime import open_runtime
    from tests.support.settings import make_settings
    from workers import start_workers

    def passed(conn: psycopg.Connection[Any], position: int) -> bool:
        if hasattr(tracking, "caught_up"):  # ids are not reading order any more
            return bool(tracking.caught_up(conn, "wallet_balance", "commerce", position))
        return tracking.position_of(conn, "wallet_balance", "commerce") >= position

    server = start_embedded(Path(tempfile.mkdtemp(prefix="eventmart-ryw-")), throwaway=True)
    url = create_database(server.get_uri("postgres"), "ryw")
    settings = make_settings(url, event_store_pool_size=10)
    migrate(settings, url)
    rt = open_runtime(settings, database_url=url)
    supervisor = start_workers(rt)
    stop = threading.Event()

    def append() -> None:
        wallet = rt.commerce.wallet(uuid.uuid4())
        while not stop.is_set():
            wallet.credit(1, kind="adjustment", reference="bench")
            rt.commerce.save(wallet)

    loaders = [threading.Thread(target=append) for _ in range(args.writers)]
    try:
        owner = uuid.uuid4()
        wallet = rt.commerce.wallet(owner)
        wallet.credit(10**9, kind="adjustment", reference="bench")
        rt.commerce.save(wallet)
        for t in loaders:
            t.start()
        waits: list[float] = []
        with psycopg.connect(url, autocommit=True) as conn:
            for _ in range(args.samples):
                position = rt.commerce.debit_wallet(owner, 1, "bench", key=str(uuid.uuid4())).position
                began = time.perf_counter()
                while not passed(conn, position):
                    time.sleep(0.0005)
                waits.append((time.perf_counter() - began) * 1000)
    finally:
        stop.set()
        for t in loaders:
            t.join()
        supervisor.stop()
        rt.close()
        server.cleanup()
    waits.sort()
    print(json.dumps({"code": str(args.code), "writers": args.writers, "samples": len(waits),
                      "p50_ms": round(waits[len(waits) // 2], 2),
                      "p99_ms": round(waits[min(len(waits) - 1, int(len(waits) * 0.99))], 2),
                      "max_ms": round(waits[-1], 2)}))


if __name__ == "__main__":
    main()
