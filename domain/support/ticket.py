"""A support ticket: a conversation between a customer and the support team, with a status
the team moves along. The customer may add to it until it is closed; a customer's message on
a resolved ticket reopens it, because the problem evidently is not solved."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal, get_args
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import ConflictError, DomainError, NotFoundError

TicketCategory = Literal["order", "payment", "wallet", "account", "delivery", "refund", "other"]
CATEGORIES: tuple[TicketCategory, ...] = get_args(TicketCategory)


@dataclass(frozen=True)
class TicketMessage:
    id: str
    author_id: str
    author_role: str  # customer or staff
    text: str
    at: datetime | None  # the time of its event; set as soon as the event applies


# open: waiting for support; in_progress: support is on it; resolved: support thinks it is done
# (the customer can reopen by writing); closed: final, no more messages.
class TicketStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


STATUSES = tuple(s.value for s in TicketStatus)
MOVES = {
    "open": {"in_progress", "resolved", "closed"},
    "in_progress": {"open", "resolved", "closed"},
    "resolved": {"open", "in_progress", "closed"},
    "closed": set(),
}
MAX_TEXT = 4000
MAX_MESSAGES = 500  # a ticket is a conversation, not a chat room: keeps replay cheap


class TicketNotFoundError(NotFoundError, title="Ticket not found"): ...


class TicketClosedError(ConflictError, title="Ticket closed"): ...


def check_text(text: str, name: str = "message") -> str:
    text = text.strip()
    if not text:
        raise DomainError(f"{name} must not be empty", field=name)
    if len(text) > MAX_TEXT:
        raise DomainError(f"{name} is at most {MAX_TEXT} characters", field=name)
    return text


class SupportTicket(Aggregate):
    # Messages carry their event's time, which only the event itself knows: so these two
    # events apply themselves instead of going through @event methods.
    class Opened(Aggregate.Created):
        customer_id: str
        subject: str
        category: str
        order_id: str | None
        message_id: str
        text: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, SupportTicket)
            aggregate.messages[0] = replace(aggregate.messages[0], at=self.timestamp)

    class MessagePosted(Aggregate.Event):
        message_id: str
        author_id: str
        author_role: str  # customer or staff
        text: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, SupportTicket)
            aggregate.messages.append(TicketMessage(
                id=self.message_id, author_id=self.author_id, author_role=self.author_role,
                text=self.text, at=self.timestamp))

    class StatusChanged(Aggregate.Event):
        status: str
        by: str
        note: str

    @event(Opened)
    def __init__(self, customer_id: str, subject: str, category: str, order_id: str | None,
                 message_id: str, text: str) -> None:
        self.customer_id = customer_id
        self.subject = subject
        self.category = category
        self.order_id = order_id
        self.status = "open"
        self.messages: list[TicketMessage] = [TicketMessage(
            id=message_id, author_id=customer_id, author_role="customer", text=text, at=None)]

    @classmethod
    def open(cls, *, ticket_id: UUID, customer_id: str, subject: str, category: str,
             order_id: str | None, message_id: str, text: str) -> SupportTicket:
        subject = check_text(subject, "subject")
        if len(subject) > 200:
            raise DomainError("subject is at most 200 characters", field="subject")
        if category not in CATEGORIES:
            raise DomainError(f"category is one of {', '.join(CATEGORIES)}", field="category")
        return cls._create(cls.Opened, id=ticket_id, customer_id=customer_id, subject=subject,
                           category=category, order_id=order_id, message_id=message_id,
                           text=check_text(text))

    def post(self, *, message_id: str, author_id: str, author_role: str, text: str) -> None:
        if self.status == "closed":
            raise TicketClosedError("this ticket is closed; open a new one")
        if len(self.messages) >= MAX_MESSAGES:
            raise TicketClosedError("this ticket has too many messages; open a new one")
        if author_role == "customer" and author_id != self.customer_id:
            raise TicketNotFoundError("no such ticket")
        self.trigger_event(self.MessagePosted, message_id=message_id, author_id=author_id,
                           author_role=author_role, text=check_text(text))
        if author_role == "customer" and self.status == "resolved":
            self._status_changed(status="open", by=author_id, note="reopened by the customer")

    def move(self, status: str, *, by: str, note: str = "") -> None:
        if status not in STATUSES:
            raise DomainError(f"status is one of {', '.join(STATUSES)}", field="status")
        if status == self.status:
            return
        if status not in MOVES[self.status]:
            raise TicketClosedError(f"a {self.status} ticket cannot become {status}")
        self._status_changed(status=status, by=by, note=note.strip()[:500])

    @event(StatusChanged)
    def _status_changed(self, status: str, by: str, note: str) -> None:
        self.status = status
