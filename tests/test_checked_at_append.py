"""A command decides on what the cache holds and its save checks, in the append's own
statement, that none of it has changed (domain/loading.py, CommandScope.trusting). Two
runtimes over one database stand for two API processes: each has its own cache, so each
holds what the other has since changed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.aggregate_cache import VersionCheckedCache
from domain.catalog.application import CatalogApplication
from domain.commerce.application import CommerceApplication
from domain.commerce.use_cases.stock_keeping import ItemUnavailableError
from domain.commerce.wallet import InsufficientFundsError, Wallet, wallet_id_for
from domain.loading import command_scope
from runtime import Runtime, build_applications


@pytest.fixture
def other(runtime: Runtime) -> Iterator[tuple[CatalogApplication, CommerceApplication]]:
    """Another process's applications: the same database, a cache of their own."""
    apps = build_applications(runtime.settings, runtime.database_url)
    yield apps[0], apps[1]
    for app in apps:
        app.close()


def look_ups(app: Any) -> int:
    cache = app.aggregate_source
    assert isinstance(cache, VersionCheckedCache)
    return cache.statements


def cart_holding(runtime: Runtime, product_id: uuid.UUID, sku: str) -> tuple[uuid.UUID, uuid.UUID]:
    """A new shopper's cart with one of that variant added here: the cart, the product and
    the variant's stock (or its absence) are now in this process's cache."""
    owner = uuid.uuid4()
    cart_id = runtime.commerce.open_cart(owner).value.id
    runtime.commerce.add_cart_item(owner_id=owner, cart_id=cart_id, product_id=product_id,
                                   sku=sku, qty=1)
    return owner, cart_id


def balance_in_the_log(runtime: Runtime, owner: uuid.UUID) -> int:
    """The wallet folded from its events alone (no cache, no snapshot)."""
    events: list[Any] = list(runtime.commerce.events.get(wallet_id_for(owner)))
    folded: Wallet | None = None
    for e in events:
        folded = e.mutate(folded)
    assert isinstance(folded, Wallet)
    return int(folded.balance)


def test_a_command_on_a_cached_aggregate_costs_no_look_up(runtime: Runtime) -> None:
    # Given a wallet this process has saved (so its cache holds it)
    owner = uuid.uuid4()
    runtime.commerce.credit_wallet_load(owner, 100, f"p-{owner}")
    before = look_ups(runtime.commerce)
    # When it is debited
    saved = runtime.commerce.debit_wallet(owner, 30, "order-1")
    # Then the command asked the store nothing before its append, and the append holds
    assert look_ups(runtime.commerce) == before
    assert saved.value.balance == 70 and balance_in_the_log(runtime, owner) == 70


def test_a_refusal_on_a_stale_cache_is_checked_and_the_command_decides_again(
        runtime: Runtime, other: tuple[CatalogApplication, CommerceApplication]) -> None:
    # Given a wallet of 10 cached here, then loaded with 100 more by another process
    owner = uuid.uuid4()
    runtime.commerce.credit_wallet_load(owner, 10, f"p1-{owner}")
    other[1].credit_wallet_load(owner, 100, f"p2-{owner}")
    # When this process debits 50 (its cache says 10: not enough)
    saved = runtime.commerce.debit_wallet(owner, 50, "order-1")
    # Then the refusal was checked against the store, found stale, and the debit decided again
    assert saved.value.balance == 60 and balance_in_the_log(runtime, owner) == 60


def test_a_keyed_debit_repeated_through_a_stale_cache_debits_once(
        runtime: Runtime, other: tuple[CatalogApplication, CommerceApplication]) -> None:
    # Given a wallet cached here, and a keyed debit through the other process
    owner = uuid.uuid4()
    runtime.commerce.credit_wallet_load(owner, 100, f"p-{owner}")
    other[1].debit_wallet(owner, 40, "order-1", key="k1")
    # When the same request (same key) arrives here, whose cache has not seen it
    saved = runtime.commerce.debit_wallet(owner, 40, "order-1", key="k1")
    # Then the append found the wallet changed, the retry found the key: one debit
    assert saved.value.balance == 60 and balance_in_the_log(runtime, owner) == 60
    assert len(list(runtime.commerce.events.get(wallet_id_for(owner)))) == 3


def test_a_price_changed_elsewhere_reprices_a_cart_add_decided_on_the_cached_product(
        runtime: Runtime, other: tuple[CatalogApplication, CommerceApplication],
        product: dict[str, Any]) -> None:
    # Given a cart and a product both cached here (a first add), then the price changed
    # by another process: the product is only read by a cart add, never saved by it
    product_id = uuid.UUID(product["id"])
    owner, cart_id = cart_holding(runtime, product_id, "DJ-500")
    other[0].change_price(product_id, "DJ-100", 20950)
    stale = runtime.commerce.recorder.stale_appends  # type: ignore[attr-defined]
    # When this process adds the changed variant
    saved = runtime.commerce.add_cart_item(owner_id=owner, cart_id=cart_id, product_id=product_id,
                                           sku="DJ-100", qty=1)
    # Then the append saw the product's newer event, appended nothing, and the retry priced
    # the line at the new price
    cart, item_id = saved.value
    assert cart.lines[item_id].unit_price == 20950
    assert runtime.commerce.recorder.stale_appends == stale + 1  # type: ignore[attr-defined]
    stored = runtime.commerce.get_cart(cart_id, owner)
    assert stored.version == cart.version and stored.lines[item_id].unit_price == 20950


def test_stock_counted_elsewhere_is_seen_by_a_cart_add_that_cached_it_as_absent(
        runtime: Runtime, other: tuple[CatalogApplication, CommerceApplication],
        product: dict[str, Any]) -> None:
    # Given a cart add here while the variant's stock was not counted (cached as absent),
    # then the vendor counts 0 left through the other process
    product_id = uuid.UUID(product["id"])
    owner, cart_id = cart_holding(runtime, product_id, "DJ-100")
    other[1].set_stock_level(product_id, "DJ-100", 0, by="vendor")
    # When this process adds one more
    with pytest.raises(ItemUnavailableError, match="only 0 of"):
        runtime.commerce.add_cart_item(owner_id=owner, cart_id=cart_id, product_id=product_id,
                                       sku="DJ-100", qty=1)
    # Then it is refused on the count, not on what the cache held, and the cart is as it was
    cart = runtime.commerce.get_cart(cart_id, owner)
    assert sum(line.qty for line in cart.lines.values()) == 1


def test_a_command_that_saves_looks_up_what_it_loads_after_its_save(runtime: Runtime) -> None:
    # Given two wallets cached here
    first, second = uuid.uuid4(), uuid.uuid4()
    for owner in (first, second):
        runtime.commerce.credit_wallet_load(owner, 5, f"p-{owner}")
    with command_scope() as scope:
        # When a command takes one unchecked and saves
        wallet = runtime.commerce.wallet(first)
        assert scope.trusting and list(scope.unchecked) == [("commerce", wallet_id_for(first))]
        wallet.debit(1, kind="debit", reference="x")
        runtime.commerce.save_all(wallet)
        # Then nothing is left unchecked, and what it loads next is looked up
        before = look_ups(runtime.commerce)
        runtime.commerce.wallet(second)
        assert not scope.unchecked and not scope.trusting
        assert look_ups(runtime.commerce) == before + 1


def test_a_save_of_what_was_looked_up_also_ends_taking_the_cache_unchecked(runtime: Runtime) -> None:
    # Given one wallet cached here and another not
    first, second = uuid.uuid4(), uuid.uuid4()
    for owner in (first, second):
        runtime.commerce.credit_wallet_load(owner, 5, f"p-{owner}")
    cache = runtime.commerce.aggregate_source
    assert isinstance(cache, VersionCheckedCache)
    cache.forget()
    runtime.commerce.wallet(second)  # outside a command: looked up, and cached
    with command_scope() as scope:
        # When a command looks up the first (not cached), saves it, then loads the second
        wallet = runtime.commerce.wallet(first)
        assert not scope.unchecked
        wallet.debit(1, kind="debit", reference="x")
        runtime.commerce.save_all(wallet)
        before = look_ups(runtime.commerce)
        runtime.commerce.wallet(second)
        # Then the second is looked up too: nothing after a save rests on the cache unchecked
        assert look_ups(runtime.commerce) == before + 1 and not scope.unchecked


Op = tuple[int, str, int, int]  # (process 0 or 1, credit | debit | keyed, amount, key number)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from(["credit", "debit", "keyed"]),
                          st.integers(1, 60), st.integers(0, 3)), min_size=1, max_size=14))
def test_two_processes_in_any_order_answer_as_one_wallet_would(
        runtime: Runtime, other: tuple[CatalogApplication, CommerceApplication], ops: list[Op]) -> None:
    """Whatever each process's cache holds: a debit is refused exactly when the balance is
    short, a repeated key debits once, and the balance is the fold of the wallet's events."""
    owner = uuid.uuid4()
    processes = (runtime.commerce, other[1])
    balance, events = 0, 0
    keys: set[str] = set()
    for n, (process, kind, amount, key_number) in enumerate(ops):
        app = processes[process]
        if kind == "credit":
            app.credit_wallet_load(owner, amount, f"p{n}")
            balance, events = balance + amount, events + 1 + (events == 0)
            continue
        key = f"k{key_number}" if kind == "keyed" else None
        if key is not None and key in keys:
            app.debit_wallet(owner, amount, f"o{n}", key=key)  # the first outcome: nothing new
            continue
        try:
            app.debit_wallet(owner, amount, f"o{n}", key=key)
        except InsufficientFundsError:
            assert balance < amount, f"refused {amount} with {balance} held"
            continue
        assert balance >= amount, f"debited {amount} with {balance} held"
        balance, events = balance - amount, events + 1 + (events == 0)
        if key is not None:
            keys.add(key)
    stored = list(runtime.commerce.events.get(wallet_id_for(owner)))
    assert len(stored) == events
    if events:
        assert balance_in_the_log(runtime, owner) == balance
