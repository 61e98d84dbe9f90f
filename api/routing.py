"""How the API's plain `def` endpoints run: in the thread pool, with their answer validated
and serialized in the event loop.

FastAPI runs a `def` endpoint in the thread pool and then validates its answer against the
response model in the thread pool again: two thread hand-offs, each a wait for a worker
thread while the request holds its database permit (api/db.py), and anyio's cancel scope,
capacity limiter and queue each time. Presented as a coroutine that awaits the endpoint in
the thread pool, the endpoint makes one: FastAPI then validates in the loop, as for any
`async def`. (Two A/B runs: wallet reads 0.36-0.38 -> 0.40 of the baseline, cart adds
0.14-0.16 -> 0.15-0.17; CPU per request alike. README, Benchmarks.)
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute, APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match, get_route_path
from starlette.types import Scope


def in_the_thread_pool(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """`endpoint` as a coroutine function that runs it in the thread pool; anything else
    (a coroutine function, a generator, a class) as it is."""
    if not inspect.isfunction(endpoint) or inspect.iscoroutinefunction(endpoint) \
            or inspect.isgeneratorfunction(endpoint) or inspect.isasyncgenfunction(endpoint):
        return endpoint

    # functools.wraps keeps the name, docstring and signature (through __wrapped__) that
    # FastAPI reads for parameters, dependencies and the OpenAPI document.
    @functools.wraps(endpoint)
    async def awaited(**values: Any) -> Any:
        return await run_in_threadpool(endpoint, **values)

    return awaited


class OneHandOffRoute(APIRoute):
    """The route class of every router of the API (`Router`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, in_the_thread_pool(endpoint), **kwargs)


class Router(APIRouter):
    """Every router of the API: its routes make one hand-off (`OneHandOffRoute`), and a request
    whose path cannot be one of its routes is turned away with one string comparison.

    FastAPI tries a request against each included router in turn, and each router against
    each of its routes, with a regular expression and bookkeeping in the scope per route:
    over the app's 30 routers and 123 routes that was 17% of the CPU of a wallet read
    (py-spy, in-process). Every path a router serves starts with the static part its routes'
    paths share (up to the first `{`), so any other path is no match. Routers are included
    without a prefix of their own (api/app.py): the paths checked are the routes' own.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(route_class=OneHandOffRoute, **kwargs)
        self._shared: tuple[int, str] = (-1, "")  # (routes seen, the prefix they share)

    def shared_prefix(self) -> str:
        """What every path of this router's routes starts with (recomputed as routes are added)."""
        if self._shared[0] != len(self.routes):
            paths = [getattr(r, "path", "").split("{", 1)[0] for r in self.routes]
            self._shared = (len(self.routes), os.path.commonprefix(paths) if paths else "")
        return self._shared[1]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and not get_route_path(scope).startswith(self.shared_prefix()):
            return Match.NONE, {}
        return super().matches(scope)
