"""A consumer's wallet: money held for them, in minor units. Never negative.

Every movement is an event carrying the balance after it, so history and balance can be read
without arithmetic, and an auditor can check one against the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError

# A keyed debit's outcome is kept this long after it: longer than an Idempotency-Key is kept
# (24 h, adapters/idempotency_store.py), so a retried request always finds its debit, and the
# wallet's state stays as small as its last two days instead of growing with every debit.
DEBIT_KEY_RETENTION = timedelta(hours=48)

CREDIT_KINDS = ("load", "refund", "adjustment")
DEBIT_KINDS = ("debit", "order", "adjustment")


@dataclass(frozen=True)
class KeyedDebit:
    """What a debit made under an idempotency claim did."""

    balance_after: int
    at: datetime | None  # the debit event's time


class InsufficientFundsError(DomainError, title="Insufficient funds"): ...


def wallet_id_for(owner_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"eventmart:wallet:{owner_id}")


class Wallet(Aggregate):
    # v2: keyed debits are KeyedDebit values; v1 snapshots held dicts.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        if "debit_keys" in state:
            state["debit_keys"] = {k: KeyedDebit(**v) for k, v in state["debit_keys"].items()}

    class Opened(Aggregate.Created):
        owner_id: str
        currency: str

    class Credited(Aggregate.Event):
        amount: int
        kind: str
        reference: str
        balance_after: int

    class Debited(Aggregate.Event):
        amount: int
        kind: str
        reference: str
        balance_after: int
        key: str | None = None  # the request's idempotency claim; events before it have none

    @staticmethod
    def create_id(owner_id: str) -> UUID:
        return wallet_id_for(UUID(owner_id))

    @event(Opened)
    def __init__(self, owner_id: str, currency: str) -> None:
        self.owner_id = owner_id
        self.currency = currency
        self.balance = 0
        self.loads: set[str] = set()

    def credit(self, amount: int, *, kind: str, reference: str) -> None:
        if kind == "load" and reference in self.loads:
            return  # the same payment reported again: credited once
        if not isinstance(amount, int) or amount <= 0:
            raise DomainError("amount must be a positive integer in minor units", field="amount")
        if kind not in CREDIT_KINDS:
            raise DomainError(f"unknown credit kind {kind!r}")
        self._credited(amount=amount, kind=kind, reference=reference,
                       balance_after=self.balance + amount)

    @event(Credited)
    def _credited(self, amount: int, kind: str, reference: str, balance_after: int) -> None:
        self.balance = balance_after
        if kind == "load":
            self.loads.add(reference)

    def keyed_debit(self, key: str) -> KeyedDebit | None:
        """What the debit made under this idempotency claim did."""
        found: KeyedDebit | None = self.__dict__.get("debit_keys", {}).get(key)
        return found

    def debit(self, amount: int, *, kind: str, reference: str, key: str | None = None) -> None:
        """With a `key`, once: a second debit with the same key changes nothing (the
        caller reads the first one's outcome from `keyed_debit`)."""
        if key is not None and self.keyed_debit(key) is not None:
            return
        if not isinstance(amount, int) or amount <= 0:
            raise DomainError("amount must be a positive integer in minor units", field="amount")
        if kind not in DEBIT_KINDS:
            raise DomainError(f"unknown debit kind {kind!r}")
        if amount > self.balance:
            raise InsufficientFundsError(
                f"wallet balance {self.balance} is less than {amount}", field="amount")
        self._debited(amount=amount, kind=kind, reference=reference,
                      balance_after=self.balance - amount, key=key)

    @event(Debited)
    def _debited(self, amount: int, kind: str, reference: str, balance_after: int,
                 key: str | None = None, timestamp: datetime | None = None) -> None:
        self.balance = balance_after
        if key is not None:
            # Set lazily: wallets snapshotted before keyed debits have no such attribute.
            keys: dict[str, KeyedDebit] = self.__dict__.setdefault("debit_keys", {})
            keys[key] = KeyedDebit(balance_after=balance_after, at=timestamp)
            if timestamp is not None:
                # Oldest first (the order they were applied in): a replay forgets the same.
                horizon = timestamp - DEBIT_KEY_RETENTION
                while keys:
                    oldest = next(iter(keys))
                    at = keys[oldest].at
                    if at is not None and at >= horizon:
                        break
                    del keys[oldest]
