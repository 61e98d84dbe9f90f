"""Given a payment's events, then its `payment_view` row: status and what was refunded."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from domain.payments.payment import Payment
from projections import payments
from tests.spec import FIXED_TIME, Stream, projection

PAYMENT = projection(payments.evolve)
EXPIRES = FIXED_TIME + timedelta(minutes=30)
LATER = FIXED_TIME + timedelta(minutes=2)
ORDER, CUSTOMER = uuid4(), uuid4()


def created(s: Stream[Payment]) -> Payment.Event:
    return s.event(Payment.Created, purpose="order", order_id=str(ORDER), customer_id=str(CUSTOMER),
                   amount=52300, currency="INR", provider="sandbox", provider_ref="ref-1",
                   checkout_url="https://pay.example/1", return_url="https://shop.example/done",
                   expires_at=EXPIRES)


def test_a_new_payment_is_pending_until_it_expires() -> None:
    s = Stream(Payment)
    PAYMENT.given(created(s)).then({
        "payment_id": s.id, "purpose": "order", "order_id": ORDER, "customer_id": CUSTOMER, "amount": 52300,
        "currency": "INR", "status": "pending", "provider": "sandbox", "checkout_url": "https://pay.example/1",
        "return_url": "https://shop.example/done", "expires_at": EXPIRES, "refunded": 0,
        "created_at": FIXED_TIME, "updated_at": FIXED_TIME,
    })


@pytest.mark.parametrize("event_class,attrs,status", [
    (Payment.Succeeded, {"purpose": "order", "customer_id": str(CUSTOMER), "amount": 52300,
                         "provider_event": "evt_1"}, "succeeded"),
    (Payment.Failed, {"reason": "card declined"}, "failed"),
    (Payment.Expired, {}, "expired"),
])
def test_the_providers_outcome_is_the_status(event_class: type[Payment.Event], attrs: dict[str, object],
                                             status: str) -> None:
    s = Stream(Payment)
    PAYMENT.given(
        created(s), s.event(event_class, order_id=str(ORDER), timestamp=LATER, **attrs),
    ).then_including(status=status, refunded=0, updated_at=LATER, created_at=FIXED_TIME)


def test_refunds_add_up_and_leave_the_status_as_it_was() -> None:
    s = Stream(Payment)
    refund = {"order_id": str(ORDER), "reference": "cancel", "settles_order": True}
    PAYMENT.given(
        created(s),
        s.event(Payment.Succeeded, purpose="order", order_id=str(ORDER), customer_id=str(CUSTOMER),
                amount=52300, provider_event="evt_1"),
        s.event(Payment.Refunded, amount=20000, request_id="rf-1", **refund),
        s.event(Payment.Refunded, amount=2300, request_id="rf-2", **refund),
    ).then_including(status="succeeded", refunded=22300, amount=52300)


def test_events_of_a_payment_never_seen_created_make_no_row() -> None:
    PAYMENT.given(Stream(Payment).event(Payment.Expired, order_id=str(ORDER))).then_nothing()
