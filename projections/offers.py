"""Offers: every coupon with its terms, use count and state, for GET /api/v1/consumer/offers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

from domain.commerce.coupon import Coupon
from projections.batch import Table, fold
from projections.read_model import ReadModel

CREATE_SQL = """
CREATE TABLE IF NOT EXISTS offers (
    coupon_id uuid PRIMARY KEY,
    code text NOT NULL UNIQUE,
    description text NOT NULL,
    shop_id uuid,
    terms jsonb NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_until timestamptz NOT NULL,
    usage_limit_total integer,
    uses integer NOT NULL,
    active boolean NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS offers_live ON offers (valid_until) WHERE active;
"""
DROP_SQL = "DROP TABLE IF EXISTS offers"

TERMS = ("discount_type", "value", "cap", "min_order", "usage_limit_per_user")


def evolve(row: dict[str, Any] | None, event: Coupon.Event) -> dict[str, Any] | None:
    if isinstance(event, Coupon.Created):
        t = event.terms
        return {"coupon_id": event.originator_id, "code": t["code"],
                "description": t.get("description", ""),
                "shop_id": UUID(t["shop_id"]) if t.get("shop_id") else None,
                "terms": {k: t.get(k) for k in TERMS}, "valid_from": t["valid_from"],
                "valid_until": t["valid_until"], "usage_limit_total": t.get("usage_limit_total"),
                "uses": 0, "active": True, "created_at": event.timestamp,
                "updated_at": event.timestamp}
    if row is None:
        return None
    row = {**row, "updated_at": event.timestamp}
    if isinstance(event, Coupon.Redeemed):
        row["uses"] += 1
    elif isinstance(event, Coupon.Released):
        row["uses"] -= 1
    elif isinstance(event, Coupon.Deactivated):
        row["active"] = False
    return row


TABLE = Table("offers", "coupon_id",
              ("coupon_id", "code", "description", "shop_id", "terms", "valid_from", "valid_until",
               "usage_limit_total", "uses", "active", "created_at", "updated_at"), json=frozenset({"terms"}))


def apply_batch(conn: Connection, events: Sequence[Any]) -> None:
    fold(conn, TABLE, events, Coupon.Event, evolve)



def live(conn: Connection, now: datetime, shop_id: UUID | None = None) -> list[dict[str, Any]]:
    """Offers that can be used now: active, in their window, not used up."""
    query = ("SELECT * FROM offers WHERE active AND valid_from <= %s AND valid_until > %s "
             "AND (usage_limit_total IS NULL OR uses < usage_limit_total)")
    params: list[Any] = [now, now]
    if shop_id:
        query += " AND (shop_id IS NULL OR shop_id = %s)"
        params.append(shop_id)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query + " ORDER BY valid_until, code", params).fetchall()


def find(conn: Connection, coupon_id: UUID) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM offers WHERE coupon_id = %s", (coupon_id,)).fetchone()


READ_MODEL = ReadModel(name="offers", application="commerce", create_sql=CREATE_SQL,
                       drop_sql=DROP_SQL, apply_batch=apply_batch,
                       reads=(Coupon.Event,))
