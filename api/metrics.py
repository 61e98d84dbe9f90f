"""Prometheus metrics at /metrics: what the API does (requests by route template and status,
latency, in flight), what it waits on (connection pool), and what the workers do (log heads,
each follower's position and lag, poison events), read from the database at scrape time so
that every process reports the same truth.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import Message, Receive, Scope, Send

from api.asgi import HttpMiddleware
from runtime import Runtime
from workers.health import expected_workers, worker_states

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Not registered globally: each app's registry adds them (tests build several apps).
REQUESTS = Counter("eventmart_http_requests", "HTTP requests by route template and status",
                   ["method", "route", "status"], registry=None)
LATENCY = Histogram("eventmart_http_request_seconds", "HTTP request latency by route template",
                    ["method", "route"], registry=None,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
IN_FLIGHT = Gauge("eventmart_http_requests_in_flight", "HTTP requests being served", registry=None)
IDEMPOTENCY_REPLAYS = Counter("eventmart_idempotency_replays",
                              "keyed requests answered with the stored first response", registry=None)


class StateCollector(Collector):
    """Pool statistics and worker positions, gathered when Prometheus scrapes."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        stats = self.runtime.pool.get_stats()
        for name, help_ in (("pool_size", "connections open"), ("pool_available", "connections idle"),
                            ("requests_waiting", "requests waiting for a connection")):
            g = GaugeMetricFamily(f"eventmart_db_{name}", help_)  # pool_size, pool_available, ...
            g.add_metric([], stats.get(name, 0))
            yield g
        for stat, name, help_, scale in (
                ("requests_num", "requests", "connection requests", 1),
                ("requests_errors", "request_errors", "connection requests that failed", 1),
                ("requests_wait_ms", "wait_seconds", "time spent waiting for a connection", 1000)):
            c = CounterMetricFamily(f"eventmart_db_pool_{name}", help_)
            c.add_metric([], stats.get(stat, 0) / scale)
            yield c
        yield from self._commands()
        yield from self._workers()

    def _commands(self) -> Iterator[Metric]:
        apps = self.runtime.applications
        stale = CounterMetricFamily(
            "eventmart_stale_appends", "appends that appended nothing because an aggregate the "
            "command had taken from this process's cache had changed since (the command ran again)",
            labels=["application"])
        for name, app in apps.items():
            stale.add_metric([name], getattr(app.recorder, "stale_appends", 0))
        yield stale
        cache = self.runtime.commerce.aggregate_source  # one for every application
        if cache is not None:
            lookups = CounterMetricFamily(
                "eventmart_aggregate_lookups", "statements that loaded aggregates for commands "
                "(a command whose aggregates are all cached sends none)")
            lookups.add_metric([], getattr(cache, "statements", 0))
            yield lookups

    def _workers(self) -> Iterator[Metric]:
        try:
            with self.runtime.pool.connection(timeout=2) as conn:
                states = worker_states(conn, expected_workers(self.runtime.settings))
        except Exception:  # noqa: BLE001 - the database being down must not break the scrape
            up = GaugeMetricFamily("eventmart_db_up", "whether the database answered the scrape")
            up.add_metric([], 0)
            yield up
            return
        up = GaugeMetricFamily("eventmart_db_up", "whether the database answered the scrape")
        up.add_metric([], 1)
        yield up
        heads = CounterMetricFamily("eventmart_events_appended", "events in each application's log "
                                    "(its head position; ids have gaps after rollbacks)",
                                    labels=["application"])
        seen: set[str] = set()
        position = GaugeMetricFamily("eventmart_follower_position", "last log position applied",
                                     labels=["follower", "application"])
        lag = GaugeMetricFamily("eventmart_follower_lag", "log positions not yet applied",
                                labels=["follower", "application"])
        poison = GaugeMetricFamily("eventmart_follower_poisoned",
                                   "1 when the worker stopped on an event it cannot apply",
                                   labels=["follower", "application"])
        for s in states:
            if s.application not in seen and s.registered:
                heads.add_metric([s.application], s.head)
                seen.add(s.application)
            labels = [s.follower, s.application]
            position.add_metric(labels, s.position)
            if s.lag is not None:
                lag.add_metric(labels, s.lag)
            poison.add_metric(labels, 1 if s.poison else 0)
        yield from (heads, position, lag, poison)


def registry_for(runtime: Runtime) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    for metric in (REQUESTS, LATENCY, IN_FLIGHT, IDEMPOTENCY_REPLAYS):
        registry.register(metric)
    registry.register(StateCollector(runtime))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


class MetricsMiddleware(HttpMiddleware):
    """Counts and times every HTTP request under its route template (never the raw path:
    ids would make a series per request)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if (b"idempotent-replayed", b"true") in message.get("headers", []):
                    IDEMPOTENCY_REPLAYS.inc()
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, record_status)
        finally:
            IN_FLIGHT.dec()
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            REQUESTS.labels(method, template, str(status)).inc()
            LATENCY.labels(method, template).observe(time.perf_counter() - started)
