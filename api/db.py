"""The API's way to its connection pool: admission in the event loop, bounded waiting.

A request that needs a connection first takes one of `pool.max_size` permits, waiting for it
in the event loop (no thread), FIFO; then takes the connection: in the event loop when the
pool holds one ready, else in a worker thread, where it is available at once (there are as
many permits as connections) or once the pool has opened it. So a thread never blocks on
the pool while holding a thread token that a connection holder needs: the deadlock of a sync
dependency calling `pool.getconn()` in a thread pool no larger than the pool cannot happen.
A request that cannot get a connection within `DB_POOL_TIMEOUT_SECONDS`, queue included,
answers 503 with Retry-After: busy (the queue did not move) or database unavailable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar
from psycopg import Connection
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

# Once admitted, the pool is given at least this long to hand over a connection (it may have
# to open one).
MIN_CONNECT_WAIT_SECONDS = 0.2
# How long the event loop may wait for a connection the pool said it had ready.
READY_WAIT_SECONDS = 0.001

T = TypeVar("T")


class ServerBusyError(Exception):
    """No connection within the queue time: 503 with Retry-After (api/errors.py)."""

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        self.detail = detail
        self.retry_after = retry_after


def loop_semaphore(var: RunVar[anyio.Semaphore], permits: int) -> anyio.Semaphore:
    """The semaphore kept in `var` for the running event loop, made on first use: anyio's
    primitives belong to the loop they are used in (a server has one loop; tests may run
    several, one after another)."""
    try:
        return var.get()
    except LookupError:
        semaphore = anyio.Semaphore(permits, fast_acquire=True)
        var.set(semaphore)
        return semaphore


class DatabaseGate:
    def __init__(self, pool: ConnectionPool, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout
        self._semaphores: RunVar[anyio.Semaphore] = RunVar(f"eventmart_db_gate_{id(self)}")

    @property
    def permits(self) -> int:
        return self.pool.max_size

    def _semaphore(self) -> anyio.Semaphore:
        return loop_semaphore(self._semaphores, self.permits)

    def _ready_connection(self) -> Connection | None:
        """A connection the pool holds ready, taken in the event loop: the pool hands it over
        with a lock and a deque, no I/O, so without a thread hand-off (about a twentieth of
        an API process's samples each, under cart adds). None when it holds none ready (it
        is opening one, or resetting one given back): then the caller waits in a thread."""
        if not self.pool.get_stats().get("pool_available"):
            return None
        try:
            # Another thread (the pool's shrinking of idle connections) may take the ready one
            # first: the loop waits this long at most, then the thread path.
            return self.pool.getconn(READY_WAIT_SECONDS)
        except PoolTimeout:
            return None

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        semaphore = self._semaphore()
        deadline = anyio.current_time() + self.timeout
        admitted = False
        with anyio.move_on_after(self.timeout):
            await semaphore.acquire()
            admitted = True
        if not admitted:
            raise ServerBusyError("the server is busy; try again shortly")
        try:
            wait = max(deadline - anyio.current_time(), MIN_CONNECT_WAIT_SECONDS)
            try:
                ready = self._ready_connection()
                conn = ready if ready is not None else await anyio.to_thread.run_sync(self.pool.getconn, wait)
            except PoolTimeout:
                raise ServerBusyError("the database is unavailable; try again shortly") from None
            try:
                yield conn
            finally:
                if conn.info.transaction_status == TransactionStatus.IDLE:
                    # Nothing to roll back: the pool takes it back without I/O (a lock, a
                    # deque), so here rather than in a thread: one hand-off less a request.
                    self.pool.putconn(conn)
                else:
                    with anyio.CancelScope(shield=True):  # a client gone away still returns it
                        await anyio.to_thread.run_sync(self.pool.putconn, conn)
        finally:
            semaphore.release()

    async def run(self, work: Callable[[Connection], T]) -> T:
        """`work` on a connection of its own, in a worker thread: for an async endpoint that
        must not hold a connection across a long step of its own (sign-in's hash)."""
        async with self.connection() as conn:
            return await anyio.to_thread.run_sync(work, conn)
