"""What a read model is: its tables, how one event changes them, how to drop them; and the
one rule every read model's connection follows about text."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import Connection
from psycopg.types.json import set_json_dumps
from psycopg.types.string import StrDumperUnknown

from adapters import json_codec


@dataclass(frozen=True)
class ReadModel:
    name: str
    application: str  # whose log it follows
    create_sql: str
    drop_sql: str
    # How a batch of events changes its tables, all at once (projections/batch.py): rows are
    # loaded and written once per batch; one event is a batch of one.
    apply_batch: Callable[[Connection, Sequence[Any]], None]
    # Read models that write the same rows from two logs take this transaction-level advisory
    # lock before each batch, so neither overwrites the other's change with a stale read.
    batch_lock: int | None = None
    # The version of its tables and of what it writes in them. Bump it when either changes:
    # `eventmart migrate` then drops the read model and replays its log (read_model_versions).
    version: int = 1
    # The event classes `apply_batch` reads (subclasses included); the follower does not decode
    # the others. Empty: every event.
    reads: tuple[type, ...] = ()



# PostgreSQL text, jsonb and tsvector cannot hold U+0000, and the log may: events stored
# before requests were cleaned at the edge, or written by any other producer. A projection
# must never stop on text already in the log, so every string a read model writes loses its
# NUL characters on the way in (the event in the log keeps them, for auditors).

def without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(v) for v in value]
    return value


class _TextDumper(StrDumperUnknown):
    def dump(self, obj: str) -> Any:
        return super().dump(obj.replace("\x00", ""))


def _dumps_without_nul(obj: Any) -> bytes:
    # JSON writes a NUL as \u0000, so one search of the text tells whether the slow,
    # copying walk is needed (a false alarm on a literal "\u0000" only costs that walk).
    text = json_codec.dumps(obj)
    return json_codec.dumps(without_nul(obj)) if b"\\u0000" in text else text


# Connections already made tolerant: set_json_dumps builds new dumper classes on every call,
# which was a fifth of a busy API process's GIL time when done for every batch.
_TOLERANT: weakref.WeakSet[Connection] = weakref.WeakSet()


def tolerate_nul(conn: Connection) -> None:
    """Makes `conn` drop NUL characters from every str and JSON value it sends (and read and
    write JSON with orjson: adapters/json_codec.py)."""
    if conn in _TOLERANT:
        return
    conn.adapters.register_dumper(str, _TextDumper)
    json_codec.read_with_orjson(conn)
    set_json_dumps(_dumps_without_nul, context=conn)  # in place of the codec's plain dumps
    _TOLERANT.add(conn)
