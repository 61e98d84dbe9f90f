"""Blue/green rebuilds (workers/bluegreen.py): readers never see the rebuild, a killed rebuild
leaves the serving generation and can be run again, a changed read-model version is rebuilt
once in the background, a second rebuild of the same model is refused, and status and /readyz
list a rebuild in progress without failing."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

import workers.projection
from api.app import create_app
from domain.commerce.cart import Cart
from domain.commerce.wallet import Wallet
from eventmart.migrations import migrate
from projections import READ_MODELS, cart_view, tracking, wallet_balance
from runtime import Runtime, open_runtime
from tests.support.cli import EVENTMART, eventmart
from tests.support.db import follower_position as position
from tests.support.db import query
from tests.support.runtimes import own_runtime
from tests.support.waiting import eventually
from workers.bluegreen import BackgroundRebuilds, RebuildRunning, rebuild
from workers.health import rebuilds
from workers.log_follower import Supervisor
from workers.projection import projection_follower


@pytest.fixture
def fresh(postgres: str) -> Iterator[tuple[str, Runtime]]:
    """A database of its own, no workers: the test decides which followers run."""
    with own_runtime(postgres) as runtime:
        yield runtime.database_url, runtime


def head(runtime: Runtime) -> int:
    return runtime.commerce.recorder.max_notification_id() or 0


def serving_generation(url: str, name: str) -> int:
    found = query(url, "SELECT live FROM read_model_generations WHERE read_model = %s", name)
    return int(found[0][0]) if found else 1


def open_wallets(runtime: Runtime, n: int) -> list[Wallet]:
    wallets = []
    for _ in range(n):
        wallet = Wallet(owner_id=str(uuid.uuid4()), currency="INR")
        wallet.credit(100, kind="load", reference="first")
        wallets.append(wallet)
    for i in range(0, n, 200):
        runtime.commerce.save(*wallets[i:i + 200])
    return wallets


def cart_ids(url: str) -> set[uuid.UUID]:
    return {r[0] for r in query(url, "SELECT cart_id FROM cart_view")}


def save_carts(runtime: Runtime, n: int) -> list[Cart]:
    carts = [Cart(owner_id=str(uuid.uuid4()), currency="INR") for _ in range(n)]
    runtime.commerce.save(*carts)
    return carts


class Reader(threading.Thread):
    """Polls wallet_balance and records any read that is behind an earlier one: fewer rows, or
    a wallet at a lower version."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stopping = threading.Event()
        self.reads = 0
        self.read = threading.Condition()
        self.regressions: list[str] = []

    def run(self) -> None:
        seen: dict[uuid.UUID, int] = {}
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stopping.is_set():
                rows: dict[uuid.UUID, int] = dict(
                    conn.execute("SELECT wallet_id, version FROM wallet_balance").fetchall())
                if len(rows) < len(seen):
                    self.regressions.append(f"read {self.reads}: {len(rows)} rows after {len(seen)}")
                older = [w for w, v in seen.items() if rows.get(w, 0) < v]
                if older:
                    self.regressions.append(f"read {self.reads}: {len(older)} wallets went back")
                for wallet, version in rows.items():
                    seen[wallet] = max(version, seen.get(wallet, 0))
                with self.read:
                    self.reads += 1
                    self.read.notify_all()

    def wait_for_next_read(self) -> None:
        with self.read:
            target = self.reads + 1
            assert self.read.wait_for(lambda: self.reads >= target or not self.is_alive(), timeout=30)


class Writer(threading.Thread):
    """Credits wallets and opens new ones until stopped: the write load."""

    def __init__(self, runtime: Runtime, wallets: list[Wallet]) -> None:
        super().__init__(daemon=True)
        self.runtime = runtime
        self.ids = [w.id for w in wallets]
        self.stopping = threading.Event()
        self.saves = 0

    def run(self) -> None:
        i = 0
        while not self.stopping.is_set():
            i += 1
            if i % 5 == 0:
                self.ids.extend(w.id for w in open_wallets(self.runtime, 1))
            else:
                wallet: Wallet = self.runtime.commerce.repository.get(self.ids[i % len(self.ids)])
                wallet.credit(1, kind="load", reference=f"w{i}")
                self.runtime.commerce.save(wallet)
            self.saves += 1


def test_a_reader_under_write_load_never_sees_the_rebuild(
        fresh: tuple[str, Runtime], monkeypatch: pytest.MonkeyPatch) -> None:
    url, runtime = fresh
    # Batches that stay small (a rebuild's would grow to 20,000): many swaps of reader and replay.
    monkeypatch.setattr(workers.projection, "MAX_BATCH_SIZE", 25)
    # Given a wallet_balance served by its live worker, under a steady stream of writes,
    wallets = open_wallets(runtime, 400)
    runtime.settings.worker_batch_size = 25  # many batches, so reads interleave with the replay
    supervisor = Supervisor([projection_follower(runtime, wallet_balance.READ_MODEL)])
    supervisor.start()
    writer = Writer(runtime, wallets)
    reader = Reader(url)
    try:
        eventually(lambda: position(url, "wallet_balance") >= head(runtime), timeout=60)
        writer.start()
        reader.start()

        # When it is rebuilt blue/green, with a read between every two batches of the replay,
        progressed: list[tuple[int, int]] = []

        def between_batches(reached: int, log_head: int) -> None:
            progressed.append((reached, log_head))
            reader.wait_for_next_read()

        done = rebuild(runtime, wallet_balance.READ_MODEL, between_batches)
        assert done is not None and done.generation == 2
        for _ in range(3):  # and reads after the swap, by the live worker on the new tables
            reader.wait_for_next_read()
        saves_at_swap = writer.saves
        eventually(lambda: writer.saves > saves_at_swap + 5, timeout=30)
        writer.stopping.set()
        writer.join(30)
        eventually(lambda: position(url, "wallet_balance") == head(runtime), timeout=60)
        reader.wait_for_next_read()
    finally:
        writer.stopping.set()
        reader.stopping.set()
        supervisor.stop()

    # Then no read ever saw fewer rows or an older wallet than an earlier read,
    assert len(progressed) >= 16, "the replay took several batches, each followed by a read"
    assert reader.reads > len(progressed)
    assert reader.regressions == []
    # the new generation serves, kept current by the live worker after the swap,
    assert serving_generation(url, "wallet_balance") == 2
    assert query(url, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'wallet_balance_g%%'") == [(0,)]
    # and every wallet's row is the fold of its events.
    expected: dict[uuid.UUID, Wallet] = {i: runtime.commerce.repository.get(i) for i in writer.ids}
    rows = {r[0]: (r[1], r[2]) for r in query(url, "SELECT wallet_id, balance, version FROM wallet_balance")}
    assert rows == {i: (w.balance, w.version) for i, w in expected.items()}


def cli_env(url: str, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": "", "LOG_LEVEL": "WARNING", **extra}


def backend_gone(url: str, pid: int) -> bool:
    return query(url, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", pid) == [(0,)]


def test_a_rebuild_killed_mid_replay_leaves_the_live_model_serving_and_runs_again(
    fresh: tuple[str, Runtime],
) -> None:
    url, runtime = fresh
    # Given wallet_balance served at the head of a log of 2,000 events,
    open_wallets(runtime, 1000)
    live = projection_follower(runtime, wallet_balance.READ_MODEL)
    with psycopg.connect(url, autocommit=True) as conn:
        live.catch_up(conn)
    served = query(url, "SELECT * FROM wallet_balance ORDER BY wallet_id")
    assert len(served) == 1000

    # When `eventmart rebuild` is killed (SIGKILL) part-way through its replay,
    rebuilder = eventmart("rebuild", "wallet_balance", env=cli_env(url, WORKER_BATCH_SIZE="1"))
    try:
        eventually(lambda: position(url, "wallet_balance@g2") >= 10, timeout=60, interval=0.005)
    finally:
        rebuilder.send_signal(signal.SIGKILL)
        rebuilder.wait(10)
    pid = query(url, "SELECT rebuild_pid FROM follower_positions WHERE follower = 'wallet_balance@g2'")[0][0]

    # Then the live generation serves as it was, the live worker goes on,
    assert position(url, "wallet_balance@g2") < head(runtime), "the kill should land mid-way"
    assert serving_generation(url, "wallet_balance") == 1
    assert query(url, "SELECT * FROM wallet_balance ORDER BY wallet_id") == served
    more = open_wallets(runtime, 3)
    with psycopg.connect(url, autocommit=True) as conn:
        assert live.catch_up(conn) == 6
    # status names the unfinished rebuild once its process is gone,
    eventually(lambda: backend_gone(url, pid), timeout=30)
    with psycopg.connect(url, autocommit=True) as conn:
        [left] = rebuilds(conn)
    assert (left.read_model, left.generation, left.running) == ("wallet_balance", 2, False)
    shown = subprocess.run([*EVENTMART, "status"], env={**os.environ, **cli_env(url)},
                           capture_output=True, text=True, timeout=120)
    assert "wallet_balance         generation 2 (version 1) beside generation 1" in shown.stdout, shown.stdout
    assert "INTERRUPTED (eventmart rebuild wallet_balance starts it again)" in shown.stdout

    # and a second rebuild succeeds: it drops the unfinished generation and builds the next.
    again = subprocess.run([*EVENTMART, "rebuild", "wallet_balance"], env={**os.environ, **cli_env(url)},
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "rebuilt wallet_balance: 2006 events" in again.stdout and "generation 3 serves" in again.stdout
    assert serving_generation(url, "wallet_balance") == 3
    assert len(query(url, "SELECT * FROM wallet_balance")) == 1003
    assert {w.id for w in more} <= {r[0] for r in query(url, "SELECT wallet_id FROM wallet_balance")}
    assert query(url, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'wallet_balance_g%%'") == []
    assert query(url, "SELECT count(*) FROM follower_positions WHERE follower LIKE 'wallet_balance@%%'") == [(0,)]


def test_a_rebuild_killed_at_the_swap_leaves_the_live_model_serving(fresh: tuple[str, Runtime]) -> None:
    url, runtime = fresh
    # Given cart_view served at the head of its log,
    carts = save_carts(runtime, 20)
    live = projection_follower(runtime, cart_view.READ_MODEL)
    with psycopg.connect(url, autocommit=True) as conn:
        live.catch_up(conn)
    served = query(url, "SELECT * FROM cart_view ORDER BY cart_id")

    # When a rebuild has replayed everything and waits for the live worker's batch to end
    # (an open transaction holds the live position), and is killed there,
    with psycopg.connect(url) as holder:
        tracking.lock_position(holder, "cart_view", "commerce")
        rebuilder = eventmart("rebuild", "cart_view", env=cli_env(url))
        try:
            waiting = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND query LIKE 'SELECT position%% FROM follower_positions%%'")
            eventually(lambda: query(url, waiting) == [(1,)], timeout=60)
            assert position(url, "cart_view@g2") == head(runtime)
        finally:
            rebuilder.send_signal(signal.SIGKILL)
            rebuilder.wait(10)
        holder.rollback()

    # Then the live generation still serves, unchanged, and a second rebuild swaps in.
    eventually(lambda: query(url, waiting) == [(0,)], timeout=30)
    assert serving_generation(url, "cart_view") == 1
    assert query(url, "SELECT * FROM cart_view ORDER BY cart_id") == served
    done = rebuild(runtime, cart_view.READ_MODEL)
    assert done is not None and done.generation == 3
    assert cart_ids(url) == {c.id for c in carts}


def test_a_changed_version_is_rebuilt_once_in_the_background_while_the_old_one_serves(
    fresh: tuple[str, Runtime], postgres: str,
) -> None:
    url, runtime = fresh
    # Given cart_view at version 1, served and current,
    first = save_carts(runtime, 5)
    old_code = projection_follower(runtime, cart_view.READ_MODEL)
    with psycopg.connect(url, autocommit=True) as conn:
        old_code.catch_up(conn)

    # When code with cart_view at version 2 migrates (as `serve` does, rebuilding in the
    # background),
    bumped = dataclasses.replace(cart_view.READ_MODEL, version=2)
    models = {**READ_MODELS, "cart_view": bumped}
    done = migrate(runtime.settings, url, read_models=models, rebuild_stale=False)
    assert [m.name for m in done.stale] == ["cart_view"] and done.rebuilt == []
    # its live worker holds still: the serving tables are version 1's, not its own,
    new_code = projection_follower(runtime, bumped)
    second = save_carts(runtime, 2)
    with psycopg.connect(url, autocommit=True) as conn:
        assert new_code.step(conn) == 0
    assert position(url, "cart_view") == head(runtime) - 2
    assert cart_ids(url) == {c.id for c in first}

    # and two processes start at once, each with its background rebuilds,
    other = open_runtime(runtime.settings, database_url=url)
    try:
        starts = [BackgroundRebuilds(rt, done.stale) for rt in (runtime, other)]
        for s in starts:
            s.start()
        for s in starts:
            s.join(120)
    finally:
        other.close()

    # Then exactly one of them rebuilt and swapped it,
    assert sorted(starts[0].swapped + starts[1].swapped) == ["cart_view"]
    assert serving_generation(url, "cart_view") == 2
    assert query(url, "SELECT version FROM read_model_versions WHERE read_model = 'cart_view'") == [(2,)]
    assert cart_ids(url) == {c.id for c in first + second}
    assert position(url, "cart_view") == head(runtime)
    # the new code's worker goes on from there, and the old code's holds still.
    third = save_carts(runtime, 1)
    with psycopg.connect(url, autocommit=True) as conn:
        assert old_code.step(conn) == 0
        assert new_code.step(conn) == 1
    assert cart_ids(url) == {c.id for c in first + second + third}
    # Migrating again with the same code finds nothing stale, and older code (a process of the
    # previous release restarting) does not take the read model back to its version.
    assert migrate(runtime.settings, url, read_models=models).stale == []
    assert migrate(runtime.settings, url).stale == []
    assert serving_generation(url, "cart_view") == 2


def test_a_second_rebuild_is_refused_and_readyz_lists_the_one_in_progress(
    fresh: tuple[str, Runtime],
) -> None:
    url, runtime = fresh
    save_carts(runtime, 30)
    runtime.settings.worker_batch_size = 10
    paused = threading.Event()
    resume = threading.Event()

    def pause_once(reached: int, log_head: int) -> None:
        if not paused.is_set():
            paused.set()
            assert resume.wait(60)

    failures: list[BaseException] = []

    def first_rebuild() -> None:
        try:
            rebuild(runtime, cart_view.READ_MODEL, pause_once)
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    with TestClient(create_app(runtime, run_workers=True), raise_server_exceptions=False) as client:
        eventually(lambda: client.get("/readyz").status_code == 200, timeout=30)
        assert client.get("/readyz").json()["rebuilds"] == []
        # Given a rebuild of cart_view in progress (paused after its first batch),
        thread = threading.Thread(target=first_rebuild, daemon=True)
        thread.start()
        try:
            assert paused.wait(60)

            # When another is started, in this process or by the CLI, it is refused, naming it;
            with pytest.raises(RebuildRunning, match=r"a rebuild of cart_view is already running in "
                                                     r"another process \(generation 2, since .*, at position 10\)"):
                rebuild(runtime, cart_view.READ_MODEL)
            refused = subprocess.run([*EVENTMART, "rebuild", "cart_view"], env={**os.environ, **cli_env(url)},
                                     capture_output=True, text=True, timeout=120)
            assert refused.returncode == 1
            assert "error: a rebuild of cart_view is already running" in refused.stderr

            # and /readyz stays ready while listing it, as `eventmart status` does.
            ready = client.get("/readyz")
            assert ready.status_code == 200
            [listed] = ready.json()["rebuilds"]
            assert listed | {"started_at": None} == {
                "read_model": "cart_view", "application": "commerce", "generation": 2,
                "serving_generation": 1, "version": 1, "position": 10, "head": head(runtime),
                "started_at": None, "state": "running"}
            shown = subprocess.run([*EVENTMART, "status"], env={**os.environ, **cli_env(url)},
                                   capture_output=True, text=True, timeout=120)
            assert "rebuilds in progress" in shown.stdout
            assert f"cart_view              generation 2 (version 1) beside generation 1: position 10/{head(runtime)}" \
                in shown.stdout, shown.stdout
        finally:
            resume.set()
            thread.join(60)
        assert failures == []
        # Then, swapped, the rebuild is no longer listed.
        assert client.get("/readyz").json()["rebuilds"] == []
    assert serving_generation(url, "cart_view") == 2
