"""Items a consumer saved for later. Plain rows: nothing here moves money or stock."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from psycopg import Connection

from domain.errors import DomainError

# Tables (wishlist_items): eventmart/schema/, applied by `eventmart migrate`.
MAX_ITEMS = 500


class WishlistFullError(DomainError, title="Wishlist full"): ...


def add(conn: Connection, user_id: UUID, product_id: UUID, *, now: datetime) -> bool:
    """Idempotent: adding twice keeps the first time. Returns whether it was new; a full
    list is WishlistFullError. Counted and added under a lock per user: counted in the
    INSERT alone, 100 concurrent adds to a list of 498 all saw room (502 items)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"wishlist:{user_id}",))
        cur = conn.execute(
            "INSERT INTO wishlist_items (user_id, product_id, added_at) "
            "SELECT %s, %s, %s WHERE (SELECT count(*) FROM wishlist_items WHERE user_id = %s) < %s "
            "ON CONFLICT DO NOTHING",
            (user_id, product_id, now, user_id, MAX_ITEMS),
        )
        if cur.rowcount == 1:
            return True
        if conn.execute("SELECT 1 FROM wishlist_items WHERE user_id = %s AND product_id = %s",
                        (user_id, product_id)).fetchone():
            return False
    raise WishlistFullError(f"a wishlist holds at most {MAX_ITEMS} items: remove some first",
                            field="item_id")


def remove(conn: Connection, user_id: UUID, product_id: UUID) -> bool:
    cur = conn.execute("DELETE FROM wishlist_items WHERE user_id = %s AND product_id = %s",
                       (user_id, product_id))
    return cur.rowcount == 1


def entries(conn: Connection, user_id: UUID) -> list[tuple[UUID, datetime]]:
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT product_id, added_at FROM wishlist_items WHERE user_id = %s "
        "ORDER BY added_at DESC, product_id", (user_id,)).fetchall()]
