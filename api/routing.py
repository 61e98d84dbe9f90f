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
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool


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
    """Every router of the API uses it (`APIRouter(route_class=OneHandOffRoute)`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, in_the_thread_pool(endpoint), **kwargs)
