"""The versioned schema: numbered migrations recorded in schema_migrations, applied once;
a database made by the code before migrations were numbered migrates cleanly; a changed
applied migration is refused; a read model whose version changed is rebuilt, once."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.commerce.cart import Cart
from eventmart.migrations import SCHEMA_DIR, MigrationError, load_migrations, migrate
from projections import READ_MODELS, cart_view, tracking
from runtime import build_applications, open_runtime
from runtime.settings import Settings
from tests.infra import fresh_database
from tests.support.cli import EVENTMART
from tests.support.db import query
from tests.support.settings import make_settings
from workers import bluegreen
from workers.policies import PAYMENT_EXPIRY, POLICIES

# The plain tables exactly as `migrate` created them before migrations were numbered
# (the DDL constants of identity/*.py, adapters/idempotency_store.py,
# projections/tracking.py and notifications.READS_DDL, in the order migrate ran them).
PRE_MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS users (
    id uuid PRIMARY KEY,
    email text UNIQUE,
    phone text UNIQUE,
    password_hash text,
    role text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE users
    ADD COLUMN IF NOT EXISTS name text,
    ADD COLUMN IF NOT EXISTS city text,
    ADD COLUMN IF NOT EXISTS society text,
    ADD COLUMN IF NOT EXISTS basic_onboarding_done boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS role_onboarding_done boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS marketing_opt_in boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS location_allowed boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS data_sharing boolean NOT NULL DEFAULT false;
CREATE TABLE IF NOT EXISTS sessions (
    id uuid PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE,
    user_id uuid NOT NULL REFERENCES users(id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
ALTER TABLE sessions
    ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'cookie',
    ADD COLUMN IF NOT EXISTS family_id uuid;
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_family ON sessions (family_id);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    id uuid PRIMARY KEY,
    family_id uuid NOT NULL,
    user_id uuid NOT NULL REFERENCES users(id),
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_user ON refresh_tokens (user_id);
CREATE TABLE IF NOT EXISTS otp_codes (
    phone text PRIMARY KEY,            -- one live code per phone: a new send replaces it
    code_hash bytea NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    wrong_tries integer NOT NULL DEFAULT 0,
    consumed_at timestamptz
);
CREATE TABLE IF NOT EXISTS otp_sends (
    phone text NOT NULL,
    client_ip text NOT NULL,
    sent_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS otp_sends_phone ON otp_sends (phone, sent_at);
CREATE INDEX IF NOT EXISTS otp_sends_ip ON otp_sends (client_ip, sent_at);
CREATE TABLE IF NOT EXISTS login_failures (
    subject text NOT NULL,      -- 'account:<email, lower case>' or 'ip:<address>'
    failed_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_subject ON login_failures (subject, failed_at);
CREATE TABLE IF NOT EXISTS consumer_profiles (
    user_id uuid PRIMARY KEY REFERENCES users(id),
    flat_number text,
    profile_photo text,
    avatar text,
    gender text,
    birth_date date,
    preferred_language text NOT NULL DEFAULT 'en',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS consumer_addresses (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id),
    house_number text NOT NULL,
    street text NOT NULL,
    landmark text,
    city text NOT NULL,
    society text,
    pincode text NOT NULL,
    label text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX IF NOT EXISTS consumer_addresses_user ON consumer_addresses (user_id);
CREATE TABLE IF NOT EXISTS wishlist_items (
    user_id uuid NOT NULL REFERENCES users(id),
    product_id uuid NOT NULL,
    added_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, product_id)
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id uuid NOT NULL,
    endpoint text NOT NULL,
    key text NOT NULL,
    fingerprint bytea NOT NULL,
    state text NOT NULL,
    status integer,
    body jsonb,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, endpoint, key)
);
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS claim_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS lease_until timestamptz;
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS holder uuid;
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
CREATE TABLE IF NOT EXISTS follower_positions (
    follower text NOT NULL,
    application text NOT NULL,
    position bigint NOT NULL DEFAULT 0,
    heartbeat_at timestamptz,
    PRIMARY KEY (follower, application)
);
ALTER TABLE follower_positions
    ADD COLUMN IF NOT EXISTS last_error text,
    ADD COLUMN IF NOT EXISTS last_error_at timestamptz,
    -- The event the worker stopped on after retrying it: {position, aggregate_id, version,
    -- type, error}. Cleared when the position passes it, a skip is recorded, or a rebuild.
    ADD COLUMN IF NOT EXISTS poison jsonb,
    ADD COLUMN IF NOT EXISTS rebuild_pid integer,
    ADD COLUMN IF NOT EXISTS rebuild_started_at timestamptz;
-- Operators' decisions to pass over an event a follower cannot apply (live and rebuilds).
CREATE TABLE IF NOT EXISTS follower_skips (
    follower text NOT NULL,
    application text NOT NULL,
    position bigint NOT NULL,
    aggregate_id uuid,
    aggregate_version integer,
    event_type text,
    decided_by text NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now(),
    reason text NOT NULL,
    PRIMARY KEY (follower, application, position)
);
-- Per user and log, the position of their last write; reads wait for it.
CREATE UNLOGGED TABLE IF NOT EXISTS user_write_positions (
    user_id uuid NOT NULL,
    application text NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (user_id, application)
);
CREATE TABLE IF NOT EXISTS notification_reads (
    user_id uuid NOT NULL,
    notification_id uuid NOT NULL,
    read_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, notification_id)
);

"""


@pytest.fixture
def database(postgres: str) -> Iterator[tuple[str, Settings]]:
    with fresh_database(postgres) as url:
        yield url, make_settings(url)


def schema_of(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every column (in order, with type, nullability and default) and index of the database."""
    return {
        "columns": query(url, "SELECT table_name, ordinal_position, column_name, data_type, is_nullable, "
                              "column_default FROM information_schema.columns WHERE table_schema='public' "
                              "ORDER BY table_name, ordinal_position"),
        "indexes": query(url, "SELECT tablename, indexname, indexdef FROM pg_indexes "
                              "WHERE schemaname='public' ORDER BY tablename, indexname"),
        "unlogged": query(url, "SELECT relname FROM pg_class WHERE relpersistence='u' AND relkind='r' "
                               "ORDER BY relname"),
    }


def latest() -> list[tuple[int, str, str]]:
    return [(m.version, m.name, m.checksum) for m in load_migrations()]


def recorded(url: str) -> list[tuple[int, str, str]]:
    return [tuple(r) for r in query(url, "SELECT version, name, checksum FROM schema_migrations ORDER BY version")]  # type: ignore[misc]


def test_a_fresh_database_migrates_to_the_latest_version_and_a_second_migrate_is_a_no_op(
    database: tuple[str, Settings],
) -> None:
    url, settings = database
    done = migrate(settings, url)
    assert done.applied == [m.file_name for m in load_migrations()]
    assert done.applied[:2] == ["0001_initial.sql", "0002_read_model_versions.sql"]
    assert done.rebuilt == []
    assert recorded(url) == latest()
    assert dict(query(url, "SELECT read_model, version FROM read_model_versions")) == {
        name: model.version for name, model in READ_MODELS.items()}
    schema = schema_of(url)
    applied_at = query(url, "SELECT version, applied_at FROM schema_migrations ORDER BY version")

    again = migrate(settings, url)
    assert again.applied == [] and again.rebuilt == []
    assert recorded(url) == latest()
    assert query(url, "SELECT version, applied_at FROM schema_migrations ORDER BY version") == applied_at
    assert schema_of(url) == schema


def test_a_database_made_before_numbered_migrations_migrates_cleanly(postgres: str) -> None:
    with fresh_database(postgres) as old_url, fresh_database(postgres) as new_url:
        old_settings = make_settings(old_url)
        # Given a database as the code before this change left it (event stores, the plain
        # tables, read models and follower rows), with a user in it,
        for app in build_applications(old_settings, old_url, create_table=True):
            app.close()
        with psycopg.connect(old_url, autocommit=True) as conn, conn.transaction():
            conn.execute(PRE_MIGRATIONS_DDL)
            for model in READ_MODELS.values():
                conn.execute(model.create_sql)
                tracking.ensure_follower(conn, model.name, model.application)
            for policy, app_name in POLICIES.items():
                tracking.ensure_follower(conn, policy, app_name)
            tracking.ensure_follower(conn, PAYMENT_EXPIRY, "payments")
            user_id = uuid.uuid4()
            conn.execute("INSERT INTO users (id, email, role, name) VALUES (%s, 'old@example.com', "
                         "'customer', 'Old')", (user_id,))

        # When it is migrated,
        done = migrate(old_settings, old_url)

        # Then every migration is recorded, the read models whose code is past version 1 are
        # rebuilt (a database from before versions holds version 1 tables) and no other, the
        # data is kept, and the schema is the one a fresh database gets.
        assert done.applied == [m.file_name for m in load_migrations()]
        assert sorted(done.rebuilt) == sorted(n for n, m in READ_MODELS.items() if m.version > 1)
        assert recorded(old_url) == latest()
        assert query(old_url, "SELECT id, name FROM users") == [(user_id, "Old")]
        migrate(make_settings(new_url), new_url)
        assert schema_of(old_url) == schema_of(new_url)
        assert migrate(old_settings, old_url).applied == []


def test_a_changed_applied_migration_is_refused(database: tuple[str, Settings], tmp_path: Path) -> None:
    url, settings = database
    schema_dir = tmp_path / "schema"
    shutil.copytree(SCHEMA_DIR, schema_dir)
    migrate(settings, url, schema_dir=schema_dir)

    first = schema_dir / "0001_initial.sql"
    first.write_text(first.read_text() + "\nCREATE TABLE IF NOT EXISTS sneaked_in (id int);\n")
    with pytest.raises(MigrationError, match="0001_initial.sql was changed after it was applied"):
        migrate(settings, url, schema_dir=schema_dir)
    assert query(url, "SELECT to_regclass('sneaked_in')") == [(None,)]

    # `eventmart migrate` says so and fails.
    query(url, "UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1")
    env = {**os.environ, "DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": "", "LOG_LEVEL": "WARNING"}
    shown = subprocess.run([*EVENTMART, "migrate"], env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 1, shown.stdout + shown.stderr
    assert "error: migration 0001_initial.sql was changed after it was applied" in shown.stderr


def test_a_migration_the_code_does_not_know_is_refused(database: tuple[str, Settings]) -> None:
    url, settings = database
    migrate(settings, url)
    query(url, "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'newer', 'x')")
    with pytest.raises(MigrationError, match="9999_newer"):
        migrate(settings, url)


def test_a_read_model_whose_version_changed_is_rebuilt_once(
    database: tuple[str, Settings], monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, settings = database
    migrate(settings, url)
    runtime = open_runtime(settings, database_url=url)
    try:
        carts = [Cart(owner_id=str(uuid.uuid4()), currency="INR") for _ in range(3)]
        runtime.commerce.save(*carts)
    finally:
        runtime.close()
    rebuilds: list[str] = []
    real_rebuild = bluegreen.rebuild

    def counted(rt: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        rebuilds.append(model.name)
        return real_rebuild(rt, model, *args, **kwargs)

    monkeypatch.setattr(bluegreen, "rebuild", counted)
    # No worker ran: the read model is empty until something replays the log.
    assert query(url, "SELECT count(*) FROM cart_view") == [(0,)]

    # An unchanged version: nothing is rebuilt.
    assert migrate(settings, url).rebuilt == []
    assert rebuilds == []

    # A bumped version: migrate rebuilds cart_view blue/green from the start of its log, once.
    bumped = {**READ_MODELS, "cart_view": dataclasses.replace(cart_view.READ_MODEL, version=2)}
    assert migrate(settings, url, read_models=bumped).rebuilt == ["cart_view"]
    assert rebuilds == ["cart_view"]
    assert {r[0] for r in query(url, "SELECT cart_id FROM cart_view")} == {c.id for c in carts}
    assert query(url, "SELECT version FROM read_model_versions WHERE read_model='cart_view'") == [(2,)]
    assert query(url, "SELECT rebuild_pid FROM follower_positions WHERE follower='cart_view'") == [(None,)]

    # Migrating again with the same code rebuilds nothing more.
    assert migrate(settings, url, read_models=bumped).rebuilt == []
    assert rebuilds == ["cart_view"]

    # `eventmart status` shows each read model's version.
    env = {**os.environ, "DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": "", "LOG_LEVEL": "WARNING"}
    shown = subprocess.run([*EVENTMART, "status"], env=env, capture_output=True, text=True, timeout=120)
    assert f"schema: migration {len(load_migrations()):04d}" in shown.stdout, shown.stdout + shown.stderr
    lines = {ln.split()[0]: ln for ln in shown.stdout.splitlines() if ln.startswith("  ") and "version" in ln}
    assert "version 1 tables 1" in lines["wallet_balance"]
    # The code run by `status` is at version 1 while the tables are at 2: newer code swapped
    # them in, and this code neither rebuilds them back nor writes them.
    assert "version 1 tables 2  (newer tables: this code's worker holds still)" in lines["cart_view"]
