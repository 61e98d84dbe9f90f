"""Which workers should be running, and how each is doing: one query for /readyz and
`eventmart status` alike (positions, lag, heartbeats, last errors, poison events); and the
blue/green rebuilds in progress, which never make a process unready."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection, sql

from projections import READ_MODELS, tracking
from runtime.settings import Settings
from workers.audit_seal import FOLLOWER as AUDIT_SEAL
from workers.bluegreen import is_generation_follower
from workers.kafka_relay import FOLLOWER as KAFKA_RELAY
from workers.policies import PAYMENT_EXPIRY, POLICIES

# Every application with a log (and a relay row per log).
APPLICATIONS = ("catalog", "commerce", "payments", "support")
# A worker that has not beaten for this long is considered stopped.
STALE_AFTER_SECONDS = tracking.STOPPED_AFTER_SECONDS


def expected_workers(settings: Settings) -> list[tuple[str, str]]:
    """(follower, application) of every worker that should be running: what `worker all`
    and `serve` run."""
    expected = [(m.name, m.application) for m in READ_MODELS.values()]
    expected += list(POLICIES.items())
    expected.append((PAYMENT_EXPIRY, "payments"))
    expected += [(AUDIT_SEAL, app) for app in APPLICATIONS]
    if settings.kafka_bootstrap_servers:
        expected += [(KAFKA_RELAY, app) for app in APPLICATIONS]
    return expected


def logs_followed(follower: str) -> list[str]:
    """The applications whose logs a named worker follows (none: not a log follower)."""
    if follower in READ_MODELS:
        return [READ_MODELS[follower].application]
    if follower in POLICIES:
        return [POLICIES[follower]]
    return list(APPLICATIONS) if follower in (KAFKA_RELAY, AUDIT_SEAL) else []


def kind_of(follower: str) -> str:
    if follower in READ_MODELS:
        return "projection"
    if follower in POLICIES:
        return "policy"
    if follower == PAYMENT_EXPIRY:
        return "sweep"
    if follower == AUDIT_SEAL:
        return "seal"
    return "relay" if follower == KAFKA_RELAY else "other"


@dataclass(frozen=True)
class WorkerState:
    follower: str
    application: str
    expected: bool
    registered: bool = True
    position: int = 0
    head: int = 0
    heartbeat_age_seconds: float | None = None
    heartbeat_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    poison: dict[str, Any] | None = None
    rebuilding_since: datetime | None = None
    # Some event sorts after the follower's position: ids are not reading order
    # (adapters/recorder.py), so a follower that passed every event can sit below the head.
    behind: bool = False

    @property
    def kind(self) -> str:
        return kind_of(self.follower)

    @property
    def key(self) -> str:
        per_log = self.kind in ("relay", "seal")
        return f"{self.follower}/{self.application}" if per_log else self.follower

    @property
    def lag(self) -> int | None:
        if self.kind == "sweep":
            return None
        return max(self.head - self.position, 1) if self.behind else 0

    def problem(self) -> str | None:
        """Why this worker is not doing its job, or None."""
        if not self.registered:
            return f"{self.key} is not registered (run eventmart migrate)"
        if self.poison is not None:
            p = self.poison
            return (f"{self.key} stopped on the event at position {p.get('position')} "
                    f"({p.get('type')}, aggregate {p.get('aggregate_id')} version {p.get('version')}): "
                    f"{p.get('error')}")
        if self.heartbeat_age_seconds is None:
            return f"{self.key} has never run"
        if self.heartbeat_age_seconds > STALE_AFTER_SECONDS:
            error = f"; last error: {self.last_error}" if self.last_error else ""
            return f"{self.key} is not running (last heartbeat {self.heartbeat_age_seconds:.0f}s ago{error})"
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "application": self.application,
            "state": "stopped" if self.poison else ("failing" if self.problem() else "running"),
            "position": self.position,
            "lag": self.lag,
            "heartbeat_age_seconds": (None if self.heartbeat_age_seconds is None
                                      else round(self.heartbeat_age_seconds, 3)),
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
            "poison": self.poison,
            "rebuilding_since": self.rebuilding_since.isoformat() if self.rebuilding_since else None,
        }


def _query(applications: Sequence[str]) -> sql.Composed:
    heads = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}::text, (SELECT coalesce(max(notification_id), 0) FROM {})").format(
            sql.Literal(app), sql.Identifier(f"{app}_events"))
        for app in applications
    )
    behind = sql.SQL("CASE f.application {} ELSE false END").format(sql.SQL(" ").join(
        sql.SQL("WHEN {} THEN EXISTS (SELECT 1 FROM {} e WHERE (e.transaction_id, e.notification_id) "
                "> (f.position_xid, f.position))").format(sql.Literal(app), sql.Identifier(f"{app}_events"))
        for app in applications))
    return sql.SQL(
        "WITH heads(application, head) AS ({}) "
        "SELECT f.follower, f.application, f.position, coalesce(h.head, 0), "
        "extract(epoch FROM now() - f.heartbeat_at)::float8, f.heartbeat_at, "
        "f.last_error, f.last_error_at, f.poison, "
        "CASE WHEN EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = f.rebuild_pid "
        "                  AND a.backend_start <= f.rebuild_started_at) "
        "     THEN f.rebuild_started_at END, {} "
        "FROM follower_positions f LEFT JOIN heads h USING (application) "
        "ORDER BY f.follower, f.application"
    ).format(heads, behind)


def worker_states(conn: Connection, expected: Sequence[tuple[str, str]],
                  *, everything: bool = False) -> list[WorkerState]:
    """The expected workers' states (and, with `everything`, every registered follower's).
    One statement."""
    want = set(expected)
    states: dict[tuple[str, str], WorkerState] = {}
    for (follower, app, position, head, age, beat, error, error_at, poison,
         rebuilding, behind) in conn.execute(_query(APPLICATIONS)).fetchall():
        if is_generation_follower(follower):
            continue  # a rebuild's: see rebuilds()
        if (follower, app) in want or everything:
            states[(follower, app)] = WorkerState(
                follower, app, (follower, app) in want, True, int(position), int(head), age, beat,
                error, error_at, poison, rebuilding, bool(behind))
    for follower, app in expected:
        if (follower, app) not in states:
            states[(follower, app)] = WorkerState(follower, app, True, registered=False)
    return list(states.values())


@dataclass(frozen=True)
class RebuildState:
    """A blue/green rebuild in progress: the generation being built beside the serving one."""

    read_model: str
    application: str
    generation: int
    serving: int  # the generation that serves meanwhile
    version: int  # the code version it is built for
    position: int
    head: int
    started_at: datetime | None
    running: bool  # False: its process is gone; the next rebuild drops it and starts again

    def as_json(self) -> dict[str, Any]:
        return {"read_model": self.read_model, "application": self.application,
                "generation": self.generation, "serving_generation": self.serving,
                "version": self.version, "position": self.position, "head": self.head,
                "started_at": self.started_at.isoformat() if self.started_at else None,
                "state": "running" if self.running else "interrupted"}


def rebuilds(conn: Connection) -> list[RebuildState]:
    """The generations being built (or left unfinished by a process that died)."""
    if conn.execute("SELECT to_regclass('read_model_generations')").fetchone() == (None,):
        return []  # a database migrated by older code
    heads = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}::text, (SELECT coalesce(max(notification_id), 0) FROM {})").format(
            sql.Literal(app), sql.Identifier(f"{app}_events"))
        for app in APPLICATIONS
    )
    rows = conn.execute(sql.SQL(
        "WITH heads(application, head) AS ({}) "
        "SELECT g.read_model, f.application, g.building, g.live, g.building_version, "
        "coalesce(f.position, 0), coalesce(h.head, 0), g.building_started_at, "
        "EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = f.rebuild_pid "
        "        AND a.backend_start <= f.rebuild_started_at) "
        "FROM read_model_generations g "
        "LEFT JOIN follower_positions f ON f.follower = g.read_model || '@g' || g.building "
        "LEFT JOIN heads h ON h.application = f.application "
        "WHERE g.building IS NOT NULL ORDER BY g.read_model").format(heads)).fetchall()
    return [RebuildState(str(name), str(app or ""), int(generation), int(serving), int(version or 0),
                         int(position), int(head), started, bool(running))
            for name, app, generation, serving, version, position, head, started, running in rows]
