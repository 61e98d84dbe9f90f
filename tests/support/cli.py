from __future__ import annotations

import os
import subprocess
import sys

EVENTMART = [sys.executable, "-c", "from eventmart.cli import main; main()"]


def eventmart(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Runs the real `eventmart` command in a child process."""
    return subprocess.Popen([*EVENTMART, *args], env={**os.environ, **env})
