"""Operators' mistakes on the command line get a usage error (exit 2) naming what is wrong,
not a traceback."""

from __future__ import annotations

import os
import subprocess

from tests.support.cli import EVENTMART


def run(settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    full = {**os.environ, "DATABASE_URL": settings.database_url, "LOG_LEVEL": "WARNING", **env}
    full.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return subprocess.run([*EVENTMART, *args], env=full, capture_output=True, text=True, timeout=60)


def test_a_seal_file_that_does_not_exist(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    done = run(settings, "audit", "verify", "--seals", str(tmp_path / "missing.txt"))
    assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr


def test_the_relay_without_a_broker(settings) -> None:  # type: ignore[no-untyped-def]
    done = run(settings, "worker", "kafka_relay")
    assert done.returncode == 2 and "KAFKA_BOOTSTRAP_SERVERS" in done.stderr and "Traceback" not in done.stderr
