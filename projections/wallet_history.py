"""Wallet history: one row per movement (WalletTransaction), newest first on the wire."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import Connection

from domain.commerce.wallet import Wallet
from projections.batch import Table
from projections.paging import Page, page_of
from projections.read_model import ReadModel

CREATE_SQL = """
CREATE TABLE IF NOT EXISTS wallet_history (
    wallet_id uuid NOT NULL,
    version integer NOT NULL,
    owner_id uuid NOT NULL,
    type text NOT NULL,
    amount bigint NOT NULL,
    balance_after bigint NOT NULL,
    reference text NOT NULL,
    at timestamptz NOT NULL,
    PRIMARY KEY (wallet_id, version)
);
CREATE INDEX IF NOT EXISTS wallet_history_owner ON wallet_history (owner_id, version DESC);
-- Credits and debits name only the wallet; its Opened event names the owner.
CREATE TABLE IF NOT EXISTS wallet_history_owners (wallet_id uuid PRIMARY KEY, owner_id uuid NOT NULL);
"""
DROP_SQL = "DROP TABLE IF EXISTS wallet_history, wallet_history_owners"

# Movement kinds as the Customer Journey names them.
TYPES = {"load": "load", "refund": "refund", "adjustment": "adjustment", "debit": "debit",
         "order": "debit"}


def entry(event: Wallet.Event, owner_id: UUID) -> dict[str, Any] | None:
    """The history line for one event, or None (opening a wallet moves no money). Pure."""
    if not isinstance(event, Wallet.Credited | Wallet.Debited):
        return None
    return {"wallet_id": event.originator_id, "version": event.originator_version,
            "owner_id": owner_id, "type": TYPES[event.kind], "amount": event.amount,
            "balance_after": event.balance_after, "reference": event.reference, "at": event.timestamp}


OWNERS = Table("wallet_history_owners", "wallet_id", ("wallet_id", "owner_id"))
LINES = Table("wallet_history", "wallet_id",
              ("wallet_id", "version", "owner_id", "type", "amount", "balance_after", "reference", "at"))


def apply_batch(conn: Connection, events: Sequence[Any]) -> None:
    """Owners first (an Opened may sit in the same batch as the wallet's first credit), then
    every line of the batch in one statement."""
    mine = [e for e in events if isinstance(e, Wallet.Event)]
    opened = {e.originator_id: UUID(e.owner_id) for e in mine if isinstance(e, Wallet.Opened)}
    OWNERS.insert_new(conn, [{"wallet_id": w, "owner_id": o} for w, o in opened.items()])
    owners = {**{w: r["owner_id"] for w, r in OWNERS.load(conn, (e.originator_id for e in mine
                                                                 if e.originator_id not in opened)).items()},
              **opened}
    LINES.insert_new(conn, [line for e in mine if e.originator_id in owners
                            and (line := entry(e, owners[e.originator_id])) is not None])



def page(conn: Connection, owner_id: UUID, *, page: int, size: int) -> Page:
    return page_of(conn, "type, amount, balance_after, reference, at",
                   "FROM wallet_history WHERE owner_id = %s", [owner_id], "version DESC", page, size)


READ_MODEL = ReadModel(name="wallet_history", application="commerce", create_sql=CREATE_SQL,
                       drop_sql=DROP_SQL, apply_batch=apply_batch,
                       reads=(Wallet.Event,))
