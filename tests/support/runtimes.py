"""A runtime on a database of its own, with no workers: the test is the only writer and drives
every follower itself (rebuilds, policies by hand)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from eventmart.migrations import migrate
from runtime import Runtime, open_runtime
from tests.infra import fresh_database
from tests.support.settings import make_settings


@contextmanager
def own_runtime(postgres: str) -> Iterator[Runtime]:
    with fresh_database(postgres) as url:
        settings = make_settings(url)
        migrate(settings, url)
        runtime = open_runtime(settings, database_url=url)
        try:
            yield runtime
        finally:
            runtime.close()
