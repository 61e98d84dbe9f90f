"""The embedded PostgreSQL stops when the last process using it exits, also after an earlier
user was killed outright."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.infra import stop_postgres

USER = ("import sys; from adapters.database import start_embedded; "
        "start_embedded(__import__('pathlib').Path(sys.argv[1])); print('ready', flush=True); "
        "sys.stdin.read()")


def user(data_dir: Path) -> subprocess.Popen[str]:
    """A process that starts (or joins) the embedded server, then waits for its stdin to close."""
    proc = subprocess.Popen([sys.executable, "-c", USER, str(data_dir)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_the_last_user_stops_the_server_though_an_earlier_one_was_killed(tmp_path: Path) -> None:
    postmaster = tmp_path / "pgdata" / "postmaster.pid"
    # Given a process using the embedded server that is killed outright
    first = user(tmp_path)
    try:
        first.send_signal(signal.SIGKILL)
        first.wait(60)
        assert postmaster.exists(), "the server outlives a killed user"
        # When another process uses it, then exits
        second = user(tmp_path)
        assert second.stdin is not None
        second.stdin.close()
        assert second.wait(120) == 0
        # Then the server has stopped
        assert not postmaster.exists()
    finally:
        if postmaster.exists():  # a failed test leaves no server behind
            stop_postgres(type("Server", (), {"pgdata": tmp_path / "pgdata", "system_user": "embedded_postgres"})())
