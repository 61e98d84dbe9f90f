"""Payment providers. The sandbox behaves like a real one, on this server: a hosted checkout
page with Pay and Fail buttons, and a signed webhook back to us."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any
from uuid import UUID

from domain.payments.application import Intent

SIGNATURE_HEADER = "X-Sandbox-Signature"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """Any malformed signature (absent, not ASCII, wrong length) is simply not valid."""
    if not signature or not signature.isascii():
        return False
    # Bytes: compare_digest refuses non-ASCII str with a TypeError, which must never be a 500.
    return hmac.compare_digest(sign(secret, body).encode(), signature.encode())


class SandboxProvider:
    name = "sandbox"

    def __init__(self, base_url: str, secret: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret

    def create_intent(self, payment_id: UUID, amount: int, currency: str, return_url: str) -> Intent:
        return Intent(provider_ref=f"sbx_{secrets.token_hex(8)}",
                      checkout_url=f"{self.base_url}/v1/payments/sandbox/{payment_id}/checkout")

    def refund(self, provider_ref: str, amount: int) -> str:
        return f"sbx_rf_{secrets.token_hex(8)}"

    def webhook(self, payment_id: UUID, outcome: str, reason: str = "") -> tuple[bytes, str]:
        """The notification the sandbox sends when the payer clicks Pay or Fail."""
        body: dict[str, Any] = {"id": f"evt_{secrets.token_hex(8)}", "type": f"payment.{outcome}",
                                "payment_id": str(payment_id), "reason": reason}
        raw = json.dumps(body).encode()
        return raw, sign(self.secret, raw)
