"""What the benches share: a migrated database and a runtime on it, thrown away afterwards."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from adapters.database import create_database, start_embedded
from eventmart.migrations import migrate
from runtime import Runtime, open_runtime
from runtime.settings import Settings


@contextmanager
def embedded_runtime() -> Iterator[tuple[Runtime, str]]:
    """A throwaway embedded PostgreSQL with a migrated database "bench": the runtime on it and its
    URL. The server and its data directory go when the block ends; the caller closes the runtime."""
    data = Path(tempfile.mkdtemp(prefix="eventmart-bench-"))
    server = start_embedded(data, throwaway=True)
    try:
        url = create_database(server.get_uri("postgres"), "bench")
        settings = Settings(database_url=url, data_dir=data, kafka_bootstrap_servers=None)  # type: ignore[call-arg]
        migrate(settings, url)
        yield open_runtime(settings, database_url=url), url
    finally:
        server.cleanup()


@contextmanager
def test_server_runtime() -> Iterator[tuple[Runtime, str]]:
    """A fresh migrated database on the test suite's server (DATABASE_URL when set, else its
    embedded one): the runtime on it and its URL. The caller closes the runtime."""
    from tests.infra import fresh_database, postgres_server
    from tests.support.settings import make_settings

    with postgres_server() as server, fresh_database(server) as url:
        settings = make_settings(url)
        migrate(settings, url)
        yield open_runtime(settings, database_url=url), url
