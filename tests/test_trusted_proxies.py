"""Issue 12: X-Forwarded-For is believed only from TRUSTED_PROXIES (none by default), so a
client cannot dodge the per-IP limits by writing the header itself."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.infra import free_port, fresh_database
from tests.support.cli import eventmart
from tests.support.waiting import eventually


def alive(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def second_otp_from_another_forwarded_address(postgres: str, tmp_path: Path, trusted: str) -> int:
    with fresh_database(postgres) as url:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = eventmart("serve", "--port", str(port), "--no-workers", env={
            "DATABASE_URL": url, "EVENTMART_DATA_DIR": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "",
            "OTP_SENDS_PER_IP_PER_HOUR": "1", "TRUSTED_PROXIES": trusted, "LOG_LEVEL": "WARNING"})
        try:
            eventually(lambda: alive(base), timeout=90, interval=0.2)
            first = httpx.post(f"{base}/api/v1/send-otp", json={"phone": "+919800000001"},
                               headers={"X-Forwarded-For": "203.0.113.1"})
            assert first.status_code == 200, first.text
            assert "server" not in first.headers, "no server banner"
            return httpx.post(f"{base}/api/v1/send-otp", json={"phone": "+919800000002"},
                              headers={"X-Forwarded-For": "203.0.113.2"}).status_code
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)


@pytest.mark.parametrize(("trusted", "expected"), [("", 429), ("127.0.0.1", 200)])
def test_forwarded_for_counts_only_from_trusted_proxies(postgres: str, tmp_path: Path, trusted: str,
                                                        expected: int) -> None:
    assert second_otp_from_another_forwarded_address(postgres, tmp_path, trusted) == expected
