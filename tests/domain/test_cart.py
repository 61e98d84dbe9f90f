from __future__ import annotations

from uuid import uuid4

import pytest

from domain.commerce.cart import (
    MAX_LINES,
    Cart,
    CartFullError,
    CartItemNotFoundError,
    CurrencyMismatchError,
    EmptyCartError,
    OtherShopError,
    cart_id_for,
)
from domain.errors import DomainError, InvalidQuantityError
from domain.money import Money
from tests.spec import Stream, given

OWNER = str(uuid4())


def opened() -> tuple[Stream[Cart], list[Cart.Event]]:
    stream = Stream(Cart, cart_id_for(uuid4()))
    return stream, [stream.event(Cart.Opened, owner_id=OWNER, currency="INR")]


def line(item_id: str = "i1", qty: int = 1, price: int = 19950, sku: str = "DJ-100") -> dict:
    return {"item_id": item_id, "product_id": "p1", "shop_id": "shop-1", "sku": sku, "name": "Tea",
            "qty": qty, "unit_price": price}


def add(cart: Cart, qty: int = 1, sku: str = "DJ-100", currency: str = "INR", item_id: str = "new",
        shop_id: str = "shop-1", replace: bool = False):  # type: ignore[no-untyped-def]
    return cart.add_item(item_id=item_id, product_id="p1", sku=sku, name="Tea", qty=qty,
                         price=Money(19950, currency), shop_id=shop_id, replace=replace)


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


def test_a_cart_holds_one_shops_items() -> None:
    s, history = opened()
    history.append(s.event(Cart.ItemAdded, **line()))
    given(*history).when(lambda c: add(c, sku="X", shop_id="shop-2")).then_error(OtherShopError)


def test_replace_empties_the_cart_for_another_shop() -> None:
    s, history = opened()
    history.append(s.event(Cart.ItemAdded, **line()))
    cart = given(*history).when(lambda c: add(c, sku="X", shop_id="shop-2", replace=True)).then(
        (Cart.Cleared, {}), (Cart.ItemAdded, {"shop_id": "shop-2", "sku": "X"}))
    assert cart.shop_id == "shop-2" and len(cart.lines) == 1


def test_check_out_hands_over_the_lines_and_empties_the_cart() -> None:
    s, history = opened()
    history.append(s.event(Cart.ItemAdded, **line(qty=3)))
    cart = given(*history).when(lambda c: c.check_out()).then((Cart.Cleared, {}))
    assert cart.lines == {}
    given(*opened()[1]).when(lambda c: c.check_out()).then_error(EmptyCartError)


def test_lines_are_found_by_line_id_or_product_id() -> None:
    s, history = opened()
    history += [s.event(Cart.ItemAdded, **line(item_id="i1", sku="A")),
                s.event(Cart.ItemAdded, **line(item_id="i2", sku="B"))]
    cart = given(*history).when(lambda c: None).then_nothing()
    assert cart.find_line("i2").sku == "B"
    assert cart.find_line("p1", "A").item_id == "i1"
    with pytest.raises(DomainError):
        cart.find_line("p1")
    with pytest.raises(CartItemNotFoundError):
        cart.find_line("nope")


def test_old_item_added_events_are_upcast() -> None:
    from eventsourcing.application import Application

    app: Application = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    mapper = app.mapper
    s, history = opened()
    event = s.event(Cart.ItemAdded, **line())
    stored = mapper.to_stored_event(event)
    import json
    state = json.loads(stored.state)
    del state["shop_id"]
    state.pop("class_version", None)
    old = type(stored)(originator_id=stored.originator_id, originator_version=stored.originator_version,
                       topic=stored.topic, state=json.dumps(state).encode())
    upcast = mapper.to_domain_event(old)
    assert isinstance(upcast, Cart.ItemAdded) and upcast.shop_id is None
