"""The wallet-load allowance of one customer for one UTC day: given events, when a command,
then events or an error."""

from __future__ import annotations

from domain.payments.allowance import LoadAllowance, LoadLimitError, allowance_id
from tests.spec import Stream, given

PER_LOAD = 1_000_000
DAILY = 2_500_000


def opened() -> tuple[Stream[LoadAllowance], list[LoadAllowance.Event]]:
    s = Stream(LoadAllowance)
    return s, [s.event(LoadAllowance.Opened, customer_id="c1", day="2026-01-01")]


def taken(s: Stream[LoadAllowance], payment_id: str, amount: int = PER_LOAD) -> LoadAllowance.Event:
    return s.event(LoadAllowance.Taken, payment_id=payment_id, amount=amount, daily_limit=DAILY)


def take(payment_id: str, amount: int = PER_LOAD):  # type: ignore[no-untyped-def]
    return lambda a: a.take(payment_id, amount, per_load_limit=PER_LOAD, daily_limit=DAILY)


def test_one_allowance_per_customer_per_day() -> None:
    assert allowance_id("c1", "2026-01-01") == allowance_id("c1", "2026-01-01")
    assert allowance_id("c1", "2026-01-01") != allowance_id("c1", "2026-01-02")
    assert allowance_id("c1", "2026-01-01") != allowance_id("c2", "2026-01-01")
    fresh = LoadAllowance(customer_id="c1", day="2026-01-01")
    assert fresh.id == allowance_id("c1", "2026-01-01") and fresh.used == 0


def test_loads_are_taken_up_to_the_daily_limit() -> None:
    s, history = opened()
    given(*history).when(take("p1")).then((LoadAllowance.Taken, {"payment_id": "p1", "amount": PER_LOAD,
                                                                   "daily_limit": DAILY}))
    history += [taken(s, "p1"), taken(s, "p2")]
    given(*history).when(take("p3", 500_000)).then((LoadAllowance.Taken, {"amount": 500_000}))
    given(*history).when(take("p3", 500_001)).then_error(LoadLimitError, "per day")


def test_a_load_over_the_per_load_limit_is_refused() -> None:
    _, history = opened()
    given(*history).when(take("p1", PER_LOAD + 1)).then_error(LoadLimitError, "per load")
    given(*history).when(take("p1", 0)).then_error(LoadLimitError)


def test_a_refusal_names_the_amount_and_what_is_left() -> None:
    s, history = opened()
    history += [taken(s, "p1"), taken(s, "p2")]
    spec = given(*history).when(take("p3"))
    try:
        spec.command(spec.aggregate)
    except LoadLimitError as e:
        assert e.field == "amount" and "500000 left" in e.detail
    else:
        raise AssertionError("over the limit was taken")


def test_taking_the_same_load_twice_takes_it_once() -> None:
    s, history = opened()
    history.append(taken(s, "p1"))
    given(*history).when(take("p1")).then_nothing()


def test_a_failed_or_expired_load_frees_its_amount_once() -> None:
    s, history = opened()
    history += [taken(s, "p1"), taken(s, "p2")]
    given(*history).when(lambda a: a.release("p1", "failed")).then(
        (LoadAllowance.Released, {"payment_id": "p1", "amount": PER_LOAD, "reason": "failed"}))
    history.append(s.event(LoadAllowance.Released, payment_id="p1", amount=PER_LOAD, reason="failed"))
    given(*history).when(lambda a: a.release("p1", "expired")).then_nothing()
    given(*history).when(lambda a: a.release("never-taken", "failed")).then_nothing()
    given(*history).when(take("p3")).then((LoadAllowance.Taken, {"payment_id": "p3"}))


def test_a_released_load_paid_late_counts_again_only_if_it_fits() -> None:
    s, history = opened()
    history += [taken(s, "p1"), s.event(LoadAllowance.Released, payment_id="p1", amount=PER_LOAD,
                                        reason="expired")]
    given(*history).when(lambda a: a.retake("p1", PER_LOAD)).then(
        (LoadAllowance.Taken, {"payment_id": "p1", "daily_limit": DAILY}))
    history += [taken(s, "p2"), taken(s, "p3")]  # 2,000,000 held: 1,000,000 does not fit
    over = given(*history).when(lambda a: a.retake("p1", PER_LOAD)).then(
        (LoadAllowance.OverLimit, {"payment_id": "p1", "amount": PER_LOAD}))
    assert not over.holds("p1") and over.used == 2_000_000
    history.append(s.event(LoadAllowance.OverLimit, payment_id="p1", amount=PER_LOAD))
    given(*history).when(lambda a: a.retake("p1", PER_LOAD)).then_nothing()


def test_a_held_load_that_succeeds_changes_nothing() -> None:
    s, history = opened()
    history.append(taken(s, "p1"))
    after = given(*history).when(lambda a: a.retake("p1", PER_LOAD)).then_nothing()
    assert after.holds("p1")
