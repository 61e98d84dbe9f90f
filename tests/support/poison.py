"""A read model that fails on one aggregate's events: a poison event, for workers' fault tests."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg

from projections.read_model import ReadModel


def poisoned(model: ReadModel, bad: uuid.UUID) -> ReadModel:
    """The read model, unable to apply any event of aggregate `bad`."""

    def apply_batch(conn: psycopg.Connection, events: Sequence[Any]) -> None:
        if any(event.originator_id == bad for event in events):
            raise ValueError(f"cannot apply {bad}")
        model.apply_batch(conn, events)

    return dataclasses.replace(model, apply_batch=apply_batch)
