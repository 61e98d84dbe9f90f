"""The support team's queue: /v1/admin/support/tickets, .../{ticket_id}, .../{ticket_id}/reply
and .../{ticket_id}/status."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import Field

from api.dependencies import ConnectionDep, RuntimeDep, Staff, StaffCall
from api.pagination import PageDep, Paginated
from api.read_your_writes import await_read_model
from api.routes.support import TICKET, ReplyIn, TicketOut, TicketSummary, summary, ticket_view
from api.routing import Router
from api.text import RequestModel
from domain.support.ticket import TicketStatus
from projections import support_tickets

router = Router(prefix="/v1/admin/support/tickets", tags=["support (staff)"])

class StaffTicketSummary(TicketSummary):
    customer_id: str


class StatusIn(RequestModel):
    status: TicketStatus
    note: str = Field(default="", max_length=500)

    model_config = {"json_schema_extra": {"examples": [{"status": "resolved",
                                                        "note": "Refund credited to wallet"}]}}


@router.get("", response_model=Paginated[StaffTicketSummary],
            summary="Every ticket, the longest waiting first; filter by status")
def queue(user: Staff, runtime: RuntimeDep, conn: ConnectionDep, page: PageDep,
          status: TicketStatus | None = None) -> dict[str, Any]:
    await_read_model(runtime, conn, user, support_tickets.READ_MODEL)
    found = support_tickets.page(conn, status=status, page=page.page, size=page.size)
    return page.envelope(found.count, [summary(r) for r in found.rows])


@router.get("/{ticket_id}", response_model=TicketOut, summary="A ticket with its conversation")
def ticket(ticket_id: UUID, user: Staff, runtime: RuntimeDep, conn: ConnectionDep) -> dict[str, Any]:
    await_read_model(runtime, conn, user, support_tickets.READ_MODEL)
    return ticket_view(conn, ticket_id, None)


@router.post("/{ticket_id}/reply", response_model=TicketOut, summary="Answer the customer")
def reply(ticket_id: UUID, body: ReplyIn, me: StaffCall) -> dict[str, Any]:
    return me.settle(me.runtime.support.post_message(me.actor, ticket_id, body.text), TICKET)


@router.post("/{ticket_id}/status", response_model=TicketOut,
             summary="Move a ticket: open, in_progress, resolved, closed (closed is final)")
def set_status(ticket_id: UUID, body: StatusIn, me: StaffCall) -> dict[str, Any]:
    return me.settle(me.runtime.support.set_status(me.actor, ticket_id, body.status, body.note), TICKET)
