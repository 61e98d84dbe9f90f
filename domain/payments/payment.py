"""A payment intent for an order, and what the provider told us about it.

    pending --succeed--> succeeded --refund--> (partly or fully) refunded
    pending --fail--> failed
    pending --expire--> expired
    failed|expired --succeed--> succeeded   (the provider took the money after all: record it;
                                             the order policy pays the order or refunds it)

Provider notifications can arrive twice or late: a repeated one changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import ConflictError, DomainError, NotFoundError


class PaymentNotFoundError(NotFoundError, title="Payment not found"): ...


class PaymentStateError(ConflictError, title="Payment state"): ...


class ProviderError(Exception):
    """The payment provider failed or timed out; nothing was recorded, retry is safe."""


class Payment(Aggregate):
    class Created(Aggregate.Created):
        class_version = 2

        purpose: str  # "order", or "wallet_load" (then order_id names the load)
        order_id: str
        customer_id: str
        amount: int
        currency: str
        provider: str
        provider_ref: str
        checkout_url: str
        return_url: str
        expires_at: datetime
        allowance_day: str = ""  # wallet loads: the UTC day whose LoadAllowance counts it; else ""

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["allowance_day"] = ""  # loads before allowances: no allowance to release

    class Succeeded(Aggregate.Event):
        purpose: str
        order_id: str
        customer_id: str
        amount: int
        provider_event: str

    class Failed(Aggregate.Event):
        order_id: str
        reason: str

    class Expired(Aggregate.Event):
        order_id: str

    class Refunded(Aggregate.Event):
        order_id: str
        amount: int
        reference: str
        request_id: str
        settles_order: bool  # False: money that never reached the order goes back

    @event(Created)
    def __init__(self, purpose: str, order_id: str, customer_id: str, amount: int, currency: str,
                 provider: str, provider_ref: str, checkout_url: str, return_url: str,
                 expires_at: datetime, allowance_day: str = "") -> None:
        self.purpose = purpose
        self.order_id = order_id
        self.customer_id = customer_id
        self.amount = amount
        self.currency = currency
        self.provider = provider
        self.provider_ref = provider_ref
        self.checkout_url = checkout_url
        self.return_url = return_url
        self.expires_at = expires_at
        self.allowance_day = allowance_day
        self.status = "pending"
        self.refunded = 0
        self.provider_events: set[str] = set()
        self.refund_requests: set[str] = set()

    def succeed(self, provider_event: str) -> bool:
        """Returns False when this was already known (a replayed notification)."""
        if self.status == "succeeded" or provider_event in self.provider_events:
            return False
        self._succeeded(purpose=self.purpose, order_id=self.order_id, customer_id=self.customer_id,
                        amount=self.amount, provider_event=provider_event)
        return True

    @event(Succeeded)
    def _succeeded(self, purpose: str, order_id: str, customer_id: str, amount: int,
                   provider_event: str) -> None:
        self.status = "succeeded"
        self.provider_events.add(provider_event)

    def fail(self, reason: str) -> bool:
        if self.status in ("failed", "expired"):
            return False
        if self.status != "pending":
            raise PaymentStateError(f"payment is {self.status}; it cannot fail now")
        self._failed(order_id=self.order_id, reason=reason)
        return True

    @event(Failed)
    def _failed(self, order_id: str, reason: str) -> None:
        self.status = "failed"

    def expire(self, now: datetime) -> bool:
        if self.status != "pending" or now < self.expires_at:
            return False
        self._expired(order_id=self.order_id)
        return True

    @event(Expired)
    def _expired(self, order_id: str) -> None:
        self.status = "expired"

    def check_refund(self, amount: int, request_id: str) -> bool:
        """False when this request was already refunded; raises when it cannot be."""
        if request_id in self.refund_requests:
            return False
        if self.status != "succeeded":
            raise PaymentStateError(f"only a succeeded payment can be refunded; this one is {self.status}")
        if amount <= 0 or amount > self.amount - self.refunded:
            raise DomainError(f"refundable: {self.amount - self.refunded}", field="amount")
        return True

    def refund(self, amount: int, *, reference: str, request_id: str, settles_order: bool) -> None:
        if self.check_refund(amount, request_id):
            self._refunded(order_id=self.order_id, amount=amount, reference=reference,
                           request_id=request_id, settles_order=settles_order)

    @event(Refunded)
    def _refunded(self, order_id: str, amount: int, reference: str, request_id: str,
                  settles_order: bool) -> None:
        self.refunded += amount
        self.refund_requests.add(request_id)
