"""The Payments context: payment intents with a provider behind an interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.payments.allowance import LoadAllowance, allowance_id
from domain.payments.payment import Payment, PaymentNotFoundError, PaymentStateError, ProviderError
from domain.saving import EventMartApplication, Saved, retry_on_conflict

PAYMENT_TTL = timedelta(minutes=15)
WALLET_LOAD = "wallet_load"


@dataclass(frozen=True)
class LoadLimits:
    per_load: int
    daily: int


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
    # A payment sees a webhook per provider retry and a refund per request: unbounded, so
    # loads go through a snapshot. An allowance takes an event per load of its day.
    snapshotting_intervals = {Payment: 25, LoadAllowance: 25}
    not_found_errors = {Payment: PaymentNotFoundError}

    def __init__(self, env: dict[str, str] | None = None, *, provider: PaymentProvider | None = None,
                 new_id: Callable[[], UUID] = uuid4) -> None:
        super().__init__(env)
        self.provider = provider
        self.new_id = new_id

    def payment(self, payment_id: UUID) -> Payment:
        return self.get(payment_id, Payment)

    def allowance(self, customer_id: str, day: str) -> LoadAllowance:
        """The customer's wallet-load allowance for that UTC day (a fresh one if none yet)."""
        return self._get(allowance_id(customer_id, day), LoadAllowance) or LoadAllowance(
            customer_id=customer_id, day=day)

    def may_still_load(self, customer_id: UUID, now: datetime) -> bool:
        """Whether a wallet load this customer asked for may still be paid: one was asked for
        on a UTC day a payment started now or PAYMENT_TTL ago falls on. Its money would land
        in their wallet (a change of role must not leave it behind a 403)."""
        days = {(at.astimezone(UTC).date().isoformat()) for at in (now - PAYMENT_TTL, now)}
        return any(self._get(allowance_id(str(customer_id), day), LoadAllowance) is not None
                   for day in days)

    def find(self, payment_id: UUID) -> Payment | None:
        return self._get(payment_id, Payment)

    def start(self, *, order_id: UUID, customer_id: UUID, amount: int, currency: str,
              return_url: str, now: datetime, purpose: str = "order",
              limits: LoadLimits | None = None, payment_id: UUID | None = None) -> Saved[Payment]:
        """Asks the provider for a checkout first: if it fails, nothing is recorded.

        With a `payment_id` (an idempotency claim's), once: a payment already started under
        it is the answer, and the provider is asked again only if nothing was saved (the
        provider's intent is per payment id).

        A wallet load (`limits` given) also takes its amount from the customer's allowance for
        the UTC day of `now`, in the same atomic save as the payment: a load the limits refuse
        raises LoadLimitError before the provider is asked, and records nothing."""
        if self.provider is None:
            raise ProviderError("no payment provider is configured")
        if purpose == WALLET_LOAD and limits is None:
            raise ValueError("a wallet load needs its limits")
        payment_id = payment_id or self.new_id()
        intents: list[Intent] = []
        day = now.astimezone(UTC).date().isoformat() if limits is not None else ""
        return self._open(payment_id, intents, order_id=order_id, customer_id=customer_id,
                          amount=amount, currency=currency, return_url=return_url, now=now,
                          purpose=purpose, limits=limits, day=day)

    @retry_on_conflict
    def _open(self, payment_id: UUID, intents: list[Intent], *, order_id: UUID, customer_id: UUID,
              amount: int, currency: str, return_url: str, now: datetime, purpose: str,
              limits: LoadLimits | None, day: str) -> Saved[Payment]:
        """One attempt; a lost race on the allowance reloads it and decides again, reusing the
        provider's intent (one checkout per payment id)."""
        assert self.provider is not None
        if (started := self.find(payment_id)) is not None:
            if started.customer_id != str(customer_id):
                raise PaymentStateError("this payment id is taken")
            return Saved(started, self.log_head())
        changed: list[Aggregate] = []
        if limits is not None:
            allowance = self.allowance(str(customer_id), day)
            allowance.take(str(payment_id), amount, per_load_limit=limits.per_load,
                           daily_limit=limits.daily)
            changed.append(allowance)
        if not intents:
            intents.append(self.provider.create_intent(payment_id, amount, currency, return_url))
        intent = intents[0]
        payment = Payment._create(
            Payment.Created, id=payment_id, purpose=purpose, order_id=str(order_id),
            customer_id=str(customer_id),
            amount=amount, currency=currency, provider=self.provider.name,
            provider_ref=intent.provider_ref, checkout_url=intent.checkout_url,
            return_url=return_url, expires_at=now + PAYMENT_TTL, allowance_day=day,
        )
        return Saved(payment, self.save_all(payment, *changed))

    def _load_allowance(self, payment: Payment) -> LoadAllowance | None:
        if payment.purpose != WALLET_LOAD or not payment.allowance_day:
            return None
        return self.allowance(payment.customer_id, payment.allowance_day)

    def load_admitted(self, payment_id: UUID) -> bool:
        """Whether a succeeded wallet load counts within its day's allowance (credit it) or
        came in late over the limit (refund it). Loads from before allowances: admitted."""
        payment = self.payment(payment_id)
        allowance = self._load_allowance(payment)
        return allowance is None or allowance.holds(str(payment_id))

    @retry_on_conflict
    def record_outcome(self, payment_id: UUID, *, succeeded: bool, provider_event: str,
                       reason: str = "") -> Saved[Payment]:
        """A wallet load's allowance changes in the same save: a failure frees what the load
        held; a late success (after failing or expiring) takes it again if it still fits."""
        payment = self.payment(payment_id)
        allowance = self._load_allowance(payment)
        if succeeded:
            if payment.succeed(provider_event) and allowance is not None:
                allowance.retake(str(payment_id), payment.amount)
        elif payment.fail(reason or "declined") and allowance is not None:
            allowance.release(str(payment_id), "failed")
        return Saved(payment, self.save_all(payment, *([allowance] if allowance else [])))

    @retry_on_conflict
    def expire(self, payment_id: UUID, now: datetime) -> Saved[Payment]:
        payment = self.payment(payment_id)
        allowance = self._load_allowance(payment)
        if payment.expire(now) and allowance is not None:
            allowance.release(str(payment_id), "expired")
        return Saved(payment, self.save_all(payment, *([allowance] if allowance else [])))

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
