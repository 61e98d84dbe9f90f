"""Given a ticket's events, then its `support_tickets` row and its `support_messages` lines."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from domain.support.ticket import SupportTicket
from projections import support_tickets
from tests.spec import FIXED_TIME, Stream, projection

TICKET = projection(support_tickets.evolve)
LATER = FIXED_TIME + timedelta(hours=2)
CUSTOMER, STAFF, ORDER = uuid4(), uuid4(), uuid4()
FIRST, REPLY = uuid4(), uuid4()


def opened(s: Stream[SupportTicket], order_id: str | None = str(ORDER)) -> SupportTicket.Event:
    return s.event(SupportTicket.Opened, customer_id=str(CUSTOMER), subject="Late delivery",
                   category="order", order_id=order_id, message_id=str(FIRST), text="Where is it?")


def reply(s: Stream[SupportTicket]) -> SupportTicket.Event:
    return s.event(SupportTicket.MessagePosted, message_id=str(REPLY), author_id=str(STAFF),
                   author_role="staff", text="On its way", timestamp=LATER)


def test_a_new_ticket_is_open_with_the_customers_first_message() -> None:
    s = Stream(SupportTicket)
    TICKET.given(opened(s)).then({
        "ticket_id": s.id, "customer_id": CUSTOMER, "subject": "Late delivery", "category": "order",
        "order_id": ORDER, "status": "open", "message_count": 1, "last_author_role": "customer", "version": 1,
        "created_at": FIXED_TIME, "updated_at": FIXED_TIME,
    })


def test_a_ticket_about_no_order() -> None:
    TICKET.given(opened(Stream(SupportTicket), order_id=None)).then_including(order_id=None)


def test_replies_count_and_say_who_spoke_last() -> None:
    s = Stream(SupportTicket)
    TICKET.given(opened(s), reply(s)).then_including(
        message_count=2, last_author_role="staff", status="open", version=2, updated_at=LATER)


def test_the_status_is_the_last_one_set() -> None:
    s = Stream(SupportTicket)
    TICKET.given(
        opened(s), reply(s),
        s.event(SupportTicket.StatusChanged, status="resolved", by=str(STAFF), note="Delivered"),
    ).then_including(status="resolved", message_count=2, version=3)


def test_events_of_a_ticket_never_seen_opening_make_no_row() -> None:
    TICKET.given(reply(Stream(SupportTicket))).then_nothing()


def test_the_opening_and_each_reply_are_lines_of_the_conversation_a_status_is_not() -> None:
    s = Stream(SupportTicket)
    first, answer = opened(s), reply(s)
    status = s.event(SupportTicket.StatusChanged, status="closed", by=str(CUSTOMER), note="")
    assert [support_tickets.message(e) for e in (first, answer, status)] == [
        {"ticket_id": s.id, "version": 1, "message_id": FIRST, "author_id": CUSTOMER, "author_role": "customer",
         "text": "Where is it?", "at": FIXED_TIME},
        {"ticket_id": s.id, "version": 2, "message_id": REPLY, "author_id": STAFF, "author_role": "staff",
         "text": "On its way", "at": LATER},
        None,
    ]
