"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI

from api import errors, metrics, openapi
from api.db import DatabaseGate
from api.hashing import HashSlots
from api.limits import BodyLimitMiddleware, SecurityHeadersMiddleware
from api.logging import RequestIdMiddleware
from api.read_your_writes import WriterMiddleware
from api.routes import (
    addresses,
    admin_catalog,
    admin_support,
    assistant,
    audit,
    audit_seals,
    auth,
    carts,
    catalog,
    consumer_cart,
    consumer_orders,
    health,
    notifications,
    offers,
    onboarding,
    orders,
    otp,
    payments,
    privacy_settings,
    profile,
    rewards,
    sessions,
    shops,
    support,
    uploads,
    vendor,
    vendor_orders,
    wallet,
    wishlist,
)
from api.routes import metrics as metrics_route
from api.text import check_parameters
from runtime import Runtime
from workers import start_workers

SPARE_THREADS = 8

DESCRIPTION = """
Event-sourced marketplace backend. Money is in integer minor units (paise) with an ISO 4217
`currency`. Errors are RFC 9457 `application/problem+json`. Sign in with `POST /auth/login`
(session cookie) or send `Authorization: Bearer <token>`.
"""


def create_app(runtime: Runtime, *, run_workers: bool = False) -> FastAPI:
    """`run_workers`: run projections and the Kafka relay in this process (embedded mode)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync endpoints run in this thread pool. Connections are admitted in the event loop
        # (api/db.py), so its size no longer has to match the pool: a few threads more than
        # connections serve endpoints that need none while every connection is busy.
        anyio.to_thread.current_default_thread_limiter().total_tokens = (
            runtime.settings.db_pool_size + SPARE_THREADS)
        supervisor = None
        if run_workers:
            supervisor = start_workers(runtime)
        app.state.supervisor = supervisor
        try:
            yield
        finally:
            if supervisor is not None:
                supervisor.stop()

    settings = runtime.settings
    docs = settings.api_docs_enabled
    app = FastAPI(
        title="EventMart", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
        docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.runtime = runtime
    app.state.db_gate = DatabaseGate(runtime.pool, runtime.settings.db_pool_timeout_seconds)
    app.state.hash_slots = HashSlots(runtime.passwords)
    app.state.supervisor = None
    app.state.metrics = metrics.registry_for(runtime)
    # The last added is the outermost: headers on every answer, then the request id (and the
    # one log record of a 500), then metrics, then the body limit, then the request's writer
    # (read-your-writes) next to the app.
    app.add_middleware(BodyLimitMiddleware, max_body=settings.max_request_bytes,
                       max_upload=settings.max_upload_bytes)
    app.add_middleware(WriterMiddleware)
    app.add_middleware(metrics.MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, hsts=not settings.is_dev)
    errors.install(app)
    for module in (health, auth, otp, sessions, onboarding, profile, addresses,
                   privacy_settings, uploads, catalog, shops, wishlist, carts, consumer_cart,
                   orders, consumer_orders, payments, wallet, rewards, offers, vendor,
                   vendor_orders, admin_catalog, audit, audit_seals, support, admin_support,
                   notifications, assistant, metrics_route):
        router = module.router
        app.include_router(router, dependencies=[Depends(check_parameters)])
    app.openapi = openapi.builder(app)  # type: ignore[method-assign]
    return app
