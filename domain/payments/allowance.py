"""A customer's wallet-load allowance for one day: the per-load and daily limits as an
aggregate invariant.

One aggregate per customer per UTC day (its id derives from both). A wallet-load Payment is
saved in the same atomic save as the `Taken` event that makes room for it, so under
optimistic concurrency two loads racing for the last of the day's allowance cannot both pass:
the loser's save conflicts, it reloads, and the invariant refuses it.

    take     a new load: amount <= per-load limit and held + amount <= daily limit, or refused
    release  the load failed or expired: its amount is free again (once; idempotent)
    retake   a released load succeeded after all (the provider took the money late): it is
             held again if it still fits, else recorded as over the limit (and refunded)
"""

from __future__ import annotations

from datetime import date
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError


class LoadLimitError(DomainError, title="Wallet load limit"): ...


def allowance_id(customer_id: UUID | str, day: date | str) -> UUID:
    day_text = day.isoformat() if isinstance(day, date) else day
    return uuid5(NAMESPACE_URL, f"eventmart:wallet-load-allowance:{customer_id}:{day_text}")


class LoadAllowance(Aggregate):
    class Opened(Aggregate.Created):
        customer_id: str
        day: str  # ISO date (UTC) of the loads it counts

    class Taken(Aggregate.Event):
        payment_id: str
        amount: int
        daily_limit: int  # the limit this load was checked against

    class Released(Aggregate.Event):
        payment_id: str
        amount: int
        reason: str

    class OverLimit(Aggregate.Event):
        payment_id: str
        amount: int

    @staticmethod
    def create_id(customer_id: str, day: str) -> UUID:
        return allowance_id(customer_id, day)

    @event(Opened)
    def __init__(self, customer_id: str, day: str) -> None:
        self.customer_id = customer_id
        self.day = day
        self.held: dict[str, int] = {}  # payment id -> amount, loads that count today
        self.over_limit: dict[str, int] = {}  # late successes that did not fit
        self.daily_limit: int | None = None

    @property
    def used(self) -> int:
        return sum(self.held.values())

    def holds(self, payment_id: str) -> bool:
        return payment_id in self.held

    def left(self, daily_limit: int) -> int:
        return max(0, daily_limit - self.used)

    def take(self, payment_id: str, amount: int, *, per_load_limit: int, daily_limit: int) -> None:
        if payment_id in self.held:
            return
        if amount <= 0:
            raise LoadLimitError("a load must be positive", field="amount")
        if amount > per_load_limit:
            raise LoadLimitError(f"at most {per_load_limit} per load", field="amount")
        if self.used + amount > daily_limit:
            raise LoadLimitError(
                f"loads are limited to {daily_limit} per day (UTC); {self.left(daily_limit)} "
                f"left today", field="amount")
        self._taken(payment_id=payment_id, amount=amount, daily_limit=daily_limit)

    @event(Taken)
    def _taken(self, payment_id: str, amount: int, daily_limit: int) -> None:
        self.held[payment_id] = amount
        self.daily_limit = daily_limit

    def release(self, payment_id: str, reason: str) -> bool:
        """False when this load holds nothing (already released, or never taken)."""
        if payment_id not in self.held:
            return False
        self._released(payment_id=payment_id, amount=self.held[payment_id], reason=reason)
        return True

    @event(Released)
    def _released(self, payment_id: str, amount: int, reason: str) -> None:
        del self.held[payment_id]

    def retake(self, payment_id: str, amount: int) -> bool:
        """A load succeeded: True when it counts within today's limit (credit it), False when
        it no longer fits (the money goes back). Decided once per load."""
        if payment_id in self.held:
            return True
        if payment_id in self.over_limit:
            return False
        if self.daily_limit is not None and self.used + amount > self.daily_limit:
            self._over_limit(payment_id=payment_id, amount=amount)
            return False
        self._taken(payment_id=payment_id, amount=amount,
                    daily_limit=self.daily_limit if self.daily_limit is not None else amount)
        return True

    @event(OverLimit)
    def _over_limit(self, payment_id: str, amount: int) -> None:
        self.over_limit[payment_id] = amount
