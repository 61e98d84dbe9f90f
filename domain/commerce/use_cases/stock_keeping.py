"""Stock: what can be sold now, and the units each order holds, sells or gives back."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.catalog.product import Product, Variant
from domain.commerce.order import Order
from domain.commerce.stock import OutOfStockError, Stock, stock_id_for
from domain.commerce.use_cases.base import CommerceBase
from domain.commerce.values import Line
from domain.errors import ConflictError
from domain.saving import Saved, retry_on_conflict


class ItemUnavailableError(ConflictError, title="Item unavailable"): ...


class ShopClosedError(ConflictError, title="Shop closed"): ...


class StockKeeping(CommerceBase):
    def stock(self, product_id: UUID | str, sku: str, opening: int | None) -> Stock | None:
        """The variant's stock; a variant never stocked here opens with the Catalog's figure
        (`opening`). None: not tracked, sells without limit."""
        found = self._get(stock_id_for(product_id, sku), Stock)
        if found is not None:
            return found
        return None if opening is None else Stock.open(str(product_id), sku, opening)

    def units_left(self, product_id: UUID | str, variant: Variant) -> int | None:
        """What can be ordered now; None when not tracked. A question: the stock as loaded,
        not a copy (its restocked orders grow with history)."""
        stock = self.read(stock_id_for(product_id, variant.sku), Stock)
        if stock is None:
            return variant.stock  # never stocked here: the Catalog's opening figure
        return stock.left if stock.tracked else None

    @retry_on_conflict
    def set_stock_level(self, product_id: UUID, sku: str, units: int | None, by: str) -> Saved[Stock]:
        """The vendor's count of what is left to sell now (None: stop tracking)."""
        _, variant = self.prices.current_variant(product_id, sku)
        stock = self._get(stock_id_for(product_id, sku), Stock) or Stock.open(
            str(product_id), sku, variant.stock)
        stock.set_level(units, by=by)
        return Saved(stock, self.save_all(stock))

    def _sellable(self, product_id: UUID, sku: str, qty: int) -> tuple[Product, Variant]:
        product, variant = self.prices.current_variant(product_id, sku)
        label = f"{product.name} ({variant.name})"
        if not variant.is_available:
            raise ItemUnavailableError(f"{label} is not available now")
        left = self.units_left(product_id, variant)
        if left is not None and qty > left:
            raise ItemUnavailableError(f"only {left} of {label} left (SKU {sku}); you asked for {qty}",
                                       field="qty")
        if product.shop_id and not self.prices.shop_is_open(UUID(product.shop_id)):
            raise ShopClosedError(f"the shop selling {product.name} is closed now")
        return product, variant

    def _reserve(self, order_id: UUID, lines: Sequence[Line]) -> list[Aggregate]:
        """Holds every line's units for the order, in the order's save; all or nothing."""
        wanted: dict[tuple[str, str], int] = {}
        for line in lines:
            key = (line.product_id, line.sku)
            wanted[key] = wanted.get(key, 0) + line.qty
        changed: list[Aggregate] = []
        for (product_id, sku), qty in wanted.items():
            product, variant = self.prices.current_variant(UUID(product_id), sku)
            stock = self.stock(product_id, sku, variant.stock)
            if stock is None:
                continue
            try:
                stock.reserve(str(order_id), qty, f"{product.name} ({variant.name})")
            except OutOfStockError as e:
                raise OutOfStockError(f"{e} (SKU {sku}); you asked for {qty}", field="qty") from None
            changed.append(stock)
        return changed

    def _held(self, order: Order) -> list[Stock]:
        stocks = []
        for key in {(line.product_id, line.sku) for line in order.lines}:
            stock = self._get(stock_id_for(*key), Stock)
            if stock is not None and str(order.id) in stock.held:
                stocks.append(stock)
        return stocks

    def _release(self, order: Order, reason: str) -> list[Aggregate]:
        """Everything the order holds goes back on sale."""
        held = self._held(order)
        for stock in held:
            stock.release(str(order.id), None, reason)
        return list(held)

    def _release_unneeded(self, order: Order, reason: str) -> list[Aggregate]:
        """After a lowered quantity, the order keeps only what its lines still need."""
        changed: list[Aggregate] = []
        for stock in self._held(order):
            need = sum(line.qty for line in order.lines
                       if (line.product_id, line.sku) == (stock.product_id, stock.sku))
            extra = stock.held[str(order.id)] - need
            if extra > 0:
                stock.release(str(order.id), extra, reason)
                changed.append(stock)
        return changed

    def _sell(self, order: Order) -> list[Aggregate]:
        held = self._held(order)
        for stock in held:
            stock.sell(str(order.id))
        return list(held)
