"""Carts, both surfaces: Flow Specs' carts by id, and the Customer Journey's implicit
cart, one per user."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.commerce.cart import Cart, cart_id_for
from domain.commerce.stock import stock_id_for
from domain.commerce.use_cases.base import DEFAULT_CURRENCY
from domain.commerce.use_cases.stock_keeping import ItemUnavailableError, StockKeeping
from domain.commerce.values import CartLine
from domain.errors import StalePriceError
from domain.saving import Saved, retry_on_conflict


class Carts(StockKeeping):
    @retry_on_conflict
    def open_cart(self, owner_id: UUID) -> Saved[Cart]:
        cart = self._get(cart_id_for(owner_id), Cart)
        if cart is not None:
            return Saved(cart, None)
        cart = Cart(owner_id=str(owner_id), currency=DEFAULT_CURRENCY)
        return Saved(cart, self.save_all(cart))

    @retry_on_conflict
    def add_cart_item(
        self, *, owner_id: UUID, cart_id: UUID, product_id: UUID, sku: str, qty: int,
        expected_unit_price: int | None = None, replace: bool = False,
    ) -> Saved[tuple[Cart, str]]:
        self._prefetch_for(cart_id, product_id)
        cart = self.get_cart(cart_id, owner_id)
        item_id = self._add(cart, product_id=product_id, sku=sku, qty=qty,
                            expected_unit_price=expected_unit_price, replace=replace)
        return Saved((cart, item_id), self.save_all(cart))

    @retry_on_conflict
    def add_to_my_cart(
        self, *, owner_id: UUID, product_id: UUID, sku: str | None, qty: int, replace: bool
    ) -> Saved[tuple[Cart, str]]:
        """The Customer Journey's cart: implicit, one per user. Without a SKU, the first
        variant that can be sold now."""
        self._prefetch_for(cart_id_for(owner_id), product_id)
        cart = self._own_cart(owner_id)
        if sku is None:
            sku = self._default_sku(product_id)
        item_id = self._add(cart, product_id=product_id, sku=sku, qty=qty,
                            expected_unit_price=None, replace=replace)
        return Saved((cart, item_id), self.save_all(cart))

    def _add(self, cart: Cart, *, product_id: UUID, sku: str, qty: int,
             expected_unit_price: int | None, replace: bool) -> str:
        product_key = str(product_id)
        existing = sum(line.qty for line in cart.lines.values()
                       if line.product_id == product_key and line.sku == sku)
        product, variant = self._sellable(product_id, sku, qty + existing)
        if expected_unit_price is not None and expected_unit_price != variant.price:
            raise StalePriceError(
                f"unit_price {expected_unit_price} is stale: {sku} now costs {variant.price} "
                f"{variant.currency} minor units",
                field="unit_price",
            )
        return cart.add_item(
            item_id=str(self.new_id()), product_id=str(product_id), sku=sku,
            name=f"{product.name} ({variant.name})", qty=qty, price=variant.money,
            shop_id=product.shop_id, replace=replace,
        )

    def _prefetch_for(self, cart_id: UUID, product_id: UUID) -> None:
        """The cart, the product, its shop and its variants' stock in one round trip. The
        shop and the SKUs come from the cached product, so a product seen before costs
        nothing extra; a new one's shop and stock follow in their own look-ups."""
        wanted: list[tuple[Any, UUID | None]] = [(self, cart_id), (self.prices, product_id)]
        known = self.prices.peek_product(product_id)
        if known is not None:
            wanted.append((self.prices, UUID(known.shop_id) if known.shop_id else None))
            wanted += [(self, stock_id_for(product_id, sku)) for sku in known.variants]
        self.prefetch(wanted)

    def _default_sku(self, product_id: UUID) -> str:
        product = self.prices.get_product(product_id)
        for sku in product.variants:
            variant = product.variant(sku)
            left = self.units_left(product_id, variant)
            if variant.is_available and (left is None or left > 0):
                return str(sku)
        raise ItemUnavailableError(f"{product.name} is not available now")

    @retry_on_conflict
    def change_cart_item(self, *, owner_id: UUID, cart_id: UUID, item_id: str, qty: int) -> Saved[Cart]:
        cart = self.get_cart(cart_id, owner_id)
        line = cart.line(item_id)
        self._prefetch_for(cart_id, UUID(line.product_id))
        self._set_qty(cart, line, qty)
        return Saved(cart, self.save_all(cart))

    @retry_on_conflict
    def update_my_cart(self, *, owner_id: UUID, ref: str, sku: str | None, qty: int) -> Saved[Cart]:
        """Quantity 0 removes the line."""
        cart = self._own_cart(owner_id)
        line = cart.find_line(ref, sku)
        if qty == 0:
            cart.remove_item(line.item_id)
        else:
            self._set_qty(cart, line, qty)
        return Saved(cart, self.save_all(cart))

    def _set_qty(self, cart: Cart, line: CartLine, qty: int) -> None:
        _, variant = self._sellable(UUID(line.product_id), line.sku, qty)
        cart.change_quantity(line.item_id, qty, variant.price)

    @retry_on_conflict
    def remove_cart_item(self, *, owner_id: UUID, cart_id: UUID, item_id: str) -> Saved[Cart]:
        cart = self.get_cart(cart_id, owner_id)
        cart.remove_item(item_id)
        return Saved(cart, self.save_all(cart))

    @retry_on_conflict
    def remove_from_my_cart(self, *, owner_id: UUID, ref: str, sku: str | None) -> Saved[Cart]:
        cart = self._own_cart(owner_id)
        cart.remove_item(cart.find_line(ref, sku).item_id)
        return Saved(cart, self.save_all(cart))

    @retry_on_conflict
    def clear_my_cart(self, *, owner_id: UUID) -> Saved[Cart]:
        """Emptying the cart also releases the points reserved against it."""
        cart = self._own_cart(owner_id)
        cart.clear()
        ledger = self.ledger(owner_id)
        ledger.release()
        return Saved(cart, self.save_all(cart, ledger))
