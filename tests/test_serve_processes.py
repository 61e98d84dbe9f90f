"""`eventmart serve --workers 2`: two API processes answer on one port, and the log followers
run once, in the parent process, not in either API process."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import psycopg

from projections import tracking
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
