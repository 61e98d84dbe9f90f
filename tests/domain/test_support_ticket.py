"""Given/when/then for SupportTicket."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import DomainError
from domain.support.ticket import SupportTicket, TicketClosedError, TicketNotFoundError
from tests.spec import Stream, given


def opened(*more: tuple[type[Any], dict[str, Any]]) -> list[Any]:
    s = Stream(SupportTicket)
    history = [s.event(SupportTicket.Opened, customer_id="c1", subject="Late", category="delivery",
                       order_id=None, message_id="m1", text="Where is it?")]
    history += [s.event(cls, **attrs) for cls, attrs in more]
    return history


def customer_says(text: str, who: str = "c1") -> Any:
    return lambda t: t.post(message_id="m9", author_id=who, author_role="customer", text=text)


def test_staff_replies_and_the_conversation_keeps_its_times() -> None:
    ticket = given(*opened()).when(
        lambda t: t.post(message_id="m2", author_id="s1", author_role="staff", text="  On it  ")).then(
        (SupportTicket.MessagePosted, {"author_role": "staff", "text": "On it"}))
    assert [m.text for m in ticket.messages] == ["Where is it?", "On it"]
    assert all(m.at is not None for m in ticket.messages)


def test_a_customer_message_reopens_a_resolved_ticket() -> None:
    history = opened((SupportTicket.StatusChanged, {"status": "resolved", "by": "s1", "note": ""}))
    ticket = given(*history).when(customer_says("Still not here")).then(
        (SupportTicket.MessagePosted, {"author_role": "customer"}),
        (SupportTicket.StatusChanged, {"status": "open", "by": "c1"}))
    assert ticket.status == "open"


def test_a_closed_ticket_takes_no_messages_and_stays_closed() -> None:
    history = opened((SupportTicket.StatusChanged, {"status": "closed", "by": "s1", "note": ""}))
    given(*history).when(customer_says("hello?")).then_error(TicketClosedError)
    given(*history).when(lambda t: t.move("open", by="s1")).then_error(TicketClosedError)


def test_another_customer_cannot_write_and_empty_messages_are_refused() -> None:
    given(*opened()).when(customer_says("me too", who="c2")).then_error(TicketNotFoundError)
    given(*opened()).when(customer_says("   ")).then_error(DomainError, match="empty")


def test_moves_between_statuses() -> None:
    given(*opened()).when(lambda t: t.move("in_progress", by="s1", note="checking")).then(
        (SupportTicket.StatusChanged, {"status": "in_progress", "note": "checking"}))
    given(*opened()).when(lambda t: t.move("open", by="s1")).then_nothing()
    given(*opened()).when(lambda t: t.move("lost", by="s1")).then_error(DomainError)


@pytest.mark.parametrize(("changes", "field"), [
    ({"subject": " "}, "subject"), ({"subject": "x" * 201}, "subject"),
    ({"category": "gossip"}, "category"), ({"text": ""}, "message"),
])
def test_opening_checks_its_input(changes: dict[str, Any], field: str) -> None:
    import uuid
    args = {"ticket_id": uuid.uuid4(), "customer_id": "c1", "subject": "Late", "category": "other",
            "order_id": None, "message_id": "m1", "text": "Where is it?", **changes}
    with pytest.raises(DomainError) as e:
        SupportTicket.open(**args)
    assert e.value.field == field
