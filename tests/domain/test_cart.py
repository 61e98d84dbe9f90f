from __future__ import annotations

from uuid import uuid4

import pytest

from domain.commerce.cart import (
    MAX_LINES,
    Cart,
    CartFullError,
    CartItemNotFoundError,
    CurrencyMismatchError,
    cart_id_for,
)
from domain.errors import InvalidQuantityError
from tests.spec import Stream, given

OWNER = str(uuid4())


def opened() -> tuple[Stream[Cart], list[Cart.Event]]:
    stream = Stream(Cart, cart_id_for(uuid4()))
    return stream, [stream.event(Cart.Opened, owner_id=OWNER, currency="INR")]


def line(item_id: str = "i1", qty: int = 1, price: int = 19950, sku: str = "DJ-100") -> dict:
    return {"item_id": item_id, "product_id": "p1", "sku": sku, "name": "Tea", "qty": qty,
            "unit_price": price}


def add(cart: Cart, qty: int = 1, sku: str = "DJ-100", currency: str = "INR", item_id: str = "new"):
    return cart.add_item(item_id=item_id, product_id="p1", sku=sku, name="Tea", qty=qty,
                         unit_price=19950, currency=currency)


def test_cart_id_is_fixed_per_owner() -> None:
    owner = uuid4()
    assert Cart(owner_id=str(owner), currency="INR").id == cart_id_for(owner)


def test_adding_a_new_sku_adds_a_line() -> None:
    _, history = opened()
    cart = given(*history).when(lambda c: add(c, qty=2)).then(
        (Cart.ItemAdded, {"item_id": "new", "qty": 2, "unit_price": 19950})
    )
    assert cart.total == 39900


def test_adding_the_same_sku_tops_up_the_existing_line() -> None:
    s, history = opened()
    history.append(s.event(Cart.ItemAdded, **line(qty=2)))
    given(*history).when(lambda c: add(c, qty=3)).then(
        (Cart.ItemQuantityChanged, {"item_id": "i1", "qty": 5})
    )


@pytest.mark.parametrize("qty", [0, -1, 100, 10**9])
def test_quantity_out_of_range_is_refused(qty: int) -> None:
    _, history = opened()
    given(*history).when(lambda c: add(c, qty=qty)).then_error(InvalidQuantityError)


def test_topping_up_past_the_line_limit_is_refused() -> None:
    s, history = opened()
    history.append(s.event(Cart.ItemAdded, **line(qty=98)))
    given(*history).when(lambda c: add(c, qty=2)).then_error(InvalidQuantityError)


def test_other_currency_is_refused() -> None:
    _, history = opened()
    given(*history).when(lambda c: add(c, currency="USD")).then_error(CurrencyMismatchError)


def test_a_full_cart_refuses_new_lines() -> None:
    s, history = opened()
    history += [s.event(Cart.ItemAdded, **line(item_id=f"i{n}", sku=f"S{n}")) for n in range(MAX_LINES)]
    given(*history).when(lambda c: add(c, sku="ONE-MORE")).then_error(CartFullError)


def test_changing_quantity_reprices_the_line() -> None:
    s, history = opened()
    history.append(s.event(Cart.ItemAdded, **line(qty=1, price=100)))
    cart = given(*history).when(lambda c: c.change_quantity("i1", 4, 120)).then(
        (Cart.ItemQuantityChanged, {"item_id": "i1", "qty": 4, "unit_price": 120})
    )
    assert cart.total == 480


def test_changing_to_the_same_quantity_and_price_records_nothing() -> None:
    s, history = opened()
    history.append(s.event(Cart.ItemAdded, **line(qty=2)))
    given(*history).when(lambda c: c.change_quantity("i1", 2, 19950)).then_nothing()


def test_changing_an_unknown_item_is_refused() -> None:
    _, history = opened()
    given(*history).when(lambda c: c.change_quantity("nope", 1, 1)).then_error(
        CartItemNotFoundError
    )


def test_removing_an_item() -> None:
    s, history = opened()
    history.append(s.event(Cart.ItemAdded, **line()))
    cart = given(*history).when(lambda c: c.remove_item("i1")).then(
        (Cart.ItemRemoved, {"item_id": "i1"})
    )
    assert cart.lines == {} and cart.total == 0


def test_removing_twice_is_refused() -> None:
    s, history = opened()
    history += [s.event(Cart.ItemAdded, **line()), s.event(Cart.ItemRemoved, item_id="i1")]
    given(*history).when(lambda c: c.remove_item("i1")).then_error(CartItemNotFoundError)


def test_clearing() -> None:
    s, history = opened()
    history.append(s.event(Cart.ItemAdded, **line()))
    given(*history).when(lambda c: c.clear()).then((Cart.Cleared, {}))


def test_clearing_an_empty_cart_records_nothing() -> None:
    _, history = opened()
    given(*history).when(lambda c: c.clear()).then_nothing()
