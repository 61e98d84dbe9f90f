"""Given a variant's stock events, then its `stock_levels` row: left, held and sold."""

from __future__ import annotations

from uuid import uuid4

from domain.commerce.stock import Stock
from projections import stock_levels
from tests.spec import FIXED_TIME, Stream, projection

STOCK = projection(stock_levels.evolve)
PRODUCT = uuid4()


def opened(s: Stream[Stock], units: int | None) -> Stock.Event:
    return s.event(Stock.Opened, product_id=str(PRODUCT), sku="SKU-0", units=units)


def test_a_tracked_variant_starts_with_its_units_left() -> None:
    s = Stream(Stock)
    STOCK.given(opened(s, 10)).then({
        "stock_id": s.id, "product_id": PRODUCT, "sku": "SKU-0", "tracked": True, "units_left": 10,
        "units_held": 0, "units_sold": 0, "version": 1, "updated_at": FIXED_TIME,
    })


def test_an_untracked_variant_has_nothing_left_to_count() -> None:
    STOCK.given(opened(Stream(Stock), None)).then_including(tracked=False, units_left=0)


def test_an_order_holds_units_then_sells_them() -> None:
    s = Stream(Stock)
    STOCK.given(
        opened(s, 10),
        s.event(Stock.Reserved, order_id="o1", qty=3),
        s.event(Stock.Reserved, order_id="o2", qty=2),
        s.event(Stock.Sold, order_id="o1", qty=3),
    ).then_including(units_left=5, units_held=2, units_sold=3, version=4)


def test_released_units_go_back_on_sale_when_tracked() -> None:
    s = Stream(Stock)
    STOCK.given(
        opened(s, 10), s.event(Stock.Reserved, order_id="o1", qty=3),
        s.event(Stock.Released, order_id="o1", qty=3, reason="cancelled"),
    ).then_including(units_left=10, units_held=0, units_sold=0)


def test_units_released_after_tracking_stopped_do_not_go_back_on_sale() -> None:
    s = Stream(Stock)
    STOCK.given(
        opened(s, 10), s.event(Stock.Reserved, order_id="o1", qty=3),
        s.event(Stock.LevelSet, units=None, by="vendor"),
        s.event(Stock.Released, order_id="o1", qty=3, reason="cancelled"),
    ).then_including(tracked=False, units_left=0, units_held=0, units_sold=0)


def test_a_restock_turns_sold_units_back_into_units_left() -> None:
    s = Stream(Stock)
    STOCK.given(
        opened(s, 10), s.event(Stock.Reserved, order_id="o1", qty=3), s.event(Stock.Sold, order_id="o1", qty=3),
        s.event(Stock.Restocked, qty=1, reference="return:r1"),
    ).then_including(units_left=8, units_held=0, units_sold=2)


def test_a_level_set_by_the_vendor_replaces_what_is_left() -> None:
    s = Stream(Stock)
    STOCK.given(
        opened(s, 10), s.event(Stock.Reserved, order_id="o1", qty=3),
        s.event(Stock.LevelSet, units=4, by="vendor"),
    ).then_including(tracked=True, units_left=4, units_held=3)


def test_a_level_set_to_none_stops_tracking() -> None:
    s = Stream(Stock)
    STOCK.given(opened(s, 10), s.event(Stock.LevelSet, units=None, by="vendor")).then_including(
        tracked=False, units_left=0)


def test_events_of_stock_never_seen_opening_make_no_row() -> None:
    STOCK.given(Stream(Stock).event(Stock.Reserved, order_id="o1", qty=1)).then_nothing()
