"""The Support application: its own event store, so ticket traffic never waits on the
commerce table lock (DESIGN.md: every insert locks its application's events table)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol
from uuid import UUID, uuid4

from domain.actor import Actor
from domain.saving import EventMartApplication, Saved, retry_on_conflict
from domain.support.ticket import SupportTicket, TicketNotFoundError


class Orders(Protocol):
    def order_for(self, actor: Actor, order_id: UUID) -> object:
        """The order if this actor may see it; else raises a not-found error."""


class SupportApplication(EventMartApplication):
    name = "support"

    def __init__(self, env: dict[str, str] | None = None, *, orders: Orders | None = None,
                 new_id: Callable[[], UUID] = uuid4) -> None:
        super().__init__(env)
        self.orders = orders
        self.new_id = new_id

    def ticket_for(self, actor: Actor, ticket_id: UUID) -> SupportTicket:
        """A customer sees only their own tickets (others: not found); staff see all."""
        ticket = self._get(ticket_id, SupportTicket)
        if ticket is None or (
                not actor.is_staff and ticket.customer_id != actor.user_id):
            raise TicketNotFoundError("no such ticket")
        return ticket

    def open_ticket(self, actor: Actor, *, subject: str, category: str, order_id: str | None,
                    text: str) -> Saved[SupportTicket]:
        if order_id is not None and self.orders is not None:
            self.orders.order_for(actor, UUID(order_id))  # someone else's order: not found
        ticket = SupportTicket.open(ticket_id=self.new_id(), customer_id=actor.user_id,
                                    subject=subject, category=category, order_id=order_id,
                                    message_id=str(self.new_id()), text=text)
        return Saved(ticket, self.save_all(ticket))

    @retry_on_conflict
    def post_message(self, actor: Actor, ticket_id: UUID, text: str) -> Saved[SupportTicket]:
        ticket = self.ticket_for(actor, ticket_id)
        ticket.post(message_id=str(self.new_id()), author_id=actor.user_id,
                    author_role="staff" if actor.is_staff else "customer", text=text)
        return Saved(ticket, self.save_all(ticket))

    @retry_on_conflict
    def set_status(self, actor: Actor, ticket_id: UUID, status: str, note: str) -> Saved[SupportTicket]:
        ticket = self.ticket_for(actor, ticket_id)
        ticket.move(status, by=actor.user_id, note=note)
        return Saved(ticket, self.save_all(ticket))
