"""The value objects of carts and orders: equal to what their fields say, immutable, and
unchanged through the shapes events store them in."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.commerce.values import CartLine, DeliveryAddress, OrderLine

TEXT = st.text(max_size=20)
QTY = st.integers(1, 99)
PRICE = st.integers(0, 10**7)
CART_LINES = st.builds(CartLine, item_id=TEXT, product_id=TEXT, shop_id=st.none() | TEXT, sku=TEXT,
                       name=TEXT, qty=QTY, unit_price=PRICE)
ORDER_LINES = st.builds(lambda item, product, sku, name, qty, price: OrderLine(
    item_id=item, product_id=product, sku=sku, name=name, qty=qty, unit_price=price,
    line_total=qty * price), TEXT, TEXT, TEXT, TEXT, QTY, PRICE)
ADDRESSES = st.builds(DeliveryAddress, house_number=st.none() | TEXT, street=st.none() | TEXT,
                      landmark=st.none() | TEXT, city=st.none() | TEXT, society=st.none() | TEXT,
                      pincode=st.none() | TEXT, label=st.none() | TEXT, id=st.none() | TEXT)


@given(line=CART_LINES, qty=QTY, price=PRICE)
def test_a_repriced_cart_line_is_the_line_its_fields_say(line: CartLine, qty: int, price: int) -> None:
    repriced = line.repriced(qty, price)
    expected = dataclasses.replace(line, qty=qty, unit_price=price)
    assert repriced == expected and hash(repriced) == hash(expected)
    assert repriced.total == qty * price and line.total == line.qty * line.unit_price
    with pytest.raises(dataclasses.FrozenInstanceError):
        repriced.qty = qty + 1  # type: ignore[misc]


@given(line=CART_LINES, qty=QTY, price=PRICE)
def test_a_cart_lines_dict_is_its_fields_in_order(line: CartLine, qty: int, price: int) -> None:
    for each in (line, line.repriced(qty, price)):
        as_dict = each.as_dict()
        assert list(as_dict.items()) == list(dataclasses.asdict(each).items())
        as_dict["qty"] = -1  # a copy: the line is not changed through it
        assert each.qty != -1


@given(line=CART_LINES)
def test_a_cart_line_orders_as_the_same_goods(line: CartLine) -> None:
    ordered = line.ordered()
    assert (ordered.item_id, ordered.product_id, ordered.sku, ordered.name, ordered.qty,
            ordered.unit_price, ordered.line_total) == (line.item_id, line.product_id, line.sku,
                                                        line.name, line.qty, line.unit_price, line.total)


@given(line=ORDER_LINES, qty=QTY)
def test_order_lines_survive_their_stored_shape(line: OrderLine, qty: int) -> None:
    assert OrderLine.from_data(line.as_data()) == line
    assert list(line.as_data()) == ["item_id", "product_id", "sku", "name", "qty", "unit_price",
                                    "line_total"]
    lowered = line.with_qty(qty)
    assert lowered.line_total == qty * line.unit_price and lowered.item_id == line.item_id


@given(address=ADDRESSES)
def test_addresses_survive_their_stored_shape(address: DeliveryAddress) -> None:
    assert DeliveryAddress.from_data(address.as_data()) == address
