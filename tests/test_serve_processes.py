"""`eventmart serve --workers 2`: two API processes answer on one port, and the log followers
run once, in the parent process, not in either API process; on the socket the process manager
binds, connections have Nagle's algorithm off."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn

from eventmart.serving import NoDelayHttpToolsProtocol, uvicorn_options
from projections import tracking
from runtime.settings import Settings
from tests.infra import free_port, fresh_database
from tests.support.cli import eventmart
from tests.support.users import PASSWORD
from tests.support.waiting import eventually


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def projected(url: str, follower: str, application: str) -> bool:
    """The follower has passed every event of its log so far."""
    with psycopg.connect(url, autocommit=True) as conn:
        head = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {application}_events").fetchone()
        assert head is not None
        caught_up = getattr(tracking, "caught_up", None)  # a log read in transaction order
        if caught_up is not None:
            return bool(caught_up(conn, follower, application, int(head[0])))
        return tracking.position_of(conn, follower, application) >= int(head[0])


def test_two_api_processes_serve_and_the_followers_run_once(postgres: str, tmp_path: Path) -> None:
    with fresh_database(postgres) as url:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = eventmart("serve", "--workers", "2", "--port", str(port), env={
            "DATABASE_URL": url, "EVENTMART_DATA_DIR": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "",
            "LOG_LEVEL": "WARNING", "PASSWORD_HASH_MEMORY_KIB": "1024"})
        try:
            eventually(lambda: ready(base), timeout=120, interval=0.2)  # every follower beats
            answered: dict[int, bool] = {}

            def both_processes_answered() -> bool:
                body = httpx.get(f"{base}/healthz", timeout=5).json()  # a new connection each
                answered[body["process"]["pid"]] = body["process"]["workers"]
                return len(answered) >= 2

            eventually(both_processes_answered, timeout=60, interval=0)
            assert server.pid not in answered, "the parent only supervises and follows"
            assert set(answered.values()) == {False}, "no API process runs the followers"

            with httpx.Client(base_url=base, timeout=10) as vendor:
                email = f"vendor-{port}@example.com"
                assert vendor.post("/auth/register", json={
                    "email": email, "password": PASSWORD, "role": "vendor"}).status_code == 201
                assert vendor.post("/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
                shop = vendor.post("/v1/vendor/shops", json={
                    "name": "Two Process Grocery", "city": "Pune", "society": "Serve Park",
                    "shop_type": "grocery"})
                assert shop.status_code == 201, shop.text
                # The followers (of the parent process) project it: the vendor's list shows it.
                eventually(lambda: projected(url, "catalog_search", "catalog"), timeout=30)
                listed = vendor.get("/v1/vendor/shops").json()
                assert [s["id"] for s in listed["results"]] == [shop.json()["id"]]
        finally:
            server.send_signal(signal.SIGINT)
            code = server.wait(60)
        assert code == 0


class NoDelaySeen(NoDelayHttpToolsProtocol):
    """Notes the TCP_NODELAY of every connection it accepts, after the protocol set it up."""

    seen: list[int] = []

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        NoDelaySeen.seen.append(transport.get_extra_info("socket").getsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY))


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})


def test_connections_to_a_socket_uvicorn_binds_have_nagle_off() -> None:
    # `--workers N` hands each API process the listener of Config.bind_socket(): given that
    # socket, a server with our options answers with TCP_NODELAY on (uvicorn's own protocol
    # leaves it off there; see eventmart/serving.py _no_delay).
    NoDelaySeen.seen.clear()
    options = {**uvicorn_options(Settings()), "http": NoDelaySeen}
    config = uvicorn.Config(hello, host="127.0.0.1", port=free_port(), lifespan="off", **options)
    listener = config.bind_socket()
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        eventually(lambda: server.started, timeout=30)
        with httpx.Client(base_url=f"http://127.0.0.1:{config.port}", timeout=10) as client:
            assert [client.get("/").text for _ in range(2)] == ["hello", "hello"]
        assert NoDelaySeen.seen == [1]  # one keep-alive connection, Nagle off
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its new parent has not reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_an_api_process_ends_when_its_parent_is_killed(postgres: str, tmp_path: Path) -> None:
    # Given `eventmart serve` answering from its API process
    with fresh_database(postgres) as url:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {"DATABASE_URL": url, "EVENTMART_DATA_DIR": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "",
               "LOG_LEVEL": "WARNING", "PASSWORD_HASH_MEMORY_KIB": "1024"}
        server = eventmart("serve", "--port", str(port), env=env)
        orphans: list[int] = []
        try:
            eventually(lambda: ready(base), timeout=120, interval=0.2)
            api_pid = httpx.get(f"{base}/healthz", timeout=5).json()["process"]["pid"]
            assert api_pid != server.pid
            orphans.append(api_pid)
            # When the parent is killed outright (no signal handler runs, as by the OOM killer)
            server.kill()
            server.wait(30)
            # Then its API process ends too, and `eventmart serve` can take the port again
            eventually(lambda: gone(api_pid), timeout=60, interval=0.1)
            again = eventmart("serve", "--no-migrate", "--port", str(port), env=env)
            try:
                eventually(lambda: ready(base), timeout=120, interval=0.2)
                assert httpx.get(f"{base}/healthz", timeout=5).json()["process"]["pid"] != api_pid
            finally:
                again.send_signal(signal.SIGINT)
                assert again.wait(60) == 0
        finally:
            if server.poll() is None:
                server.kill()
                server.wait(30)
            for pid in orphans:  # should the test fail, it leaves no server behind
                if not gone(pid):
                    os.kill(pid, signal.SIGKILL)


def _server_that_never_answers(port: int, arrived: Any) -> None:
    """An API process (spawned, as uvicorn's supervisor spawns them) whose one route never
    returns: only a forced exit ends it."""
    import eventmart.serving as serving

    serving.GRACE_AFTER_PARENT_DIED = 0.5
    serving._end_with_parent()

    async def never(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            arrived.set()
            await asyncio.Event().wait()

    uvicorn.run(never, host="127.0.0.1", port=port, lifespan="off", log_config=None)


def _supervisor(port: int, pids: Any, arrived: Any) -> None:
    child = multiprocessing.get_context("spawn").Process(target=_server_that_never_answers,
                                                         args=(port, arrived))
    child.start()
    pids.put(child.pid)
    child.join()


def test_an_orphaned_api_process_with_a_request_that_never_ends_still_exits() -> None:
    # Given an API process whose supervisor will die, serving a request that never ends
    port = free_port()
    spawn = multiprocessing.get_context("spawn")
    pids, arrived = spawn.Queue(), spawn.Event()
    supervisor = spawn.Process(target=_supervisor, args=(port, pids, arrived))
    supervisor.start()
    api_pid = pids.get(timeout=120)
    try:
        eventually(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, timeout=120, interval=0.05)
        stuck: list[BaseException] = []

        def request() -> None:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=300)
            except httpx.HTTPError as error:
                stuck.append(error)

        waiting = threading.Thread(target=request, daemon=True)
        waiting.start()
        assert arrived.wait(60), "the request reached the API process"
        # When the supervisor is killed outright
        assert supervisor.pid is not None
        os.kill(supervisor.pid, signal.SIGKILL)
        supervisor.join(30)
        # Then the API process ends anyway (graceful first, then forced), and the stuck
        # request is cut off rather than kept
        eventually(lambda: gone(api_pid), timeout=60, interval=0.05)
        waiting.join(60)
        assert stuck and not waiting.is_alive()
    finally:
        if not gone(api_pid):
            os.kill(api_pid, signal.SIGKILL)
