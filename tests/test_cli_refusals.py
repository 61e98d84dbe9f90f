"""Operators' mistakes on the command line get a usage error (exit 2) naming what is wrong,
not a traceback."""

from __future__ import annotations

import os
import subprocess
import uuid

import psycopg

from domain.commerce.wallet import Wallet
from tests.support.cli import EVENTMART


def run(settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    # Wide: typer boxes its errors at the terminal's width, wrapping the messages asserted on.
    full = {**os.environ, "DATABASE_URL": settings.database_url, "LOG_LEVEL": "WARNING",
            "COLUMNS": "1000", **env}
    full.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return subprocess.run([*EVENTMART, *args], env=full, capture_output=True, text=True, timeout=60)


def test_a_seal_file_that_does_not_exist(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    done = run(settings, "audit", "verify", "--seals", str(tmp_path / "missing.txt"))
    assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr


def test_the_relay_without_a_broker(settings) -> None:  # type: ignore[no-untyped-def]
    done = run(settings, "worker", "kafka_relay")
    assert done.returncode == 2 and "KAFKA_BOOTSTRAP_SERVERS" in done.stderr and "Traceback" not in done.stderr


def test_a_skip_for_the_seal_chain(settings, runtime) -> None:  # type: ignore[no-untyped-def]
    # The seal worker chains every stored event and never stops on one: a skip it would ignore
    # (or a chain with a gap) is refused, and nothing is recorded.
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        runtime.commerce.save(Wallet(owner_id=str(uuid.uuid4()), currency="INR"))
        (position,) = conn.execute("SELECT max(notification_id) FROM commerce_events").fetchone()  # type: ignore[misc]
        done = run(settings, "worker", "audit_seal", "--skip", str(position), "--application",
                   "commerce", "--reason", "testing")
        assert done.returncode == 2 and "nothing to skip" in done.stderr and "Traceback" not in done.stderr
        assert conn.execute("SELECT count(*) FROM follower_skips WHERE follower = 'audit_seal'"
                            ).fetchone() == (0,)


def test_a_worker_no_one_knows(settings) -> None:  # type: ignore[no-untyped-def]
    done = run(settings, "worker", "nosuch")
    assert done.returncode == 2 and "unknown worker 'nosuch'" in done.stderr and "cart_view" in done.stderr
    assert "Traceback" not in done.stderr
    mixed = run(settings, "worker", "all", "cart_view")
    assert mixed.returncode == 2 and "give it alone" in mixed.stderr and "Traceback" not in mixed.stderr


def test_a_seal_file_that_is_not_seals(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name, text in [("passwd", "root:x:0:0:root:/root:/bin/bash\n"), ("list", "[1, 2]\n"),
                       ("partial", '{"application": "commerce", "seq": 1}\n')]:
        (tmp_path / name).write_text(text)
        done = run(settings, "audit", "verify", "--seals", str(tmp_path / name))
        assert done.returncode == 2 and "line 1 is not a seal" in done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr


def test_seals_exported_where_no_file_can_be_written(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    done = run(settings, "audit", "export-seals", "--output", str(tmp_path / "missing" / "seals.jsonl"))
    assert done.returncode == 2 and "cannot write" in done.stderr and "Traceback" not in done.stderr


def test_a_port_no_socket_can_have(settings) -> None:  # type: ignore[no-untyped-def]
    for port in ("-1", "65536", "99999"):
        done = run(settings, "serve", "--port", port, "--no-migrate")
        assert done.returncode == 2 and "--port" in done.stderr and "Traceback" not in done.stderr
