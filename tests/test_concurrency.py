"""Two writers on one cart: optimistic concurrency with retry loses no update."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from domain.commerce.application import CommerceApplication
from domain.commerce.cart import Cart
from runtime import Runtime, build_applications


class InterleavingPrices:
    """Looks prices up in the real catalog, but the first time lets another writer change
    the same cart between our read and our save: a deterministic lost-update race."""

    def __init__(self, runtime: Runtime, rival: CommerceApplication, rival_move: Any) -> None:
        self.catalog = runtime.catalog
        self.rival = rival
        self.rival_move = rival_move
        self.calls = 0

    def current_variant(self, product_id: uuid.UUID, sku: str) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.rival_move(self.rival)
        return self.catalog.current_variant(product_id, sku)

    def __getattr__(self, name: str) -> Any:  # the rest of the Catalog, as is
        return getattr(self.catalog, name)


def test_a_save_that_lost_the_race_is_retried_on_fresh_state(runtime: Runtime, product) -> None:  # type: ignore[no-untyped-def]
    owner = uuid.uuid4()
    product_id = uuid.UUID(product["id"])
    cart_id = runtime.commerce.open_cart(owner).value.id
    rival_apps = build_applications(runtime.settings, runtime.database_url)
    rival = rival_apps[1]

    def rival_adds(app: CommerceApplication) -> None:
        app.add_cart_item(owner_id=owner, cart_id=cart_id, product_id=product_id, sku="DJ-500", qty=1)

    prices = InterleavingPrices(runtime, rival, rival_adds)
    my_apps = build_applications(runtime.settings, runtime.database_url)
    me = my_apps[1]
    me.prices = prices  # type: ignore[assignment]  # a stand-in for the catalog's prices
    try:
        me.add_cart_item(owner_id=owner, cart_id=cart_id, product_id=product_id, sku="DJ-100", qty=2)
    finally:
        for app in (*my_apps, *rival_apps):
            app.close()

    assert prices.calls == 2, "the first attempt must have failed and been retried"
    cart: Cart = runtime.commerce.repository.get(cart_id)
    assert sorted((line.sku, line.qty) for line in cart.lines.values()) == [
        ("DJ-100", 2), ("DJ-500", 1)
    ]


def test_two_threads_hammering_one_cart_lose_nothing(runtime: Runtime, product) -> None:  # type: ignore[no-untyped-def]
    owner = uuid.uuid4()
    product_id = uuid.UUID(product["id"])
    cart_id = runtime.commerce.open_cart(owner).value.id
    rounds = 15
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(sku: str) -> None:
        apps = build_applications(runtime.settings, runtime.database_url)
        app = apps[1]
        try:
            start.wait()
            for _ in range(rounds):
                app.add_cart_item(owner_id=owner, cart_id=cart_id, product_id=product_id, sku=sku, qty=1)
        except BaseException as e:  # surfaced below
            errors.append(e)
        finally:
            for each in apps:
                each.close()

    threads = [threading.Thread(target=writer, args=(sku,)) for sku in ("DJ-100", "DJ-500")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    cart: Cart = runtime.commerce.repository.get(cart_id)
    assert sorted((line.sku, line.qty) for line in cart.lines.values()) == [
        ("DJ-100", rounds), ("DJ-500", rounds)
    ]
    assert cart.version == 1 + 2 * rounds
