"""The Payments context: payment intents with a provider behind an interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from domain.payments.payment import Payment, PaymentNotFoundError, ProviderError
from domain.saving import EventMartApplication, Saved, retry_on_conflict

PAYMENT_TTL = timedelta(minutes=15)


@dataclass(frozen=True)
class Intent:
    provider_ref: str
    checkout_url: str


class PaymentProvider(Protocol):
    name: str

    def create_intent(self, payment_id: UUID, amount: int, currency: str, return_url: str) -> Intent:
        """Raises ProviderError when the provider fails or times out."""

    def refund(self, provider_ref: str, amount: int) -> str:
        """Returns the provider's refund reference; raises ProviderError."""


class PaymentsApplication(EventMartApplication):
    name = "payments"

    def __init__(self, env: dict[str, str] | None = None, *, provider: PaymentProvider | None = None,
                 new_id: Callable[[], UUID] = uuid4) -> None:
        super().__init__(env)
        self.provider = provider
        self.new_id = new_id

    def payment(self, payment_id: UUID) -> Payment:
        try:
            found: Payment = self.repository.get(payment_id)
        except AggregateNotFoundError:
            raise PaymentNotFoundError(f"payment {payment_id} not found") from None
        return found

    def start(self, *, order_id: UUID, customer_id: UUID, amount: int, currency: str,
              return_url: str, now: datetime, purpose: str = "order") -> Saved[Payment]:
        """Asks the provider for a checkout first: if it fails, nothing is recorded."""
        if self.provider is None:
            raise ProviderError("no payment provider is configured")
        payment_id = self.new_id()
        intent = self.provider.create_intent(payment_id, amount, currency, return_url)
        payment = Payment._create(
            Payment.Created, id=payment_id, purpose=purpose, order_id=str(order_id),
            customer_id=str(customer_id),
            amount=amount, currency=currency, provider=self.provider.name,
            provider_ref=intent.provider_ref, checkout_url=intent.checkout_url,
            return_url=return_url, expires_at=now + PAYMENT_TTL,
        )
        return Saved(payment, self.save_all(payment))

    @retry_on_conflict
    def record_outcome(self, payment_id: UUID, *, succeeded: bool, provider_event: str,
                       reason: str = "") -> Saved[Payment]:
        payment = self.payment(payment_id)
        if succeeded:
            payment.succeed(provider_event)
        else:
            payment.fail(reason or "declined")
        return Saved(payment, self.save_all(payment))

    @retry_on_conflict
    def expire(self, payment_id: UUID, now: datetime) -> Saved[Payment]:
        payment = self.payment(payment_id)
        payment.expire(now)
        return Saved(payment, self.save_all(payment))

    @retry_on_conflict
    def refund(self, payment_id: UUID, amount: int, *, request_id: str,
               settles_order: bool) -> Saved[Payment]:
        """Refunds through the provider, once per request id (policies may ask twice).
        A provider failure leaves the payment as it was, to be retried."""
        payment = self.payment(payment_id)
        if not payment.check_refund(amount, request_id):
            return Saved(payment, None)
        if self.provider is None:
            raise ProviderError("no payment provider is configured")
        reference = self.provider.refund(payment.provider_ref, amount)
        payment.refund(amount, reference=reference, request_id=request_id,
                       settles_order=settles_order)
        return Saved(payment, self.save_all(payment))
