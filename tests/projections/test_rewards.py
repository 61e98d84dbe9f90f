"""Given a customer's reward-ledger events, then the `rewards` row and the `reward_history` lines."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

from domain.commerce.rewards import RewardLedger
from projections import rewards
from tests.spec import FIXED_TIME, Stream, projection

LATER = FIXED_TIME + timedelta(days=1)
OWNER = uuid4()
Row = dict[str, Any]


def row_of(row: Row | None, event: Any) -> Row | None:
    return rewards.evolve(row, event)[0]


LEDGER = projection(row_of)


def history(*events: Any) -> list[Row]:
    """The history lines the events add, in order."""
    row: Row | None = None
    lines = []
    for event in events:
        row, line = rewards.evolve(row, event)
        if line is not None:
            lines.append(line)
    return lines


def opened(s: Stream[RewardLedger]) -> RewardLedger.Event:
    return s.event(RewardLedger.Opened, owner_id=str(OWNER))


def test_a_new_ledger_has_no_points() -> None:
    s = Stream(RewardLedger)
    LEDGER.given(opened(s)).then({"ledger_id": s.id, "owner_id": OWNER, "points": 0, "reserved": 0,
                                  "lifetime": 0, "updated_at": FIXED_TIME})


def test_earned_points_count_towards_the_lifetime_total_and_reversals_take_off_what_they_say() -> None:
    s = Stream(RewardLedger)
    earned = [opened(s), s.event(RewardLedger.Earned, order_id="o1", points=120),
              s.event(RewardLedger.Earned, order_id="o2", points=30)]
    # v2: the points earned on the goods returned leave the lifetime total (tiers count goods
    # kept), also those already spent (30 of 50 here)
    LEDGER.given(
        *earned, s.event(RewardLedger.Reversed, reference="return:r1", points=20, lifetime=50,
                         timestamp=LATER),
    ).then_including(points=130, lifetime=100, reserved=0, updated_at=LATER)
    # v1 reversals (upcast with lifetime 0) left it as it was
    LEDGER.given(
        *earned, s.event(RewardLedger.Reversed, reference="return:r1", points=20, lifetime=0,
                         timestamp=LATER),
    ).then_including(points=130, lifetime=150, reserved=0, updated_at=LATER)


def test_points_reserved_for_a_cart_are_spent_when_redeemed() -> None:
    s = Stream(RewardLedger)
    given = [opened(s), s.event(RewardLedger.Earned, order_id="o1", points=100),
             s.event(RewardLedger.Reserved, points=40)]
    LEDGER.given(*given).then_including(points=100, reserved=40)
    LEDGER.given(*given, s.event(RewardLedger.Redeemed, order_id="o2", points=40)).then_including(
        points=60, reserved=0, lifetime=100)


def test_a_released_reservation_leaves_the_points() -> None:
    s = Stream(RewardLedger)
    LEDGER.given(
        opened(s), s.event(RewardLedger.Earned, order_id="o1", points=100),
        s.event(RewardLedger.Reserved, points=40), s.event(RewardLedger.ReservationReleased, points=40),
    ).then_including(points=100, reserved=0)


def test_restored_points_come_back_without_counting_as_earned() -> None:
    s = Stream(RewardLedger)
    LEDGER.given(
        opened(s), s.event(RewardLedger.Earned, order_id="o1", points=100),
        s.event(RewardLedger.Redeemed, order_id="o2", points=40),
        s.event(RewardLedger.Restored, order_id="o2", points=40),
    ).then_including(points=100, lifetime=100)


def test_a_reversal_leaves_no_more_reserved_than_there_are_points() -> None:
    s = Stream(RewardLedger)
    LEDGER.given(
        opened(s), s.event(RewardLedger.Earned, order_id="o1", points=100),
        s.event(RewardLedger.Reserved, points=80),
        s.event(RewardLedger.Reversed, reference="return:r1", points=50, lifetime=50),
    ).then_including(points=50, reserved=50)


def test_events_of_a_ledger_never_seen_opening_make_no_row() -> None:
    LEDGER.given(Stream(RewardLedger).event(RewardLedger.Earned, order_id="o1", points=1)).then_nothing()


def test_movements_of_points_are_history_reservations_are_not() -> None:
    s = Stream(RewardLedger)
    events = [opened(s), s.event(RewardLedger.Earned, order_id="o1", points=100),
              s.event(RewardLedger.Reserved, points=40), s.event(RewardLedger.Redeemed, order_id="o2", points=40),
              s.event(RewardLedger.Restored, order_id="o2", points=40),
              s.event(RewardLedger.Reversed, reference="return:r1", points=10, lifetime=10, timestamp=LATER),
              s.event(RewardLedger.ReservationReleased, points=0)]
    line = {"ledger_id": s.id, "owner_id": OWNER, "at": FIXED_TIME}
    assert history(*events) == [
        {**line, "version": 2, "type": "earned", "points": 100, "reference": "o1"},
        {**line, "version": 4, "type": "redeemed", "points": 40, "reference": "o2"},
        {**line, "version": 5, "type": "restored", "points": 40, "reference": "o2"},
        {**line, "version": 6, "type": "reversed", "points": 10, "reference": "return:r1", "at": LATER},
    ]
