"""Rewards: points, reservation and history per customer. Whole life here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

from domain.commerce.rewards import RewardLedger
from projections.batch import Table, fold
from projections.read_model import ReadModel

CREATE_SQL = """
CREATE TABLE IF NOT EXISTS rewards (
    ledger_id uuid PRIMARY KEY,
    owner_id uuid NOT NULL UNIQUE,
    points bigint NOT NULL,
    reserved bigint NOT NULL,
    lifetime bigint NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS reward_history (
    ledger_id uuid NOT NULL,
    version integer NOT NULL,
    owner_id uuid NOT NULL,
    type text NOT NULL,
    points bigint NOT NULL,
    reference text NOT NULL,
    at timestamptz NOT NULL,
    PRIMARY KEY (ledger_id, version)
);
CREATE INDEX IF NOT EXISTS reward_history_owner ON reward_history (owner_id, version DESC);
"""
DROP_SQL = "DROP TABLE IF EXISTS rewards, reward_history"

Row = dict[str, Any]

# Signed change to (points, reserved, lifetime) and the history line, per event. Pure.
MOVES = {
    RewardLedger.Earned: ("earned", 1, 0, 1),
    RewardLedger.Reversed: ("reversed", -1, 0, 0),
    RewardLedger.Redeemed: ("redeemed", -1, 0, 0),
    RewardLedger.Restored: ("restored", 1, 0, 0),
    RewardLedger.ReturnRestored: ("restored", 1, 0, 0),
    RewardLedger.Unspent: ("restored", 1, 0, 0),
}


def evolve(row: Row | None, event: Any) -> tuple[Row | None, Row | None]:
    """(new rewards row, history line or None)."""
    if isinstance(event, RewardLedger.Opened):
        return {"ledger_id": event.originator_id, "owner_id": UUID(event.owner_id), "points": 0,
                "reserved": 0, "lifetime": 0, "updated_at": event.timestamp}, None
    if row is None:
        return None, None
    row = {**row, "updated_at": event.timestamp}
    if isinstance(event, RewardLedger.Reserved):
        row["reserved"] = event.points
        return row, None
    if isinstance(event, RewardLedger.ReservationReleased):
        row["reserved"] = 0
        return row, None
    kind, sign, _, lifetime = MOVES[type(event)]
    row["points"] += sign * event.points
    row["lifetime"] += lifetime * event.points
    if isinstance(event, RewardLedger.Redeemed):
        row["reserved"] = 0
    if isinstance(event, RewardLedger.Reversed):
        row["reserved"] = min(row["reserved"], row["points"])
        row["lifetime"] -= event.lifetime  # 0 in v1 reversals (upcast)
    reference = getattr(event, "order_id", None) or getattr(event, "reference", "")
    line = {"ledger_id": event.originator_id, "version": event.originator_version,
            "owner_id": row["owner_id"], "type": kind, "points": event.points,
            "reference": str(reference), "at": event.timestamp}
    return row, line


TABLE = Table("rewards", "ledger_id", ("ledger_id", "owner_id", "points", "reserved", "lifetime", "updated_at"))
HISTORY = Table("reward_history", "ledger_id",
                ("ledger_id", "version", "owner_id", "type", "points", "reference", "at"))


def apply_batch(conn: Connection, events: Sequence[Any]) -> None:
    lines: list[Row] = []

    def step(row: Row | None, event: Any) -> Row | None:
        new, line = evolve(row, event)
        if line is not None:
            lines.append(line)
        return new

    fold(conn, TABLE, events, RewardLedger.Event, step)
    HISTORY.insert_new(conn, lines)



def find(conn: Connection, owner_id: UUID, history: int = 20) -> tuple[Row | None, list[Row]]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM rewards WHERE owner_id = %s", (owner_id,)).fetchone()
        lines = cur.execute("SELECT type, points, reference, at FROM reward_history WHERE owner_id = %s "
                            "ORDER BY version DESC LIMIT %s", (owner_id, history)).fetchall()
    return row, lines


# v2: points are bigint. One order of 99 units at the highest price earns 9.9 billion points,
# which stopped v1 (integer) at that event for every customer.
READ_MODEL = ReadModel(name="rewards", application="commerce", create_sql=CREATE_SQL,
                       drop_sql=DROP_SQL, apply_batch=apply_batch,
                       reads=(RewardLedger.Event,), version=2)
