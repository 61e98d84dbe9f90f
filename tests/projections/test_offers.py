"""Given a coupon's events, then its `offers` row: terms, uses, whether it is active."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from domain.commerce.coupon import Coupon
from projections import offers
from tests.spec import FIXED_TIME, Stream, projection

OFFER = projection(offers.evolve)
LATER = FIXED_TIME + timedelta(hours=1)
UNTIL = FIXED_TIME + timedelta(days=30)


def created(s: Stream[Coupon], **terms: object) -> Coupon.Event:
    return s.event(Coupon.Created, created_by="admin", terms={
        "code": "SAVE50", "discount_type": "flat", "value": 5000, "cap": None, "min_order": 20000,
        "usage_limit_per_user": 1, "valid_from": FIXED_TIME, "valid_until": UNTIL, **terms})


def test_a_new_offer_is_active_and_unused_with_its_pricing_terms_only() -> None:
    s = Stream(Coupon)
    OFFER.given(created(s, description="₹50 off", usage_limit_total=100, created_by_note="kept out")).then({
        "coupon_id": s.id, "code": "SAVE50", "description": "₹50 off", "shop_id": None,
        "terms": {"discount_type": "flat", "value": 5000, "cap": None, "min_order": 20000,
                  "usage_limit_per_user": 1},
        "valid_from": FIXED_TIME, "valid_until": UNTIL, "usage_limit_total": 100, "uses": 0, "active": True,
        "created_at": FIXED_TIME, "updated_at": FIXED_TIME,
    })


def test_a_shops_offer_names_the_shop() -> None:
    s, shop = Stream(Coupon), uuid4()
    OFFER.given(created(s, shop_id=str(shop))).then_including(shop_id=shop, description="", usage_limit_total=None)


def test_uses_count_redemptions_less_releases() -> None:
    s = Stream(Coupon)
    OFFER.given(
        created(s),
        s.event(Coupon.Redeemed, user_id="u1", order_id="o1", amount=5000),
        s.event(Coupon.Redeemed, user_id="u2", order_id="o2", amount=5000),
        s.event(Coupon.Released, user_id="u1", order_id="o1", timestamp=LATER),
    ).then_including(uses=1, active=True, created_at=FIXED_TIME, updated_at=LATER)


def test_a_deactivated_offer_is_no_longer_active() -> None:
    s = Stream(Coupon)
    OFFER.given(created(s), s.event(Coupon.Deactivated, by="admin")).then_including(active=False, uses=0)


def test_events_of_an_offer_never_seen_created_make_no_row() -> None:
    OFFER.given(Stream(Coupon).event(Coupon.Deactivated, by="admin")).then_nothing()
