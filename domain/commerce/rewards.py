"""Loyalty points: earned on delivered orders, reversed on returns, reserved against the cart
and redeemed at order confirmation as a discount.

Conversion (README): 1 point per ₹1 of a delivered order's total (per 100 paise, configurable),
1 point = 10 paise off. Tiers by points earned over time."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError

POINT_VALUE = 10  # paise off per point
# The default tier ladder; deployments set their own with REWARD_TIERS (README).
TIERS: tuple[tuple[str, int], ...] = (("bronze", 0), ("silver", 500), ("gold", 2000), ("platinum", 5000))


class NotEnoughPointsError(DomainError, title="Not enough points"): ...


def points_kept(earned: int, goods: int, returned: int) -> int:
    """The points an order that earned `earned` on goods worth `goods` keeps once goods worth
    `returned` have come back."""
    return earned * max(0, goods - returned) // goods


def ledger_id_for(owner_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"eventmart:rewards:{owner_id}")


def parse_tiers(text: str) -> tuple[tuple[str, int], ...]:
    """``"bronze:0,silver:500"`` -> ladder; the first tier starts at 0, floors strictly rise."""
    tiers: list[tuple[str, int]] = []
    for part in text.split(","):
        name, sep, floor = part.strip().partition(":")
        if not sep or not name.strip() or not floor.strip().isdigit():
            raise ValueError(f"a tier is NAME:POINTS, got {part.strip()!r}")
        tiers.append((name.strip(), int(floor)))
    if tiers[0][1] != 0:
        raise ValueError("the first tier must start at 0 points")
    if any(b[1] <= a[1] for a, b in zip(tiers, tiers[1:], strict=False)):
        raise ValueError("tier floors must strictly rise")
    if len({name for name, _ in tiers}) != len(tiers):
        raise ValueError("tier names must differ")
    return tuple(tiers)


def tier_of(lifetime: int, tiers: tuple[tuple[str, int], ...] = TIERS) -> tuple[str, str | None, int]:
    """(tier, next tier, points to it) for points earned over time."""
    reached = [i for i, (_, floor) in enumerate(tiers) if lifetime >= floor]
    i = reached[-1] if reached else 0
    if i + 1 == len(tiers):
        return tiers[i][0], None, 0
    name, floor = tiers[i + 1]
    return tiers[i][0], name, floor - lifetime


class RewardLedger(Aggregate):
    class Opened(Aggregate.Created):
        owner_id: str

    class Earned(Aggregate.Event):
        order_id: str
        points: int

    class Reversed(Aggregate.Event):
        # v2: `lifetime`, the points the return takes off the lifetime total (tiers count
        # points earned on goods kept). v1 reversals left it alone.
        class_version = 2
        reference: str  # the return
        points: int  # taken off the balance: at most what it held
        lifetime: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["lifetime"] = 0

    class Reserved(Aggregate.Event):
        points: int

    class ReservationReleased(Aggregate.Event):
        points: int

    class Redeemed(Aggregate.Event):
        order_id: str
        points: int

    class Restored(Aggregate.Event):
        order_id: str
        points: int

    class Unspent(Aggregate.Event):
        """Points spent on an order that its confirmed modification no longer needed: the
        discount could not be more than the smaller order's goods."""

        order_id: str
        points: int

    class ReturnRestored(Aggregate.Event):
        """Points spent on an order, given back for goods of it that came back."""

        order_id: str
        reference: str  # the return
        points: int

    @staticmethod
    def create_id(owner_id: str) -> UUID:
        return ledger_id_for(UUID(owner_id))

    @event(Opened)
    def __init__(self, owner_id: str) -> None:
        self.owner_id = owner_id
        self.balance = 0
        self.lifetime = 0
        self.reserved = 0
        self.earned_orders: dict[str, int] = {}
        self.redeemed_orders: dict[str, int] = {}
        self.reversals: set[str] = set()

    @property
    def snapshot_rows(self) -> int:
        """What its state holds that grows with its history: the orders it earned on,
        redeemed for and reversed (the application snapshots a ledger less often as it grows)."""
        return len(self.earned_orders) + len(self.redeemed_orders) + len(self.reversals)

    @property
    def available(self) -> int:
        return self.balance - self.reserved

    def earn(self, order_id: str, points: int) -> None:
        if points > 0 and order_id not in self.earned_orders:
            self._earned(order_id=order_id, points=points)

    @event(Earned)
    def _earned(self, order_id: str, points: int) -> None:
        self.earned_orders[order_id] = points
        self.balance += points
        self.lifetime += points

    def reverse_return(self, order_id: str, reference: str, *, goods: int, returned_before: int,
                       returned: int) -> int:
        """A return of goods worth `returned - returned_before` (of `goods`, what the order's
        goods cost after discounts) takes back the points the order earned on them: the order
        keeps `earned * (goods - returned) // goods`, so a full return takes back every point
        (rounding each return down on its own left some behind). The balance never goes below
        zero: returns the points due back that were already spent, for the caller to recover
        their value from the refund."""
        earned = self.earned_orders.get(order_id, 0)
        if earned <= 0 or goods <= 0 or reference in self.reversals:
            return 0
        due = points_kept(earned, goods, returned_before) - points_kept(earned, goods, returned)
        if due <= 0:
            return 0
        taken = min(due, self.balance)
        self._reversed(reference=reference, points=taken, lifetime=due)
        return due - taken

    @event(Reversed)
    def _reversed(self, reference: str, points: int, lifetime: int) -> None:
        self.reversals.add(reference)
        self.balance -= points
        self.lifetime -= lifetime
        self.reserved = min(self.reserved, self.balance)

    def unspend(self, order_id: str, discount_lost: int) -> None:
        """A confirmed modification lowered the order's goods below its discount, and the
        discount shrank by `discount_lost` paise: the points spent on the order give that
        back first (a coupon's value is not money), rounded up to whole points."""
        spent = self.redeemed_orders.get(order_id, 0)
        points = min(spent, -(-discount_lost // POINT_VALUE)) if discount_lost > 0 else 0
        if points > 0:
            self._unspent(order_id=order_id, points=points)

    @event(Unspent)
    def _unspent(self, order_id: str, points: int) -> None:
        self.redeemed_orders[order_id] -= points
        self.balance += points

    def restore_return(self, order_id: str, reference: str, *, subtotal: int, returned_before: int,
                       returned: int) -> None:
        """A return gives back the points spent on the order in proportion to the list value
        of the goods that came back (`returned` of `subtotal`, before discounts), as
        `reverse_return` takes back those it earned: the refund pays back what was paid for
        the goods after discounts, so without this the points' share of the discount was lost
        on returned goods. By list value, not what was paid: points that paid for all of an
        order's goods came back on no return (nothing was paid for them)."""
        redeemed = self.redeemed_orders.get(order_id, 0)
        key = f"restored:{reference}"
        if redeemed <= 0 or subtotal <= 0 or key in self.reversals:
            return
        points = (points_kept(redeemed, subtotal, returned_before)
                  - points_kept(redeemed, subtotal, returned))
        if points > 0:
            self._return_restored(order_id=order_id, reference=key, points=points)

    @event(ReturnRestored)
    def _return_restored(self, order_id: str, reference: str, points: int) -> None:
        self.reversals.add(reference)
        self.balance += points

    def reserve(self, points: int) -> None:
        """Sets the reservation against the current cart (replacing any earlier one)."""
        if points < 0:
            raise DomainError("points must not be negative", field="points")
        if points > self.balance:
            raise NotEnoughPointsError(f"you have {self.balance} points", field="points")
        if points != self.reserved:
            if self.reserved:
                self._released(points=self.reserved)
            if points:
                self._reserved(points=points)

    @event(Reserved)
    def _reserved(self, points: int) -> None:
        self.reserved = points

    def release(self) -> None:
        if self.reserved:
            self._released(points=self.reserved)

    @event(ReservationReleased)
    def _released(self, points: int) -> None:
        self.reserved = 0

    def redeem(self, order_id: str, points: int) -> None:
        if points <= 0:
            return
        if points > self.reserved or points > self.balance:
            raise NotEnoughPointsError("the points reserved for this cart are no longer there")
        self._redeemed(order_id=order_id, points=points)

    @event(Redeemed)
    def _redeemed(self, order_id: str, points: int) -> None:
        self.redeemed_orders[order_id] = points
        self.balance -= points
        self.reserved = 0

    def restore(self, order_id: str) -> None:
        """A cancelled order gives its redeemed points back."""
        points = self.redeemed_orders.get(order_id)
        if points:
            self._restored(order_id=order_id, points=points)

    @event(Restored)
    def _restored(self, order_id: str, points: int) -> None:
        del self.redeemed_orders[order_id]
        self.balance += points
