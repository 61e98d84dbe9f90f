"""One batch of events, one round trip each way: the rows the batch touches are loaded in one
query (`= ANY`, locked), folded in memory with the read model's pure `evolve`, and written
back in one pipelined statement, inside the follower's transaction (exactly-once is kept).
A document changed by many events of the batch is written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import Connection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

Row = dict[str, Any]


@dataclass(frozen=True)
class Table:
    """A read-model table whose rows are keyed by one column."""

    name: str
    key: str
    columns: tuple[str, ...]
    json: frozenset[str] = field(default_factory=frozenset)

    def load(self, conn: Connection, keys: Iterable[Any]) -> dict[Any, Row]:
        wanted = list(set(keys))
        if not wanted:
            return {}
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                sql.SQL("SELECT * FROM {} WHERE {} = ANY(%s) FOR UPDATE").format(
                    sql.Identifier(self.name), sql.Identifier(self.key)), (wanted,)).fetchall()
        return {row[self.key]: row for row in rows}

    def _values(self, row: Row) -> list[Any]:
        return [Jsonb(row[c]) if c in self.json else row[c] for c in self.columns]

    def upsert(self, conn: Connection, rows: Iterable[Row]) -> None:
        self._insert(conn, rows, sql.SQL("ON CONFLICT ({}) DO UPDATE SET {}").format(
            sql.Identifier(self.key),
            sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                               for c in self.columns if c != self.key)))

    def insert_new(self, conn: Connection, rows: Iterable[Row]) -> None:
        """Append-only lines (histories): a line already there stays as it is."""
        self._insert(conn, rows, sql.SQL("ON CONFLICT DO NOTHING"))

    def _insert(self, conn: Connection, rows: Iterable[Row], on_conflict: sql.Composable) -> None:
        params = [self._values(r) for r in rows]
        if not params:
            return
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) {}").format(
            sql.Identifier(self.name), sql.SQL(", ").join(map(sql.Identifier, self.columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(self.columns)), on_conflict)
        with conn.cursor() as cur:
            cur.executemany(query, params)

def fold(
    conn: Connection,
    table: Table,
    events: Sequence[Any],
    kind: type | tuple[type, ...],
    evolve: Callable[[Any, Any], Any],
    *,
    state_of: Callable[[Row], Any] = lambda row: row,
    row_of: Callable[[Any, Any], Row] = lambda state, event: state,
) -> dict[Any, Any]:
    """Applies every event of `kind` in the batch to its row (keyed by aggregate id) and writes
    the changed rows once. `state_of`/`row_of` translate between a stored row and what
    `evolve` works on (e.g. a JSON document). Returns the new states by key."""
    mine: list[Any] = [e for e in events if isinstance(e, kind)]
    if not mine:
        return {}
    states = {k: state_of(r) for k, r in table.load(conn, (e.originator_id for e in mine)).items()}
    changed: dict[Any, Row] = {}
    for event in mine:
        new = evolve(states.get(event.originator_id), event)
        if new is not None:
            states[event.originator_id] = new
            changed[event.originator_id] = row_of(new, event)
    table.upsert(conn, changed.values())
    return {k: states[k] for k in changed}
