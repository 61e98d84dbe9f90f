"""Return pro-rating: every paisa of the goods is in exactly one unit's share."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.commerce.pricing import unit_prices_paid
from domain.commerce.values import OrderLine

LINE = st.tuples(st.integers(1, 20), st.integers(0, 200_000))


def line(item_id: str, qty: int, unit_price: int) -> OrderLine:
    return OrderLine(item_id=item_id, product_id="p", sku="s", name=item_id, qty=qty,
                     unit_price=unit_price, line_total=qty * unit_price)


@given(lines=st.lists(LINE, min_size=1, max_size=8), discount_share=st.floats(0, 1.2))
def test_unit_shares_add_up_to_what_was_paid(lines: list[tuple[int, int]], discount_share: float) -> None:
    rows = [line(f"l{i}", q, p) for i, (q, p) in enumerate(lines)]
    subtotal = sum(q * p for q, p in lines)
    discount = int(subtotal * discount_share)
    shares = unit_prices_paid(rows, discount)
    assert sum(sum(units) for units in shares.values()) == subtotal - min(discount, subtotal)
    for row in rows:
        units = shares[row.item_id]
        assert len(units) == row.qty
        assert all(0 <= u <= row.unit_price for u in units)
        assert max(units) - min(units) <= 1


def test_the_worked_example_of_the_readme() -> None:
    """Tea 2 x 24,900 and rice 1 x 64,500 with a 10,000 coupon (README, money rules)."""
    shares = unit_prices_paid([line("tea", 2, 24900), line("rice", 1, 64500)], 10000)
    # Discount split 4,357 (tea: 4,356.96 rounded, plus the leftover paisa) and 5,643 (rice).
    assert shares == {"tea": [22722, 22721], "rice": [58857]}
    assert 22722 + 22721 + 58857 == 2 * 24900 + 64500 - 10000
