"""The address an order is delivered to, kept out of the event log.

Personal data does not belong in an append-only log: it can be neither corrected nor erased
there, and auditors and Kafka consumers read the log. An order's event holds only
`{"delivery_address": id}`, the id of an immutable copy here, made when the order is placed
(a saved address may be edited or deleted later; the order keeps the one it was sent to).
Erasing a person deletes their rows; their orders then show no address, and the log is
untouched. Orders placed before this kept the address text in their event; those are shown
as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from psycopg import Connection
from psycopg.rows import dict_row

from identity.profiles import ADDRESS_FIELDS

REF = "delivery_address"


def keep(conn: Connection, user_id: UUID, address: dict[str, Any], *, now: datetime) -> dict[str, str]:
    """Copies a saved address (a `consumer_addresses` row); what the order's event may hold."""
    copy_id = uuid4()
    conn.execute(
        f"INSERT INTO delivery_addresses (id, user_id, address_id, {', '.join(ADDRESS_FIELDS)}, "
        f"created_at) VALUES (%s, %s, %s, {', '.join(['%s'] * len(ADDRESS_FIELDS))}, %s)",
        (copy_id, user_id, address["id"], *(address.get(f) for f in ADDRESS_FIELDS), now))
    return {REF: str(copy_id)}


def is_reference(address: Any) -> bool:
    return isinstance(address, dict) and set(address) == {REF}


def resolve(conn: Connection, docs: Iterable[dict[str, Any]]) -> None:
    """Replaces each doc's address reference by the address (as orders showed it before:
    the saved address's fields and its id), in one query; an erased one becomes None."""
    pending = [d for d in docs if is_reference(d.get("address"))]
    if not pending:
        return
    ids = list({UUID(d["address"][REF]) for d in pending})
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT id, address_id, {', '.join(ADDRESS_FIELDS)} FROM delivery_addresses "
            "WHERE id = ANY(%s)", (ids,)).fetchall()
    found = {str(r["id"]): {**{f: r[f] for f in ADDRESS_FIELDS}, "id": str(r["address_id"])}
             for r in rows}
    for doc in pending:
        doc["address"] = found.get(doc["address"][REF])
