"""Snapshots taken on save: the saved aggregate, as it is in memory, when it is at the
interval's version; the library's reload and replay when a save of several events passes the
interval. Either way a snapshot is what the events up to its version replay into."""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, BaseAggregate, Snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.commerce.wallet import Wallet
from runtime import Runtime

# (credit?, amount, idempotency key?) per change; changes grouped into saves of 1-4.
Change = tuple[bool, int, bool]
changes = st.tuples(st.booleans(), st.integers(1, 500), st.booleans())


def replayed(runtime: Runtime, aggregate_id: uuid.UUID, version: int) -> dict[str, Any]:
    """The aggregate the stored events up to `version` replay into, with no snapshot."""
    aggregate: Aggregate | None = None
    for stored in runtime.commerce.events.get(aggregate_id, lte=version):
        assert isinstance(stored, Aggregate.Event)
        aggregate = stored.mutate(aggregate)
    assert aggregate is not None
    return state(aggregate)


def state(aggregate: BaseAggregate[uuid.UUID]) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(saves=st.lists(st.lists(changes, min_size=1, max_size=4), min_size=60, max_size=90))
def test_every_snapshot_is_what_its_events_replay_into(runtime: Runtime,
                                                       saves: list[list[Change]]) -> None:
    # Given a wallet saved one change or several at a time, past its interval (100) or two
    wallet = Wallet(owner_id=str(uuid.uuid4()), currency="INR")
    wallet.credit(10**6, kind="load", reference="opening")
    runtime.commerce.save_all(wallet)
    n = 0
    # When the changes are saved
    for save in saves:
        for credit, amount, keyed in save:
            n += 1
            if credit:
                wallet.credit(amount, kind="adjustment", reference=f"r{n}")
            else:
                wallet.debit(amount, kind="debit", reference=f"r{n}", key=f"k{n}" if keyed else None)
        runtime.commerce.save_all(wallet)

    # Then a snapshot stands at every multiple of the interval, each the replay of its events
    assert runtime.commerce.snapshots is not None
    snapshots = list(runtime.commerce.snapshots.get(wallet.id))
    assert [s.originator_version for s in snapshots] == list(range(100, wallet.version + 1, 100))
    for snapshot in snapshots:
        assert isinstance(snapshot, Snapshot)
        assert state(snapshot.mutate(None)) == replayed(runtime, wallet.id, snapshot.originator_version)
