"""Text messages out: the port OTP sign-in sends through, and the senders SMS_SENDER picks."""

from __future__ import annotations

import importlib
import logging
from typing import Protocol

log = logging.getLogger(__name__)


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class LoggingSmsSender:
    """The dev provider: logs that a message went, never what it said (it holds a sign-in
    code) nor the whole number (personal data). Dev mode returns the code as `debug_otp`."""

    def send(self, phone: str, text: str) -> None:
        log.info("SMS to a number ending %s (%d characters, not logged)", phone[-2:], len(text))


class NoSmsSender:
    """SMS_SENDER=none: phone sign-in codes are not delivered at all."""

    def send(self, phone: str, text: str) -> None:
        pass


def sms_sender(spec: str | None) -> SmsSender:
    """`log`, `none`, or `package.module:ClassName` (constructed with no arguments; read its
    own credentials from the environment)."""
    if spec in (None, "", "log"):
        return LoggingSmsSender()
    if spec == "none":
        return NoSmsSender()
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"SMS_SENDER {spec!r}: use log, none or package.module:ClassName")
    sender: SmsSender = getattr(importlib.import_module(module), name)()
    return sender
