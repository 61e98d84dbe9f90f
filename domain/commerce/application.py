"""The Commerce context: carts, orders and wallets (rewards and coupons join them), together
so that "confirm order, debit wallet, clear cart" commits atomically in one save.

One Application, its use cases in one module per family under `use_cases/` (each a mixin
over `CommerceBase`): a command changing several aggregates still saves them together."""

from __future__ import annotations

from domain.commerce.cart import Cart
from domain.commerce.coupon import Coupon
from domain.commerce.order import Order
from domain.commerce.rewards import RewardLedger
from domain.commerce.use_cases.base import DEFAULT_CURRENCY, Catalog
from domain.commerce.use_cases.carts import Carts
from domain.commerce.use_cases.lifecycle import OrderLifecycle
from domain.commerce.use_cases.payment_callbacks import OrderNotPayableError, PaymentCallbacks
from domain.commerce.use_cases.placement import OrderPlacement, PricesChangedError
from domain.commerce.use_cases.returns import ReturnsAndRefunds
from domain.commerce.use_cases.stock_keeping import ItemUnavailableError, ShopClosedError
from domain.commerce.use_cases.wallet_rewards import ShopNotFoundForOfferError, WalletAndRewards
from domain.commerce.wallet import Wallet

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
    # An order's life is a few dozen events, but messages, issues and returns have no bound:
    # a snapshot keeps its load flat however long the thread grows.
    snapshotting_intervals = {Cart: 100, Wallet: 100, RewardLedger: 100, Coupon: 200, Order: 50}
