"""What an order costs beyond its lines. One place, so cart and order always agree."""

from __future__ import annotations

from collections.abc import Sequence

from domain.commerce.values import Amounts, Line, PricingTerms

DELIVERY_FEE = 2_500  # ₹25.00, in paise
FREE_DELIVERY_FROM = 49_900  # subtotals from ₹499.00 ship free


def delivery_fee(subtotal: int) -> int:
    if subtotal <= 0 or subtotal >= FREE_DELIVERY_FROM:
        return 0
    return DELIVERY_FEE


def amounts(subtotal: int, discount: int = 0) -> Amounts:
    discount = max(0, min(discount, subtotal))
    fee = delivery_fee(subtotal)
    return Amounts(subtotal=subtotal, discount=discount, delivery_fee=fee,
                   total=subtotal - discount + fee)


def discounts(subtotal: int, coupon_terms: PricingTerms | None, points: int) -> dict[str, int]:
    """Coupon first, then points, never below zero. Pure: cart view and orders agree."""
    from domain.commerce.coupon import discount_for
    from domain.commerce.rewards import POINT_VALUE

    coupon = discount_for(coupon_terms, subtotal) if coupon_terms else 0
    points_value = min(points * POINT_VALUE, subtotal - coupon)
    return {"coupon": coupon, "points": max(points_value, 0)}


def unit_prices_paid(lines: Sequence[Line], discount: int) -> dict[str, list[int]]:
    """What the customer paid for each unit of each line once the order's discount (coupon and
    points together) is spread over the goods, in paise, so that every paisa is accounted for:
    the shares of all units add up to exactly `subtotal - discount`.

    The discount is split over lines in proportion to their totals, rounded down, and the paise
    left over go one each to the lines with the largest remainders (earlier lines win ties).
    Within a line, units share its net evenly; the first `net % qty` units carry one paisa more.
    The delivery fee is not part of any unit: it pays for a delivery that happened.
    """
    subtotal = sum(line.qty * line.unit_price for line in lines)
    discount = max(0, min(discount, subtotal))
    shares: list[tuple[int, int]] = []  # (floor share, remainder numerator)
    for line in lines:
        total = line.qty * line.unit_price
        shares.append(divmod(discount * total, subtotal) if subtotal else (0, 0))
    left = discount - sum(s for s, _ in shares)
    by_remainder = sorted(range(len(lines)), key=lambda i: (-shares[i][1], i))
    extra = set(by_remainder[:left])
    out: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        net = line.qty * line.unit_price - shares[i][0] - (1 if i in extra else 0)
        base, rest = divmod(net, line.qty)
        out[line.item_id] = [base + (1 if u < rest else 0) for u in range(line.qty)]
    return out
