from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime import Runtime
from tests.support.runtimes import own_runtime


@pytest.fixture(scope="module")
def runtime_on_own_log(postgres: str) -> Iterator[Runtime]:
    """A runtime on a database of its own with no workers: the test is the only writer and
    steps its followers itself."""
    with own_runtime(postgres) as runtime:
        yield runtime
