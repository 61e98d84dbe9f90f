"""One batch of events, one round trip each way: the rows the batch touches are loaded in one
query (`= ANY`, locked), folded in memory with the read model's pure `evolve`, and written
back in one statement, inside the follower's transaction (exactly-once is kept).
A document changed by many events of the batch is written once.

Writes of a few rows are one INSERT of that many rows; from `COPY_FROM` rows on (a rebuild or a
catch-up, where batches are large) the rows are COPYed into a temporary table and moved
with one INSERT ... SELECT: per-row statements cost the server far more than COPY.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from psycopg import Connection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

Row = dict[str, Any]

# Rows from which a write goes through COPY (below: one pipelined INSERT).
COPY_FROM = 200


@dataclass(frozen=True)
class Derived:
    """A column PostgreSQL computes from text fields of the row (a tsvector): `expression`
    has one `{}` per field in `inputs`, which the row carries but the table does not."""

    column: str
    expression: str
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A read-model table whose rows are keyed by one column. Its statements are composed
    once, as text: a follower writes several tables per burst of appends, and composing them
    anew (identifiers quoted, SQL objects joined and rendered) was about a tenth of a
    follower's samples under cart-add load."""

    name: str
    key: str
    columns: tuple[str, ...]
    json: frozenset[str] = field(default_factory=frozenset)
    derived: tuple[Derived, ...] = ()
    # (on conflict, rows) -> the INSERT of that many rows
    _inserts: dict[tuple[str, int], str] = field(default_factory=dict, init=False, repr=False,
                                                 compare=False, hash=False)

    @cached_property
    def select_sql(self) -> str:
        """`load`'s statement: the rows of the keys in `%s` (an array), locked."""
        return sql.SQL("SELECT * FROM {} WHERE {} = ANY(%s) FOR UPDATE").format(
            sql.Identifier(self.name), sql.Identifier(self.key)).as_string()

    @property
    def _written(self) -> tuple[str, ...]:
        """The columns an INSERT writes: the row's and the computed ones."""
        return (*self.columns, *(d.column for d in self.derived))

    @cached_property
    def _target(self) -> str:
        """The INSERT's head: table and written columns."""
        return sql.SQL("INSERT INTO {} ({})").format(sql.Identifier(self.name), sql.SQL(", ").join(
            map(sql.Identifier, self._written))).as_string()

    @cached_property
    def _on_conflict(self) -> dict[str, str]:
        return {
            "update": sql.SQL("ON CONFLICT ({}) DO UPDATE SET {}").format(
                sql.Identifier(self.key),
                sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                                   for c in self._written if c != self.key)).as_string(),
            "nothing": "ON CONFLICT DO NOTHING",
        }

    def load(self, conn: Connection, keys: Iterable[Any]) -> dict[Any, Row]:
        wanted = list(set(keys))
        if not wanted:
            return {}
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(self.select_sql, (wanted,)).fetchall()
        return {row[self.key]: row for row in rows}

    def keys_due(self, conn: Connection, *, status: str, at: str, until: Any, limit: int) -> list[Any]:
        """The keys of rows in `status` whose `at` column is at or before `until`, oldest
        first, at most `limit`: what a sweep acts on (payments past their deadline, orders
        unpaid for too long)."""
        return [row[0] for row in conn.execute(self.keys_due_sql(status, at), (until, limit)).fetchall()]

    def keys_due_sql(self, status: str, at: str) -> str:
        # The status is written into the statement, not passed: a partial index for one
        # status (`WHERE status = 'pending'`) serves only a plan that knows the status, and
        # the plan PostgreSQL caches for a prepared statement does not know its parameters.
        return sql.SQL(
            "SELECT {key} FROM {table} WHERE status = {status} AND {at} <= %s ORDER BY {at} LIMIT %s"
        ).format(key=sql.Identifier(self.key), table=sql.Identifier(self.name),
                 status=sql.Literal(status), at=sql.Identifier(at)).as_string()

    @property
    def _inputs(self) -> tuple[str, ...]:
        return tuple(i for d in self.derived for i in d.inputs)

    def upsert(self, conn: Connection, rows: Iterable[Row]) -> None:
        self._insert(conn, rows, "update")

    def insert_new(self, conn: Connection, rows: Iterable[Row]) -> None:
        """Append-only lines (histories): a line already there stays as it is."""
        self._insert(conn, rows, "nothing")

    def _derived_sql(self, inputs: Sequence[sql.Composable]) -> list[sql.Composable]:
        out: list[sql.Composable] = []
        at = 0
        for d in self.derived:
            out.append(sql.SQL(d.expression).format(*inputs[at:at + len(d.inputs)]))
            at += len(d.inputs)
        return out

    @cached_property
    def _values_row(self) -> str:
        """One row of VALUES: a placeholder a column, computed columns from theirs."""
        return sql.SQL("({})").format(sql.SQL(", ").join([
            *[sql.Placeholder()] * len(self.columns),
            *self._derived_sql([sql.Placeholder()] * len(self._inputs))])).as_string()

    def _insert(self, conn: Connection, rows: Iterable[Row], on_conflict: str) -> None:
        fields = (*self.columns, *self._inputs)
        if self.json:
            params = [[Jsonb(r[c]) if c in self.json else r[c] for c in fields] for r in rows]
        else:
            params = [[r[c] for c in fields] for r in rows]
        if not params:
            return
        if len(params) >= COPY_FROM:
            self._copy_insert(conn, params, on_conflict)
            return
        # One statement for the batch's rows: a statement a row, even pipelined, cost a
        # follower 40-65 us more per batch of 3-8 rows.
        query = self._inserts.get((on_conflict, len(params)))
        if query is None:
            query = self._inserts[(on_conflict, len(params))] = (
                f"{self._target} VALUES {', '.join([self._values_row] * len(params))} "
                f"{self._on_conflict[on_conflict]}")
        conn.execute(query, [value for row in params for value in row])

    def _copy_insert(self, conn: Connection, params: list[list[Any]], on_conflict: str) -> None:
        # Dropped at commit: a rebuild may change the table's columns between two batches.
        temp = sql.Identifier(f"batch_{self.name}")
        inputs = [sql.Identifier(f"_in_{i}") for i in range(len(self._inputs))]
        conn.execute(sql.SQL(
            "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            temp, sql.SQL(", ").join([*map(sql.Identifier, self.columns),
                                      *(sql.SQL("NULL::text AS {}").format(i) for i in inputs)]),
            sql.Identifier(self.name)))
        with conn.cursor() as cur:
            with cur.copy(sql.SQL("COPY {} FROM STDIN").format(temp)) as copy:
                for p in params:
                    copy.write_row(p)
            cur.execute(sql.SQL("{} SELECT {} FROM {} {}; DROP TABLE {}").format(
                sql.SQL(self._target),
                sql.SQL(", ").join([*map(sql.Identifier, self.columns), *self._derived_sql(inputs)]),
                temp, sql.SQL(self._on_conflict[on_conflict]), temp))


def evolve_all(
    states: dict[Any, Any],
    events: Iterable[Any],
    evolve: Callable[[Any, Any], Any],
    key_of: Callable[[Any], Any] = lambda event: event.originator_id,
) -> dict[Any, Any]:
    """Pure: applies the events in order to `states` (changed in place); returns the last
    event that changed each key."""
    last: dict[Any, Any] = {}
    for event in events:
        key = key_of(event)
        new = evolve(states.get(key), event)
        if new is not None:
            states[key] = new
            last[key] = event
    return last


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
    last = evolve_all(states, mine, evolve)
    table.upsert(conn, [row_of(states[k], e) for k, e in last.items()])
    return {k: states[k] for k in last}
