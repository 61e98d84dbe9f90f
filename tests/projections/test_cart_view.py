"""Given a cart's events, then its `cart_view` document (lines, totals, discounts)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

from domain.commerce.cart import Cart
from projections import cart_view
from tests.spec import FIXED_TIME, Stream, projection

CART = projection(cart_view.evolve)
LATER = FIXED_TIME + timedelta(minutes=5)
TERMS = {"discount_type": "flat", "value": 5000, "cap": None, "min_order": 20000, "usage_limit_per_user": 1}


def opened() -> tuple[Stream[Cart], str, Cart.Event]:
    s, owner = Stream(Cart), str(uuid4())
    return s, owner, s.event(Cart.Opened, owner_id=owner, currency="INR")


def added(s: Stream[Cart], item_id: str, qty: int, unit_price: int, shop_id: str | None = "s1") -> Cart.Event:
    return s.event(Cart.ItemAdded, item_id=item_id, product_id=f"p-{item_id}", shop_id=shop_id,
                   sku=item_id.upper(), name=f"Item {item_id}", qty=qty, unit_price=unit_price)


def line(item_id: str, qty: int, unit_price: int, shop_id: str | None = "s1") -> dict[str, Any]:
    return {"item_id": item_id, "product_id": f"p-{item_id}", "shop_id": shop_id, "sku": item_id.upper(),
            "name": f"Item {item_id}", "qty": qty, "unit_price": unit_price, "line_total": qty * unit_price}


def test_an_opened_cart_is_empty_and_costs_nothing() -> None:
    s, owner, event = opened()
    CART.given(event).then({
        "id": str(s.id), "owner_id": owner, "currency": "INR", "items": [], "item_count": 0,
        "total_amount": 0, "shop_id": None, "coupon": None, "points": 0, "points_discount": 0,
        "subtotal": 0, "discount": 0, "delivery_fee": 0, "total": 0,
        "created_at": FIXED_TIME.isoformat(), "updated_at": FIXED_TIME.isoformat(),
    })


def test_lines_are_totalled_and_from_499_delivery_is_free() -> None:
    s, owner, event = opened()
    CART.given(
        event, added(s, "a", 2, 12000), s.event(Cart.ItemAdded, item_id="b", product_id="p-b", shop_id="s1",
                                                sku="B", name="Item b", qty=1, unit_price=30000, timestamp=LATER),
    ).then({
        "id": str(s.id), "owner_id": owner, "currency": "INR",
        "items": [line("a", 2, 12000), line("b", 1, 30000)], "item_count": 3, "total_amount": 54000,
        "shop_id": "s1", "coupon": None, "points": 0, "points_discount": 0,
        "subtotal": 54000, "discount": 0, "delivery_fee": 0, "total": 54000,
        "created_at": FIXED_TIME.isoformat(), "updated_at": LATER.isoformat(),
    })


def test_a_quantity_change_reprices_the_line_and_below_499_delivery_is_charged() -> None:
    s, _, event = opened()
    CART.given(
        event, added(s, "a", 2, 12000), added(s, "b", 1, 30000),
        s.event(Cart.ItemQuantityChanged, item_id="a", qty=1, unit_price=13000),
        s.event(Cart.ItemRemoved, item_id="b"),
    ).then_including(items=[line("a", 1, 13000)], item_count=1, subtotal=13000, delivery_fee=2500, total=15500)


def test_the_coupon_comes_off_first_then_the_points() -> None:
    s, _, event = opened()
    CART.given(
        event, added(s, "a", 2, 12000), added(s, "b", 1, 30000),
        s.event(Cart.CouponApplied, code="SAVE50", terms=TERMS),
        s.event(Cart.PointsReserved, points=100),  # 10 paise a point
    ).then_including(coupon={"code": "SAVE50", "terms": TERMS, "discount": 5000}, points=100,
                     points_discount=1000, subtotal=54000, discount=6000, delivery_fee=0, total=48000)


def test_a_coupon_below_its_minimum_takes_nothing_off() -> None:
    s, _, event = opened()
    CART.given(
        event, added(s, "a", 1, 10000), s.event(Cart.CouponApplied, code="SAVE50", terms=TERMS),
    ).then_including(coupon={"code": "SAVE50", "terms": TERMS, "discount": 0}, discount=0,
                     delivery_fee=2500, total=12500)


def test_clearing_drops_lines_coupon_and_points() -> None:
    s, _, event = opened()
    CART.given(
        event, added(s, "a", 2, 12000), s.event(Cart.CouponApplied, code="SAVE50", terms=TERMS),
        s.event(Cart.PointsReserved, points=100), s.event(Cart.Cleared),
    ).then_including(items=[], item_count=0, shop_id=None, coupon=None, points=0, points_discount=0,
                     subtotal=0, discount=0, total=0)


def test_events_of_a_cart_never_seen_opening_make_no_document() -> None:
    s = Stream(Cart)
    CART.given(added(s, "a", 1, 100)).then_nothing()


def test_a_coupon_taken_off_leaves_the_cart_at_full_price() -> None:
    s, _, event = opened()
    applied = [event, added(s, "a", 2, 27000), s.event(Cart.CouponApplied, code="SAVE50", terms=TERMS)]
    CART.given(*applied).then_including(discount=5000, total=49000)
    CART.given(*applied, s.event(Cart.CouponRemoved)).then_including(coupon=None, discount=0, total=54000)
