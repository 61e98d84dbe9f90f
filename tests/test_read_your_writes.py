"""A read waits until its read model has passed the user's last write: every event of the
log at or below that write's id, whatever order the transactions committed in."""

from __future__ import annotations

import threading
import uuid

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from api.app import create_app
from projections import cart_view, tracking
from runtime import Runtime
from tests.support.runtimes import own_runtime
from tests.support.users import PASSWORD, random_email
from workers.projection import rebuild

FOLLOWER = "ryw_probe"


def a_write(runtime: Runtime) -> int:
    """A real event in the commerce log (a wallet credit); its id."""
    wallet = runtime.commerce.wallet(uuid.uuid4())
    wallet.credit(100, kind="adjustment", reference=f"test:{uuid.uuid4()}")
    recordings = runtime.commerce.save(wallet)
    return recordings[-1].notification.id


def probe(runtime: Runtime, name: str, position: int) -> None:
    with runtime.pool.connection() as conn:
        tracking.ensure_follower(conn, name, "commerce")
        tracking.set_position(conn, name, "commerce", position)


def test_a_read_waits_until_the_read_model_has_the_users_last_write(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a probe follower at the start of the log and two writes of the user
    user = uuid.uuid4()
    first, last = a_write(runtime), a_write(runtime)
    probe(runtime, FOLLOWER, 0)
    with runtime.pool.connection() as conn:
        tracking.record_write(conn, user, "commerce", last)
        tracking.record_write(conn, user, "commerce", first)  # never moves backwards

    # When the user reads: watch each check, and move the probe past the last write only
    # once a check found it behind
    seen: list[bool] = []
    behind = threading.Event()
    check = tracking.caught_up

    def watched(conn: Connection, follower: str, application: str, position: int) -> bool:
        done = check(conn, follower, application, position)
        if follower == FOLLOWER:
            seen.append(done)
            if not done:
                behind.set()
        return done

    def catch_up_once_it_waits() -> None:
        if behind.wait(timeout=30):
            with runtime.pool.connection() as c:
                tracking.set_position(c, FOLLOWER, "commerce", last)

    monkeypatch.setattr(tracking, "caught_up", watched)
    mover = threading.Thread(target=catch_up_once_it_waits)
    mover.start()
    with runtime.pool.connection() as conn:
        assert tracking.wait_for_user_writes(conn, user, FOLLOWER, "commerce", timeout=30)
    mover.join()

    # Then it waited, and returned only once the probe had passed the write
    assert behind.is_set(), "it never found the follower behind the write: it did not wait"
    assert seen[0] is False and seen[-1] is True, "it returned before the read model caught up"


def test_a_follower_between_the_writes_has_not_caught_up(runtime: Runtime) -> None:
    first, last = a_write(runtime), a_write(runtime)
    probe(runtime, FOLLOWER + "_mid", first)
    with runtime.pool.connection() as conn:
        assert tracking.caught_up(conn, FOLLOWER + "_mid", "commerce", first)
        assert not tracking.caught_up(conn, FOLLOWER + "_mid", "commerce", last)


def test_the_wait_is_bounded(runtime: Runtime) -> None:
    user = uuid.uuid4()
    written = a_write(runtime)
    probe(runtime, FOLLOWER + "_stuck", 0)
    with runtime.pool.connection() as conn:
        tracking.record_write(conn, user, "commerce", written)
        assert not tracking.wait_for_user_writes(conn, user, FOLLOWER + "_stuck", "commerce", 0.2)


def test_a_user_without_writes_does_not_wait(runtime: Runtime) -> None:
    with runtime.pool.connection() as conn:
        assert tracking.wait_for_user_writes(conn, uuid.uuid4(), "cart_view", "commerce", 0)


def test_a_write_for_everyone_is_awaited_by_every_reader(runtime: Runtime) -> None:
    """An offer made by an admin: any customer's next read of a commerce view waits for it."""
    written = a_write(runtime)
    probe(runtime, FOLLOWER + "_all", 0)
    with runtime.pool.connection() as conn:
        tracking.record_write(conn, tracking.EVERYONE, "commerce", written)
        assert not tracking.wait_for_user_writes(conn, uuid.uuid4(), FOLLOWER + "_all", "commerce", 0.1)
        tracking.set_position(conn, FOLLOWER + "_all", "commerce", written)
        assert tracking.wait_for_user_writes(conn, uuid.uuid4(), FOLLOWER + "_all", "commerce", 0.1)


def polls_of_the_wait(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The positions a wait polls for, in order (each poll checks the follower once)."""
    polls: list[int] = []
    check = tracking.caught_up

    def counted(conn: Connection, follower: str, application: str, position: int) -> bool:
        polls.append(position)
        return check(conn, follower, application, position)

    monkeypatch.setattr(tracking, "caught_up", counted)
    return polls


@pytest.mark.parametrize("stopped", ["on an event it cannot handle", "silent"])
def test_a_read_does_not_wait_for_a_follower_that_has_stopped(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch, stopped: str) -> None:
    """A wait holds the request's connection, one of the few a process admits at once."""
    # Given a write of the user that a follower behind it will not reach: it stopped
    user, name = uuid.uuid4(), f"{FOLLOWER}_stopped_{uuid.uuid4().hex[:6]}"
    written = a_write(runtime)
    probe(runtime, name, 0)
    with runtime.pool.connection() as conn:
        tracking.record_write(conn, user, "commerce", written)
        if stopped == "silent":
            conn.execute("UPDATE follower_positions SET heartbeat_at = now() - make_interval(secs => %s) "
                         "WHERE follower=%s", (tracking.STOPPED_AFTER_SECONDS + 5, name))
        else:
            tracking.record_error(conn, name, "commerce", "ValueError: bad",
                                  poison={"position": written, "type": "X", "error": "bad"})
    polls = polls_of_the_wait(monkeypatch)
    # When the user reads with a long wait allowed
    with runtime.pool.connection() as conn:
        caught_up = tracking.wait_for_user_writes(conn, user, name, "commerce", timeout=600)
    # Then the read goes on without the write, without polling for it
    assert not caught_up and polls == []


def test_a_read_waits_for_a_follower_that_beats_even_when_it_is_behind(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    user, name = uuid.uuid4(), f"{FOLLOWER}_beating_{uuid.uuid4().hex[:6]}"
    written = a_write(runtime)
    probe(runtime, name, 0)  # beats now, behind the write
    with runtime.pool.connection() as conn:
        tracking.record_write(conn, user, "commerce", written)
    polls = polls_of_the_wait(monkeypatch)
    with runtime.pool.connection() as conn:
        assert not tracking.wait_for_user_writes(conn, user, name, "commerce", timeout=0.05)
    assert polls and set(polls) == {written}


def test_a_read_whose_view_is_behind_the_users_write_says_so(postgres: str) -> None:
    # Given a customer who has opened a cart, and the cart view's follower stopped before it
    with own_runtime(postgres) as rt:
        client = TestClient(create_app(rt), raise_server_exceptions=False)
        email = random_email()
        client.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert client.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
        opened = client.post("/v1/carts")
        assert opened.status_code == 201, opened.text
        written = rt.commerce.recorder.max_notification_id()
        with rt.pool.connection() as conn:
            tracking.ensure_follower(conn, "cart_view", "commerce")
            tracking.record_error(conn, "cart_view", "commerce", "ValueError: bad",
                                  poison={"position": written, "type": "X", "error": "bad"})
        # When the customer reads the cart
        behind = client.get(f"/v1/carts/{opened.json()['id']}")
        # Then the answer (from the cart itself) says that the view is behind their write
        assert behind.status_code == 200, behind.text
        assert behind.headers["x-read-model-behind"] == "cart_view"
        # And once the view has the write, the answer no longer says so
        rebuild(rt, cart_view.READ_MODEL)
        current = client.get(f"/v1/carts/{opened.json()['id']}")
        assert current.status_code == 200 and "x-read-model-behind" not in current.headers
        assert current.json() == behind.json()
