"""What a read model is: its tables, how one event changes them, how to drop them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psycopg import Connection


@dataclass(frozen=True)
class ReadModel:
    name: str
    application: str  # whose log it follows
    create_sql: str
    drop_sql: str
    apply: Callable[[Connection, Any], None]
    # Read models that write the same rows from two logs take this transaction-level advisory
    # lock before each batch, so neither overwrites the other's change with a stale read.
    batch_lock: int | None = None
