"""Cart view: one row per cart with its lines and totals, as GET /v1/carts/{id} shows it.

Whole life here: table, pure `evolve`, `apply` (SQL around evolve), queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection

from domain.commerce import pricing
from domain.commerce.cart import Cart
from projections.batch import Table, fold
from projections.read_model import ReadModel

CREATE_SQL = """
CREATE TABLE IF NOT EXISTS cart_view (
    cart_id uuid PRIMARY KEY,
    owner_id uuid NOT NULL,
    version integer NOT NULL,
    doc jsonb NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS cart_view_owner ON cart_view (owner_id);
"""
DROP_SQL = "DROP TABLE IF EXISTS cart_view"

Doc = dict[str, Any]


def _with_totals(doc: Doc) -> Doc:
    for item in doc["items"]:
        item["line_total"] = item["qty"] * item["unit_price"]
    doc["item_count"] = sum(item["qty"] for item in doc["items"])
    doc["total_amount"] = sum(item["line_total"] for item in doc["items"])
    doc["shop_id"] = doc["items"][0]["shop_id"] if doc["items"] else None
    coupon = doc.get("coupon")
    parts = pricing.discounts(doc["total_amount"], coupon["terms"] if coupon else None,
                              doc.get("points", 0))
    doc["coupon"] = {"code": coupon["code"], "terms": coupon["terms"], "discount": parts["coupon"]} \
        if coupon else None
    doc["points"] = doc.get("points", 0)
    doc["points_discount"] = parts["points"]
    doc.update(pricing.amounts(doc["total_amount"], parts["coupon"] + parts["points"]))
    return doc


def evolve(doc: Doc | None, event: Cart.Event) -> Doc | None:
    """The cart as the client sees it, after one more event. Pure."""
    ts = event.timestamp.isoformat()
    if isinstance(event, Cart.Opened):
        return _with_totals({
            "id": str(event.originator_id),
            "owner_id": event.owner_id,
            "currency": event.currency,
            "items": [],
            "created_at": ts,
            "updated_at": ts,
        })
    if doc is None:  # an event for a cart we never saw opening: nothing sensible to show
        return None
    doc = {**doc, "items": [dict(i) for i in doc["items"]], "updated_at": ts}
    if isinstance(event, Cart.ItemAdded):
        doc["items"].append({
            "item_id": event.item_id,
            "product_id": event.product_id,
            "shop_id": event.shop_id,
            "sku": event.sku,
            "name": event.name,
            "qty": event.qty,
            "unit_price": event.unit_price,
        })
    elif isinstance(event, Cart.ItemQuantityChanged):
        for item in doc["items"]:
            if item["item_id"] == event.item_id:
                item["qty"] = event.qty
                item["unit_price"] = event.unit_price
    elif isinstance(event, Cart.ItemRemoved):
        doc["items"] = [i for i in doc["items"] if i["item_id"] != event.item_id]
    elif isinstance(event, Cart.Cleared):
        doc["items"] = []
        doc["coupon"] = None
        doc["points"] = 0
    elif isinstance(event, Cart.CouponApplied):
        doc["coupon"] = {"code": event.code, "terms": event.terms}
    elif isinstance(event, Cart.CouponRemoved):
        doc["coupon"] = None
    elif isinstance(event, Cart.PointsReserved):
        doc["points"] = event.points
    return _with_totals(doc)


def summary(cart: Cart) -> Doc:
    """The same document, straight from the aggregate (for command responses)."""
    return _with_totals({
        "id": str(cart.id),
        "owner_id": cart.owner_id,
        "currency": cart.currency,
        "items": [line.as_dict() for line in cart.lines.values()],
        "coupon": cart.coupon.as_dict() if cart.coupon else None,
        "points": cart.points,
        "created_at": cart.created_on.isoformat(),
        "updated_at": cart.modified_on.isoformat(),
    })


def empty(cart_id: UUID, owner_id: UUID) -> Doc:
    """A cart nobody has written to yet looks like this."""
    return _with_totals({"id": str(cart_id), "owner_id": str(owner_id), "currency": "INR",
                         "items": [], "created_at": None, "updated_at": None})


TABLE = Table("cart_view", "cart_id", ("cart_id", "owner_id", "version", "doc", "updated_at"),
              json=frozenset({"doc"}))


def _row(doc: Doc, event: Cart.Event) -> dict[str, Any]:
    return {"cart_id": event.originator_id, "owner_id": UUID(doc["owner_id"]),
            "version": event.originator_version, "doc": doc,
            "updated_at": datetime.fromisoformat(doc["updated_at"])}


def apply_batch(conn: Connection, events: Sequence[Any]) -> None:
    """A cart changed by many events of the batch is rewritten once."""
    fold(conn, TABLE, events, Cart.Event, evolve, state_of=lambda row: row["doc"], row_of=_row)



def find_cart(conn: Connection, cart_id: UUID, owner_id: UUID) -> Doc | None:
    row = conn.execute(
        "SELECT doc FROM cart_view WHERE cart_id=%s AND owner_id=%s", (cart_id, owner_id)
    ).fetchone()
    return row[0] if row else None


READ_MODEL = ReadModel(
    name="cart_view", application="commerce", create_sql=CREATE_SQL, drop_sql=DROP_SQL,
    apply_batch=apply_batch, reads=(Cart.Event,),
)
