"""The floor for `make bench`: FastAPI + uvicorn + psycopg pool doing the least work possible.

    DATABASE_URL=... .venv/bin/python bench/baseline_app.py --port 8001 [--processes 2]

Same server settings as `eventmart serve` (uvicorn.run with log_config=None, access_log=False,
our Nagle-off HTTP protocol on httptools, uvloop),
the same pool (psycopg_pool, min 2, max DB_POOL_SIZE, autocommit) and the same thread-pool limit
(anyio's default limiter set to DB_POOL_SIZE, sync endpoints). Two endpoints:

- `POST /insert` `{key, data}`: one INSERT.
- `GET /select/{key}`: one SELECT by primary key.

The connection is taken inside the endpoint (not in a sync generator dependency), so this app
cannot starve its own thread pool: it stays a fair floor whatever concurrency it is given.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import psycopg
import uvicorn
from fastapi import FastAPI, HTTPException
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench.baseline_app` importable

from bench.options import server_options  # noqa: E402
from eventmart.serving import uvicorn_options  # noqa: E402
from runtime.settings import get_settings  # noqa: E402

ROWS = 1000


def row_key(i: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"eventmart-bench-{i}")


class InsertIn(BaseModel):
    key: uuid.UUID
    data: dict[str, Any] = Field(default_factory=dict)


def prepare_tables(url: str) -> None:
    """Once, before any server process starts (several creating them at once would race)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_rows (key uuid PRIMARY KEY, value jsonb NOT NULL)")
        conn.execute("CREATE TABLE IF NOT EXISTS bench_writes (id bigserial PRIMARY KEY, "
                     "key uuid NOT NULL, data jsonb NOT NULL, "
                     "created_at timestamptz NOT NULL DEFAULT now())")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bench_rows (key, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [(row_key(i), Jsonb({"balance": i * 100, "currency": "INR"})) for i in range(ROWS)],
            )


def app_from_env() -> FastAPI:
    """One server process's app (uvicorn's factory with --processes N)."""
    return create_app(os.environ["DATABASE_URL"], get_settings().db_pool_size)


def create_app(url: str, pool_size: int) -> FastAPI:
    pool = ConnectionPool(url, min_size=2, max_size=pool_size, kwargs={"autocommit": True},
                          open=False, name="baseline")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = pool_size
        pool.open()
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(title="EventMart bench baseline", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/insert", status_code=201)
    def insert(body: InsertIn) -> dict[str, Any]:
        with pool.connection() as conn:
            conn.execute("INSERT INTO bench_writes (key, data) VALUES (%s, %s)", (body.key, Jsonb(body.data)))
        return {"key": str(body.key), "ok": True}

    @app.get("/select/{key}")
    def select(key: uuid.UUID) -> dict[str, Any]:
        with pool.connection() as conn:
            row = conn.execute("SELECT value FROM bench_rows WHERE key = %s", (key,)).fetchone()
        if row is None:
            raise HTTPException(404, "no such key")
        return {"key": str(key), "value": row[0]}

    return app


def main() -> None:
    args = server_options(port=8001)
    prepare_tables(os.environ["DATABASE_URL"])
    # DB_POOL_SIZE as our app reads it, per process, like `eventmart serve --workers N`.
    # Our HTTP protocol too: with several processes, uvicorn's own leaves Nagle on (see
    # eventmart/serving.py), which would cap this baseline at about 40 ms a request.
    server = uvicorn_options(get_settings())
    uvicorn.run("bench.baseline_app:app_from_env", factory=True, workers=args.processes,
                host=args.host, port=args.port, log_config=None, access_log=False,
                http=server["http"], loop=server["loop"])


if __name__ == "__main__":
    main()
