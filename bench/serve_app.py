"""`eventmart serve` for `make bench`: the same app, server settings and in-process workers, but
the workers connect as another PostgreSQL role, so pg_stat_statements can tell the statements of
requests (DATABASE_URL's role) from the projections' and policies' (BENCH_WORKERS_URL's role).

    DATABASE_URL=... BENCH_WORKERS_URL=... .venv/bin/python bench/serve_app.py --port 8000 [--processes 2]

`--processes N` (N > 1) is `eventmart serve --workers N`: N API processes, the workers once in
this (the parent) process.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn  # noqa: E402

from api.app import create_app  # noqa: E402
from api.logging import configure_logging  # noqa: E402
from eventmart.migrations import migrate  # noqa: E402
from eventmart.serving import serve_processes, uvicorn_options  # noqa: E402
from runtime import open_runtime  # noqa: E402
from runtime.settings import get_settings  # noqa: E402
from workers import start_workers  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    settings = get_settings()
    configure_logging(settings.log_level)
    api_url = os.environ["DATABASE_URL"]
    workers_url = os.environ.get("BENCH_WORKERS_URL", api_url)
    migrate(settings, api_url)
    if args.processes > 1:
        serve_processes(settings, api_url, host=args.host, port=args.port, processes=args.processes,
                        followers=True, followers_url=workers_url)
        return
    runtime = open_runtime(settings, database_url=api_url)
    worker_runtime = open_runtime(settings, database_url=workers_url)
    app = create_app(runtime, run_workers=False)
    supervisor = start_workers(worker_runtime)
    try:
        # As in eventmart/cli.py `serve`.
        uvicorn.run(app, host=args.host, port=args.port, **uvicorn_options(settings))
    finally:
        supervisor.stop()
        worker_runtime.close()
        runtime.close()


if __name__ == "__main__":
    main()
