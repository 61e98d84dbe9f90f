from __future__ import annotations

import tempfile
from pathlib import Path

from runtime.settings import Settings


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for a test runtime: cheap password hashing, fast polling, no per-IP limits."""
    values: dict[str, object] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": None,
        "password_hash_memory_kib": 1024,  # still argon2id; cheap enough for many logins
        "worker_poll_interval_seconds": 0.2,
        "event_store_pool_size": 5,
        "db_pool_size": 10,
        # Every test client shares one address; the per-IP limit has its own test.
        "otp_sends_per_ip_per_hour": 1_000_000,
        "login_failures_per_ip": 1_000_000,
        "data_dir": Path(tempfile.mkdtemp(prefix="eventmart-data-")),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
