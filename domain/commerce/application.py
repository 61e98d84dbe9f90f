"""The Commerce context: carts, orders and wallets (rewards and coupons join them), together
so that "confirm order, debit wallet, clear cart" commits atomically in one save.

One Application, its use cases in one module per family under `use_cases/` (each a mixin
over `CommerceBase`): a command changing several aggregates still saves them together."""

from __future__ import annotations

from domain.commerce.cart import Cart
from domain.commerce.coupon import Coupon
from domain.commerce.order import Order, Proposal
from domain.commerce.rewards import RewardLedger
from domain.commerce.stock import Stock
from domain.commerce.use_cases.base import DEFAULT_CURRENCY, Catalog
from domain.commerce.use_cases.carts import Carts
from domain.commerce.use_cases.lifecycle import OrderLifecycle
from domain.commerce.use_cases.payment_callbacks import OrderNotPayableError, PaymentCallbacks
from domain.commerce.use_cases.placement import OrderPlacement, PricesChangedError
from domain.commerce.use_cases.returns import ReturnsAndRefunds
from domain.commerce.use_cases.stock_keeping import ItemUnavailableError, ShopClosedError
from domain.commerce.use_cases.wallet_rewards import ShopNotFoundForOfferError, WalletAndRewards
from domain.commerce.values import AppliedCoupon, CartLine, DeliveryAddress, DeliveryAddressRef, OrderLine
from domain.commerce.wallet import KeyedDebit, KeyedDebits, Wallet

__all__ = [
    "DEFAULT_CURRENCY",
    "Catalog",
    "CommerceApplication",
    "ItemUnavailableError",
    "OrderNotPayableError",
    "PricesChangedError",
    "ShopClosedError",
    "ShopNotFoundForOfferError",
]


class CommerceApplication(
    Carts,  # both cart surfaces
    OrderPlacement,  # checkout / confirm: pricing, coupons and points, stock reserved
    OrderLifecycle,  # cancel, reject, advance, modify, rate, messages, issues
    ReturnsAndRefunds,  # returns, restock, refunds to the wallet
    WalletAndRewards,  # wallet loads and debits, points, coupons
    PaymentCallbacks,  # online payments: paid, failed, refunded, expired
):  # and, under them all, StockKeeping (what can be sold, what each order holds) and
    # CommerceBase (collaborators, shared lookups, `authorise`)
    name = "commerce"
    # A load replays at most interval - 1 events after the latest snapshot. Carts and orders
    # (whose messages, issues and returns have no bound) keep small states, so a snapshot every
    # 25 events is cheap and keeps a cold load within about 2x of a fresh aggregate's (make
    # bench: at 100 the worst case, 99 events to replay, cost 2.3-2.8x). Wallets and ledgers
    # carry every load and redemption reference: their snapshots grow, so they are taken less often.
    # A Stock takes two events per order of its variant (held, then sold or released): without
    # snapshots a cold load replayed its whole history (2.2 s at 100,000 events, make bench;
    # 1.4 ms now, as at 10). Aggregates whose state grows with their history stretch their
    # interval as it grows (`snapshot_rows`).
    snapshotting_intervals = {Cart: 25, Order: 25, Wallet: 100, RewardLedger: 100, Coupon: 200,
                              Stock: 25}
    snapshot_values = {"cart_line": CartLine, "applied_coupon": AppliedCoupon, "order_line": OrderLine,
                       "delivery_address": DeliveryAddress, "delivery_address_ref": DeliveryAddressRef,
                       "order_proposal": Proposal, "keyed_debit": KeyedDebit,  # v2 wallets
                       "keyed_debits": KeyedDebits}
