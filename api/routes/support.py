"""Customer Journey help centre: /api/v1/consumer/support/ticket, .../tickets,
.../ticket/{ticket_id} and .../ticket/{ticket_id}/message; plus the FAQ at
/api/v1/support/faq."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from psycopg import Connection
from pydantic import BaseModel, Field

from api.commands import Settlement, from_value
from api.dependencies import ConnectionDep, Customer, CustomerCall, RuntimeDep
from api.pagination import PageDep, Paginated
from api.read_your_writes import await_read_model
from api.routing import Router
from api.text import RequestModel
from domain.support.ticket import MAX_TEXT, SupportTicket, TicketCategory, TicketNotFoundError, TicketStatus
from projections import support_tickets

router = Router(tags=["support"])

# The help centre's questions are content, not code: support staff edit faq.json.
FAQ: list[dict[str, str]] = json.loads(Path(__file__).with_name("faq.json").read_text(encoding="utf-8"))


class TicketIn(RequestModel):
    subject: str = Field(min_length=1, max_length=200)
    category: TicketCategory = "other"
    message: str = Field(min_length=1, max_length=MAX_TEXT)
    order_id: UUID | None = Field(default=None, description="one of your orders, if it is about one")

    model_config = {"json_schema_extra": {"examples": [{
        "subject": "Refund not received", "category": "refund",
        "message": "My order was cancelled yesterday but the money is not in my wallet.",
        "order_id": "0f8a3c2e-51c4-4bb5-9d0b-4d6f9e1a2b3c"}]}}


class ReplyIn(RequestModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT)

    model_config = {"json_schema_extra": {"examples": [{"text": "Any update on this?"}]}}


class MessageOut(BaseModel):
    id: str
    author_role: str = Field(description="customer or staff")
    text: str
    at: str


class TicketSummary(BaseModel):
    id: str
    subject: str
    category: str
    order_id: str | None
    status: TicketStatus
    message_count: int
    awaiting: str | None = Field(description="who is to answer next: support or customer; "
                                             "null once the ticket is closed")
    created_at: str
    updated_at: str


class TicketOut(TicketSummary):
    customer_id: str
    messages: list[MessageOut]


class FaqEntry(BaseModel):
    id: str
    question: str
    answer: str


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def awaiting(status: str, last_author_role: str) -> str | None:
    """Who is to answer next: no one on a closed ticket, the customer on a resolved one
    (support thinks it done; writing reopens it), else whoever did not write last."""
    if status == TicketStatus.CLOSED:
        return None
    if status == TicketStatus.RESOLVED or last_author_role == "staff":
        return "customer"
    return "support"


def summary(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["ticket_id"]), "subject": row["subject"], "category": row["category"],
            "order_id": str(row["order_id"]) if row["order_id"] else None, "status": row["status"],
            "message_count": row["message_count"],
            "awaiting": awaiting(row["status"], row["last_author_role"]),
            "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"]),
            "customer_id": str(row["customer_id"])}


def ticket_out(ticket: SupportTicket) -> dict[str, Any]:
    """A command's answer, from the aggregate itself: no wait for the read model."""
    messages = [{"id": m.id, "author_role": m.author_role, "text": m.text, "at": _iso(m.at)}
                for m in ticket.messages]
    return {"id": str(ticket.id), "subject": ticket.subject, "category": ticket.category,
            "order_id": ticket.order_id, "status": ticket.status, "message_count": len(messages),
            "awaiting": awaiting(ticket.status, messages[-1]["author_role"]),
            "created_at": _iso(ticket.created_on), "updated_at": _iso(ticket.modified_on),
            "customer_id": ticket.customer_id, "messages": messages}


def its_customer(conn: Connection, ticket: SupportTicket) -> list[str]:
    return [ticket.customer_id]


# Recorded for the ticket's customer too: staff's answer shows in their next read.
TICKET = Settlement[SupportTicket, dict[str, Any]](application="support", concerns=its_customer,
                                                   answer=from_value(ticket_out))


def ticket_view(conn: Connection, ticket_id: UUID, customer_id: UUID | None) -> dict[str, Any]:
    """The ticket as the read model has it; a customer's view is limited to their own."""
    row, messages = support_tickets.find(conn, ticket_id)
    if row is None or (customer_id is not None and row["customer_id"] != customer_id):
        raise TicketNotFoundError("no such ticket")
    return {**summary(row), "messages": [
        {"id": str(m["message_id"]), "author_role": m["author_role"], "text": m["text"],
         "at": _iso(m["at"])} for m in messages]}


@router.get("/api/v1/support/faq", response_model=list[FaqEntry], summary="Help centre questions")
def faq() -> list[dict[str, str]]:
    return FAQ


@router.post("/api/v1/consumer/support/ticket", status_code=201, response_model=TicketOut,
             summary="Open a support ticket (optionally about one of your orders)")
def open_ticket(body: TicketIn, me: CustomerCall) -> dict[str, Any]:
    saved = me.runtime.support.open_ticket(
        me.actor, subject=body.subject, category=body.category,
        order_id=str(body.order_id) if body.order_id else None, text=body.message)
    return me.settle(saved, TICKET)


@router.get("/api/v1/consumer/support/tickets", response_model=Paginated[TicketSummary],
            summary="Your tickets, newest first")
def my_tickets(user: Customer, runtime: RuntimeDep, conn: ConnectionDep, page: PageDep,
               status: TicketStatus | None = None) -> dict[str, Any]:
    await_read_model(runtime, conn, user, support_tickets.READ_MODEL)
    found = support_tickets.page(conn, customer_id=user.id, status=status, page=page.page,
                                 size=page.size)
    return page.envelope(found.count, [summary(r) for r in found.rows])


@router.get("/api/v1/consumer/support/ticket/{ticket_id}", response_model=TicketOut,
            summary="One of your tickets with the whole conversation")
def my_ticket(ticket_id: UUID, user: Customer, runtime: RuntimeDep, conn: ConnectionDep) -> dict[str, Any]:
    await_read_model(runtime, conn, user, support_tickets.READ_MODEL)
    return ticket_view(conn, ticket_id, user.id)


@router.post("/api/v1/consumer/support/ticket/{ticket_id}/message", response_model=TicketOut,
             summary="Write to support on your ticket (reopens a resolved one; closed: 409)")
def reply(ticket_id: UUID, body: ReplyIn, me: CustomerCall) -> dict[str, Any]:
    return me.settle(me.runtime.support.post_message(me.actor, ticket_id, body.text), TICKET)
