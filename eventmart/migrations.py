"""`eventmart migrate`: brings the database to the code's schema, from one process at a time.

Three kinds of table, three ways:
- event stores: created by the eventsourcing library (CREATE_TABLE=y here only);
- plain tables (identity, idempotency keys, follower positions, read marks): the numbered SQL
  files in eventmart/schema/, each applied once, in order, in its own transaction, and
  recorded in `schema_migrations` with its checksum;
- read models: created if missing; one whose `ReadModel.version` differs from the version
  recorded in `read_model_versions` is rebuilt blue/green (workers/bluegreen.py): its next
  generation replays the log beside the serving one and takes over when caught up.

Everything but those rebuilds runs under one advisory lock (a rebuild has a lock of its own;
`serve` runs them in the background). Other processes run with CREATE_TABLE=n: concurrent
CREATE TABLE IF NOT EXISTS races.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import Connection

from projections import READ_MODELS, tracking
from projections.read_model import ReadModel
from runtime import build_applications, open_runtime
from runtime.settings import Settings
from workers import bluegreen
from workers.policies import PAYMENT_EXPIRY, POLICIES

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every migrating process.
MIGRATION_LOCK = 7_311_001

FOLLOWED_APPLICATIONS = ("catalog", "commerce", "payments", "support")

SCHEMA_DIR = Path(__file__).parent / "schema"
_FILE_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")

VERSIONS_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    checksum text NOT NULL
)
"""


class MigrationError(RuntimeError):
    """The database's recorded schema does not agree with the code's migrations."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def file_name(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"


@dataclass
class Migrated:
    """What one `migrate` did: migrations applied, read models whose serving tables are of
    another version than the code (stale), and those of them it rebuilt and swapped in."""

    applied: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    stale: list[ReadModel] = field(default_factory=list)


def load_migrations(directory: Path = SCHEMA_DIR) -> list[Migration]:
    """The numbered SQL files, in order; numbers start at 1 and leave no gap."""
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: a migration is named NNNN_name.sql")
        migrations.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(f"{directory}: migration {expected:04d} is missing "
                                 f"(found {migration.file_name})")
    return migrations


def migrate(
    settings: Settings, database_url: str, *,
    read_models: Mapping[str, ReadModel] = READ_MODELS,
    schema_dir: Path = SCHEMA_DIR,
    rebuild_stale: bool = True,
) -> Migrated:
    """With `rebuild_stale` (the `migrate` command), rebuilds the stale read models before it
    returns, after releasing the migration lock; `serve` passes False and rebuilds them in the
    background (bluegreen.BackgroundRebuilds). Either way the old generation serves meanwhile."""
    migrations = load_migrations(schema_dir)
    done = Migrated()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            for app in build_applications(settings, database_url, create_table=True):
                app.close()
            done.applied = _apply_migrations(conn, migrations)
            with conn.transaction():
                done.stale = _create_read_models(conn, read_models)
                for policy, app_name in POLICIES.items():
                    tracking.ensure_follower(conn, policy, app_name)
                tracking.ensure_follower(conn, PAYMENT_EXPIRY, "payments")  # its heartbeat
                for app_name in FOLLOWED_APPLICATIONS:
                    tracking.ensure_follower(conn, "kafka_relay", app_name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    if done.stale and rebuild_stale:
        done.rebuilt = _rebuild(settings, database_url, done.stale)
    return done


def _apply_migrations(conn: Connection, migrations: list[Migration]) -> list[str]:
    """Checks the applied migrations against the files, then applies the rest, each in a
    transaction of its own with its record."""
    conn.execute(VERSIONS_DDL)
    applied = {int(v): (str(name), str(checksum)) for v, name, checksum in conn.execute(
        "SELECT version, name, checksum FROM schema_migrations").fetchall()}
    known = {m.version: m for m in migrations}
    for version, (name, checksum) in sorted(applied.items()):
        migration = known.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {version:04d}_{name} applied, which this code does "
                f"not know: it was migrated by newer code")
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {migration.file_name} was changed after it was applied (checksum "
                f"{migration.checksum[:12]}, applied {checksum[:12]}): restore the file as applied "
                f"and put the change in a new numbered migration")
    names = []
    for migration in migrations:
        if migration.version in applied:
            continue
        with conn.transaction():
            conn.execute(migration.sql)
            conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                         (migration.version, migration.name, migration.checksum))
        log.info("applied migration %s", migration.file_name)
        names.append(migration.file_name)
    return names


def schema_version(conn: Connection) -> int:
    """The last migration applied (0: none, or a database from before migrations)."""
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
        return 0
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def recorded_versions(conn: Connection) -> dict[str, int]:
    """Each read model's recorded version (absent: version 1, from before versions were kept)."""
    rows = conn.execute("SELECT read_model, version FROM read_model_versions").fetchall()
    return {str(name): int(version) for name, version in rows}


def stale_read_models(conn: Connection, read_models: Mapping[str, ReadModel] = READ_MODELS) -> list[ReadModel]:
    """Read models whose serving tables are of an older version than the code's."""
    recorded = recorded_versions(conn) if schema_version(conn) >= 2 else {}
    return [m for m in read_models.values() if _is_stale(m, recorded.get(m.name, 1))]


def _is_stale(model: ReadModel, recorded: int) -> bool:
    """Older tables are rebuilt. Newer ones were swapped in by newer code, which this process
    does not undo: its live worker of that model holds still (bluegreen.version_gate), and
    `eventmart rebuild NAME` is the way to go back deliberately."""
    if recorded > model.version:
        log.warning("read model %s: the serving tables are of version %d, newer than this code's %d; "
                    "this process's worker for it holds still", model.name, recorded, model.version)
    return recorded < model.version


def _create_read_models(conn: Connection, read_models: Mapping[str, ReadModel]) -> list[ReadModel]:
    """Creates missing read models and registers their followers; returns those whose
    recorded version is not the code's. A read model seen for the first time (no follower yet)
    has just had its tables created by this code: its version is recorded as it is."""
    recorded = recorded_versions(conn)
    stale = []
    for model in read_models.values():
        conn.execute(model.create_sql)
        new = conn.execute("SELECT 1 FROM follower_positions WHERE follower = %s AND application = %s",
                           (model.name, model.application)).fetchone() is None
        tracking.ensure_follower(conn, model.name, model.application)
        if new and model.name not in recorded:
            _record_version(conn, model)
        elif _is_stale(model, recorded.get(model.name, 1)):
            stale.append(model)
        elif model.name not in recorded:
            _record_version(conn, model)
    return stale


def _record_version(conn: Connection, model: ReadModel) -> None:
    conn.execute(
        "INSERT INTO read_model_versions (read_model, version) VALUES (%s, %s) "
        "ON CONFLICT (read_model) DO UPDATE SET version = EXCLUDED.version, recorded_at = now()",
        (model.name, model.version),
    )


def _rebuild(settings: Settings, database_url: str, stale: list[ReadModel]) -> list[str]:
    """Rebuilds each stale read model blue/green and returns those this call swapped in. One
    that another process is rebuilding is waited for, then found up to date. A rebuild that
    fails leaves the old generation serving and its version recorded: the next migrate (or
    `eventmart rebuild NAME`) tries again."""
    runtime = open_runtime(settings, database_url=database_url)
    swapped = []
    try:
        for model in stale:
            log.info("rebuilding read model %s blue/green: version %s in the code", model.name,
                     model.version)
            done = bluegreen.rebuild(runtime, model, wait=True, only_if_stale=True)
            if done is not None:
                swapped.append(model.name)
                log.info("read model %s: generation %d (version %s) serves, %d events replayed",
                         model.name, done.generation, model.version, done.applied)
    finally:
        runtime.close()
    return swapped
