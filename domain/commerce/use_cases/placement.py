"""Order placement: the cart re-priced against the Catalog, its coupon and points redeemed,
its units reserved, and the order placed, all in one save."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.commerce import pricing
from domain.commerce.cart import Cart
from domain.commerce.coupon import CouponRejectedError
from domain.commerce.order import Order
from domain.commerce.rewards import POINT_VALUE
from domain.commerce.use_cases.stock_keeping import StockKeeping
from domain.commerce.values import CartLine, DeliveryAddress, DeliveryAddressRef, DiscountData
from domain.errors import ConflictError
from domain.saving import Saved, retry_on_conflict


class PricesChangedError(ConflictError, title="Prices changed"): ...


class OrderPlacement(StockKeeping):
    @retry_on_conflict
    def checkout(self, *, owner_id: UUID, cart_id: UUID, order_id: UUID | None = None) -> Saved[Order]:
        """Flow Specs: the cart becomes an order awaiting online payment. With an `order_id`
        (an idempotency claim's), once: an order already placed under it is the answer."""
        if (placed := self._placed(owner_id, order_id)) is not None:
            return Saved(placed, self.log_head())
        cart = self.get_cart(cart_id, owner_id)
        order, changed = self._place(cart, payment_mode="online", order_id=order_id)
        return Saved(order, self.save_all(order, cart, *changed))

    @retry_on_conflict
    def confirm_order(
        self, *, owner_id: UUID, payment_mode: str, delivery_notes: str,
        address: DeliveryAddress | DeliveryAddressRef | None, order_id: UUID | None = None,
    ) -> Saved[Order]:
        """Customer Journey: cash or wallet. Order, cart and wallet change in one save. With
        an `order_id` (an idempotency claim's), once: an order already placed under it is
        the answer."""
        if (placed := self._placed(owner_id, order_id)) is not None:
            return Saved(placed, self.log_head())
        cart = self._own_cart(owner_id)
        order, others = self._place(cart, payment_mode=payment_mode, delivery_notes=delivery_notes,
                                    address=address, order_id=order_id)
        changed: list[Aggregate] = [order, cart, *others]
        if payment_mode == "wallet":
            wallet = self.wallet(owner_id)
            wallet.debit(order.total, kind="order", reference=str(order.id))
            order.mark_wallet_paid()
            changed.append(wallet)
        return Saved(order, self.save_all(*changed))

    def _placed(self, owner_id: UUID, order_id: UUID | None) -> Order | None:
        """The order already placed under this id (an idempotent re-execution), if any."""
        if order_id is None:
            return None
        order: Order | None = self._get(order_id, Order)
        if order is not None and order.customer_id != str(owner_id):
            raise ConflictError("this order id is taken")
        return order

    def _place(self, cart: Cart, *, payment_mode: str, delivery_notes: str = "",
               address: DeliveryAddress | DeliveryAddressRef | None = None,
               order_id: UUID | None = None) -> tuple[Order, list[Aggregate]]:
        """The order for this cart, with its coupon and points redeemed. Returns the other
        aggregates it changed, to be saved with it (all or nothing)."""
        shop_id = cart.shop_id
        code = cart.coupon.code if cart.coupon else None
        points = cart.points
        lines = self._priced_lines(cart)
        subtotal = sum(line.total for line in lines)
        order_id = order_id or self.new_id()
        changed: list[Aggregate] = []
        discounts: list[DiscountData] = []
        coupon_amount = 0
        if code:
            try:
                coupon = self.coupon(code)
                coupon_amount = coupon.redeem(user_id=cart.owner_id, shop_id=shop_id,
                                              order_id=str(order_id), subtotal=subtotal, now=self.clock())
            except CouponRejectedError as e:
                # The way out, or the cart stays unorderable: a stopped offer stays applied.
                raise CouponRejectedError(f"{e.detail}; take the coupon off the cart "
                                          "(remove-coupon) to order without it", field="code") from None
            discounts.append(DiscountData(kind="coupon", code=code, amount=coupon_amount))
            changed.append(coupon)
        points_amount = 0
        if points:
            points_amount = min(points * POINT_VALUE, subtotal - coupon_amount)
            used = -(-points_amount // POINT_VALUE)  # only the points the discount needs
            ledger = self.ledger(UUID(cart.owner_id))
            ledger.redeem(str(order_id), used)
            discounts.append(DiscountData(kind="points", points=used, amount=points_amount))
            changed.append(ledger)
        changed += self._reserve(order_id, lines)
        order = Order.place(
            customer_id=cart.owner_id, shop_id=shop_id,
            lines=[line.ordered() for line in lines],
            currency=cart.currency, delivery_fee=pricing.delivery_fee(subtotal),
            discount=coupon_amount + points_amount, payment_mode=payment_mode,
            delivery_notes=delivery_notes, address=address, order_id=order_id, discounts=discounts,
        )
        return order, changed

    def _priced_lines(self, cart: Cart) -> list[CartLine]:
        """The cart's lines re-checked against the catalog now: availability, stock, open
        shop and price. A changed price re-prices the cart and asks the shopper to look again."""
        lines = cart.check_out()
        changed = []
        for line in lines:
            _, variant = self._sellable(UUID(line.product_id), line.sku, line.qty)
            if variant.price != line.unit_price:
                changed.append((line, variant.price))
        if changed:
            fresh = self.get(cart.id, Cart)
            for line, price in changed:
                fresh.change_quantity(line.item_id, line.qty, price)
            position = self.save_all(fresh)
            names = ", ".join(f"{line.name} now {price}" for line, price in changed)
            raise PricesChangedError(f"prices changed since you added them ({names}); the cart "
                                     "shows the new prices, check out again to accept them",
                                     saved=(self.name, position))
        return lines
