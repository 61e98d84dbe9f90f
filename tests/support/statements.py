"""Counting the SQL statements a request sends, as the bench does with pg_stat_statements.

Every statement of ours and of the eventsourcing library goes through psycopg's
`Cursor.execute`/`executemany` (the library's `BEGIN`/`COMMIT` do not, and are not counted).
Only statements sent from the API's request threads (anyio's worker threads) count: the
in-process workers run in threads of their own and keep working during the request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg


@dataclass
class Statements:
    sent: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sent)


def _from_a_request() -> bool:
    return threading.current_thread().name.startswith("AnyIO worker thread")


@contextmanager
def counting_statements() -> Iterator[Statements]:
    seen = Statements()
    lock = threading.Lock()
    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def note(query: Any) -> None:
        if _from_a_request():
            text = query if isinstance(query, str) else repr(query)
            with lock:
                seen.sent.append(text)

    def counted_execute(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        note(query)
        return execute(self, query, *args, **kwargs)

    def counted_executemany(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        note(query)
        return executemany(self, query, *args, **kwargs)

    psycopg.Cursor.execute = counted_execute  # type: ignore[method-assign]
    psycopg.Cursor.executemany = counted_executemany  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        psycopg.Cursor.execute = execute  # type: ignore[method-assign]
        psycopg.Cursor.executemany = executemany  # type: ignore[method-assign]
