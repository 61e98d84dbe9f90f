"""Notifications: what a customer is told about their orders, wallet, points, support tickets
and new offers. Whole life here: tables, the pure `notices(event, owner)`, `apply`, queries.

Two read models feed the one `notifications` table, one per log (commerce and support); each
rebuilds only its own rows (`source`). Offers are broadcast rows (`user_id` NULL) that only
customers who opted in to marketing see.

Whether a notification was read is not derived from events: it lives in
`notification_reads`, which no rebuild touches. Notification ids are derived from the event
(source, aggregate, version, index), so a rebuilt notification keeps its id and its read mark.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from psycopg import Connection
from psycopg.rows import dict_row

from domain.commerce.coupon import Coupon
from domain.commerce.order import Order
from domain.commerce.rewards import RewardLedger
from domain.commerce.wallet import Wallet
from domain.support.ticket import SupportTicket
from projections.batch import Table
from projections.paging import Page
from projections.read_model import ReadModel

KINDS = ("order", "wallet", "rewards", "promotion", "support")

CREATE_SQL = """
CREATE TABLE IF NOT EXISTS notifications (
    id uuid PRIMARY KEY,
    source text NOT NULL,
    user_id uuid,
    kind text NOT NULL,
    title text NOT NULL,
    body text NOT NULL,
    link text NOT NULL,
    at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_user ON notifications (user_id, at DESC);
CREATE INDEX IF NOT EXISTS notifications_broadcast ON notifications (at DESC) WHERE user_id IS NULL;
CREATE TABLE IF NOT EXISTS notification_owners (
    source text NOT NULL,
    aggregate_id uuid NOT NULL,
    owner_id uuid NOT NULL,
    label text NOT NULL DEFAULT '',
    PRIMARY KEY (source, aggregate_id)
);
"""
# Read marks (notification_reads) are user data, not a projection: a plain table of
# eventmart/schema/, never dropped by a rebuild.
# Offers older than this before a customer signed up are not news to them.
BROADCAST_LOOKBACK = timedelta(days=30)

Notice = dict[str, Any]


def money(amount: int, currency: str = "INR") -> str:
    """Integer arithmetic: 24900 -> ₹249.00."""
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    prefix = "₹" if currency == "INR" else f"{currency} "
    return f"{sign}{prefix}{amount // 100:,}.{amount % 100:02d}"


def _order(title: str, body: str, order_id: UUID) -> Notice:
    return {"kind": "order", "title": title, "body": body, "link": f"/orders/{order_id}"}


ORDER_STATUS = {
    "accepted": ("Order accepted", "The shop is preparing your order."),
    "packed": ("Order packed", "Your order is packed and waiting for the rider."),
    "out_for_delivery": ("Out for delivery", "Your order is on its way."),
    "delivered": ("Delivered", "Your order was delivered. Rate it to help your neighbours."),
    "pending": ("Order confirmed", "The shop has your order."),
}


def order_notices(event: Order.Event, label: str) -> list[Notice]:
    oid = event.originator_id
    if isinstance(event, Order.Placed):
        how = {"cash": "pay on delivery", "wallet": "paid from your wallet",
               "online": "awaiting online payment"}.get(event.payment_mode, event.payment_mode)
        return [_order("Order placed", f"Order of {money(event.amounts['total'], event.currency)}: {how}.",
                       oid)]
    # Wallet payments are told by "Order placed", cash by "Delivered": only online money is news.
    if isinstance(event, Order.Paid) and not event.payment_id.startswith(("wallet:", "cash:")):
        return [_order("Payment received", f"{money(event.amount)} received for {label}.", oid)]
    if isinstance(event, Order.PaymentFailed):
        return [_order("Payment failed", f"The payment for {label} failed: {event.reason}", oid)]
    if isinstance(event, Order.StatusChanged) and event.status in ORDER_STATUS:
        title, body = ORDER_STATUS[event.status]
        return [_order(title, body, oid)]
    if isinstance(event, Order.Modified):
        return [_order("Your order was changed", "The shop changed your order; please review and "
                       "confirm it.", oid)]
    if isinstance(event, Order.Cancelled):
        if event.status == "rejected":
            body = f"The shop could not take your order{': ' + event.reason if event.reason else ''}."
            title = "Order rejected"
        else:
            title, body = "Order cancelled", f"{label} was cancelled."
        if event.refund_due:
            body += f" {money(event.refund_due)} will be refunded."
        return [_order(title, body, oid)]
    if isinstance(event, Order.Refunded):
        if event.method == "points":
            return [_order("Refund reduced by points already spent", (
                f"{money(event.amount)} of the return was the value of points this order earned, "
                "which you had already used."), oid)]
        to = "your wallet" if event.method == "wallet" else "your payment method"
        return [_order("Refund issued", f"{money(event.amount)} refunded to {to}.", oid)]
    if isinstance(event, Order.MessagePosted) and event.sender_role != "customer":
        return [_order("New message from the shop", event.text[:140], oid)]
    if isinstance(event, Order.IssueResolved):
        return [_order("Your issue was resolved", event.resolution[:140], oid)]
    if isinstance(event, Order.ReturnDecided):
        title = "Return approved" if event.approved else "Return declined"
        return [_order(title, event.note[:140] or title + ".", oid)]
    return []


def wallet_notices(event: Wallet.Event) -> list[Notice]:
    if not isinstance(event, Wallet.Credited | Wallet.Debited):
        return []
    body = None
    if isinstance(event, Wallet.Credited):
        body = {"load": f"{money(event.amount)} added to your wallet.",
                "refund": f"{money(event.amount)} refunded to your wallet.",
                "adjustment": f"Your wallet was credited {money(event.amount)}."}[event.kind]
    elif isinstance(event, Wallet.Debited) and event.kind != "order":  # orders say it themselves
        body = f"{money(event.amount)} paid from your wallet ({event.reference[:60]})."
    if body is None:
        return []
    return [{"kind": "wallet", "title": "Wallet", "body": f"{body} Balance {money(event.balance_after)}.",
             "link": "/wallet"}]


def reward_notices(event: RewardLedger.Event) -> list[Notice]:
    if isinstance(event, RewardLedger.Earned):
        return [{"kind": "rewards", "title": "Points earned",
                 "body": f"You earned {event.points} points on a delivered order.", "link": "/rewards"}]
    if isinstance(event, RewardLedger.ReturnRestored):
        return [{"kind": "rewards", "title": "Points given back",
                 "body": f"{event.points} points you used were given back for returned items.",
                 "link": "/rewards"}]
    if isinstance(event, RewardLedger.Unspent):
        return [{"kind": "rewards", "title": "Points given back",
                 "body": f"{event.points} points you used were given back: your changed order "
                         "needed less discount.", "link": "/rewards"}]
    if isinstance(event, RewardLedger.Reversed) and event.points:  # 0: all spent (see Refunded)
        return [{"kind": "rewards", "title": "Points reversed",
                 "body": f"{event.points} points were taken back for returned items.", "link": "/rewards"}]
    return []


def offer_notice(event: Coupon.Created) -> Notice:
    t = event.terms
    off = money(t["value"]) if t["discount_type"] == "flat" else f"{t['value']}%"
    body = t.get("description") or f"{off} off with code {t['code']}."
    return {"kind": "promotion", "title": f"New offer: {t['code']}", "body": body,
            "link": f"/offers/{t['code']}"}


def ticket_notices(event: SupportTicket.Event, customer_id: UUID, subject: str) -> list[Notice]:
    link = f"/support/tickets/{event.originator_id}"
    if isinstance(event, SupportTicket.MessagePosted) and event.author_role == "staff":
        return [{"kind": "support", "title": f"Support replied: {subject[:80]}",
                 "body": event.text[:140], "link": link}]
    if isinstance(event, SupportTicket.StatusChanged) and event.by != str(customer_id) \
            and event.status in ("resolved", "closed"):
        return [{"kind": "support", "title": f"Ticket {event.status}: {subject[:80]}",
                 "body": event.note[:140] or f"Your ticket was marked {event.status}.", "link": link}]
    return []


def notification_id(source: str, event: Any, index: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"eventmart:notification:{source}:{event.originator_id}:"
                                f"{event.originator_version}:{index}")


OWNERS = Table("notification_owners", "aggregate_id", ("source", "aggregate_id", "owner_id", "label"))
NOTIFICATIONS = Table("notifications", "id", ("id", "source", "user_id", "kind", "title", "body", "link", "at"))


def _owners(conn: Connection, source: str, opened: dict[UUID, tuple[UUID, str]],
            others: set[UUID]) -> dict[UUID, tuple[UUID, str]]:
    """Remembers the aggregates opened in this batch; returns those and the known owners of
    `others`, by aggregate."""
    OWNERS.insert_new(conn, [{"source": source, "aggregate_id": a, "owner_id": o, "label": label}
                             for a, (o, label) in opened.items()])
    wanted = list(others - opened.keys())
    found = conn.execute("SELECT aggregate_id, owner_id, label FROM notification_owners "
                         "WHERE source = %s AND aggregate_id = ANY(%s)", (source, wanted)).fetchall() \
        if wanted else []
    return {**opened, **{a: (o, label) for a, o, label in found}}


def _rows(source: str, event: Any, user_id: UUID | None, notices: list[Notice]) -> list[dict[str, Any]]:
    return [{"id": notification_id(source, event, i), "source": source, "user_id": user_id, "kind": n["kind"],
             "title": n["title"], "body": n["body"], "link": n["link"], "at": event.timestamp}
            for i, n in enumerate(notices)]


def apply_commerce_batch(conn: Connection, events: Sequence[Any]) -> None:
    opened: dict[UUID, tuple[UUID, str]] = {}
    for e in events:
        if isinstance(e, Order.Placed):
            opened.setdefault(e.originator_id, (UUID(e.customer_id), f"order #{str(e.originator_id)[:8]}"))
        elif isinstance(e, Wallet.Opened | RewardLedger.Opened):
            opened.setdefault(e.originator_id, (UUID(e.owner_id), ""))
    told = [e for e in events if isinstance(e, Order.Event | Wallet.Event | RewardLedger.Event)]
    owners = _owners(conn, "commerce", opened, {e.originator_id for e in told})
    rows: list[dict[str, Any]] = []
    for e in events:
        if isinstance(e, Coupon.Created):
            rows += _rows("commerce", e, None, [offer_notice(e)])
        elif isinstance(e, Order.Event | Wallet.Event | RewardLedger.Event) and e.originator_id in owners:
            owner, label = owners[e.originator_id]
            if isinstance(e, Order.Event):
                notices = order_notices(e, label)
            elif isinstance(e, Wallet.Event):
                notices = wallet_notices(e)
            else:
                notices = reward_notices(e)
            rows += _rows("commerce", e, owner, notices)
    NOTIFICATIONS.insert_new(conn, rows)


def apply_support_batch(conn: Connection, events: Sequence[Any]) -> None:
    mine = [e for e in events if isinstance(e, SupportTicket.Event)]
    opened: dict[UUID, tuple[UUID, str]] = {}
    for e in mine:
        if isinstance(e, SupportTicket.Opened):
            opened.setdefault(e.originator_id, (UUID(e.customer_id), e.subject))
    owners = _owners(conn, "support", opened, {e.originator_id for e in mine})
    rows: list[dict[str, Any]] = []
    for e in mine:
        if not isinstance(e, SupportTicket.Opened) and e.originator_id in owners:
            owner, subject = owners[e.originator_id]
            rows += _rows("support", e, owner, ticket_notices(e, owner, subject))
    NOTIFICATIONS.insert_new(conn, rows)




def _visible(unread_only: bool) -> str:
    """Rows a user may see: their own, and broadcasts if they opted in to marketing."""
    return (
        "FROM notifications n LEFT JOIN notification_reads r "
        "ON r.notification_id = n.id AND r.user_id = %(user)s "
        "WHERE (n.user_id = %(user)s OR (n.user_id IS NULL AND %(promotions)s AND n.at >= %(since)s))"
        + (" AND r.read_at IS NULL" if unread_only else "")
    )


def unread_count(conn: Connection, user_id: UUID, *, promotions: bool, joined: datetime) -> int:
    params = {"user": user_id, "promotions": promotions, "since": joined - BROADCAST_LOOKBACK}
    row = conn.execute(f"SELECT count(*) {_visible(True)}", params).fetchone()
    return int(row[0]) if row else 0


def page(conn: Connection, user_id: UUID, *, promotions: bool, joined: datetime, unread_only: bool,
         page: int, size: int) -> tuple[Page, int]:
    """Newest first; also returns how many are unread."""
    params = {"user": user_id, "promotions": promotions, "since": joined - BROADCAST_LOOKBACK,
              "limit": size, "offset": (page - 1) * size}
    unread = unread_count(conn, user_id, promotions=promotions, joined=joined)
    count = unread
    with conn.cursor(row_factory=dict_row) as cur:
        if not unread_only:
            found = cur.execute(f"SELECT count(*) AS n {_visible(False)}", params).fetchone()
            count = found["n"] if found else 0
        rows = cur.execute(
            f"SELECT n.id, n.kind, n.title, n.body, n.link, n.at, r.read_at {_visible(unread_only)} "
            "ORDER BY n.at DESC, n.id LIMIT %(limit)s OFFSET %(offset)s", params).fetchall()
    return Page(count, rows), unread


def mark_read(conn: Connection, user_id: UUID, ids: list[UUID] | None, *, promotions: bool,
              joined: datetime, now: datetime) -> int:
    """Marks these (or, with None, all) of the user's visible notifications read; ids the user
    cannot see are ignored, so nothing leaks. Returns how many were newly marked."""
    params = {"user": user_id, "promotions": promotions, "since": joined - BROADCAST_LOOKBACK,
              "now": now, "ids": ids}
    only = " AND n.id = ANY(%(ids)s)" if ids is not None else ""
    cur = conn.execute(
        "INSERT INTO notification_reads (user_id, notification_id, read_at) "
        f"SELECT %(user)s, n.id, %(now)s {_visible(True)}{only} ON CONFLICT DO NOTHING", params)
    return cur.rowcount


def _forget(source: str) -> str:
    """A rebuild of one source must leave the other's rows (and the shared tables) alone."""
    return (f"{CREATE_SQL} DELETE FROM notifications WHERE source = '{source}'; "
            f"DELETE FROM notification_owners WHERE source = '{source}';")


READ_MODEL = ReadModel(name="notifications", application="commerce", create_sql=CREATE_SQL,
                       drop_sql=_forget("commerce"), apply_batch=apply_commerce_batch,
                       reads=(Order.Event, Wallet.Event, RewardLedger.Event, Coupon.Created))
SUPPORT_READ_MODEL = ReadModel(name="support_notifications", application="support",
                               create_sql=CREATE_SQL, drop_sql=_forget("support"),
                               apply_batch=apply_support_batch, reads=(SupportTicket.Event,))
