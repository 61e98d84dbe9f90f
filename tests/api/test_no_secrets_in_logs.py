"""Issue 12: no OTP code, token or whole phone number in any log line, in any mode."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from adapters.sms import LoggingSmsSender, NoSmsSender, sms_sender
from runtime.settings import Settings
from tests.support.users import random_phone


def test_a_whole_phone_sign_in_logs_no_secret(anonymous, caplog) -> None:  # type: ignore[no-untyped-def]
    phone = random_phone()
    with caplog.at_level(logging.DEBUG):
        sent = anonymous.post("/api/v1/send-otp", json={"phone": phone})
        code = sent.json()["debug_otp"]
        tokens = anonymous.post("/api/v1/verify-otp", json={"phone": phone, "otp": code}).json()
        refreshed = anonymous.post("/api/v1/token/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
    text = "\n".join(r.getMessage() for r in caplog.records) + "\n".join(str(r.args) for r in caplog.records)
    assert any("ending " + phone[-2:] in r.getMessage() for r in caplog.records), "the send is still logged"
    for secret in (code, phone, phone[1:], tokens["access_token"], tokens["refresh_token"],
                   refreshed["access_token"], refreshed["refresh_token"]):
        assert secret not in text


def test_prod_needs_an_sms_sender_chosen(tmp_path) -> None:  # type: ignore[no-untyped-def]
    prod = {"env": "prod", "secret_key": "s" * 40, "data_dir": tmp_path}
    with pytest.raises(ValidationError, match="SMS_SENDER"):
        Settings(**prod)  # type: ignore[arg-type]
    assert Settings(**prod, sms_sender="none").sms_sender == "none"  # type: ignore[arg-type]


def test_senders_by_name() -> None:
    assert isinstance(sms_sender(None), LoggingSmsSender)
    assert isinstance(sms_sender("none"), NoSmsSender)
    assert isinstance(sms_sender("adapters.sms:NoSmsSender"), NoSmsSender)
    with pytest.raises(ValueError):
        sms_sender("nonsense")
