"""Order history: one row per order, for the customer's list and the shop's, with its
status log. Whole life here: table, pure `evolve`, `apply`, queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection

from domain.commerce.order import Order
from projections import catalog_search
from projections.batch import Table, fold
from projections.paging import Page, page_of, where
from projections.read_model import ReadModel

CREATE_SQL = """
CREATE TABLE IF NOT EXISTS order_history (
    order_id uuid PRIMARY KEY,
    customer_id uuid NOT NULL,
    shop_id uuid,
    status text NOT NULL,
    payment_mode text NOT NULL,
    currency text NOT NULL,
    total bigint NOT NULL,
    doc jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS order_history_customer ON order_history (customer_id, created_at DESC);
CREATE INDEX IF NOT EXISTS order_history_shop ON order_history (shop_id, status, created_at DESC);
CREATE INDEX IF NOT EXISTS order_history_status ON order_history (status, created_at DESC);
"""
DROP_SQL = "DROP TABLE IF EXISTS order_history"

Doc = dict[str, Any]


def _log(doc: Doc, event: Order.Event, status: str, by: str, note: str = "") -> None:
    doc["status_log"].append({"status": status, "at": event.timestamp.isoformat(), "by": by,
                              "note": note})
    doc["status"] = status


LISTS = ("status_log", "payments", "refunds", "messages", "issues", "returns", "action_log")


def _act(doc: Doc, event: Order.Event, action: str, by: str, detail: str = "") -> None:
    """OrderActionLog: every action on the order, in order."""
    doc["action_log"].append({"action": action, "by": by, "at": event.timestamp.isoformat(),
                              "detail": detail})


def evolve(doc: Doc | None, event: Order.Event) -> Doc | None:
    """The order as its detail page shows it, after one more event. Pure."""
    ts = event.timestamp.isoformat()
    if isinstance(event, Order.Placed):
        doc = {
            "id": str(event.originator_id), "customer_id": event.customer_id,
            "shop_id": event.shop_id, "status": event.status, "payment_mode": event.payment_mode,
            "currency": event.currency, "items": [dict(line) for line in event.lines],
            **event.amounts, "paid": 0, "refunded": 0, "delivery_notes": event.delivery_notes,
            "address": event.address, "proposed_change": None, "rating": None,
            "discounts": [dict(d) for d in event.discounts],
            "status_log": [], "payments": [], "refunds": [], "messages": [], "issues": [],
            "returns": [], "action_log": [], "created_at": ts, "updated_at": ts,
        }
        _log(doc, event, event.status, "customer")
        return doc
    if doc is None:
        return None
    doc = {**doc, **{k: [dict(x) for x in doc[k]] for k in LISTS}, "updated_at": ts}
    if isinstance(event, Order.Paid):
        doc["paid"] += event.amount
        doc["payments"].append({"payment_id": event.payment_id, "amount": event.amount, "at": ts})
        if doc["status"] in ("awaiting_payment", "payment_failed"):
            _log(doc, event, "pending", "payment", f"paid {event.amount}")
    elif isinstance(event, Order.PaymentFailed):
        _log(doc, event, "payment_failed", "payment", event.reason)
    elif isinstance(event, Order.Modified):
        doc["proposed_change"] = {"items": event.lines, **event.amounts, "note": event.note}
        _log(doc, event, "modified", event.by, event.note)
    elif isinstance(event, Order.StatusChanged):
        if event.action == "confirm_modified" and doc["proposed_change"]:
            change = doc["proposed_change"]
            doc["items"] = change["items"]
            for key in ("subtotal", "delivery_fee", "discount", "total"):
                doc[key] = change[key]
            doc["proposed_change"] = None
        _log(doc, event, event.status, event.by, event.note)
    elif isinstance(event, Order.Cancelled):
        _log(doc, event, event.status, event.by, event.reason)
    elif isinstance(event, Order.Refunded):
        doc["refunded"] += event.amount
        doc["refunds"].append({"amount": event.amount, "method": event.method,
                               "reference": event.reference, "at": ts})
    elif isinstance(event, Order.Rated):
        doc["rating"] = {"rating": event.rating, "comment": event.comment, "at": ts}
        _act(doc, event, "rated", "customer", str(event.rating))
    elif isinstance(event, Order.MessagePosted):
        doc["messages"].append({"id": event.message_id, "sender_id": event.sender_id,
                                "sender_role": event.sender_role, "text": event.text, "at": ts})
        _act(doc, event, "message", event.sender_role)
    elif isinstance(event, Order.IssueRaised):
        doc["issues"].append({"id": event.issue_id, "category": event.category,
                              "description": event.description, "status": "open",
                              "resolution": None, "created_at": ts, "resolved_at": None})
        _act(doc, event, "issue_raised", "customer", event.category)
    elif isinstance(event, Order.IssueResolved):
        for issue in doc["issues"]:
            if issue["id"] == event.issue_id:
                issue.update(status="resolved", resolution=event.resolution, resolved_at=ts)
        _act(doc, event, "issue_resolved", event.by, event.resolution)
    elif isinstance(event, Order.ReturnRequested):
        doc["returns"].append({"id": event.return_id, "items": event.items, "reason": event.reason,
                               "amount": event.amount, "status": "requested", "note": None,
                               "refund": None, "created_at": ts, "decided_at": None})
        _act(doc, event, "return_requested", "customer", event.reason)
    elif isinstance(event, Order.ReturnDecided):
        for ret in doc["returns"]:
            if ret["id"] == event.return_id:
                # `amount` was the estimate when asked; `refund` is what approval owed back.
                # v1 approvals (upcast with refund None) owed the estimate, as the aggregate did.
                refund = (ret["amount"] if event.refund is None else event.refund) if event.approved else None
                ret.update(status="approved" if event.approved else "rejected", note=event.note,
                           decided_at=ts, refund=refund)
        _act(doc, event, "return_approved" if event.approved else "return_rejected", event.by,
             event.note)
    if isinstance(event, Order.StatusChanged | Order.Cancelled | Order.Modified | Order.Paid
                  | Order.PaymentFailed | Order.Refunded):
        entry = doc["status_log"][-1] if isinstance(event, Order.StatusChanged | Order.Cancelled
                                                    | Order.Modified) else None
        if isinstance(event, Order.Refunded):
            _act(doc, event, "refunded", event.method, str(event.amount))
        elif isinstance(event, Order.Paid):
            _act(doc, event, "paid", "payment", str(event.amount))
        elif isinstance(event, Order.PaymentFailed):
            _act(doc, event, "payment_failed", "payment", event.reason)
        elif entry is not None:
            _act(doc, event, entry["status"], entry["by"], entry["note"])
    return doc


TABLE = Table("order_history", "order_id",
              ("order_id", "customer_id", "shop_id", "status", "payment_mode", "currency", "total", "doc",
               "created_at", "updated_at"), json=frozenset({"doc"}))


def _row(doc: Doc, event: Order.Event) -> dict[str, Any]:
    return {"order_id": event.originator_id, "customer_id": UUID(doc["customer_id"]),
            "shop_id": UUID(doc["shop_id"]) if doc["shop_id"] else None, "status": doc["status"],
            "payment_mode": doc["payment_mode"], "currency": doc["currency"], "total": doc["total"],
            "doc": doc, "created_at": doc["created_at"], "updated_at": doc["updated_at"]}


def apply_batch(conn: Connection, events: Sequence[Any]) -> None:
    """An order's document is rewritten once per batch, however many of its events it holds."""
    fold(conn, TABLE, events, Order.Event, evolve, state_of=lambda row: row["doc"], row_of=_row)



def _with_shop_names(conn: Connection, docs: list[Doc]) -> list[Doc]:
    """The shop's name is its current one, from the catalog's read model (the order's events
    carry only the shop's id): a renamed shop shows its new name on past orders too."""
    names = catalog_search.shop_names(conn, (d["shop_id"] for d in docs))
    return [{**d, "shop_name": names.get(UUID(d["shop_id"])) if d["shop_id"] else None} for d in docs]


def find_order(conn: Connection, order_id: UUID) -> Doc | None:
    row = conn.execute("SELECT doc FROM order_history WHERE order_id = %s", (order_id,)).fetchone()
    return _with_shop_names(conn, [row[0]])[0] if row else None


def list_orders(
    conn: Connection, *, customer: UUID | None = None, shops: list[UUID] | None = None,
    status: str | None = None, page: int, size: int,
) -> Page:
    clause, params = where(("o.customer_id = %s", customer), ("o.shop_id = ANY(%s)", shops),
                           ("o.status = %s", status or None))
    found = page_of(conn, "o.doc", f"FROM order_history o {clause}", params,
                    "o.created_at DESC, o.order_id", page, size)
    return Page(found.count, _with_shop_names(conn, [r["doc"] for r in found.rows]))


def unpaid_since(conn: Connection, before: datetime, limit: int = 200) -> list[UUID]:
    """Online orders still awaiting payment that were placed before `before`."""
    return TABLE.keys_due(conn, status="awaiting_payment", at="created_at", until=before, limit=limit)


READ_MODEL = ReadModel(name="order_history", application="commerce", create_sql=CREATE_SQL,
                       drop_sql=DROP_SQL, apply_batch=apply_batch,
                       reads=(Order.Event,), version=2)  # 2: a return's `refund`
