"""`eventmart serve` for `make bench`: the same app, server settings and processes (N API
processes, the workers once in this, the parent, process), but the workers connect as another
PostgreSQL role, so pg_stat_statements can tell the statements of requests (DATABASE_URL's
role) from the projections' and policies' (BENCH_WORKERS_URL's role).

    DATABASE_URL=... BENCH_WORKERS_URL=... .venv/bin/python bench/serve_app.py --port 8000 [--processes 2]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.logging import configure_logging  # noqa: E402
from bench.options import server_options  # noqa: E402
from eventmart.migrations import migrate  # noqa: E402
from eventmart.serving import serve_processes  # noqa: E402
from runtime.settings import get_settings  # noqa: E402


def main() -> None:
    args = server_options(port=8000)
    settings = get_settings()
    configure_logging(settings.log_level)
    api_url = os.environ["DATABASE_URL"]
    migrate(settings, api_url)
    # As in eventmart/cli.py `serve`.
    serve_processes(settings, api_url, host=args.host, port=args.port, processes=args.processes,
                    followers=True, followers_url=os.environ.get("BENCH_WORKERS_URL", api_url))


if __name__ == "__main__":
    main()
