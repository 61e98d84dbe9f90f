"""Blue/green rebuilds: a read model's next generation is built beside the one that serves,
and takes over in one transaction once it has caught up with the log.

Generation N of read model M lives in the schema `M_gN`, written by the follower `M@gN`
through a connection whose search_path puts that schema before the serving one: every
projection's unqualified SQL lands in the new tables unchanged, and what it reads of other
read models (catalog search reads stock levels) still resolves to the serving tables.

The swap, one transaction on that connection:
1. the live follower's position row (FOR UPDATE) and the model's batch lock: no live batch
   runs or can start until commit, so nothing is lost between the generation's last batch and
   the swap, and the live follower never writes the old tables after it;
2. the generation's final catch-up, inside the same transaction;
3. couplings with other read models (their rows in shared tables, overlays they write);
4. the serving tables move out to a schema of their own and the generation's move in
   (`ALTER TABLE ... SET SCHEMA`: readers resolve names per statement, so they see the old
   tables or the new ones, never a mix, an empty or an older state);
5. the live follower's position becomes the generation's, whose follower row goes; the code's
   version is recorded; the old tables are dropped.

A rebuild holds a session advisory lock on the model's name: a second one is refused (or, for
the version upgrades that `migrate` and `serve` start, waits and then finds nothing to do).
Advisory locks die with their connection, so `read_model_generations.building` records the
generation in progress: a crash leaves the serving tables untouched, and the next rebuild
drops the unfinished generation and starts a new one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import Connection, sql
from psycopg.types.json import Jsonb

from projections import READ_MODELS, stock_levels, tracking
from projections.read_model import ReadModel
from runtime import Runtime
from workers.log_follower import LogFollower, connect_follower

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (position reached, log head)

# The swap waits this long for readers' table locks before it gives way and tries again: well
# below deadlock_timeout (1 s), so a reader locking tables in another order never deadlocks
# with the swap; the swap is the one that backs off.
SWAP_LOCK_TIMEOUT = "200ms"
SWAP_ATTEMPTS = 50


class RebuildRunning(RuntimeError):
    """Another process is rebuilding this read model."""


def generation_schema(name: str, generation: int) -> str:
    return f"{name}_g{generation}"


def generation_follower(name: str, generation: int) -> str:
    return f"{name}@g{generation}"


def is_generation_follower(follower: str) -> bool:
    return "@g" in follower


def version_gate(model: ReadModel) -> str:
    """Holds a live follower while the serving tables are of another version than its code:
    the new code's rows do not belong in the old tables (its generation is being built), and an
    old process's rows do not belong in the new ones (evaluated after the position lock the swap
    takes, so no batch of an old process lands after the swap). A condition of the follower's
    read statement (workers/log_follower.py Gate): `serving_version` in SQL."""
    return sql.SQL(
        "(coalesce((SELECT version FROM read_model_versions WHERE read_model = {}), 1) = {})"
    ).format(sql.Literal(model.name), sql.Literal(model.version)).as_string()


def serving_version(conn: Connection, name: str) -> int:
    """The version of the serving tables (no row: 1, from before versions were recorded)."""
    row = conn.execute("SELECT version FROM read_model_versions WHERE read_model = %s", (name,)).fetchone()
    return int(row[0]) if row else 1


@dataclass(frozen=True)
class Coupling:
    """What a read model shares with others, which its generation must take into account."""

    # Tables of other read models that this model's code writes: the generation gets empty
    # stand-ins, so a replay from position 0 never touches what serves.
    shadows: tuple[str, ...] = ()
    # Followers whose batches must wait during the swap (they write the same tables).
    siblings: tuple[str, ...] = ()
    # Run in the swap transaction after the final catch-up, with the generation's search_path.
    reconcile: Callable[[Connection, ReadModel, str, str], None] | None = None


def _columns(conn: Connection, schema: str, table: str) -> list[str]:
    rows = conn.execute("SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                        (schema, table)).fetchall()
    return [str(r[0]) for r in rows]


def _keep_other_sources(conn: Connection, model: ReadModel, live: str, generation: str) -> None:
    """notifications and support_notifications share two tables, each owning the rows of its
    `source` (its log): the generation takes the other source's rows as they are now (that
    follower is held by the swap)."""
    for table in ("notifications", "notification_owners"):
        shared = [c for c in _columns(conn, generation, table) if c in _columns(conn, live, table)]
        names = sql.SQL(", ").join(map(sql.Identifier, shared))
        conn.execute(sql.SQL("INSERT INTO {}.{} ({}) SELECT {} FROM {}.{} WHERE source <> %s").format(
            sql.Identifier(generation), sql.Identifier(table), names, names,
            sql.Identifier(live), sql.Identifier(table)), (model.application,))


def _overlay_stock(conn: Connection, model: ReadModel, live: str, generation: str) -> None:
    """Product rows carry stock figures that stock_levels patches in. While one of the two is
    rebuilt, the other's patches go to the serving tables only, so at the swap every product
    row that has levels is overlaid again from the levels that will serve (names resolve to the
    generation's table where it has one)."""
    levels: dict[Any, dict[str, dict[str, Any]]] = {}
    for product_id, sku, tracked, units_left in conn.execute(
            "SELECT product_id, sku, tracked, units_left FROM stock_levels").fetchall():
        levels.setdefault(product_id, {})[sku] = {"tracked": tracked, "units_left": units_left}
    if not levels:
        return
    changed = []
    for product_id, variants, available in conn.execute(
            "SELECT product_id, variants, available FROM catalog_products WHERE product_id = ANY(%s)",
            (list(levels),)).fetchall():
        new = stock_levels.overlay(variants, levels[product_id])
        now_available = any(bool(v.get("in_stock")) for v in new)
        if new != variants or now_available != available:
            changed.append((Jsonb(new), now_available, product_id))
    if changed:
        with conn.cursor() as cur:
            cur.executemany("UPDATE catalog_products SET variants = %s, available = %s "
                            "WHERE product_id = %s", changed)


COUPLINGS: dict[str, Coupling] = {
    "notifications": Coupling(siblings=("support_notifications",), reconcile=_keep_other_sources),
    "support_notifications": Coupling(siblings=("notifications",), reconcile=_keep_other_sources),
    "catalog_search": Coupling(reconcile=_overlay_stock),
    "stock_levels": Coupling(shadows=("catalog_products",), reconcile=_overlay_stock),
}


@dataclass(frozen=True)
class Rebuilt:
    generation: int
    position: int  # where the new generation took over
    applied: int  # events this rebuild applied (all of them: no live worker takes its batches)


def _lock_key(name: str) -> sql.Composed:
    return sql.SQL("hashtextextended({}, 0)").format(sql.Literal(f"eventmart.rebuild:{name}"))


def describe_running(conn: Connection, model: ReadModel) -> str:
    row = conn.execute(
        "SELECT g.building, g.building_started_at, f.position FROM read_model_generations g "
        "LEFT JOIN follower_positions f ON f.follower = g.read_model || '@g' || g.building "
        "WHERE g.read_model = %s", (model.name,)).fetchone()
    if row is None or row[0] is None:
        return f"a rebuild of {model.name} is already running in another process"
    return (f"a rebuild of {model.name} is already running in another process (generation {row[0]}, "
            f"since {row[1]:%Y-%m-%d %H:%M:%S%z}, at position {row[2] or 0}); wait for it to swap, "
            f"see `eventmart status`")


def rebuild(
    runtime: Runtime,
    model: ReadModel,
    progress: Progress | None = None,
    *,
    wait: bool = False,
    only_if_stale: bool = False,
    stopping: threading.Event | None = None,
) -> Rebuilt | None:
    """Builds the next generation of `model` and swaps it in. Refuses (RebuildRunning) while
    another process rebuilds it, unless `wait`. With `only_if_stale` (version upgrades) it does
    nothing when, once it holds the lock, the serving tables are not older than the code's
    version (another process swapped them in; or newer code did, which old code never undoes).
    Returns None when it did nothing or was stopped (the unfinished generation is dropped by the
    next rebuild). An event it cannot apply raises EventFailed, naming it; the serving
    generation is untouched."""
    # A follower session (connect_follower): the generation's batches and the swap append no
    # events, so they must not hold other followers' reads back while they run.
    with connect_follower(runtime.database_url) as conn:
        # A killed rebuild's backend notices its client is gone within a second and ends,
        # releasing the lock, instead of when it next writes to the socket.
        with contextlib.suppress(psycopg.Error):  # PostgreSQL 14 and later
            conn.execute("SET client_connection_check_interval = '1s'")
        row = conn.execute("SELECT current_schema()").fetchone()
        live = str(row[0]) if row and row[0] else "public"
        if wait:
            conn.execute(sql.SQL("SELECT pg_advisory_lock({})").format(_lock_key(model.name)))
        else:
            got = conn.execute(sql.SQL("SELECT pg_try_advisory_lock({})").format(
                _lock_key(model.name))).fetchone()
            if not (got and got[0]):
                raise RebuildRunning(describe_running(conn, model))
        try:
            if only_if_stale and serving_version(conn, model.name) >= model.version:
                return None
            generation = _start(conn, model, live)
            schema = generation_schema(model.name, generation)
            conn.execute(sql.SQL("SET search_path TO {}, {}").format(
                sql.Identifier(schema), sql.Identifier(live)))
            follower = generation_projection_follower(runtime, model, generation)
            applied = 0
            head = log_head(conn, model.application)
            while not (stopping and stopping.is_set()):
                n = follower.step(conn)
                applied += n
                if n and progress is not None:
                    head = max(head, log_head(conn, model.application))
                    progress(tracking.position_of(conn, follower.follower, model.application), head)
                # A batch that is not full read everything committed: caught up. Waiting for an
                # empty one instead never ends under a steady write load (the swap's final
                # catch-up, under the live follower's lock, takes what came since).
                if not n or not follower.more:
                    break
            if stopping and stopping.is_set():
                return None
            # Tables filled by inserts have no planner statistics until autovacuum gets to them:
            # readers would get guessed plans for a while after the swap.
            for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s",
                                         (schema,)).fetchall():
                conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table)))
            applied += _swap(conn, model, generation, follower, live)
            position = tracking.position_of(conn, model.name, model.application)
            if progress is not None:
                progress(position, max(head, position))
            log.info("read model %s: generation %d serves from position %d (version %d)",
                     model.name, generation, position, model.version)
            return Rebuilt(generation, position, applied)
        finally:
            with contextlib.suppress(psycopg.Error):  # a lost connection released it already
                conn.execute("RESET search_path")
                conn.execute(sql.SQL("SELECT pg_advisory_unlock({})").format(_lock_key(model.name)))


def generation_projection_follower(runtime: Runtime, model: ReadModel, generation: int) -> LogFollower:
    from workers.projection import projection_follower

    return projection_follower(runtime, model, follower=generation_follower(model.name, generation))


def _start(conn: Connection, model: ReadModel, live: str) -> int:
    """Drops an unfinished generation (a crashed or stopped rebuild) and creates the next one:
    its schema and tables, its follower at position 0 with the live follower's recorded skips,
    and the mark `status` shows while this connection lives."""
    with conn.transaction():
        if conn.execute("SELECT 1 FROM follower_positions WHERE follower = %s AND application = %s",
                        (model.name, model.application)).fetchone() is None:
            raise LookupError(f"read model {model.name} is not registered; run eventmart migrate")
        conn.execute("INSERT INTO read_model_generations (read_model) VALUES (%s) ON CONFLICT DO NOTHING",
                     (model.name,))
        row = conn.execute("SELECT live, building FROM read_model_generations WHERE read_model = %s "
                           "FOR UPDATE", (model.name,)).fetchone()
        assert row is not None
        serving, unfinished = int(row[0]), row[1]
        if unfinished is not None:
            log.info("read model %s: dropping unfinished generation %s", model.name, unfinished)
            _drop_generation(conn, model, int(unfinished))
        generation = max(serving, int(unfinished or 0)) + 1
        schema = sql.Identifier(generation_schema(model.name, generation))
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}, {}").format(schema, sql.Identifier(live)))
        conn.execute(model.create_sql)
        for table in COUPLINGS.get(model.name, Coupling()).shadows:
            conn.execute(sql.SQL("CREATE TABLE {}.{} (LIKE {}.{})").format(
                schema, sql.Identifier(table), sql.Identifier(live), sql.Identifier(table)))
        name = generation_follower(model.name, generation)
        tracking.ensure_follower(conn, name, model.application)
        tracking.start_rebuild(conn, name, model.application)
        conn.execute(
            "INSERT INTO follower_skips (follower, application, position, aggregate_id, "
            "aggregate_version, event_type, decided_by, decided_at, reason) "
            "SELECT %s, application, position, aggregate_id, aggregate_version, event_type, "
            "decided_by, decided_at, reason FROM follower_skips WHERE follower = %s "
            "ON CONFLICT DO NOTHING", (name, model.name))
        conn.execute("UPDATE read_model_generations SET building = %s, building_version = %s, "
                     "building_started_at = now() WHERE read_model = %s",
                     (generation, model.version, model.name))
    log.info("read model %s: building generation %d (version %d) beside generation %d",
             model.name, generation, model.version, serving)
    return generation


def _drop_generation(conn: Connection, model: ReadModel, generation: int) -> None:
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
        sql.Identifier(generation_schema(model.name, generation))))
    name = generation_follower(model.name, generation)
    conn.execute("DELETE FROM follower_skips WHERE follower = %s", (name,))
    conn.execute("DELETE FROM follower_positions WHERE follower = %s", (name,))


def _swap(conn: Connection, model: ReadModel, generation: int, follower: LogFollower, live: str) -> int:
    """Final catch-up and takeover, in one transaction; tried again when readers hold the
    tables longer than SWAP_LOCK_TIMEOUT. Returns the events the final catch-up applied."""
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        try:
            with conn.transaction():
                return _swap_once(conn, model, generation, follower, live)
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected) as exc:
            log.info("read model %s: swap attempt %d gave way to readers (%s)", model.name, attempt,
                     type(exc).__name__)
    raise RuntimeError(f"read model {model.name}: readers held its tables through {SWAP_ATTEMPTS} "
                       f"swap attempts; generation {generation} is kept unfinished: rebuild again")


def _swap_once(conn: Connection, model: ReadModel, generation: int, follower: LogFollower,
               live: str) -> int:
    coupling = COUPLINGS.get(model.name, Coupling())
    live_cursor = tracking.lock_cursor(conn, model.name, model.application)
    if model.batch_lock is not None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (model.batch_lock,))
    for sibling in coupling.siblings:
        tracking.lock_position(conn, sibling, READ_MODELS[sibling].application)
    applied = follower.catch_up(conn)
    cursor = tracking.cursor_of(conn, follower.follower, model.application)
    # Everything the live follower passed was committed before its cursor moved, so the
    # generation, having read all that is committed, cannot be behind it in the log's reading
    # order, (transaction id, id): ids alone are not that order (adapters/recorder.py).
    assert cursor >= live_cursor, (cursor, live_cursor)
    schema = generation_schema(model.name, generation)
    for table in coupling.shadows:
        conn.execute(sql.SQL("DROP TABLE {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
    if coupling.reconcile is not None:
        coupling.reconcile(conn, model, live, schema)
    tables = [str(r[0]) for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,)).fetchall()]
    serving = [str(r[0]) for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename = ANY(%s) "
        "ORDER BY tablename", (live, tables)).fetchall()]
    conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(SWAP_LOCK_TIMEOUT)))
    if serving:
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
            sql.SQL(", ").join(sql.Identifier(live, t) for t in serving)))
    row = conn.execute("SELECT live FROM read_model_generations WHERE read_model = %s",
                       (model.name,)).fetchone()
    retired = sql.Identifier(generation_schema(model.name, int(row[0]) if row else 1))
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(retired))
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(retired))
    for table in serving:
        conn.execute(sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(sql.Identifier(live, table), retired))
    for table in tables:
        conn.execute(sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
            sql.Identifier(schema, table), sql.Identifier(live)))
    # The live follower's cursor becomes the generation's (every cursor column of its row).
    conn.execute("UPDATE follower_positions l SET position = g.position, "
                 "position_xid = g.position_xid, heartbeat_at = now(), "
                 "poison = NULL, last_error = NULL, last_error_at = NULL FROM follower_positions g "
                 "WHERE l.follower = %s AND l.application = %s AND g.follower = %s "
                 "AND g.application = l.application",
                 (model.name, model.application, follower.follower))
    _drop_generation(conn, model, generation)
    conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(retired))
    conn.execute(
        "INSERT INTO read_model_versions (read_model, version) VALUES (%s, %s) "
        "ON CONFLICT (read_model) DO UPDATE SET version = EXCLUDED.version, recorded_at = now()",
        (model.name, model.version))
    conn.execute("UPDATE read_model_generations SET live = %s, building = NULL, building_version = NULL, "
                 "building_started_at = NULL, swapped_at = now() WHERE read_model = %s",
                 (generation, model.name))
    return applied


def log_head(conn: Connection, application: str) -> int:
    row = conn.execute(sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(
        sql.Identifier(f"{application}_events"))).fetchone()
    return int(row[0]) if row else 0


class BackgroundRebuilds:
    """What `serve` starts for read models whose code version differs from the serving
    tables': one thread building them blue/green in turn while the old generation serves.
    Several processes starting at once take turns on each model's lock, and every one after
    the first finds the version already swapped in."""

    def __init__(self, runtime: Runtime, models: Sequence[ReadModel]) -> None:
        self.runtime = runtime
        self.models = list(models)
        self.stopping = threading.Event()
        self.swapped: list[str] = []
        self.thread = threading.Thread(target=self._run, name="bluegreen-rebuilds", daemon=True)

    def start(self) -> BackgroundRebuilds:
        if self.models:
            self.thread.start()
        return self

    def _run(self) -> None:
        for model in self.models:
            if self.stopping.is_set():
                return
            try:
                done = rebuild(self.runtime, model, wait=True, only_if_stale=True, stopping=self.stopping)
            except Exception:
                log.exception("background rebuild of %s (version %d) failed; the old generation "
                              "keeps serving; `eventmart rebuild %s` tries again", model.name,
                              model.version, model.name)
                continue
            if done is not None:
                self.swapped.append(model.name)

    def join(self, timeout: float | None = None) -> None:
        if self.thread.is_alive():
            self.thread.join(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.join(timeout)
