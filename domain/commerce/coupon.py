"""Offers: a coupon code with a discount, validity window and usage limits.

Redemption happens in the same save as the order it discounts, so the global and per-user
limits hold under any concurrency (optimistic concurrency on the coupon)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict, cast
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.commerce.values import PricingTerms
from domain.errors import ConflictError, DomainError, NotFoundError
from domain.instants import EARLIEST, LATEST

CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,31}$")
# Bounds that keep every term inside its read-model column (usage limits are integer) and every
# date inside what PostgreSQL and Python both represent in any time zone: an unbounded limit or
# a year-1 date was stored, then stopped the offers read model or every offers read.
MAX_PAISE = 10**12
MAX_USES = 10**9


class CouponNotFoundError(NotFoundError, title="Coupon not found"): ...


class CouponExistsError(ConflictError, title="Coupon exists"): ...


class CouponRejectedError(DomainError, title="Coupon not applicable"): ...


def coupon_id(code: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"eventmart:coupon:{code.upper()}")


class CouponTerms(TypedDict):
    """An offer as Coupon.Created stores it. Amounts in paise; `value` is paise off (flat) or
    percent off (percent, at most `cap` paise)."""

    code: str
    description: str
    discount_type: Literal["flat", "percent"]
    value: int
    cap: int | None
    min_order: int
    valid_from: datetime
    valid_until: datetime
    usage_limit_total: int | None
    usage_limit_per_user: int | None
    shop_id: NotRequired[str | None]  # a shop's own offer; none: the marketplace's


def discount_for(terms: Mapping[str, Any], subtotal: int) -> int:
    """What these terms take off this subtotal; 0 below the minimum. Pure: the cart view, the
    cart summary and order placement all use it."""
    if subtotal < terms["min_order"] or subtotal <= 0:
        return 0
    if terms["discount_type"] == "flat":
        amount = terms["value"]
    else:
        amount = subtotal * terms["value"] // 100
        if terms.get("cap") is not None:
            amount = min(amount, terms["cap"])
    return int(min(amount, subtotal))


def pricing_terms(terms: Mapping[str, Any]) -> PricingTerms:
    """What a cart needs to price the discount; validity and limits are checked at confirm."""
    return PricingTerms(discount_type=terms["discount_type"], value=terms["value"],
                        cap=terms.get("cap"), min_order=terms["min_order"])


def check_terms(terms: Mapping[str, Any]) -> CouponTerms:
    """The terms, if valid."""
    if not CODE.match(terms["code"]):
        raise DomainError("code: 3-32 of A-Z, 0-9, - and _", field="code")
    if terms["discount_type"] not in ("flat", "percent"):
        raise DomainError("discount_type is flat or percent", field="discount_type")
    if terms["discount_type"] == "percent" and not 1 <= terms["value"] <= 100:
        raise DomainError("a percent discount is 1 to 100", field="value")
    if terms["value"] <= 0 or terms["min_order"] < 0:
        raise DomainError("value must be positive and min_order not negative", field="value")
    for amount in ("value", "cap", "min_order"):
        if (terms.get(amount) or 0) > MAX_PAISE:
            raise DomainError(f"{amount} must be at most {MAX_PAISE}", field=amount)
    if terms.get("cap") is not None and terms["cap"] <= 0:
        raise DomainError("cap must be positive", field="cap")
    for when in ("valid_from", "valid_until"):
        # Compared with the clock's aware time at every use: a naive one could never be.
        if terms[when].utcoffset() is None:
            raise DomainError(f"{when} needs a time zone offset (Z, +05:30)", field=when)
        if not EARLIEST <= terms[when] <= LATEST:
            raise DomainError(f"{when} must be between 1970 and 9000", field=when)
    if terms["valid_until"] <= terms["valid_from"]:
        raise DomainError("valid_until must be after valid_from", field="valid_until")
    for limit in ("usage_limit_total", "usage_limit_per_user"):
        if terms.get(limit) is not None and not 1 <= terms[limit] <= MAX_USES:
            raise DomainError(f"{limit} must be 1 to {MAX_USES}", field=limit)
    return cast(CouponTerms, dict(terms))


class Coupon(Aggregate):
    class Created(Aggregate.Created):
        terms: CouponTerms
        created_by: str

    class Redeemed(Aggregate.Event):
        user_id: str
        order_id: str
        amount: int

    class Released(Aggregate.Event):
        user_id: str
        order_id: str

    class Deactivated(Aggregate.Event):
        by: str

    @staticmethod
    def create_id(terms: CouponTerms, created_by: str) -> UUID:
        return coupon_id(terms["code"])

    @event(Created)
    def __init__(self, terms: CouponTerms, created_by: str) -> None:
        self.terms = terms.copy()
        self.created_by = created_by
        self.active = True
        self.uses: dict[str, str] = {}  # order id -> user id

    @property
    def snapshot_rows(self) -> int:
        """What its state holds that grows with its history: its uses (the application
        snapshots a coupon less often as it grows)."""
        return len(self.uses)

    @classmethod
    def create(cls, terms: Mapping[str, Any], created_by: str) -> Coupon:
        return cls(terms=check_terms(terms), created_by=created_by)

    @property
    def code(self) -> str:
        return str(self.terms["code"])

    def check(self, *, user_id: str, shop_id: str | None, subtotal: int, now: datetime) -> int:
        """The discount this cart gets, or CouponRejectedError with the reason."""
        t = self.terms
        if not self.active:
            raise CouponRejectedError(f"{self.code} is no longer offered", field="code")
        if now < t["valid_from"]:
            raise CouponRejectedError(f"{self.code} starts on {t['valid_from'].date()}", field="code")
        if now >= t["valid_until"]:
            raise CouponRejectedError(f"{self.code} expired on {t['valid_until'].date()}", field="code")
        if t.get("shop_id") and t["shop_id"] != shop_id:
            raise CouponRejectedError(f"{self.code} is for another shop's items", field="code")
        if subtotal < t["min_order"]:
            raise CouponRejectedError(f"{self.code} needs an order of at least {t['min_order']}",
                                      field="code")
        if (total := t.get("usage_limit_total")) is not None and len(self.uses) >= total:
            raise CouponRejectedError(f"{self.code} has been used up", field="code")
        mine = sum(1 for user in self.uses.values() if user == user_id)
        if (per_user := t.get("usage_limit_per_user")) is not None and mine >= per_user:
            raise CouponRejectedError(f"you have used {self.code} as often as allowed", field="code")
        return discount_for(t, subtotal)

    def redeem(self, *, user_id: str, shop_id: str | None, order_id: str, subtotal: int,
               now: datetime) -> int:
        amount = self.check(user_id=user_id, shop_id=shop_id, subtotal=subtotal, now=now)
        self._redeemed(user_id=user_id, order_id=order_id, amount=amount)
        return amount

    @event(Redeemed)
    def _redeemed(self, user_id: str, order_id: str, amount: int) -> None:
        self.uses[order_id] = user_id

    def release(self, order_id: str) -> None:
        """A cancelled order gives its use back."""
        if order_id in self.uses:
            self._released(user_id=self.uses[order_id], order_id=order_id)

    @event(Released)
    def _released(self, user_id: str, order_id: str) -> None:
        del self.uses[order_id]

    def deactivate(self, by: str) -> None:
        if self.active:
            self._deactivated(by=by)

    @event(Deactivated)
    def _deactivated(self, by: str) -> None:
        self.active = False
