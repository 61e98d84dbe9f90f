"""Stock levels: what each variant has left to sell, from the Commerce log (Stock events).

Whole life here: the table, pure `evolve`, `apply`, the overlay the catalog read model uses,
and the query. Stock lives in Commerce (orders reserve it in their own save), while products
live in the Catalog's log; so the product rows of `catalog_search` take their stock figures
from here: this projection patches the product row when a level changes, and the catalog
projection re-applies `overlay` whenever it rewrites a product row. Both take the same
advisory lock per batch (`BATCH_LOCK`), so neither can overwrite the other's newer figure.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from domain.commerce.stock import Stock
from projections.read_model import ReadModel

BATCH_LOCK = 0x57_0C_4B  # shared with catalog_search

CREATE_SQL = """
CREATE TABLE IF NOT EXISTS stock_levels (
    stock_id uuid PRIMARY KEY,
    product_id uuid NOT NULL,
    sku text NOT NULL,
    tracked boolean NOT NULL,
    units_left integer NOT NULL CHECK (units_left >= 0),
    units_held integer NOT NULL CHECK (units_held >= 0),
    units_sold integer NOT NULL CHECK (units_sold >= 0),
    version integer NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS stock_levels_product ON stock_levels (product_id);
"""
DROP_SQL = "DROP TABLE IF EXISTS stock_levels"

Row = dict[str, Any]


def evolve(row: Row | None, event: Stock.Event) -> Row | None:
    if isinstance(event, Stock.Opened):
        return {"stock_id": event.originator_id, "product_id": UUID(event.product_id),
                "sku": event.sku, "tracked": event.units is not None, "units_left": event.units or 0,
                "units_held": 0, "units_sold": 0, "version": event.originator_version,
                "updated_at": event.timestamp}
    if row is None:
        return None
    row = {**row, "version": event.originator_version, "updated_at": event.timestamp}
    if isinstance(event, Stock.LevelSet):
        row["tracked"] = event.units is not None
        row["units_left"] = event.units or 0
    elif isinstance(event, Stock.Reserved):
        row["units_left"] -= event.qty
        row["units_held"] += event.qty
    elif isinstance(event, Stock.Released):
        row["units_held"] -= event.qty
        if row["tracked"]:
            row["units_left"] += event.qty
    elif isinstance(event, Stock.Sold):
        row["units_held"] -= event.qty
        row["units_sold"] += event.qty
    elif isinstance(event, Stock.Restocked):
        row["units_sold"] -= event.qty
        row["units_left"] += event.qty
    return row


def overlay(variants: list[dict[str, Any]], levels: dict[str, Row]) -> list[dict[str, Any]]:
    """The variants as buyers see them: Commerce's figure wherever it has one."""
    out = []
    for v in variants:
        level = levels.get(v["sku"])
        if level is not None:
            stock = level["units_left"] if level["tracked"] else None
            in_stock = bool(v.get("is_available", True)) and (stock is None or stock > 0)
            v = {**v, "stock": stock, "in_stock": in_stock}
        out.append(v)
    return out


def levels_of(conn: Connection, product_id: UUID) -> dict[str, Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT sku, tracked, units_left FROM stock_levels WHERE product_id = %s",
                           (product_id,)).fetchall()
    return {r["sku"]: r for r in rows}


def apply(conn: Connection, event: Any) -> None:
    if not isinstance(event, Stock.Event):
        return
    with conn.cursor(row_factory=dict_row) as cur:
        old = cur.execute("SELECT * FROM stock_levels WHERE stock_id = %s FOR UPDATE",
                          (event.originator_id,)).fetchone()
    row = evolve(old, event)
    if row is None:
        return
    conn.execute(
        "INSERT INTO stock_levels (stock_id, product_id, sku, tracked, units_left, units_held, "
        "units_sold, version, updated_at) VALUES (%(stock_id)s, %(product_id)s, %(sku)s, %(tracked)s, "
        "%(units_left)s, %(units_held)s, %(units_sold)s, %(version)s, %(updated_at)s) "
        "ON CONFLICT (stock_id) DO UPDATE SET tracked = EXCLUDED.tracked, "
        "units_left = EXCLUDED.units_left, units_held = EXCLUDED.units_held, "
        "units_sold = EXCLUDED.units_sold, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
        row)
    if old is not None and (old["tracked"], old["units_left"]) == (row["tracked"], row["units_left"]):
        return  # what buyers see did not change
    found = conn.execute("SELECT variants FROM catalog_products WHERE product_id = %s FOR UPDATE",
                         (row["product_id"],)).fetchone()
    if found is None:
        return  # the catalog projection applies the overlay when it writes the row
    variants = overlay(found[0], {row["sku"]: row})
    conn.execute(
        "UPDATE catalog_products SET variants = %s, available = %s WHERE product_id = %s",
        (Jsonb(variants), any(v["in_stock"] for v in variants), row["product_id"]))


def level(conn: Connection, product_id: UUID, sku: str) -> Row | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM stock_levels WHERE product_id = %s AND sku = %s",
                           (product_id, sku)).fetchone()


READ_MODEL = ReadModel(name="stock_levels", application="commerce", create_sql=CREATE_SQL,
                       drop_sql=DROP_SQL, apply=apply, batch_lock=BATCH_LOCK)
