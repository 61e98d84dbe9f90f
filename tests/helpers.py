from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

EVENTMART = [sys.executable, "-c", "from eventmart.cli import main; main()"]


def eventmart(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Runs the real `eventmart` command in a child process."""
    return subprocess.Popen([*EVENTMART, *args], env={**os.environ, **env})


def eventually(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Polls until `check` returns something truthy; the last value otherwise fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
        time.sleep(interval)
