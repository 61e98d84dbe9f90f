"""`eventmart serve [--workers N]`: N API processes (1 by default) behind one listening
socket, and the log followers (projections, policies, the payment expiry sweep, the Kafka
relay) once, in the parent process.

uvicorn's process manager binds the socket, spawns the N processes (each builds its own
runtime and pools from `DATABASE_URL`, set here before they start) and restarts one that
dies. The followers stay out of the API processes, also for N = 1: in one process they
shared the GIL with the request threads, and under a saturating cart-add load the lag from
commit to read-model row was p99 105-152 ms there against 18-31 ms with the followers in a
process of their own (which also answered 436 cart adds/s at 16 clients against 336). N
copies of each follower would only take turns on their position's row lock, with N times the
connections and wake-ups for the same work, and a process busy with a rebuild batch would
answer requests late. On a 2-core machine `--workers 2` gives the API both cores, and the
followers then wait their turn behind it: more cart adds/s at 64 and 256 clients, but lag
p99 143-200 ms there against 28-38 ms with one API process (README, Benchmarks).
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
from collections.abc import Sequence
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from projections.read_model import ReadModel
from runtime.settings import Settings, get_settings

# Seconds an orphaned API process gives its requests in flight before it forces its exit.
GRACE_AFTER_PARENT_DIED = 10.0


def api_process() -> Any:
    """The app of one API process (uvicorn's `--factory` target): no followers here."""
    from api.app import create_app
    from api.logging import configure_logging
    from runtime import open_runtime

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    _end_with_parent()
    runtime = open_runtime(settings, database_url=os.environ["DATABASE_URL"])
    atexit.register(runtime.close)
    return create_app(runtime, run_workers=False)


def _end_with_parent() -> None:
    """The API process ends when the parent dies, also by SIGKILL or the OOM killer.

    uvicorn's supervisor stops its processes only when it is itself signalled to stop. Killed
    outright, it left its API process serving on the port with no followers (writes answered,
    read models frozen) and `eventmart serve` could not start again: "[Errno 98] Address
    already in use" until someone found the orphan. multiprocessing's spawn keeps a pipe from
    the parent open in the child (`parent_process().sentinel`); it reads EOF once every copy
    of the parent's end is closed, which the kernel does when the parent dies."""
    parent = multiprocessing.parent_process()
    if parent is None:  # not spawned by uvicorn's supervisor (e.g. `uvicorn --factory` by hand)
        return

    def watch(sentinel: int) -> None:
        multiprocessing.connection.wait([sentinel])
        # uvicorn's own handler: stop accepting, finish the requests in flight, run shutdown.
        os.kill(os.getpid(), signal.SIGTERM)
        # A request that never ends must not keep the port: SIGINT after a first signal is
        # uvicorn's "force exit" (a second SIGTERM is not).
        threading.Event().wait(GRACE_AFTER_PARENT_DIED)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, args=(parent.sentinel,), name="parent-watch",
                     daemon=True).start()


def _no_delay(transport: asyncio.Transport) -> None:
    """Nagle's algorithm off on an accepted connection.

    With `--workers N` uvicorn binds the listening socket itself with `proto` 0 (uvicorn issue
    #3149); accepted sockets inherit it, and asyncio sets TCP_NODELAY only on sockets whose
    `proto` is IPPROTO_TCP. A response's head and body then go out as two writes, the second
    held until the client's delayed ACK: about 40 ms per keep-alive request. Measured before
    this: the one-INSERT bench app answered 338 req/s at 16 clients in 2 processes against
    1,661 in 1 (p50 47 ms: each client waiting out a delayed ACK per request)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol on httptools (llhttp, in C), with Nagle off (`_no_delay`).

    httptools and uvloop (uvicorn's "standard" extras), against h11 and asyncio's own loop,
    measured in one interleaved run of `bench/http_bench.py` (cart add, 16 and 64 clients, 1
    and 2 API processes): the one-INSERT baseline app's server CPU per request 0.48-0.61 ms ->
    0.38-0.56 ms (+25% req/s at 16 clients), our API processes' 2.3-3.0 ms -> 2.0-2.9 ms."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _no_delay(transport)
        super().connection_made(transport)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {"log_config": None, "access_log": False, "server_header": False,
            # "auto": uvloop where it is installed (not on Windows), else asyncio's loop.
            "http": NoDelayHttpToolsProtocol, "loop": "auto",
            # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: we believe only the
            # proxies we are told about.
            "proxy_headers": bool(settings.trusted_proxies),
            "forwarded_allow_ips": settings.trusted_proxies or ""}


def serve_processes(settings: Settings, url: str, *, host: str, port: int, processes: int,
                    followers: bool, followers_url: str | None = None,
                    stale: Sequence[ReadModel] = ()) -> None:
    """Blocks until SIGINT/SIGTERM; then the API processes end, then the followers. The
    followers' process also rebuilds the `stale` read models (blue/green, in the background)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from runtime import open_runtime
    from workers import start_workers
    from workers.bluegreen import BackgroundRebuilds

    os.environ["DATABASE_URL"] = url  # the spawned API processes read it (embedded or given)
    runtime = open_runtime(settings, database_url=followers_url or url) if followers else None
    supervisor = start_workers(runtime) if runtime is not None else None
    background = BackgroundRebuilds(runtime, list(stale)).start() if runtime is not None else None
    try:
        config = uvicorn.Config("eventmart.serving:api_process", factory=True, workers=processes,
                                host=host, port=port, **uvicorn_options(settings))
        # uvicorn.run would serve N = 1 in this very process, beside the followers.
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    except KeyboardInterrupt:  # as uvicorn.run: the supervisor has stopped the API processes
        pass
    finally:
        if background is not None:
            background.stop()
        if supervisor is not None:
            supervisor.stop()
        if runtime is not None:
            runtime.close()
