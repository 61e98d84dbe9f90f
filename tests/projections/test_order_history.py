"""Given an order's events, then its `order_history` document: status log, money, conversation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

from domain.commerce.order import Order
from projections import order_history
from tests.spec import FIXED_TIME, Stream, projection

ORDER = projection(order_history.evolve)
T0, T1 = FIXED_TIME.isoformat(), (FIXED_TIME + timedelta(hours=1)).isoformat()
LATER = FIXED_TIME + timedelta(hours=1)
CUSTOMER, SHOP = str(uuid4()), str(uuid4())
LINES = [{"item_id": "a", "product_id": "p1", "sku": "A", "name": "Tea", "qty": 2, "unit_price": 1000,
          "line_total": 2000},
         {"item_id": "b", "product_id": "p2", "sku": "B", "name": "Rice", "qty": 1, "unit_price": 500,
          "line_total": 500}]
AMOUNTS = {"subtotal": 2500, "delivery_fee": 300, "discount": 0, "total": 2800}


def placed(s: Stream[Order], status: str = "pending", payment_mode: str = "cash") -> Order.Event:
    return s.event(Order.Placed, customer_id=CUSTOMER, shop_id=SHOP, lines=LINES, currency="INR",
                   amounts=AMOUNTS, payment_mode=payment_mode, delivery_notes="ring twice", address=None,
                   status=status, discounts=[])


def moved(s: Stream[Order], action: str, status: str, by: str = "vendor", note: str = "") -> Order.Event:
    return s.event(Order.StatusChanged, action=action, status=status, by=by, note=note, at=FIXED_TIME)


def log(status: str, by: str, note: str = "", at: str = T0) -> dict[str, Any]:
    return {"status": status, "at": at, "by": by, "note": note}


def act(action: str, by: str, detail: str = "", at: str = T0) -> dict[str, Any]:
    return {"action": action, "by": by, "at": at, "detail": detail}


def test_a_placed_order_is_its_lines_amounts_and_first_status() -> None:
    s = Stream(Order)
    ORDER.given(placed(s)).then({
        "id": str(s.id), "customer_id": CUSTOMER, "shop_id": SHOP, "status": "pending", "payment_mode": "cash",
        "currency": "INR", "items": LINES, **AMOUNTS, "paid": 0, "refunded": 0, "delivery_notes": "ring twice",
        "address": None, "proposed_change": None, "rating": None, "discounts": [],
        "status_log": [log("pending", "customer")], "payments": [], "refunds": [], "messages": [],
        "issues": [], "returns": [], "action_log": [], "created_at": T0, "updated_at": T0,
    })


def test_an_online_payment_moves_the_order_to_pending() -> None:
    s = Stream(Order)
    ORDER.given(
        placed(s, status="awaiting_payment", payment_mode="online"),
        s.event(Order.PaymentFailed, payment_id="pay-1", reason="card declined"),
        s.event(Order.Paid, payment_id="pay-2", amount=2800, timestamp=LATER),
    ).then_including(
        status="pending", paid=2800, updated_at=T1,
        payments=[{"payment_id": "pay-2", "amount": 2800, "at": T1}],
        status_log=[log("awaiting_payment", "customer"), log("payment_failed", "payment", "card declined"),
                    log("pending", "payment", "paid 2800", at=T1)],
        action_log=[act("payment_failed", "payment", "card declined"), act("paid", "payment", "2800", at=T1)],
    )


def test_the_vendors_steps_are_logged_in_order() -> None:
    s = Stream(Order)
    ORDER.given(
        placed(s), moved(s, "accept", "accepted"), moved(s, "pack", "packed"),
        moved(s, "dispatch", "out_for_delivery"), moved(s, "deliver", "delivered", note="at the gate"),
    ).then_including(
        status="delivered",
        status_log=[log("pending", "customer"), log("accepted", "vendor"), log("packed", "vendor"),
                    log("out_for_delivery", "vendor"), log("delivered", "vendor", "at the gate")],
        action_log=[act("accepted", "vendor"), act("packed", "vendor"), act("out_for_delivery", "vendor"),
                    act("delivered", "vendor", "at the gate")],
    )


def test_a_modification_is_proposed_until_the_customer_confirms_it() -> None:
    s = Stream(Order)
    lines = [{**LINES[0], "qty": 1, "line_total": 1000}, LINES[1]]
    amounts = {"subtotal": 1500, "delivery_fee": 300, "discount": 0, "total": 1800}
    modified = s.event(Order.Modified, by="vendor", lines=lines, amounts=amounts, note="only one tea")
    proposed = ORDER.given(placed(s), modified).then_including(
        status="modified", items=LINES, total=2800,
        proposed_change={"items": lines, **amounts, "note": "only one tea"})
    assert proposed["status_log"][-1] == log("modified", "vendor", "only one tea")
    ORDER.given(placed(s), modified, moved(s, "confirm_modified", "accepted", by="customer")).then_including(
        status="accepted", items=lines, subtotal=1500, delivery_fee=300, discount=0, total=1800,
        proposed_change=None)


def test_a_cancellation_and_its_refund() -> None:
    s = Stream(Order)
    ORDER.given(
        placed(s, payment_mode="wallet"),
        s.event(Order.Cancelled, by="customer", reason="changed my mind", status="cancelled", refund_due=2800),
        s.event(Order.Refunded, amount=2800, method="wallet", reference="cancel"),
    ).then_including(
        status="cancelled", refunded=2800,
        refunds=[{"amount": 2800, "method": "wallet", "reference": "cancel", "at": T0}],
        status_log=[log("pending", "customer"), log("cancelled", "customer", "changed my mind")],
        action_log=[act("cancelled", "customer", "changed my mind"), act("refunded", "wallet", "2800")],
    )


def test_a_rejection_is_its_own_status() -> None:
    s = Stream(Order)
    ORDER.given(
        placed(s), s.event(Order.Cancelled, by="vendor", reason="out of stock", status="rejected", refund_due=0),
    ).then_including(status="rejected", refunded=0)


def test_messages_issues_and_rating_are_kept_with_the_order() -> None:
    s = Stream(Order)
    ORDER.given(
        placed(s), moved(s, "accept", "accepted"),
        s.event(Order.MessagePosted, message_id="m1", sender_id=SHOP, sender_role="vendor", text="On it"),
        s.event(Order.IssueRaised, issue_id="i1", category="late_delivery", description="late"),
        s.event(Order.IssueResolved, issue_id="i1", resolution="voucher sent", by="support", timestamp=LATER),
        s.event(Order.Rated, shop_id=SHOP, rating=4, comment="good"),
    ).then_including(
        status="accepted",
        messages=[{"id": "m1", "sender_id": SHOP, "sender_role": "vendor", "text": "On it", "at": T0}],
        issues=[{"id": "i1", "category": "late_delivery", "description": "late", "status": "resolved",
                 "resolution": "voucher sent", "created_at": T0, "resolved_at": T1}],
        rating={"rating": 4, "comment": "good", "at": T0},
        action_log=[act("accepted", "vendor"), act("message", "vendor"), act("issue_raised", "customer", "late_delivery"),
                    act("issue_resolved", "support", "voucher sent", at=T1), act("rated", "customer", "4")],
    )


RETURNED = [{"item_id": "b", "quantity": 1}]


def delivered_with_returns(s: Stream[Order], *reasons: tuple[str, str]) -> list[Order.Event]:
    """A delivered order whose customer asked to return one unit of line b, per (id, reason)."""
    return [placed(s), moved(s, "deliver", "delivered"),
            *(s.event(Order.ReturnRequested, return_id=return_id, items=RETURNED, reason=reason, amount=500)
              for return_id, reason in reasons)]


def test_returns_are_requested_then_decided() -> None:
    s = Stream(Order)
    items = RETURNED
    ORDER.given(
        *delivered_with_returns(s, ("r1", "stale"), ("r2", "again")),
        s.event(Order.ReturnDecided, return_id="r1", approved=True, note="sorry", by="support", refund=499,
                timestamp=LATER),
        s.event(Order.ReturnDecided, return_id="r2", approved=False, note="one only", by="support", refund=None,
                timestamp=LATER),
    ).then_including(
        status="delivered",
        # `amount`: the estimate when asked; `refund`: what approval owed back (the paisa of a
        # share goes to the first unit returned: two asked at once both estimated 500)
        returns=[{"id": "r1", "items": items, "reason": "stale", "amount": 500, "status": "approved",
                  "note": "sorry", "refund": 499, "created_at": T0, "decided_at": T1},
                 {"id": "r2", "items": items, "reason": "again", "amount": 500, "status": "rejected",
                  "note": "one only", "refund": None, "created_at": T0, "decided_at": T1}],
    )


def test_a_return_approved_before_refunds_were_recorded_shows_its_estimate_as_refunded() -> None:
    s = Stream(Order)
    items = RETURNED
    ORDER.given(
        *delivered_with_returns(s, ("r1", "stale")),
        s.event(Order.ReturnDecided, return_id="r1", approved=True, note="", by="support", refund=None),
    ).then_including(returns=[{"id": "r1", "items": items, "reason": "stale", "amount": 500,
                               "status": "approved", "note": "", "refund": 500, "created_at": T0,
                               "decided_at": T0}])


def test_evolving_does_not_change_the_document_it_was_given() -> None:
    s = Stream(Order)
    before = ORDER.given(placed(s)).then_including(status="pending")
    snapshot = {k: (list(v) if isinstance(v, list) else v) for k, v in before.items()}
    order_history.evolve(before, moved(s, "accept", "accepted"))
    assert before == snapshot


def test_events_of_an_order_never_seen_placed_make_no_document() -> None:
    s = Stream(Order)
    ORDER.given(moved(s, "accept", "accepted")).then_nothing()
