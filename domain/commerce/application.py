"""The Commerce context: carts now; orders, wallets and rewards join it so that one
`save(*aggregates)` can change them atomically."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from domain.catalog.product import Variant
from domain.commerce.cart import Cart, CartNotFoundError, cart_id_for
from domain.errors import ConflictError, StalePriceError
from domain.saving import EventMartApplication, Saved, retry_on_conflict

DEFAULT_CURRENCY = "INR"


class PriceList(Protocol):
    """Where the current price of a product variant comes from (the Catalog)."""

    def current_variant(self, product_id: UUID, sku: str) -> tuple[Any, Variant]: ...


class ItemUnavailableError(ConflictError):
    title = "Item unavailable"


class CommerceApplication(EventMartApplication):
    name = "commerce"
    snapshotting_intervals = {Cart: 100}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        prices: PriceList,
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        super().__init__(env)
        self.prices = prices
        self.new_id = new_id

    # Cart

    @retry_on_conflict
    def open_cart(self, owner_id: UUID) -> Saved[Cart]:
        cart_id = cart_id_for(owner_id)
        try:
            return Saved(self.repository.get(cart_id), None)
        except AggregateNotFoundError:
            cart = Cart(owner_id=str(owner_id), currency=DEFAULT_CURRENCY)
            return Saved(cart, self.save_all(cart))

    def get_cart(self, cart_id: UUID, owner_id: UUID) -> Cart:
        """Someone else's cart is as good as missing: no hint that it exists."""
        try:
            cart: Cart = self.repository.get(cart_id)
        except AggregateNotFoundError:
            cart = None  # type: ignore[assignment]
        if cart is None or cart.owner_id != str(owner_id):
            raise CartNotFoundError(f"cart {cart_id} not found")
        return cart

    @retry_on_conflict
    def add_cart_item(
        self,
        *,
        owner_id: UUID,
        cart_id: UUID,
        product_id: UUID,
        sku: str,
        qty: int,
        expected_unit_price: int | None = None,
    ) -> Saved[tuple[Cart, str]]:
        cart = self.get_cart(cart_id, owner_id)
        product, variant = self.prices.current_variant(product_id, sku)
        if not variant.sellable:
            raise ItemUnavailableError(f"{product.name} ({variant.name}) is not available now")
        if expected_unit_price is not None and expected_unit_price != variant.price:
            raise StalePriceError(
                f"unit_price {expected_unit_price} is stale: {sku} now costs {variant.price} "
                f"{variant.currency} minor units",
                field="unit_price",
            )
        item_id = cart.add_item(
            item_id=str(self.new_id()),
            product_id=str(product_id),
            sku=sku,
            name=f"{product.name} ({variant.name})",
            qty=qty,
            unit_price=variant.price,
            currency=variant.currency,
        )
        return Saved((cart, item_id), self.save_all(cart))

    @retry_on_conflict
    def change_cart_item(
        self, *, owner_id: UUID, cart_id: UUID, item_id: str, qty: int
    ) -> Saved[Cart]:
        cart = self.get_cart(cart_id, owner_id)
        line = cart.line(item_id)
        _, variant = self.prices.current_variant(UUID(line["product_id"]), line["sku"])
        cart.change_quantity(item_id, qty, variant.price)
        return Saved(cart, self.save_all(cart))

    @retry_on_conflict
    def remove_cart_item(self, *, owner_id: UUID, cart_id: UUID, item_id: str) -> Saved[Cart]:
        cart = self.get_cart(cart_id, owner_id)
        cart.remove_item(item_id)
        return Saved(cart, self.save_all(cart))

    @retry_on_conflict
    def clear_cart(self, *, owner_id: UUID, cart_id: UUID) -> Saved[Cart]:
        cart = self.get_cart(cart_id, owner_id)
        cart.clear()
        return Saved(cart, self.save_all(cart))
