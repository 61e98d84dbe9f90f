"""Payment status read model: GET /v1/payments/{id} and the expiry sweep read it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

from domain.payments.payment import Payment
from projections.batch import Table, fold
from projections.read_model import ReadModel

CREATE_SQL = """
CREATE TABLE IF NOT EXISTS payment_view (
    payment_id uuid PRIMARY KEY,
    purpose text NOT NULL,
    order_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    status text NOT NULL,
    provider text NOT NULL,
    checkout_url text NOT NULL,
    return_url text NOT NULL,
    expires_at timestamptz NOT NULL,
    refunded bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS payment_view_pending ON payment_view (expires_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS payment_view_order ON payment_view (order_id);
"""
DROP_SQL = "DROP TABLE IF EXISTS payment_view"

Row = dict[str, Any]


def evolve(row: Row | None, event: Payment.Event) -> Row | None:
    if isinstance(event, Payment.Created):
        return {"payment_id": event.originator_id, "purpose": event.purpose,
                "order_id": UUID(event.order_id),
                "customer_id": UUID(event.customer_id), "amount": event.amount,
                "currency": event.currency, "status": "pending", "provider": event.provider,
                "checkout_url": event.checkout_url, "return_url": event.return_url,
                "expires_at": event.expires_at, "refunded": 0,
                "created_at": event.timestamp, "updated_at": event.timestamp}
    if row is None:
        return None
    row = {**row, "updated_at": event.timestamp}
    if isinstance(event, Payment.Succeeded):
        row["status"] = "succeeded"
    elif isinstance(event, Payment.Failed):
        row["status"] = "failed"
    elif isinstance(event, Payment.Expired):
        row["status"] = "expired"
    elif isinstance(event, Payment.Refunded):
        row["refunded"] += event.amount
    return row


TABLE = Table("payment_view", "payment_id",
              ("payment_id", "purpose", "order_id", "customer_id", "amount", "currency", "status", "provider",
               "checkout_url", "return_url", "expires_at", "refunded", "created_at", "updated_at"))


def apply_batch(conn: Connection, events: Sequence[Any]) -> None:
    fold(conn, TABLE, events, Payment.Event, evolve)



def find_payment(conn: Connection, payment_id: UUID) -> Row | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM payment_view WHERE payment_id = %s", (payment_id,)).fetchone()


def overdue(conn: Connection, now: datetime, limit: int = 200) -> list[UUID]:
    """Payments still pending past their deadline."""
    return TABLE.keys_due(conn, status="pending", at="expires_at", until=now, limit=limit)


READ_MODEL = ReadModel(name="payment_view", application="payments", create_sql=CREATE_SQL,
                       drop_sql=DROP_SQL, apply_batch=apply_batch,
                       reads=(Payment.Event,))
