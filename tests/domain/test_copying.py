"""A command changes a copy of the aggregate it loads, never the one the cache and the
command scope share (domain/loading.py `copy_aggregate`): the copy equals the original and
shares no container with it, at any depth."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain.commerce.order import OrderStatus
from domain.commerce.values import AppliedCoupon, CartLine
from domain.commerce.wallet import Wallet
from domain.loading import copy_aggregate


@dataclass(frozen=True)
class Holder:
    """A frozen value that holds a container: shared only if nothing in it can change."""

    name: str
    items: list[int]


ATOMS = (st.text(max_size=5) | st.integers() | st.none() | st.booleans() | st.uuids()
         | st.datetimes(timezones=st.just(UTC)) | st.sampled_from(list(OrderStatus))
         | st.builds(CartLine, item_id=st.text(max_size=3), product_id=st.text(max_size=3),
                     shop_id=st.none(), sku=st.text(max_size=3), name=st.text(max_size=3),
                     qty=st.integers(1, 99), unit_price=st.integers(0, 999)))
STATE = st.recursive(
    ATOMS,
    lambda inner: (st.lists(inner, max_size=4)
                   | st.dictionaries(st.text(max_size=3), inner, max_size=4)
                   | st.sets(st.text(max_size=3) | st.integers(), max_size=4)
                   | st.tuples(inner, inner)
                   | st.builds(Holder, st.text(max_size=3), st.lists(st.integers(), max_size=3))
                   | st.builds(AppliedCoupon, st.text(max_size=3), st.fixed_dictionaries(
                       {"discount_type": st.just("flat"), "value": st.integers(0, 99),
                        "cap": st.none(), "min_order": st.integers(0, 99)}))),
    max_leaves=20)


def containers(value: Any) -> list[Any]:
    """Every mutable container reachable from `value`."""
    found: list[Any] = []
    if isinstance(value, dict):
        found.append(value)
        for v in value.values():
            found += containers(v)
    elif isinstance(value, list | set):
        found.append(value)
        for v in value:
            found += containers(v)
    elif isinstance(value, tuple):
        for v in value:
            found += containers(v)
    elif isinstance(value, Holder | AppliedCoupon):
        found += containers(vars(value))[1:]  # the value's own __dict__ is not state
    return found


@given(state=st.dictionaries(st.sampled_from(["a", "b", "c"]), STATE, min_size=1))
def test_a_copy_equals_the_original_and_shares_no_container(state: dict[str, Any]) -> None:
    # Given an aggregate holding arbitrary state
    wallet = Wallet(owner_id=str(uuid.uuid4()), currency="INR")
    wallet.collect_events()
    wallet.__dict__.update(state)

    # When it is copied
    copied = copy_aggregate(wallet)

    # Then the copy has the same state, and no container of it is the original's
    assert type(copied) is Wallet and vars(copied) == vars(wallet)
    originals = {id(c) for c in containers(vars(wallet))}
    assert not originals & {id(c) for c in containers(vars(copied))}


def test_a_command_on_the_copy_leaves_the_shared_wallet_as_it_was() -> None:
    # Given a wallet with credits and keyed debits
    wallet = Wallet(owner_id=str(uuid.uuid4()), currency="INR")
    wallet.credit(10_000, kind="load", reference="pay-1")
    for n in range(3):
        wallet.debit(100, kind="debit", reference="r", key=f"k{n}")
    wallet.collect_events()
    before = {k: (v.copy() if isinstance(v, dict | set) else v) for k, v in vars(wallet).items()}

    # When a copy is credited and debited
    copied = copy_aggregate(wallet)
    copied.credit(500, kind="load", reference="pay-2")
    copied.debit(200, kind="debit", reference="r", key="k9")

    # Then the original has neither, and the copy has both
    assert vars(wallet) == before
    assert wallet.balance == 9_700 and copied.balance == 10_000
    assert copied.keyed_debit("k9") is not None and wallet.keyed_debit("k9") is None
    assert "pay-2" in copied.loads and "pay-2" not in wallet.loads
    assert copied.modified_on >= wallet.modified_on >= datetime(2000, 1, 1, tzinfo=UTC)
