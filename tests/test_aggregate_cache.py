"""The version-checked aggregate cache: never stale across processes, a snapshot for a cold
load, several applications in one statement."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from typing import Any

import pytest
from eventsourcing.domain import Aggregate

from adapters.aggregate_cache import VersionCheckedCache
from domain import saving
from domain.catalog.category import Category
from domain.catalog.product import Product
from domain.catalog.shop import Shop
from domain.commerce.cart import Cart
from domain.commerce.stock import Stock
from domain.commerce.wallet import Wallet, wallet_id_for
from domain.loading import command_scope
from domain.support.ticket import SupportTicket
from runtime import Runtime, build_applications


def test_a_change_saved_by_another_process_is_seen_at_the_next_load(
        runtime: Runtime, product: dict[str, Any]) -> None:
    product_id = uuid.UUID(product["id"])
    assert runtime.catalog.get_product(product_id).variant("DJ-100").price == 19950  # now cached
    other = build_applications(runtime.settings, runtime.database_url)  # its own cache
    try:
        other[0].change_price(product_id, "DJ-100", 20950)
    finally:
        for app in other:
            app.close()

    assert runtime.catalog.get_product(product_id).variant("DJ-100").price == 20950


def test_a_cold_load_starts_from_the_latest_snapshot(runtime: Runtime) -> None:
    owner = uuid.uuid4()
    wallet = Wallet(owner_id=str(owner), currency="INR")
    for n in range(105):  # a snapshot at version 100 (the wallet's interval)
        wallet.credit(1, kind="load", reference=f"p{n}")
    runtime.commerce.save(wallet)
    snapshots = list(runtime.commerce.snapshots.get(wallet.id)) if runtime.commerce.snapshots else []
    assert [s.originator_version for s in snapshots] == [100]
    cold = VersionCheckedCache([runtime.commerce])

    found = cold.load([(runtime.commerce, wallet_id_for(owner))])[("commerce", wallet.id)]

    assert isinstance(found, Wallet)
    assert (found.version, found.balance, len(found.loads)) == (106, 105, 105)


def test_a_wallet_holding_many_keyed_debits_is_snapshotted_less_often_as_rows(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its keyed debits of the last 48 hours grow with its history: past a number of rows per
    snapshot event (here 10: 1,000 at the interval of 100) the interval doubles, and they are
    stored as rows."""
    monkeypatch.setattr(saving, "SNAPSHOT_ROWS_PER_EVENT", 10)  # 4,000 keys at 40: a slow test
    # Given a wallet debited 1,300 times with keys, one save each as commands save
    owner = uuid.uuid4()
    wallet = Wallet(owner_id=str(owner), currency="INR")
    wallet.credit(10**9, kind="adjustment", reference="bench")
    runtime.commerce.save(wallet)
    for n in range(1300):
        wallet.debit(1, kind="debit", reference="r", key=f"k{n}")
        runtime.commerce.save(wallet)

    # Then it was snapshotted every 100 versions while it held at most 1,000 keys, then at 1,200
    assert runtime.commerce.snapshots is not None
    snapshots = list(runtime.commerce.snapshots.get(wallet.id))
    assert [s.originator_version for s in snapshots] == [*range(100, 1001, 100), 1200]
    # And the last holds its keyed debits as rows
    (stored,) = runtime.commerce.snapshots.recorder.select_events(wallet.id, desc=True, limit=1)
    rows = json.loads(stored.state)["state"]["debit_keys"]["_data_"]["rows"]
    assert len(rows) == 1198 and rows[0][:2] == ["k0", 10**9 - 1]
    # And a cold load (the snapshot and 102 events) is the wallet as saved
    cold = VersionCheckedCache([runtime.commerce])
    found = cold.load([(runtime.commerce, wallet.id)])[("commerce", wallet.id)]
    assert isinstance(found, Wallet) and found.version == wallet.version == 1302
    assert list(found.debit_keys.items()) == list(wallet.debit_keys.items())
    assert found.keyed_debit("k1299") == wallet.keyed_debit("k1299") is not None


def test_a_stock_loads_cold_from_its_snapshot(runtime: Runtime) -> None:
    # Given a variant's stock with 107 events: orders holding and buying units, a return
    stock = Stock.open(str(uuid.uuid4()), "S", 1_000)
    runtime.commerce.save(stock)
    for n in range(52):
        stock.reserve(f"order-{n}", 2, "tea")
        runtime.commerce.save(stock)
        stock.sell(f"order-{n}") if n % 2 else stock.release(f"order-{n}", None, "cancelled")
        runtime.commerce.save(stock)
    stock.restock("return-1", 1)
    stock.reserve("order-held", 3, "tea")
    runtime.commerce.save(stock)

    # Then it was snapshotted every 25 versions, and a cold load (the snapshot and 7 events)
    # is the stock as saved
    assert runtime.commerce.snapshots is not None
    assert [s.originator_version for s in runtime.commerce.snapshots.get(stock.id)] == [25, 50, 75, 100]
    cold = VersionCheckedCache([runtime.commerce])
    found = cold.load([(runtime.commerce, stock.id)])[("commerce", stock.id)]
    assert isinstance(found, Stock) and found.version == stock.version == 107
    assert (found.left, found.sold, found.held, found.restocked) == (
        stock.left, stock.sold, {"order-held": 3}, {"return-1"})
    assert found.left + found.sold + found.units_held == found.stocked == 1_000


# Aggregates whose history stays short, so they need no snapshots.
UNSNAPSHOTTED = {
    Category: "renamed or moved a handful of times in its life",
    SupportTicket: "one conversation, closed when resolved",
}


def test_every_aggregate_whose_history_grows_is_snapshotted(runtime: Runtime) -> None:
    kinds = {k for k in all_subclasses(Aggregate) if k.__module__.startswith("domain.")}
    snapshotted = {k for app in runtime.applications.values() for k in app.snapshotting_intervals}
    assert kinds - snapshotted == set(UNSNAPSHOTTED) and not snapshotted & set(UNSNAPSHOTTED)


def all_subclasses(kind: type[Aggregate]) -> set[type[Aggregate]]:
    found = set(kind.__subclasses__())
    return found.union(*(all_subclasses(k) for k in found))


def test_one_statement_loads_aggregates_of_several_applications(
        runtime: Runtime, product: dict[str, Any]) -> None:
    owner = uuid.uuid4()
    cart = runtime.commerce.open_cart(owner).value
    cache = VersionCheckedCache([runtime.catalog, runtime.commerce])
    missing = uuid.uuid4()

    found = cache.load([(runtime.catalog, uuid.UUID(product["id"])), (runtime.commerce, cart.id),
                        (runtime.commerce, missing)])

    assert cache.statements == 1
    assert isinstance(found[("catalog", uuid.UUID(product["id"]))], Product)
    assert isinstance(found[("commerce", cart.id)], Cart)
    assert found[("commerce", missing)] is None


def test_within_a_command_an_aggregate_is_read_once_and_changes_never_leak(
        runtime: Runtime, product: dict[str, Any]) -> None:
    product_id = uuid.UUID(product["id"])
    cache = runtime.catalog.aggregate_source
    assert isinstance(cache, VersionCheckedCache)
    with command_scope():
        before = cache.statements
        first = runtime.catalog.get_product(product_id)
        first.variants["DJ-100"] = replace(first.variants["DJ-100"], price=1)  # a careless command
        second = runtime.catalog.get_product(product_id)
        assert cache.statements == before + 1
    assert second.variant("DJ-100").price == 19950
    assert runtime.catalog.get_product(product_id).variant("DJ-100").price == 19950


def test_a_question_reads_the_shared_aggregate_and_a_command_gets_a_copy(
        runtime: Runtime, product: dict[str, Any]) -> None:
    # Given a shop with a history that grows (its rated orders)
    shop = Shop.register(str(uuid.uuid4()), {
        "name": "Corner Store", "description": "", "city": "Pune", "society": "Baner",
        "shop_type": "grocery", "tags": [], "opening_hours": {}, "images": []})
    runtime.catalog.save(shop)
    shop_id = shop.id
    for _ in range(3):
        runtime.catalog.rate_shop(shop_id, order_id=str(uuid.uuid4()), rating=5)
    cache = runtime.catalog.aggregate_source
    assert isinstance(cache, VersionCheckedCache)
    with command_scope():
        # When a command asks about it, and then gets it to change it
        asked = runtime.catalog.read(shop_id, Shop)
        again = runtime.catalog.read(shop_id, Shop)
        got = runtime.catalog.get(shop_id, Shop)
        # Then the questions were answered from one instance, not copied (a copy costs what
        # the shop has accumulated), and what the command got is its own
        assert asked is not None and asked is again and got is not asked
        assert asked.rated_orders == got.rated_orders and asked.rated_orders is not got.rated_orders
    assert runtime.catalog.shop_is_open(shop_id) is asked.is_open
    assert runtime.catalog.read(uuid.uuid4(), Shop) is None
    assert runtime.catalog.read(uuid.UUID(product["id"]), Shop) is None  # another kind
