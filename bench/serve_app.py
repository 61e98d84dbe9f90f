"""`eventmart serve` for `make bench`: the same app, server settings and processes (N API
processes, the workers once in this, the parent, process), but the workers connect as another
PostgreSQL role, so pg_stat_statements can tell the statements of requests (DATABASE_URL's
role) from the projections' and policies' (BENCH_WORKERS_URL's role).

    DATABASE_URL=... BENCH_WORKERS_URL=... .venv/bin/python bench/serve_app.py --port 8000 [--processes 2]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.logging import configure_logging  # noqa: E402
from eventmart.migrations import migrate  # noqa: E402
from eventmart.serving import serve_processes  # noqa: E402
from runtime.settings import get_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    settings = get_settings()
    configure_logging(settings.log_level)
    api_url = os.environ["DATABASE_URL"]
    migrate(settings, api_url)
    # As in eventmart/cli.py `serve`.
    serve_processes(settings, api_url, host=args.host, port=args.port, processes=args.processes,
                    followers=True, followers_url=os.environ.get("BENCH_WORKERS_URL", api_url))


if __name__ == "__main__":
    main()
