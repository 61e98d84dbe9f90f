"""Snapshots that hand an aggregate back its enums. JSON stores a StrEnum as its plain string,
so a snapshot restored as stored would give `"placed"` where replaying the events gives
`OrderStatus.PLACED`: equal, but no longer the declared type."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from eventsourcing.domain import Snapshot


class TypedSnapshot(Snapshot):
    def mutate(self, _: None) -> Any:
        aggregate = super().mutate(_)
        enums: Mapping[str, type[Enum]] = getattr(type(aggregate), "snapshot_enums", {})
        for name, kind in enums.items():
            value = aggregate.__dict__.get(name)
            if value is not None:
                aggregate.__dict__[name] = kind(value)
        return aggregate
