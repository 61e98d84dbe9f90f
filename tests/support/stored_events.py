"""Stored events as today's code wrote them: load them into a real event store and compare the
aggregates they replay into with the state recorded when they were captured.

Aggregate state is compared as plain JSON (`plain_state`): a value object (frozen dataclass)
compares equal to the dict an older version of the code kept, when their fields match."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent

FIXTURES = Path(__file__).parent.parent / "fixtures"
FIXTURE = FIXTURES / "stored_events.json"

# Bookkeeping of the library, not state of ours.
_SKIPPED = {"_pending_events"}


def plain(value: Any) -> Any:
    """JSON-ready: value objects and containers to dicts and lists, times to ISO text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Mapping):  # a dict, or a value that is one (a wallet's keyed debits)
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((plain(v) for v in value), key=json.dumps)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def plain_state(aggregate: object) -> dict[str, Any]:
    return {k: plain(v) for k, v in sorted(vars(aggregate).items()) if k not in _SKIPPED}


def row(event: StoredEvent) -> dict[str, Any]:
    return {"originator_id": str(event.originator_id),
            "originator_version": event.originator_version,
            "topic": event.topic,
            "state": event.state.decode()}  # JSON, so readable in the fixture


def stored_event(data: dict[str, Any]) -> StoredEvent:
    return StoredEvent(originator_id=UUID(data["originator_id"]),
                       originator_version=data["originator_version"],
                       topic=data["topic"], state=data["state"].encode())


def load_fixture(name: str = FIXTURE.name) -> dict[str, Any]:
    with (FIXTURES / name).open() as f:
        data: dict[str, Any] = json.load(f)
    return data


def insert_rows(app: Application[UUID], rows: list[dict[str, Any]]) -> None:
    app.recorder.insert_events([stored_event(r) for r in rows])
