"""The notification rules: given an event, then what the customer is told (or nothing)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from domain.commerce.coupon import Coupon
from domain.commerce.order import Order
from domain.commerce.rewards import RewardLedger
from domain.commerce.wallet import Wallet
from domain.support.ticket import SupportTicket
from projections.notifications import (
    money,
    notification_id,
    offer_notice,
    order_notices,
    reward_notices,
    ticket_notices,
    wallet_notices,
)
from tests.spec import FIXED_TIME, Stream

LABEL = "order #1a2b3c4d"
ORDER = Stream(Order)
LINK = f"/orders/{ORDER.id}"
AMOUNTS = {"subtotal": 24900, "delivery_fee": 2500, "discount": 0, "total": 27400}


def order_event(event_class: type[Order.Event], **attrs: Any) -> Order.Event:
    return ORDER.event(event_class, **attrs)


def told(title: str, body: str) -> list[dict[str, str]]:
    return [{"kind": "order", "title": title, "body": body, "link": LINK}]


def placed(payment_mode: str) -> Order.Event:
    return order_event(Order.Placed, customer_id=str(uuid4()), shop_id=None, lines=[], currency="INR",
                       amounts=AMOUNTS, payment_mode=payment_mode, delivery_notes="", address=None,
                       status="pending", discounts=[])


def moved(status: str) -> Order.Event:
    return order_event(Order.StatusChanged, action="x", status=status, by="vendor", note="", at=FIXED_TIME)


def cancelled(status: str, reason: str, refund_due: int) -> Order.Event:
    return order_event(Order.Cancelled, by="vendor", reason=reason, status=status, refund_due=refund_due)


def message(role: str, text: str) -> Order.Event:
    return order_event(Order.MessagePosted, message_id="m", sender_id="s", sender_role=role, text=text)


def decided(approved: bool, note: str) -> Order.Event:
    return order_event(Order.ReturnDecided, return_id="r", approved=approved, note=note, by="support",
                       refund=500 if approved else None)


ORDER_RULES = [
    (placed("cash"), told("Order placed", "Order of ₹274.00: pay on delivery.")),
    (placed("wallet"), told("Order placed", "Order of ₹274.00: paid from your wallet.")),
    (placed("online"), told("Order placed", "Order of ₹274.00: awaiting online payment.")),
    (order_event(Order.Paid, payment_id="pay_123", amount=27400),
     told("Payment received", f"₹274.00 received for {LABEL}.")),
    (order_event(Order.Paid, payment_id="wallet:abc", amount=27400), []),
    (order_event(Order.Paid, payment_id="cash:abc", amount=27400), []),
    (order_event(Order.PaymentFailed, payment_id="pay_123", reason="card declined"),
     told("Payment failed", f"The payment for {LABEL} failed: card declined")),
    (moved("accepted"), told("Order accepted", "The shop is preparing your order.")),
    (moved("packed"), told("Order packed", "Your order is packed and waiting for the rider.")),
    (moved("out_for_delivery"), told("Out for delivery", "Your order is on its way.")),
    (moved("delivered"), told("Delivered", "Your order was delivered. Rate it to help your neighbours.")),
    (moved("pending"), told("Order confirmed", "The shop has your order.")),
    (moved("awaiting_payment"), []),
    (order_event(Order.Modified, by="vendor", lines=[], amounts=AMOUNTS, note=""),
     told("Your order was changed", "The shop changed your order; please review and confirm it.")),
    (cancelled("rejected", "out of stock", 0), told("Order rejected", "The shop could not take your order: out of stock.")),
    (cancelled("rejected", "", 0), told("Order rejected", "The shop could not take your order.")),
    (cancelled("cancelled", "changed my mind", 27400),
     told("Order cancelled", f"{LABEL} was cancelled. ₹274.00 will be refunded.")),
    (order_event(Order.Refunded, amount=500, method="wallet", reference="return:r"),
     told("Refund issued", "₹5.00 refunded to your wallet.")),
    (order_event(Order.Refunded, amount=500, method="online", reference="cancel"),
     told("Refund issued", "₹5.00 refunded to your payment method.")),
    (order_event(Order.Refunded, amount=500, method="points", reference="return:r:points"),
     told("Refund reduced by points already spent",
          "₹5.00 of the return was the value of points this order earned, which you had already used.")),
    (message("vendor", "x" * 200), told("New message from the shop", "x" * 140)),
    (message("customer", "hello"), []),
    (order_event(Order.IssueRaised, issue_id="i", category="other", description="late"), []),
    (order_event(Order.IssueResolved, issue_id="i", resolution="voucher sent", by="support"),
     told("Your issue was resolved", "voucher sent")),
    (decided(True, "sorry"), told("Return approved", "sorry")),
    (decided(False, ""), told("Return declined", "Return declined.")),
    (order_event(Order.Rated, shop_id=None, rating=5, comment=""), []),
]


@pytest.mark.parametrize("event,notices", ORDER_RULES)
def test_order_events_tell_the_customer(event: Order.Event, notices: list[dict[str, str]]) -> None:
    assert order_notices(event, LABEL) == notices


WALLET = Stream(Wallet)


def wallet(event_class: type[Wallet.Event], kind: str, amount: int = 5000, balance: int = 12000,
           reference: str = "ref") -> Wallet.Event:
    return WALLET.event(event_class, amount=amount, kind=kind, reference=reference, balance_after=balance)


def said(body: str) -> list[dict[str, str]]:
    return [{"kind": "wallet", "title": "Wallet", "body": body, "link": "/wallet"}]


@pytest.mark.parametrize("event,notices", [
    (WALLET.event(Wallet.Opened, owner_id=str(uuid4()), currency="INR"), []),
    (wallet(Wallet.Credited, "load"), said("₹50.00 added to your wallet. Balance ₹120.00.")),
    (wallet(Wallet.Credited, "refund"), said("₹50.00 refunded to your wallet. Balance ₹120.00.")),
    (wallet(Wallet.Credited, "adjustment"), said("Your wallet was credited ₹50.00. Balance ₹120.00.")),
    (wallet(Wallet.Debited, "order", balance=7000), []),  # the order tells it
    (wallet(Wallet.Debited, "payment", balance=7000, reference="tip " + "y" * 80),
     said(f"₹50.00 paid from your wallet (tip {'y' * 56}). Balance ₹70.00.")),
])
def test_wallet_movements_tell_the_owner_but_order_payments(event: Wallet.Event, notices: list[Any]) -> None:
    assert wallet_notices(event) == notices


def test_points_earned_and_reversed_are_news_reservations_are_not() -> None:
    s = Stream(RewardLedger)
    assert reward_notices(s.event(RewardLedger.Earned, order_id="o", points=120)) == [
        {"kind": "rewards", "title": "Points earned", "body": "You earned 120 points on a delivered order.",
         "link": "/rewards"}]
    assert reward_notices(s.event(RewardLedger.Reversed, reference="r", points=20, lifetime=20)) == [
        {"kind": "rewards", "title": "Points reversed", "body": "20 points were taken back for returned items.",
         "link": "/rewards"}]
    assert reward_notices(s.event(RewardLedger.ReturnRestored, order_id="o", reference="restored:r",
                                  points=75)) == [
        {"kind": "rewards", "title": "Points given back",
         "body": "75 points you used were given back for returned items.", "link": "/rewards"}]
    assert reward_notices(s.event(RewardLedger.Unspent, order_id="o", points=51)) == [
        {"kind": "rewards", "title": "Points given back",
         "body": "51 points you used were given back: your changed order needed less discount.",
         "link": "/rewards"}]
    # Earned points all spent: nothing to take from the balance (the refund says what it kept)
    assert reward_notices(s.event(RewardLedger.Reversed, reference="r", points=0, lifetime=20)) == []
    for event_class in (RewardLedger.Reserved, RewardLedger.ReservationReleased):
        assert reward_notices(s.event(event_class, points=5)) == []
    assert reward_notices(s.event(RewardLedger.Redeemed, order_id="o", points=5)) == []


def coupon(**terms: Any) -> Coupon.Created:
    event = Stream(Coupon).event(Coupon.Created, created_by="admin", terms={
        "code": "SAVE50", "discount_type": "flat", "value": 5000, "valid_from": FIXED_TIME,
        "valid_until": FIXED_TIME + timedelta(days=3), **terms})
    assert isinstance(event, Coupon.Created)
    return event


@pytest.mark.parametrize("event,body", [
    (coupon(), "₹50.00 off with code SAVE50."),
    (coupon(discount_type="percent", value=10), "10% off with code SAVE50."),
    (coupon(description="Festive ₹50 off"), "Festive ₹50 off"),
])
def test_a_new_offer_is_a_promotion(event: Coupon.Created, body: str) -> None:
    assert offer_notice(event) == {"kind": "promotion", "title": "New offer: SAVE50", "body": body,
                                   "link": "/offers/SAVE50"}


CUSTOMER, STAFF = uuid4(), uuid4()
TICKET = Stream(SupportTicket)
TICKET_LINK = f"/support/tickets/{TICKET.id}"


def posted(role: str, text: str = "On its way") -> SupportTicket.Event:
    return TICKET.event(SupportTicket.MessagePosted, message_id="m", author_id=str(STAFF), author_role=role,
                        text=text)


def status(status: str, by: object, note: str = "") -> SupportTicket.Event:
    return TICKET.event(SupportTicket.StatusChanged, status=status, by=str(by), note=note)


@pytest.mark.parametrize("event,notices", [
    (posted("staff"), [{"kind": "support", "title": "Support replied: Late delivery", "body": "On its way",
                        "link": TICKET_LINK}]),
    (posted("customer"), []),
    (status("resolved", STAFF, "Delivered today"),
     [{"kind": "support", "title": "Ticket resolved: Late delivery", "body": "Delivered today", "link": TICKET_LINK}]),
    (status("closed", STAFF), [{"kind": "support", "title": "Ticket closed: Late delivery",
                                "body": "Your ticket was marked closed.", "link": TICKET_LINK}]),
    (status("closed", CUSTOMER), []),  # the customer closed it: no news to them
    (status("in_progress", STAFF), []),
])
def test_support_tells_the_customer_of_replies_and_resolutions(event: SupportTicket.Event,
                                                                notices: list[Any]) -> None:
    assert ticket_notices(event, CUSTOMER, "Late delivery") == notices


def test_money_is_told_in_rupees_from_paise() -> None:
    assert [money(24900), money(5), money(123456789), money(-2500), money(1000, "USD")] == [
        "₹249.00", "₹0.05", "₹1,234,567.89", "-₹25.00", "USD 10.00"]


def test_a_notification_keeps_its_id_across_rebuilds_one_per_event_and_index() -> None:
    event = placed("cash")
    assert notification_id("commerce", event, 0) == notification_id("commerce", event, 0)
    assert len({notification_id("commerce", event, 0), notification_id("commerce", event, 1),
                notification_id("support", event, 0), notification_id("commerce", moved("packed"), 0)}) == 4
