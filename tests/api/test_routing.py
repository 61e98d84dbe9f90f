"""A plain `def` endpoint makes one thread hand-off (api/routing.py): it runs in the thread
pool, and its answer is validated against the response model in the event loop."""

from __future__ import annotations

import inspect
import threading
from typing import Any

import fastapi.routing
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.routing import OneHandOffRoute, Router


class Out(BaseModel):
    n: int


def test_a_def_endpoint_runs_in_a_worker_thread_and_its_answer_is_validated_in_the_loop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a plain def endpoint on a router of the API's route class
    router = APIRouter(route_class=OneHandOffRoute)
    ran_in: list[str] = []

    @router.get("/n", response_model=Out, summary="a number")
    def number(n: int) -> dict[str, object]:
        """Its docstring."""
        ran_in.append(threading.current_thread().name)
        return {"n": n, "secret": "dropped by the response model"}

    app = FastAPI()
    app.include_router(router)
    hand_offs: list[str] = []
    original = fastapi.routing.run_in_threadpool

    async def counted(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        hand_offs.append(getattr(func, "__qualname__", repr(func)))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "run_in_threadpool", counted)
    with TestClient(app) as client:
        # When it is called
        answer = client.get("/n", params={"n": "7"})
        invalid = client.get("/n", params={"n": "seven"})
    # Then it ran once, off the event loop's thread, and FastAPI made no hand-off of its own
    # (neither for the endpoint nor for validating its answer), while still validating
    assert answer.status_code == 200 and answer.json() == {"n": 7}
    assert invalid.status_code == 422
    assert len(ran_in) == 1 and ran_in[0] != threading.main_thread().name
    assert hand_offs == []
    # and what FastAPI documents of it is the endpoint's own: name, summary, parameters
    operation = app.openapi()["paths"]["/n"]["get"]
    assert operation["summary"] == "a number" and operation["operationId"].startswith("number_")
    assert [p["name"] for p in operation["parameters"]] == ["n"]


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """The app's routes, those of included routers too (FastAPI keeps each included router
    whole, as `original_router`)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (included := getattr(route, "original_router", None)) is not None:
            found += api_routes(included.routes)
    return found


def test_every_endpoint_of_the_app_is_awaited_in_the_loop(app: FastAPI) -> None:
    """A router made without the route class would bring back the second hand-off."""
    routes = api_routes(app.routes)
    assert len(routes) > 100
    assert [r.path for r in routes if not inspect.iscoroutinefunction(r.dependant.call)] == []
    assert all(isinstance(r, OneHandOffRoute) for r in routes)


def test_a_router_turns_away_paths_none_of_its_routes_can_have_and_routes_the_rest_as_before(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two routers of the API's class, one whose routes share "/v1/things", one whose
    # routes share only "/"
    things, misc = Router(prefix="/v1/things"), Router()

    @things.get("/{thing_id}")
    def thing(thing_id: int) -> dict[str, int]:
        return {"thing": thing_id}

    @things.post("/")
    def make() -> dict[str, str]:
        return {"made": "yes"}

    @misc.get("/health")
    def health() -> dict[str, str]:
        return {"ok": "yes"}

    @misc.get("/v1/thingsandmore")
    def more() -> dict[str, str]:
        return {"more": "yes"}

    app = FastAPI()
    app.include_router(things)
    app.include_router(misc)
    assert things.shared_prefix() == "/v1/things/" and misc.shared_prefix() == "/"
    scanned: list[str] = []
    original = fastapi.routing.APIRouter.matches

    def counted(self, scope):  # type: ignore[no-untyped-def]
        scanned.append("things" if self is things else "misc")
        return original(self, scope)

    monkeypatch.setattr(fastapi.routing.APIRouter, "matches", counted)
    with TestClient(app) as client:
        # When paths inside and outside a router's shared prefix are asked for
        health_answer = client.get("/health")
        health_scans, scanned[:] = list(scanned), []
        assert client.get("/v1/things/7").json() == {"thing": 7}
        thing_scans = list(scanned)
        # Then the things router was not scanned for /health, and was for its own paths
        assert health_answer.json() == {"ok": "yes"} and health_scans == ["misc"]
        assert thing_scans == ["things"]
        # and everything else answers as FastAPI always did: a near miss of the prefix, a
        # method the path does not have (405), a trailing slash redirected, no route (404)
        assert client.get("/v1/thingsandmore").json() == {"more": "yes"}
        assert client.delete("/v1/things/7").status_code == 405
        redirected = client.get("/v1/things", follow_redirects=False)
        assert redirected.status_code == 307 and redirected.headers["location"].endswith("/v1/things/")
        assert client.get("/v2/nothing").status_code == 404


def test_every_router_of_the_app_turns_away_only_paths_its_routes_cannot_have(app: FastAPI) -> None:
    routers = [r.original_router for r in app.routes if hasattr(r, "original_router")]
    assert routers and all(isinstance(r, Router) for r in routers)
    for router in routers:
        prefix = router.shared_prefix()
        assert prefix.startswith("/")
        assert all(route.path.startswith(prefix) for route in router.routes)
