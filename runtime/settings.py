"""Process configuration, read from environment variables (see README, "Configuration")."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.commerce.rewards import parse_tiers

DEV_SECRET_KEY = "dev-only-secret-key-change-me"


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, as a container's cpuset sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_hash_concurrency() -> int:
    """Half the CPUs, at least 1: sign-ins must leave cores to everything else. With 4 hashes
    at once (4 threads each) on the 2-core machine, 256 clients of whom 5% signed in got 40%
    503s, reads included, and the answers that came took p99 14 s (README, Configuration)."""
    return max(1, usable_cpus() // 2)


def default_db_pool_size() -> int:
    """Twice the CPUs, at least 4. More requests at once than that queue on the CPUs
    instead of in the gate (api/db.py), where a preempted commit holds the WAL write lock
    while the others wait: with 30 a process on the 2-core machine, at 2 API processes and
    64 or 256 clients the reads answered 14-33% fewer requests with p99 latency up to 2.3x,
    and the read models' lag p99 under cart adds was 69-529 ms against 33-40 ms with 4
    (README, Benchmarks)."""
    return max(4, 2 * usable_cpus())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, populate_by_name=True)

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: an embedded server under EVENTMART_DATA_DIR.",
    )
    data_dir: Path = Field(
        default=Path("var"), validation_alias=AliasChoices("EVENTMART_DATA_DIR")
    )
    kafka_bootstrap_servers: str | None = None
    kafka_topic_partitions: int = 3
    kafka_send_timeout_seconds: float = 15.0  # relay: unacknowledged this long -> new producer
    env: Literal["dev", "prod"] = Field(
        default="dev", validation_alias=AliasChoices("EVENTMART_ENV")
    )
    secret_key: str = DEV_SECRET_KEY
    session_cookie_name: str = "eventmart_session"
    session_ttl_seconds: int = 14 * 24 * 3600
    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    # Requests that use the database at once, per API process (each holds one connection).
    db_pool_size: int = Field(default_factory=default_db_pool_size, ge=2)
    # The longest a request waits for a database connection (queue included) before a 503;
    # also the event-store pools' wait, rounded up to whole seconds.
    db_pool_timeout_seconds: float = Field(default=1.5, gt=0)
    event_store_pool_size: int = 5
    event_store_max_overflow: int = 10
    read_your_writes_timeout_seconds: float = 2.0
    worker_poll_interval_seconds: float = 0.5
    worker_batch_size: int = 500
    # The audit-seal follower seals each log every this many events, or this long after the
    # last seal when events are waiting (README, Auditing).
    audit_seal_every_events: int = Field(default=1000, ge=1, le=100_000)
    audit_seal_every_seconds: float = Field(default=60.0, ge=0)
    # Lower in tests only: argon2's memory cost is the point of using it.
    password_hash_memory_kib: int = 65536
    otp_sends_per_ip_per_hour: int = 20
    # Peers whose X-Forwarded-For is believed (comma-separated addresses, or * for any);
    # empty: the client address is always the direct peer.
    trusted_proxies: str = ""
    # Failed password sign-ins allowed per account and per client IP within the window
    # (one address may be a whole office behind NAT: more there).
    login_failures_per_account: int = Field(default=10, ge=1)
    login_failures_per_ip: int = Field(default=50, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    # Password hashes computed at once (argon2id takes 64 MiB and a core): more sign-ins wait.
    password_hash_concurrency: int = Field(default_factory=default_hash_concurrency, ge=1)
    max_upload_bytes: int = 2 * 1024 * 1024
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)  # any body but an upload
    api_docs_enabled: bool = True  # /docs, /redoc and /openapi.json; switch off in prod if you like
    public_base_url: str = "http://127.0.0.1:8000"
    payment_provider: Literal["sandbox", "none"] | None = Field(
        default=None, description="default: sandbox in dev, none in prod")
    sandbox_webhook_secret: str | None = None
    # Who delivers OTP codes: `log` (dev: logs that a message went, never its text),
    # `none` (sends nothing), or `package.module:ClassName`, a provider of your own.
    sms_sender: str | None = Field(default=None, description="default: log in dev; must be set in prod")
    payment_expiry_sweep_seconds: float = 30.0
    # A keyed request's claim on its Idempotency-Key, while running: a dead request's claim
    # frees its key after this long (and the retry finishes or replays its command).
    idempotency_lease_seconds: float = Field(default=30.0, gt=0)
    return_window_days: int = 7
    reward_points_per_100: int = 1  # points per 100 paise of delivered goods
    reward_tiers: str = Field(default="bronze:0,silver:500,gold:2000,platinum:5000",
                              description="NAME:LIFETIME_POINTS,... ; the first starts at 0")
    wallet_max_load: int = 1_000_000  # ₹10,000 per load, in paise
    wallet_daily_load_limit: int = 2_500_000  # ₹25,000 per day
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one object per line, with the request id

    @model_validator(mode="after")
    def _prod_needs_a_secret(self) -> Settings:
        if self.env == "prod" and self.secret_key == DEV_SECRET_KEY:
            raise ValueError("SECRET_KEY must be set when EVENTMART_ENV=prod")
        if self.env == "prod" and not self.sms_sender:
            raise ValueError("SMS_SENDER must be set when EVENTMART_ENV=prod: a provider class "
                             "(package.module:ClassName) or `none`; OTP codes are never logged")
        return self

    @field_validator("reward_tiers")
    @classmethod
    def _tiers_parse(cls, value: str) -> str:
        parse_tiers(value)  # fail at start-up, not on the first rewards request
        return value

    @property
    def tiers(self) -> tuple[tuple[str, int], ...]:
        return parse_tiers(self.reward_tiers)

    @property
    def is_dev(self) -> bool:
        return self.env == "dev"

    @property
    def sandbox_enabled(self) -> bool:
        return (self.payment_provider or ("sandbox" if self.is_dev else "none")) == "sandbox"

    @property
    def webhook_secret(self) -> str:
        import hashlib

        return self.sandbox_webhook_secret or hashlib.sha256(
            f"sandbox-webhook:{self.secret_key}".encode()).hexdigest()


@lru_cache
def get_settings() -> Settings:
    return Settings()
