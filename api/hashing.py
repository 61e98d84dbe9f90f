"""Password hashing for the API: the wait for one of the `PASSWORD_HASH_CONCURRENCY` slots
happens in the event loop, holding neither a database connection nor a thread.

Before, sign-in held its request's connection, then a thread, while it waited for a slot and
hashed. Measured from outside on the 2-core machine (4 connections, 4 slots, 64 MiB argon2id):
32 concurrent `POST /auth/login` got 13 x 503 "busy" after 2.4 s instead of waiting their turn,
and a catalog read sent meanwhile waited 1.28 s for a connection no sign-in was using.
"""

from __future__ import annotations

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar

from api.db import loop_semaphore
from domain.errors import RateLimitedError
from identity.users import Passwords


class HashSlots:
    def __init__(self, passwords: Passwords) -> None:
        self.passwords = passwords
        self._semaphores: RunVar[anyio.Semaphore] = RunVar(f"eventmart_hash_slots_{id(self)}")

    def _semaphore(self) -> anyio.Semaphore:
        return loop_semaphore(self._semaphores, self.passwords.concurrency)

    async def _acquire(self) -> anyio.Semaphore:
        semaphore = self._semaphore()
        with anyio.move_on_after(self.passwords.wait):
            await semaphore.acquire()
            return semaphore
        raise RateLimitedError("too many sign-ins at once; try again in a moment", retry_after=1)

    async def hash(self, password: str) -> str:
        semaphore = await self._acquire()
        try:
            # Passwords' own slots (for the CLI's callers) are free: this process hashes no
            # more than that many at once.
            return await anyio.to_thread.run_sync(self.passwords.hash, password)
        finally:
            semaphore.release()

    async def verify(self, password_hash: str | None, password: str) -> bool:
        semaphore = await self._acquire()
        try:
            return await anyio.to_thread.run_sync(self.passwords.verify, password_hash, password)
        finally:
            semaphore.release()
