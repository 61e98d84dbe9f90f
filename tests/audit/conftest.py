from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime import Runtime
from tests.support.runtimes import own_runtime


@pytest.fixture
def own(postgres: str) -> Iterator[Runtime]:
    """A worker-less runtime on a database of its own: the test drives every follower."""
    with own_runtime(postgres) as runtime:
        yield runtime
