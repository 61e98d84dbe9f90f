"""Lag from commit to read-model row, for `make bench`.

A probe saves a cart add through the Commerce application (its own runtime, as another
PostgreSQL role so its statements are not counted as the API's), notes the time the save
returned (committed), then polls the `cart_view` follower's position until it has passed the
event: the read-model row is written in the same transaction as that position. Each sample is a
new customer's cart, so carts stay small and never contend with the HTTP load.

The floor (the baseline) is the same poll loop on a row committed by a raw INSERT: what
measuring costs, with no follower in between.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg

from projections import tracking

FOLLOWER, APPLICATION = "cart_view", "commerce"
POLL_SECONDS = 0.0005
GIVE_UP_SECONDS = 10.0


def percentiles(ms: list[float]) -> dict[str, Any]:
    ordered = sorted(ms)
    if not ordered:
        return {"samples": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))], 2)

    return {"samples": len(ordered), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": round(ordered[-1], 2)}


class LagProbe:
    def __init__(self, probe_url: str, products: list[str]) -> None:
        from runtime import open_runtime
        from runtime.settings import get_settings

        self.runtime = open_runtime(get_settings(), database_url=probe_url)
        self.products = [uuid.UUID(p) for p in products]
        self.conn = psycopg.connect(probe_url, autocommit=True)
        self.conn.execute("CREATE TABLE IF NOT EXISTS bench_lag_floor (id bigserial PRIMARY KEY)")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples: list[float] = []
        self.timeouts = 0

    def _passed(self, position: int) -> bool:
        """Whether the follower has passed the event at `position`. With a log read in
        transaction order (ids not in reading order) tracking has `caught_up`; before it, the
        position is the last id read."""
        caught_up = getattr(tracking, "caught_up", None)
        if caught_up is not None:
            return bool(caught_up(self.conn, FOLLOWER, APPLICATION, position))
        row = self.conn.execute("SELECT position FROM follower_positions WHERE follower=%s AND application=%s",
                                (FOLLOWER, APPLICATION)).fetchone()
        return bool(row and int(row[0]) >= position)

    def sample(self, n: int) -> float | None:
        saved = self.runtime.commerce.add_to_my_cart(
            owner_id=uuid.uuid4(), product_id=self.products[n % len(self.products)], sku=None, qty=1,
            replace=False)
        committed = time.perf_counter()
        assert saved.position is not None
        while not self._passed(saved.position):
            if time.perf_counter() - committed > GIVE_UP_SECONDS:
                self.timeouts += 1
                return None
            time.sleep(POLL_SECONDS)
        return (time.perf_counter() - committed) * 1000

    def floor(self, count: int) -> dict[str, Any]:
        """The poll loop alone: a row committed by a raw INSERT, then polled for."""
        ms = []
        for _ in range(count):
            row = self.conn.execute("INSERT INTO bench_lag_floor DEFAULT VALUES RETURNING id").fetchone()
            assert row is not None
            committed = time.perf_counter()
            seen = "SELECT 1 FROM bench_lag_floor WHERE id = %s"
            while self.conn.execute(seen, (row[0],)).fetchone() is None:
                time.sleep(POLL_SECONDS)
            ms.append((time.perf_counter() - committed) * 1000)
        return percentiles(ms)

    def idle(self, count: int, pause: float = 0.02) -> dict[str, Any]:
        ms = []
        for n in range(count):
            lag = self.sample(n)
            if lag is not None:
                ms.append(lag)
            time.sleep(pause)  # let the followers go idle again: each sample starts from quiet
        return percentiles(ms)

    def start(self, pause: float = 0.01) -> None:
        """Samples in the background (under load) until stop()."""
        self.samples, self._stop = [], threading.Event()

        def run() -> None:
            n = 0
            while not self._stop.is_set():
                lag = self.sample(n)
                if lag is not None:
                    self.samples.append(lag)
                n += 1
                self._stop.wait(pause)

        self._thread = threading.Thread(target=run, name="lag-probe", daemon=True)
        self._thread.start()

    def stop(self) -> list[float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(GIVE_UP_SECONDS + 5)
        return list(self.samples)

    def close(self) -> None:
        self.conn.close()
        self.runtime.close()
