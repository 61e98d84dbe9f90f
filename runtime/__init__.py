"""Everything a process needs, built once from settings: database, applications, clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import Application
from psycopg_pool import ConnectionPool

from adapters import json_codec
from adapters.aggregate_cache import VersionCheckedCache
from adapters.database import embedded_database_url, eventsourcing_env
from adapters.media import LocalMediaStorage, MediaStorage
from adapters.payment_providers import SandboxProvider
from adapters.recorder import LockFreeApplicationRecorder
from adapters.sms import SmsSender, sms_sender
from domain.catalog.application import CatalogApplication
from domain.commerce.application import CommerceApplication
from domain.payments.application import PaymentsApplication
from domain.support.application import SupportApplication
from identity.users import Passwords
from runtime.settings import Settings

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def resolve_database_url(settings: Settings) -> str:
    return settings.database_url or embedded_database_url(settings.data_dir)


@dataclass
class Runtime:
    settings: Settings
    database_url: str
    pool: ConnectionPool
    catalog: CatalogApplication
    commerce: CommerceApplication
    payments: PaymentsApplication
    support: SupportApplication
    passwords: Passwords
    sms: SmsSender
    media: MediaStorage
    clock: Callable[[], datetime] = utcnow
    new_id: Callable[[], UUID] = uuid4
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def applications(self) -> dict[str, Application[UUID]]:
        return {"catalog": self.catalog, "commerce": self.commerce, "payments": self.payments,
                "support": self.support}

    def close(self) -> None:
        for app in self.applications.values():
            app.close()
            if isinstance(app.recorder, LockFreeApplicationRecorder):
                app.recorder.notifier.close()
        self.pool.close()


def build_applications(
    settings: Settings, database_url: str, *, create_table: bool = False,
    new_id: Callable[[], UUID] = uuid4, clock: Callable[[], datetime] = utcnow,
) -> tuple[CatalogApplication, CommerceApplication, PaymentsApplication, SupportApplication]:
    env = eventsourcing_env(
        database_url,
        pool_size=settings.event_store_pool_size,
        max_overflow=settings.event_store_max_overflow,
        create_table=create_table,
        pool_timeout=settings.db_pool_timeout_seconds,
    )
    catalog = CatalogApplication(env, new_id=new_id)
    commerce = CommerceApplication(env, prices=catalog, new_id=new_id, clock=clock,
                                   return_window=timedelta(days=settings.return_window_days),
                                   points_per_100=settings.reward_points_per_100)
    provider = (SandboxProvider(settings.public_base_url, settings.webhook_secret)
                if settings.sandbox_enabled else None)
    payments = PaymentsApplication(env, provider=provider, new_id=new_id)
    support = SupportApplication(env, orders=commerce, new_id=new_id)
    for app in (catalog, commerce, payments, support):
        _shorten_reconnect_backoff(app)
    # One cache for the four: a command's look-ups across contexts share one statement.
    VersionCheckedCache([catalog, commerce, payments, support]).attach()
    return catalog, commerce, payments, support


# psycopg_pool retries a failed connection with exponential back-off for `reconnect_timeout`
# (5 minutes by default): after a 30 s outage the next attempt could be 30 s away. Giving up
# after a few seconds instead lets the next request that needs a connection start a fresh
# attempt, so pools recover within about a second of the database's return.
RECONNECT_TIMEOUT_SECONDS = 4.0
CONNECT_TIMEOUT_SECONDS = 2  # libpq's connect_timeout for our own pool (an unreachable host)


def _shorten_reconnect_backoff(app: Application[UUID]) -> None:
    """The eventsourcing library builds its psycopg_pool without exposing this setting."""
    pool = getattr(getattr(getattr(app, "recorder", None), "datastore", None), "pool", None)
    if pool is not None and hasattr(pool, "reconnect_timeout"):
        pool.reconnect_timeout = RECONNECT_TIMEOUT_SECONDS


def open_runtime(
    settings: Settings,
    *,
    database_url: str | None = None,
    clock: Callable[[], datetime] | None = None,
    new_id: Callable[[], UUID] = uuid4,
) -> Runtime:
    url = database_url or resolve_database_url(settings)
    pool = ConnectionPool(
        url,
        min_size=2,
        max_size=settings.db_pool_size,
        kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
        open=True,
        name="eventmart",
        configure=json_codec.read_with_orjson,  # the API reads read-model documents
        # Nobody waits 30 s for a connection: the API answers 503 instead (api/db.py).
        timeout=settings.db_pool_timeout_seconds,
        reconnect_timeout=RECONNECT_TIMEOUT_SECONDS,
    )
    clock = clock or utcnow  # tests inject a clock they can move forward
    catalog, commerce, payments, support = build_applications(settings, url, new_id=new_id, clock=clock)
    return Runtime(
        settings=settings,
        database_url=url,
        pool=pool,
        catalog=catalog,
        commerce=commerce,
        payments=payments,
        support=support,
        passwords=Passwords(settings.password_hash_memory_kib, settings.password_hash_concurrency),
        sms=sms_sender(settings.sms_sender),
        media=LocalMediaStorage(settings.data_dir / "media", settings.max_upload_bytes),
        clock=clock,
        new_id=new_id,
    )
