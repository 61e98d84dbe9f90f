"""Wallet, reward points and coupons: loads and debits, points and coupons reserved
against the cart, offers made by vendors and admins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from domain.actor import Actor
from domain.commerce.cart import Cart, EmptyCartError
from domain.commerce.coupon import (
    Coupon,
    CouponExistsError,
    coupon_id,
    pricing_terms,
)
from domain.commerce.rewards import RewardLedger
from domain.commerce.use_cases.base import CommerceBase
from domain.commerce.wallet import Wallet
from domain.errors import NotFoundError
from domain.saving import Saved, retry_on_conflict


class ShopNotFoundForOfferError(NotFoundError, title="Shop not found"): ...


class OfferNotFoundError(NotFoundError, title="Offer not found"): ...


class WalletAndRewards(CommerceBase):
    @retry_on_conflict
    def apply_coupon(self, *, owner_id: UUID, code: str) -> Saved[Cart]:
        cart = self._own_cart(owner_id)
        if not cart.lines:
            raise EmptyCartError("add items before applying a coupon")
        coupon = self.coupon(code)
        coupon.check(user_id=str(owner_id), shop_id=cart.shop_id, now=self.clock(),
                     subtotal=cart.total)
        cart.apply_coupon(coupon.code, pricing_terms(coupon.terms))
        return Saved(cart, self.save_all(cart))

    @retry_on_conflict
    def reserve_points(self, *, owner_id: UUID, points: int) -> Saved[tuple[Cart, RewardLedger]]:
        cart = self._own_cart(owner_id)
        ledger = self.ledger(owner_id)
        if points and not cart.lines:
            raise EmptyCartError("add items before redeeming points")
        ledger.reserve(points)
        cart.reserve_points(points)
        return Saved((cart, ledger), self.save_all(cart, ledger))

    @retry_on_conflict
    def create_coupon(self, actor: Actor, terms: Mapping[str, Any]) -> Saved[Coupon]:
        shop = terms.get("shop_id")
        if not actor.is_admin:
            if not shop or self.prices.shop_vendor(UUID(shop)) != actor.user_id:
                raise ShopNotFoundForOfferError("offers are made for one of your shops")
        elif shop and self.prices.shop_vendor(UUID(shop)) is None:
            # Listed to every customer, an offer for no shop could never be used.
            raise ShopNotFoundForOfferError(f"no shop {shop}")
        if self._get(coupon_id(terms["code"]), Coupon) is not None:
            raise CouponExistsError(f"code {terms['code']} is taken", field="code")
        coupon = Coupon.create(terms, created_by=actor.user_id)
        return Saved(coupon, self.save_all(coupon))

    @retry_on_conflict
    def remove_coupon(self, *, owner_id: UUID) -> Saved[Cart]:
        cart = self._own_cart(owner_id)
        cart.remove_coupon()
        return Saved(cart, self.save_all(cart))

    @retry_on_conflict
    def deactivate_coupon(self, actor: Actor, code: str, shop_id: UUID | None = None) -> Saved[Coupon]:
        """Admins stop any offer; a vendor the offers of their shops (`shop_id`: the one named
        in the URL, which the offer must be for)."""
        coupon = self._get(coupon_id(code), Coupon)
        if coupon is None or (shop_id is not None and coupon.terms.get("shop_id") != str(shop_id)):
            raise OfferNotFoundError(f"no offer {code.upper()}" + (" for this shop" if shop_id else ""))
        if not actor.is_admin:
            shop = coupon.terms.get("shop_id")
            if not shop or self.prices.shop_vendor(UUID(shop)) != actor.user_id:
                raise OfferNotFoundError(f"no offer {code.upper()} for your shops")
        coupon.deactivate(actor.user_id)
        return Saved(coupon, self.save_all(coupon))

    @retry_on_conflict
    def debit_wallet(self, owner_id: UUID, amount: int, reference: str,
                     key: str | None = None) -> Saved[Wallet]:
        """With an idempotency `key`, once: the wallet records the key with the debit, and a
        second debit with it saves nothing (`wallet.keyed_debit(key)` is the first outcome)."""
        wallet = self.wallet(owner_id)
        if key is not None and wallet.keyed_debit(key) is not None:
            return Saved(wallet, self.log_head())
        wallet.debit(amount, kind="debit", reference=reference, key=key)
        return Saved(wallet, self.save_all(wallet))

    @retry_on_conflict
    def credit_wallet_load(self, owner_id: UUID, amount: int, payment_id: str) -> Saved[Wallet]:
        """A load paid through the provider; once per payment, however often reported."""
        wallet = self.wallet(owner_id)
        wallet.credit(amount, kind="load", reference=payment_id)
        return Saved(wallet, self.save_all(wallet))
