"""Support tickets: one row per ticket and one per message. Whole life here: tables, pure
`evolve`, `apply` and the queries behind the customer's and the support team's lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

from domain.support.ticket import SupportTicket
from projections.batch import Table, fold
from projections.paging import Page, page_of, where
from projections.read_model import ReadModel

CREATE_SQL = """
CREATE TABLE IF NOT EXISTS support_tickets (
    ticket_id uuid PRIMARY KEY,
    customer_id uuid NOT NULL,
    subject text NOT NULL,
    category text NOT NULL,
    order_id uuid,
    status text NOT NULL,
    message_count integer NOT NULL,
    last_author_role text NOT NULL,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS support_tickets_customer ON support_tickets (customer_id, created_at DESC);
CREATE INDEX IF NOT EXISTS support_tickets_queue ON support_tickets (status, updated_at);
CREATE INDEX IF NOT EXISTS support_tickets_waiting ON support_tickets (
    (status IN ('resolved', 'closed')), updated_at, ticket_id);
CREATE TABLE IF NOT EXISTS support_messages (
    ticket_id uuid NOT NULL,
    version integer NOT NULL,
    message_id uuid NOT NULL,
    author_id uuid NOT NULL,
    author_role text NOT NULL,
    text text NOT NULL,
    at timestamptz NOT NULL,
    PRIMARY KEY (ticket_id, version)
);
"""
DROP_SQL = "DROP TABLE IF EXISTS support_tickets, support_messages"

Row = dict[str, Any]
COLUMNS = ("ticket_id", "customer_id", "subject", "category", "order_id", "status", "message_count",
           "last_author_role", "version", "created_at", "updated_at")


def evolve(row: Row | None, event: SupportTicket.Event) -> Row | None:
    if isinstance(event, SupportTicket.Opened):
        return {"ticket_id": event.originator_id, "customer_id": UUID(event.customer_id),
                "subject": event.subject, "category": event.category,
                "order_id": UUID(event.order_id) if event.order_id else None, "status": "open",
                "message_count": 1, "last_author_role": "customer",
                "version": event.originator_version, "created_at": event.timestamp,
                "updated_at": event.timestamp}
    if row is None:
        return None
    row = {**row, "version": event.originator_version, "updated_at": event.timestamp}
    if isinstance(event, SupportTicket.MessagePosted):
        row["message_count"] += 1
        row["last_author_role"] = event.author_role
    elif isinstance(event, SupportTicket.StatusChanged):
        row["status"] = event.status
    return row


def message(event: SupportTicket.Event) -> Row | None:
    """The conversation line an event adds, if any. Pure."""
    if isinstance(event, SupportTicket.Opened):
        return {"ticket_id": event.originator_id, "version": event.originator_version,
                "message_id": UUID(event.message_id), "author_id": UUID(event.customer_id),
                "author_role": "customer", "text": event.text, "at": event.timestamp}
    if isinstance(event, SupportTicket.MessagePosted):
        return {"ticket_id": event.originator_id, "version": event.originator_version,
                "message_id": UUID(event.message_id), "author_id": UUID(event.author_id),
                "author_role": event.author_role, "text": event.text, "at": event.timestamp}
    return None


TABLE = Table("support_tickets", "ticket_id", COLUMNS)
MESSAGES = Table("support_messages", "ticket_id",
                 ("ticket_id", "version", "message_id", "author_id", "author_role", "text", "at"))


def apply_batch(conn: Connection, events: Sequence[Any]) -> None:
    fold(conn, TABLE, events, SupportTicket.Event, evolve)
    MESSAGES.insert_new(conn, [line for e in events if (line := message(e)) is not None])



def page(conn: Connection, *, customer_id: UUID | None = None, status: str | None = None,
         page: int, size: int) -> Page:
    """A customer's tickets newest first; with no customer, the support queue: tickets still
    to be dealt with (open, in progress) before resolved and closed ones, each the longest
    waiting first (`support_tickets_waiting`). By age alone, years-old closed tickets came
    before every open one."""
    clause, params = where(("customer_id = %s", customer_id), ("status = %s", status))
    order = ("created_at DESC" if customer_id is not None
             else "(status IN ('resolved', 'closed')), updated_at ASC")
    return page_of(conn, "*", f"FROM support_tickets {clause}", params, f"{order}, ticket_id", page, size)


def find(conn: Connection, ticket_id: UUID) -> tuple[Row | None, list[Row]]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM support_tickets WHERE ticket_id = %s", (ticket_id,)).fetchone()
        messages = cur.execute("SELECT message_id, author_role, text, at FROM support_messages "
                               "WHERE ticket_id = %s ORDER BY version", (ticket_id,)).fetchall()
    return row, messages


READ_MODEL = ReadModel(name="support_tickets", application="support", create_sql=CREATE_SQL,
                       drop_sql=DROP_SQL, apply_batch=apply_batch,
                       reads=(SupportTicket.Event,), version=2)  # 2: the waiting-first index
