"""Stock levels: what each variant has left to sell, from the Commerce log (Stock events).

Whole life here: the table, pure `evolve`, `apply`, the overlay the catalog read model uses,
and the query. Stock lives in Commerce (orders reserve it in their own save), while products
live in the Catalog's log; so the product rows of `catalog_search` take their stock figures
from here: this projection patches the product row when a level changes, and the catalog
projection re-applies `overlay` whenever it rewrites a product row. Both take the same
advisory lock per batch (`BATCH_LOCK`), so neither can overwrite the other's newer figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from domain.commerce.stock import Stock
from projections.batch import Table, evolve_all
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


def levels_by_product(conn: Connection, product_ids: list[UUID]) -> dict[UUID, dict[str, Row]]:
    """The levels of these products' variants, by product and SKU (one query)."""
    if not product_ids:
        return {}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT product_id, sku, tracked, units_left FROM stock_levels "
                           "WHERE product_id = ANY(%s)", (product_ids,)).fetchall()
    out: dict[UUID, dict[str, Row]] = {}
    for r in rows:
        out.setdefault(r["product_id"], {})[r["sku"]] = r
    return out


TABLE = Table("stock_levels", "stock_id", ("stock_id", "product_id", "sku", "tracked", "units_left",
                                           "units_held", "units_sold", "version", "updated_at"))


def apply_batch(conn: Connection, events: Sequence[Any]) -> None:
    """Levels are folded and written once per batch; then the product rows whose figures
    buyers see changed are patched, each once."""
    mine = [e for e in events if isinstance(e, Stock.Event)]
    if not mine:
        return
    old = TABLE.load(conn, (e.originator_id for e in mine))
    rows = dict(old)
    last = evolve_all(rows, mine, evolve)
    TABLE.upsert(conn, [rows[k] for k in last])
    seen: dict[UUID, dict[str, Row]] = {}
    for k in last:
        row, before = rows[k], old.get(k)
        if before is None or (before["tracked"], before["units_left"]) != (row["tracked"], row["units_left"]):
            seen.setdefault(row["product_id"], {})[row["sku"]] = row
    if not seen:
        return
    # A product the catalog has not written yet gets the overlay when the catalog writes it.
    found = conn.execute("SELECT product_id, variants FROM catalog_products WHERE product_id = ANY(%s) "
                         "FOR UPDATE", (list(seen),)).fetchall()
    patches = []
    for product_id, variants in found:
        variants = overlay(variants, seen[product_id])
        patches.append((Jsonb(variants), any(v["in_stock"] for v in variants), product_id))
    with conn.cursor() as cur:
        cur.executemany("UPDATE catalog_products SET variants = %s, available = %s WHERE product_id = %s",
                        patches)



def level(conn: Connection, product_id: UUID, sku: str) -> Row | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM stock_levels WHERE product_id = %s AND sku = %s",
                           (product_id, sku)).fetchone()


READ_MODEL = ReadModel(name="stock_levels", application="commerce", create_sql=CREATE_SQL,
                       drop_sql=DROP_SQL, apply_batch=apply_batch,
                       batch_lock=BATCH_LOCK,
                       reads=(Stock.Event,))
