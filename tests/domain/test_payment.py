from __future__ import annotations

from datetime import timedelta

from domain.errors import DomainError
from domain.payments.payment import Payment, PaymentStateError
from tests.spec import FIXED_TIME, Stream, given


def created() -> tuple[Stream[Payment], list[Payment.Event]]:
    s = Stream(Payment)
    return s, [s.event(Payment.Created, purpose="order", order_id="o1", customer_id="c1", amount=5000, currency="INR",
                       provider="sandbox", provider_ref="sbx_1", checkout_url="http://x/checkout",
                       return_url="http://shop/return", expires_at=FIXED_TIME + timedelta(minutes=15))]


def test_success_is_recorded_once() -> None:
    s, history = created()
    given(*history).when(lambda p: p.succeed("evt-1")).then((Payment.Succeeded, {"amount": 5000}))
    history.append(s.event(Payment.Succeeded, purpose="order", order_id="o1", customer_id="c1", amount=5000,
                           provider_event="evt-1"))
    given(*history).when(lambda p: p.succeed("evt-1")).then_nothing()
    given(*history).when(lambda p: p.succeed("evt-2")).then_nothing()


def test_expiry_only_after_the_deadline() -> None:
    _, history = created()
    given(*history).when(lambda p: p.expire(FIXED_TIME + timedelta(minutes=14))).then_nothing()
    given(*history).when(lambda p: p.expire(FIXED_TIME + timedelta(minutes=15))).then((Payment.Expired, {}))


def test_money_taken_after_expiry_is_still_recorded() -> None:
    s, history = created()
    history.append(s.event(Payment.Expired, order_id="o1"))
    given(*history).when(lambda p: p.succeed("late")).then((Payment.Succeeded, {}))


def test_a_failed_payment_cannot_fail_twice_or_be_refunded() -> None:
    s, history = created()
    history.append(s.event(Payment.Failed, order_id="o1", reason="declined"))
    given(*history).when(lambda p: p.fail("again")).then_nothing()
    given(*history).when(lambda p: p.refund(1, reference="r", request_id="q", settles_order=True)).then_error(
        PaymentStateError)


def test_refunds_are_bounded_and_once_per_request() -> None:
    s, history = created()
    history.append(s.event(Payment.Succeeded, purpose="order", order_id="o1", customer_id="c1", amount=5000,
                           provider_event="e"))
    given(*history).when(lambda p: p.refund(5001, reference="r", request_id="q", settles_order=True)).then_error(
        DomainError)
    given(*history).when(lambda p: p.refund(2000, reference="r", request_id="q", settles_order=True)).then(
        (Payment.Refunded, {"amount": 2000, "request_id": "q"}))
    history.append(s.event(Payment.Refunded, order_id="o1", amount=2000, reference="r", request_id="q",
                           settles_order=True))
    given(*history).when(lambda p: p.refund(2000, reference="r2", request_id="q", settles_order=True)).then_nothing()
    given(*history).when(lambda p: p.refund(3001, reference="r2", request_id="q2", settles_order=True)).then_error(
        DomainError)



def test_aggregates_with_sets_can_be_snapshotted() -> None:
    """A wallet's 100th event takes a snapshot; its set of loads must survive it."""
    from eventsourcing.persistence import JSONTranscoder

    from domain.commerce.wallet import Wallet
    from domain.saving import EventMartApplication

    app = EventMartApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo", "IS_SNAPSHOTTING_ENABLED": "y"})
    transcoder = JSONTranscoder()
    app.register_transcodings(transcoder)
    assert transcoder.decode(transcoder.encode({"loads": {"b", "a"}})) == {"loads": {"a", "b"}}
    wallet = Wallet(owner_id="00000000-0000-0000-0000-000000000001", currency="INR")
    wallet.credit(10, kind="load", reference="p1")
    app.save(wallet)
    app.take_snapshot(wallet.id)
    assert app.repository.get(wallet.id).loads == {"p1"}


def test_a_payment_survives_its_snapshot() -> None:
    from domain.payments.application import PaymentsApplication
    from domain.saving import EventMartApplication

    assert PaymentsApplication.snapshotting_intervals[Payment] > 0
    app = EventMartApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo", "IS_SNAPSHOTTING_ENABLED": "y"})
    _, history = created()
    app.save(*history)
    payment: Payment | None = None
    for e in history:
        payment = e.mutate(payment)
    assert payment is not None
    payment.succeed("evt-1")
    payment.refund(2000, reference="r", request_id="q", settles_order=True)
    app.save(payment)
    app.take_snapshot(payment.id)
    assert vars(app.repository.get(payment.id)) == vars(payment)
