"""`make run`'s entry point, from an empty data dir, with no DATABASE_URL."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx

from tests.infra import free_port
from tests.support.cli import eventmart
from tests.support.users import PASSWORD
from tests.support.waiting import eventually


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_starts_embedded_postgres_stops_cleanly_and_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = {"EVENTMART_DATA_DIR": str(data_dir), "DATABASE_URL": "", "KAFKA_BOOTSTRAP_SERVERS": "",
           "LOG_LEVEL": "WARNING"}
    os_env_backup = {k: os.environ.get(k) for k in env}
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    server = eventmart("serve", "--port", str(port), env=env)
    try:
        eventually(lambda: ready(base), timeout=90, interval=0.2)  # every follower beats
        assert (data_dir / "pgdata" / "PG_VERSION").exists()
        # The API answers from a process of its own, the followers run in this one's.
        process = httpx.get(f"{base}/healthz", timeout=5).json()["process"]
        assert process["pid"] != server.pid and process["workers"] is False
        email = f"keep-{port}@example.com"
        r = httpx.post(f"{base}/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201
    finally:
        server.send_signal(signal.SIGINT)  # what Ctrl-C sends
        code = server.wait(60)
    assert code == 0
    # The embedded PostgreSQL went down with it.
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()

    server = eventmart("serve", "--port", str(port), env=env)
    try:
        eventually(lambda: ready(base), timeout=90, interval=0.2)
        r = httpx.post(f"{base}/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, "the second start must find the first one's data"
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(60) == 0
    assert os_env_backup == {k: os.environ.get(k) for k in env}
