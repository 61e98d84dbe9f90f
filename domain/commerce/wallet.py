"""A consumer's wallet: money held for them, in minor units. Never negative.

Every movement is an event carrying the balance after it, so history and balance can be read
without arithmetic, and an auditor can check one against the other.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain, islice
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError
from domain.loading import shared_by_copies

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


@shared_by_copies
class KeyedDebits(Mapping[str, KeyedDebit]):
    """A wallet's keyed debits of the last DEBIT_KEY_RETENTION, by key, oldest first.

    Never changed once made, so the copies a command makes of its wallet (from the cache,
    and into it after the save) share it. A keyed debit makes a new one that copies only the
    newest debits (`recent`); once they outnumber the square root of the rest (`settled`),
    they join them, and what the retention has passed is dropped then. Until it is dropped,
    `horizon` hides it: a debit before it is forgotten. So a debit on a wallet holding n
    keys copies about 2 sqrt(n) entries instead of 2 n. With a dict, a debit took 1.4 ms of
    CPU on a wallet holding 1,000 keys and 8.4 ms at 20,000 (a wallet debited once a second
    holds 172,800); now 1.0 ms at both (with the snapshots it stores as rows, less often as
    it grows: EventMartApplication.snapshot_due).
    """

    __slots__ = ("settled", "recent", "horizon")

    def __init__(self, settled: Mapping[str, KeyedDebit], recent: Mapping[str, KeyedDebit],
                 horizon: datetime | None) -> None:
        self.settled = settled
        self.recent = recent
        self.horizon = horizon

    def __getitem__(self, key: str) -> KeyedDebit:
        found = self.recent.get(key)
        if found is None:
            found = self.settled[key]
        if not _remembered(found, self.horizon):
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[str]:
        for key, debit in chain(self.settled.items(), self.recent.items()):
            if _remembered(debit, self.horizon):
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @property
    def stored(self) -> int:
        """How many it holds, forgotten ones included: about what a snapshot stores."""
        return len(self.settled) + len(self.recent)

    def __repr__(self) -> str:
        return f"KeyedDebits({dict(self)!r})"

    def added(self, key: str, debit: KeyedDebit) -> KeyedDebits:
        horizon = self.horizon
        if debit.at is not None:
            # Never earlier than before: what one debit forgot stays forgotten.
            since = debit.at - DEBIT_KEY_RETENTION
            horizon = since if horizon is None else max(horizon, since)
        # A key debited again is one the wallet had forgotten (it refuses a remembered one):
        # its new debit goes last, where its time puts it, not where the old one stood.
        recent = dict(self.recent)
        recent.pop(key, None)
        recent[key] = debit
        if len(recent) ** 2 <= len(self.settled):
            return KeyedDebits(self.settled, recent, horizon)
        # Debits come oldest first: the forgotten ones lead, and the rest is copied at C speed.
        # One out of order (a clock set back) is hidden by the horizon until it leads.
        joined = chain(self.settled.items(), recent.items())
        forgotten = 0
        for oldest in chain(self.settled.values(), recent.values()):
            if _remembered(oldest, horizon):
                break
            forgotten += 1
        return KeyedDebits(dict(islice(joined, forgotten, None)), {}, horizon)

    # A snapshot stores the live debits as rows: [key, balance after, ISO time].
    def snapshot_data(self) -> dict[str, Any]:
        return {"horizon": None if self.horizon is None else self.horizon.isoformat(),
                "rows": [[key, debit.balance_after, None if debit.at is None else debit.at.isoformat()]
                         for key, debit in self.items()]}

    @classmethod
    def from_snapshot_data(cls, data: Mapping[str, Any]) -> KeyedDebits:
        horizon = data["horizon"]
        return cls({key: KeyedDebit(balance_after=balance_after,
                                    at=None if at is None else datetime.fromisoformat(at))
                    for key, balance_after, at in data["rows"]}, {},
                   None if horizon is None else datetime.fromisoformat(horizon))


EMPTY_KEYED_DEBITS = KeyedDebits({}, {}, None)


def _remembered(debit: KeyedDebit, horizon: datetime | None) -> bool:
    return horizon is None or (debit.at is not None and debit.at >= horizon)


class InsufficientFundsError(DomainError, title="Insufficient funds"): ...


def wallet_id_for(owner_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"eventmart:wallet:{owner_id}")


class Wallet(Aggregate):
    # v2: keyed debits are KeyedDebit values; v1 snapshots held dicts.
    # v3: they are one KeyedDebits (v2: a dict of them), stored as rows.
    class_version = 3

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        if "debit_keys" in state:
            state["debit_keys"] = {k: KeyedDebit(**v) for k, v in state["debit_keys"].items()}

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        if "debit_keys" in state:
            # A v2 state forgot what its last debit's retention had passed: nothing to hide.
            state["debit_keys"] = KeyedDebits(state["debit_keys"], {}, None)

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

    def _debit_keys(self) -> KeyedDebits:
        # Set lazily: wallets snapshotted before keyed debits have no such attribute.
        keys: KeyedDebits = self.__dict__.get("debit_keys", EMPTY_KEYED_DEBITS)
        return keys

    @property
    def snapshot_rows(self) -> int:
        """What its state holds that grows with its history (the application snapshots a
        wallet less often as it grows)."""
        return self._debit_keys().stored + len(self.loads)

    def keyed_debit(self, key: str) -> KeyedDebit | None:
        """What the debit made under this idempotency claim did."""
        return self._debit_keys().get(key)

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
            self.debit_keys = self._debit_keys().added(
                key, KeyedDebit(balance_after=balance_after, at=timestamp))
