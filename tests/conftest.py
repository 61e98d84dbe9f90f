from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from eventmart.migrations import migrate
from identity.users import create_user
from runtime import Runtime, open_runtime
from runtime.settings import Settings
from tests.infra import fresh_database, kafka_broker, postgres_server
from tests.support.clock import Clock
from tests.support.settings import make_settings
from tests.support.users import PASSWORD, random_email, random_phone
from workers import start_workers

_OWN_BASETEMP = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """A temp base of this run's own. Under pytest's shared default (/tmp/pytest-of-USER) a
    run cleans up the oldest numbered bases as it starts, which can be those of suites still
    running beside it (seen: `initdb: Permission denied` when several suites ran at once)."""
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="eventmart-pytest-")
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(_OWN_BASETEMP, None)
    if own is not None:
        shutil.rmtree(own, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fuzz (tests/test_fuzz.py) runs last: what it creates (shops, offers, categories)
    must not surprise tests that count things."""
    items.sort(key=lambda item: item.get_closest_marker("fuzz") is not None)


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    with kafka_broker() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def database_url(postgres: str) -> Iterator[str]:
    with fresh_database(postgres) as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, kafka: str) -> Settings:
    return make_settings(database_url, kafka_bootstrap_servers=kafka)


@pytest.fixture(scope="session")
def runtime(settings: Settings) -> Iterator[Runtime]:
    assert settings.database_url
    migrate(settings, settings.database_url)
    rt = open_runtime(settings, database_url=settings.database_url, clock=Clock())
    supervisor = start_workers(rt)
    yield rt
    supervisor.stop()
    rt.close()


@pytest.fixture(scope="session")
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime)


@pytest.fixture
def anonymous(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def new_client(app: FastAPI) -> Callable[..., TestClient]:
    """A signed-in client (session cookie) for a brand-new user."""

    def make(role: str = "customer") -> TestClient:
        client = TestClient(app, raise_server_exceptions=False)
        email = random_email()
        r = client.post("/auth/register", json={"email": email, "password": PASSWORD, "role": role})
        assert r.status_code == 201, r.text
        r = client.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        client.user = r.json()  # type: ignore[attr-defined]
        return client

    return make


@pytest.fixture
def product(runtime: Runtime) -> dict[str, object]:
    """A fresh product with two variants, priced in paise."""
    product_id = uuid.uuid4()
    runtime.catalog.list_product(
        product_id=product_id,
        name="Darjeeling Tea",
        slug=f"darjeeling-{product_id.hex[:8]}",
        category="groceries",
        variants=[
            {"sku": "DJ-100", "name": "100 g", "price": 19950, "currency": "INR"},
            {"sku": "DJ-500", "name": "500 g", "price": 89900, "currency": "INR"},
        ],
    )
    return {"id": str(product_id), "skus": {"DJ-100": 19950, "DJ-500": 89900}}


@pytest.fixture
def clock(runtime: Runtime) -> Iterator[Clock]:
    """The runtime's clock, to move forward instead of sleeping; reset after the test."""
    assert isinstance(runtime.clock, Clock)
    yield runtime.clock
    runtime.clock.reset()


@pytest.fixture
def phone_client(app: FastAPI) -> Callable[..., TestClient]:
    """A client signed in by phone OTP (bearer token) for a brand-new user."""

    def make(phone: str | None = None) -> TestClient:
        client = TestClient(app, raise_server_exceptions=False)
        phone = phone or random_phone()
        sent = client.post("/api/v1/send-otp", json={"phone": phone})
        assert sent.status_code == 200, sent.text
        r = client.post("/api/v1/verify-otp", json={"phone": phone, "otp": sent.json()["debug_otp"]})
        assert r.status_code == 200, r.text
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        client.tokens = r.json()  # type: ignore[attr-defined]
        client.user = r.json()["user"]  # type: ignore[attr-defined]
        client.phone = phone  # type: ignore[attr-defined]
        return client

    return make


@pytest.fixture
def staff_client(app: FastAPI, runtime: Runtime) -> Callable[[str], TestClient]:
    """A signed-in client for a role that only `eventmart users create` can make."""

    def make(role: str) -> TestClient:
        email = random_email()
        with runtime.pool.connection() as conn:
            create_user(conn, role=role, email=email, password_hash=runtime.passwords.hash(PASSWORD),
                        now=runtime.clock())
        client = TestClient(app, raise_server_exceptions=False)
        r = client.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        client.user = r.json()  # type: ignore[attr-defined]
        return client

    return make
