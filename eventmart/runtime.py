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

from domain.catalog.application import CatalogApplication
from domain.commerce.application import CommerceApplication
from domain.payments.application import PaymentsApplication
from domain.support.application import SupportApplication
from eventmart.database import embedded_database_url, eventsourcing_env
from eventmart.identity.otp import SmsSender, sms_sender
from eventmart.identity.users import Passwords
from eventmart.media import LocalMediaStorage, MediaStorage
from eventmart.payment_providers import SandboxProvider
from eventmart.settings import Settings

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock:
    """Wall-clock time, which tests may move forward instead of sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        self.offset = timedelta(0)


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
    )
    catalog = CatalogApplication(env, new_id=new_id)
    commerce = CommerceApplication(env, prices=catalog, new_id=new_id, clock=clock,
                                   return_window=timedelta(days=settings.return_window_days),
                                   points_per_100=settings.reward_points_per_100)
    provider = (SandboxProvider(settings.public_base_url, settings.webhook_secret)
                if settings.sandbox_enabled else None)
    payments = PaymentsApplication(env, provider=provider, new_id=new_id)
    support = SupportApplication(env, orders=commerce, new_id=new_id)
    return catalog, commerce, payments, support


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
        kwargs={"autocommit": True},
        open=True,
        name="eventmart",
    )
    clock = clock or Clock()
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
