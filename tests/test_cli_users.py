from __future__ import annotations

import subprocess

from fastapi.testclient import TestClient

from tests.support.cli import EVENTMART
from tests.support.users import PASSWORD, random_email, random_phone


def run(settings, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    import os

    env = {**os.environ, "DATABASE_URL": settings.database_url, "LOG_LEVEL": "WARNING"}
    return subprocess.run([*EVENTMART, "users", "create", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_admin_made_on_the_command_line_can_sign_in(settings, anonymous: TestClient) -> None:  # type: ignore[no-untyped-def]
    email = random_email()
    done = run(settings, "--role", "admin", "--email", email, "--password", PASSWORD)
    assert done.returncode == 0, done.stderr
    assert "created admin" in done.stdout
    r = anonymous.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200 and r.json()["role"] == "admin"


def test_auditor_by_phone_signs_in_with_otp(settings, anonymous: TestClient) -> None:  # type: ignore[no-untyped-def]
    phone = random_phone()
    assert run(settings, "--role", "auditor", "--phone", phone).returncode == 0
    code = anonymous.post("/api/v1/send-otp", json={"phone": phone}).json()["debug_otp"]
    r = anonymous.post("/api/v1/verify-otp", json={"phone": phone, "otp": code})
    assert r.json()["user"]["role"] == "auditor"


def test_bad_input_is_refused(settings) -> None:  # type: ignore[no-untyped-def]
    assert run(settings, "--role", "emperor", "--email", random_email(), "--password", PASSWORD).returncode != 0
    not_an_email = run(settings, "--role", "admin", "--email", "notanemail", "--password", PASSWORD)
    assert not_an_email.returncode == 2 and "email" in not_an_email.stderr
    weak = run(settings, "--role", "admin", "--email", random_email(), "--password", "short")
    assert weak.returncode == 1 and "password" in weak.stderr
    email = random_email()
    assert run(settings, "--role", "support", "--email", email, "--password", PASSWORD).returncode == 0
    again = run(settings, "--role", "support", "--email", email, "--password", PASSWORD)
    assert again.returncode == 1 and "already exists" in again.stderr
