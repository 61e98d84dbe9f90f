"""Workers under faults: a poison event stops only its worker, named in status and /readyz,
until an operator's skip; a rebuild honours the skip; /readyz notices a dead policy; the
restart back-off resets after a success."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import typer
from fastapi.testclient import TestClient

from api.app import create_app
from domain.commerce.cart import Cart
from eventmart.cli import record_skip
from projections import cart_view, tracking
from runtime import Runtime
from tests.support.cli import EVENTMART
from tests.support.db import follower_position as position
from tests.support.db import query
from tests.support.poison import poisoned
from tests.support.runtimes import own_runtime
from tests.support.waiting import eventually
from workers import build_followers, worker_names
from workers.health import worker_states
from workers.log_follower import FIRST_PAUSE, MAX_PAUSE, EventFailed, Supervisor
from workers.projection import projection_follower, rebuild


@pytest.fixture
def fresh(postgres: str) -> Iterator[tuple[str, Runtime]]:
    """A database of its own: these tests stop workers the shared one relies on."""
    with own_runtime(postgres) as runtime:
        yield runtime.database_url, runtime


def status(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": "", "LOG_LEVEL": "WARNING"}
    return subprocess.run([*EVENTMART, "status"], env=env, capture_output=True, text=True, timeout=120)


def save_carts(runtime: Runtime, n: int) -> list[Cart]:
    carts = [Cart(owner_id=str(uuid.uuid4()), currency="INR") for _ in range(n)]
    runtime.commerce.save(*carts)
    return carts


def head(runtime: Runtime) -> int:
    return runtime.commerce.recorder.max_notification_id() or 0


def query_skips(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return tracking.skips(conn)


def cart_ids(url: str) -> set[uuid.UUID]:
    return {r[0] for r in query(url, "SELECT cart_id FROM cart_view")}


def test_a_poison_event_stops_only_its_worker_until_skipped_and_rebuilds_skip_it(
    fresh: tuple[str, Runtime],
) -> None:
    url, runtime = fresh
    # Given carts, one of which cart_view cannot apply, in the middle of the log.
    before = save_carts(runtime, 5)
    bad = Cart(owner_id=str(uuid.uuid4()), currency="INR")
    runtime.commerce.save(bad)
    bad_position = head(runtime)
    after = save_carts(runtime, 5)
    end = head(runtime)
    model = poisoned(cart_view.READ_MODEL, bad.id)

    # When every worker runs, cart_view with the poison.
    followers = [*build_followers(runtime, [n for n in worker_names(runtime) if n != "cart_view"]),
                 projection_follower(runtime, model)]
    supervisor = Supervisor(followers, park_poll=0.05)
    supervisor.start()
    app = TestClient(create_app(runtime), raise_server_exceptions=False)
    try:
        # Then cart_view stops on that event, naming it, after applying everything before it
        # (the batch was retried event by event)...
        with psycopg.connect(url, autocommit=True) as conn:
            poison = eventually(lambda: tracking.poison_of(conn, "cart_view", "commerce"), timeout=60)
        assert poison["position"] == bad_position
        assert poison["aggregate_id"] == str(bad.id) and poison["version"] == 1
        assert poison["type"] == "domain.commerce.cart:Cart.Opened"
        assert poison["error"] == f"ValueError: cannot apply {bad.id}"
        assert position(url, "cart_view") == bad_position - 1
        assert cart_ids(url) == {c.id for c in before}
        # ...while the other workers go on.
        eventually(lambda: position(url, "order_history") == end and position(url, "wallet_balance") == end)

        # /readyz is 503 and says why: cart_view alone (once every other worker has beaten).
        def only_cart_view_down() -> Any:
            r = app.get("/readyz")
            down = [k for k, w in r.json()["workers"].items() if w["state"] != "running"]
            return r.status_code == 503 and down == ["cart_view"] and r

        r = eventually(only_cart_view_down, timeout=30)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert f"cart_view stopped on the event at position {bad_position}" in r.json()["detail"]
        assert str(bad.id) in r.json()["detail"] and "ValueError" in r.json()["detail"]
        assert r.json()["workers"]["cart_view"]["poison"]["position"] == bad_position
        assert r.json()["workers"]["order_payments"]["state"] == "running"
        # and so does `eventmart status`, with what to do about it.
        shown = status(url)
        assert shown.returncode == 1, shown.stdout + shown.stderr
        line = next(ln for ln in shown.stdout.splitlines() if ln.startswith("cart_view "))
        assert "STOPPED" in line and f"position={bad_position - 1}" in line
        assert str(bad.id) in shown.stdout
        assert f"eventmart worker cart_view --skip {bad_position}" in shown.stdout

        # When an operator skips it (what `eventmart worker cart_view --skip P` records first),
        decision = record_skip(["cart_view"], bad_position, "NUL in a name; fixed by issue 12",
                               "tester", None, url)
        assert decision["decided_by"] == "tester" and decision["aggregate_id"] == bad.id

        # Then the stopped worker goes on past it, and everything is well again.
        eventually(lambda: position(url, "cart_view") == end, timeout=30)
        # (A skip of an event it has already applied is refused: later rebuilds would drop
        # what the serving read model holds.)
        with pytest.raises(typer.BadParameter, match="already applied the event at position"):
            record_skip(["cart_view"], bad_position - 1, "a mistake", "tester", None, url)
        assert [s["position"] for s in query_skips(url)] == [bad_position]
        assert cart_ids(url) == {c.id for c in before + after}
        assert eventually(lambda: app.get("/readyz").status_code == 200, timeout=30)
        shown = status(url)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert f"cart_view/commerce position {bad_position}" in shown.stdout
        assert "by tester" in shown.stdout and "NUL in a name; fixed by issue 12" in shown.stdout

        # And a rebuild passes over the skipped event too (without the skip it would raise
        # EventFailed, see below). The live cart_view worker may take some of the replay's
        # batches, so the rebuild's own count is at most the head; the position says it all.
        assert rebuild(runtime, model) <= end
        assert position(url, "cart_view") == end
        assert cart_ids(url) == {c.id for c in before + after}
    finally:
        supervisor.stop()


def test_without_a_skip_a_rebuild_stops_on_the_poison_event_naming_it(
    fresh: tuple[str, Runtime],
) -> None:
    url, runtime = fresh
    save_carts(runtime, 3)
    bad = Cart(owner_id=str(uuid.uuid4()), currency="INR")
    runtime.commerce.save(bad)
    bad_position = head(runtime)
    save_carts(runtime, 3)
    with pytest.raises(EventFailed) as failed:
        rebuild(runtime, poisoned(cart_view.READ_MODEL, bad.id))
    assert failed.value.position == bad_position and failed.value.aggregate_id == str(bad.id)
    # The new generation stopped just before it; the serving one is untouched.
    assert position(url, "cart_view@g2") == bad_position - 1
    assert position(url, "cart_view") == 0


def test_status_shows_a_rebuild_in_progress(fresh: tuple[str, Runtime]) -> None:
    url, _ = fresh
    with psycopg.connect(url, autocommit=True) as rebuilder, psycopg.connect(url, autocommit=True) as conn:
        tracking.start_rebuild(rebuilder, "cart_view", "commerce")
        states = {s.key: s for s in worker_states(conn, [("cart_view", "commerce")])}
        assert states["cart_view"].rebuilding_since is not None
        tracking.end_rebuild(rebuilder, "cart_view", "commerce")
        states = {s.key: s for s in worker_states(conn, [("cart_view", "commerce")])}
        assert states["cart_view"].rebuilding_since is None


def test_readyz_goes_503_when_a_policy_worker_dies(fresh: tuple[str, Runtime]) -> None:
    url, runtime = fresh
    with TestClient(create_app(runtime, run_workers=True), raise_server_exceptions=False) as client:
        eventually(lambda: client.get("/readyz").status_code == 200, timeout=30)
        supervisor = client.app.state.supervisor  # type: ignore[attr-defined]
        policy = next(f for f in supervisor.followers if f.label == "order_payments/payments")
        thread = next(t for t in supervisor.threads if t.name == policy.label)

        # When the order_payments thread stops in this process, readiness says so at once.
        policy.stop()
        thread.join(10)
        r = client.get("/readyz")
        assert r.status_code == 503
        assert "in-process worker order_payments/payments has stopped" in r.json()["detail"]

        # Seen from another process (no supervisor to ask), its heartbeat goes stale: here
        # 60 s pass without one, as nothing beats for it any more.
        query(url, "UPDATE follower_positions SET heartbeat_at = now() - interval '60 seconds' "
                   "WHERE follower = 'order_payments'")
        other = TestClient(create_app(runtime), raise_server_exceptions=False)
        r = other.get("/readyz")
        assert r.status_code == 503
        assert r.json()["detail"].startswith("order_payments is not running (last heartbeat 60s ago")
        assert r.json()["workers"]["order_payments"]["kind"] == "policy"
        assert r.json()["workers"]["payment_expiry"]["state"] == "running"


class FakeWorker:
    """Fails on cue; between failures, `progress` says whether a run succeeded first."""

    label = follower = "fake"
    application = "commerce"
    database_url = "postgresql://127.0.0.1:1/none"  # recording the error fails quickly

    def __init__(self, script: list[bool], supervisor: Supervisor) -> None:
        self.script = script  # per run: True = some success before the failure
        self.supervisor = supervisor
        self.successes = 0

    def run(self) -> None:
        if not self.script:
            self.supervisor.stopping.set()
            return
        if self.script.pop(0):
            self.successes += 1
        raise ConnectionResetError("glitch")

    def stop(self) -> None:
        pass


class RecordedWaits:
    def __init__(self) -> None:
        self.waits: list[float] = []
        self.flag = False

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return self.flag

    def is_set(self) -> bool:
        return self.flag

    def set(self) -> None:
        self.flag = True


def test_back_off_grows_while_failing_and_resets_after_a_success() -> None:
    supervisor = Supervisor([])
    waits = RecordedWaits()
    supervisor.stopping = waits  # type: ignore[assignment]
    supervisor._record = lambda *a, **k: None  # type: ignore[method-assign]
    worker = FakeWorker([False] * 6 + [True, False, True], supervisor)
    supervisor._keep_running(worker)  # type: ignore[arg-type]
    assert waits.waits == [FIRST_PAUSE, 1.0, 2.0, 4.0, MAX_PAUSE, MAX_PAUSE,
                           FIRST_PAUSE, 1.0, FIRST_PAUSE]
    assert MAX_PAUSE <= 5.0
