"""What an order costs beyond its lines. One place, so cart and order always agree."""

from __future__ import annotations

from typing import Any

DELIVERY_FEE = 2_500  # ₹25.00, in paise
FREE_DELIVERY_FROM = 49_900  # subtotals from ₹499.00 ship free


def delivery_fee(subtotal: int) -> int:
    if subtotal <= 0 or subtotal >= FREE_DELIVERY_FROM:
        return 0
    return DELIVERY_FEE


def amounts(subtotal: int, discount: int = 0) -> dict[str, int]:
    discount = max(0, min(discount, subtotal))
    fee = delivery_fee(subtotal)
    return {"subtotal": subtotal, "discount": discount, "delivery_fee": fee,
            "total": subtotal - discount + fee}


def discounts(subtotal: int, coupon_terms: dict[str, Any] | None, points: int) -> dict[str, int]:
    """Coupon first, then points, never below zero. Pure: cart view and orders agree."""
    from domain.commerce.coupon import discount_for
    from domain.commerce.rewards import POINT_VALUE

    coupon = discount_for(coupon_terms, subtotal) if coupon_terms else 0
    points_value = min(points * POINT_VALUE, subtotal - coupon)
    return {"coupon": coupon, "points": max(points_value, 0)}
