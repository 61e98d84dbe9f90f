"""Wallet balance: one row per wallet. Whole life here: table, pure `evolve`, `apply`, query.

Must always equal the fold of the wallet's events (tested, also across a killed worker and
`eventmart rebuild wallet_balance`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

from domain.commerce.wallet import Wallet
from projections.batch import Table, fold
from projections.read_model import ReadModel

CREATE_SQL = """
CREATE TABLE IF NOT EXISTS wallet_balance (
    wallet_id uuid PRIMARY KEY,
    owner_id uuid NOT NULL UNIQUE,
    currency text NOT NULL,
    balance bigint NOT NULL CHECK (balance >= 0),
    version integer NOT NULL,
    updated_at timestamptz NOT NULL
);
"""
DROP_SQL = "DROP TABLE IF EXISTS wallet_balance"

Row = dict[str, Any]


def evolve(row: Row | None, event: Wallet.Event) -> Row | None:
    if isinstance(event, Wallet.Opened):
        return {"wallet_id": event.originator_id, "owner_id": UUID(event.owner_id),
                "currency": event.currency, "balance": 0, "version": event.originator_version,
                "updated_at": event.timestamp}
    if row is None:
        return None
    row = {**row, "version": event.originator_version, "updated_at": event.timestamp}
    if isinstance(event, Wallet.Credited | Wallet.Debited):
        row["balance"] = event.balance_after
    return row


TABLE = Table("wallet_balance", "wallet_id",
              ("wallet_id", "owner_id", "currency", "balance", "version", "updated_at"))


def apply_batch(conn: Connection, events: Sequence[Any]) -> None:
    fold(conn, TABLE, events, Wallet.Event, evolve)



def find(conn: Connection, owner_id: UUID) -> Row | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM wallet_balance WHERE owner_id = %s", (owner_id,)).fetchone()


READ_MODEL = ReadModel(name="wallet_balance", application="commerce", create_sql=CREATE_SQL,
                       drop_sql=DROP_SQL, apply_batch=apply_batch,
                       reads=(Wallet.Event,))
