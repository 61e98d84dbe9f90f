"""Stock of one variant (product, SKU): what is left to sell, what orders hold, what was sold.

Stock lives in Commerce, not in the Catalog, so that placing an order and reserving its units
are one atomic save (the two contexts have separate event tables). The Catalog's stock figure
on a listed variant is only the opening level: the first order or the first level the vendor
sets here adopts it, and from then on this aggregate is the truth.

The ledger always balances: sold + held + left == stocked, where `stocked` moves only when
the vendor sets a level (or restocks returned units). A variant without a tracked level sells
without limit and records nothing here.
"""

from __future__ import annotations

from functools import lru_cache
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import ConflictError, DomainError

MAX_UNITS = 10**7


@lru_cache(maxsize=20_000)  # every cart add asks it for each of the product's variants
def stock_id_for(product_id: str | UUID, sku: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"eventmart:stock:{product_id}:{sku}")


class OutOfStockError(ConflictError, title="Out of stock"): ...


class Stock(Aggregate):
    class Opened(Aggregate.Created):
        product_id: str
        sku: str
        units: int | None  # None: not tracked, sells without limit

    class LevelSet(Aggregate.Event):
        """The vendor counted the shelf: `units` are left to sell now (None: stop tracking)."""

        units: int | None
        by: str

    class Reserved(Aggregate.Event):
        order_id: str
        qty: int

    class Released(Aggregate.Event):
        order_id: str
        qty: int
        reason: str

    class Sold(Aggregate.Event):
        """The order holding these units was delivered."""

        order_id: str
        qty: int

    class Restocked(Aggregate.Event):
        """Returned units put back on the shelf."""

        reference: str
        qty: int

    @event(Opened)
    def __init__(self, product_id: str, sku: str, units: int | None) -> None:
        self.product_id = product_id
        self.sku = sku
        self.tracked = units is not None
        self.left = units or 0
        self.stocked = self.left
        self.sold = 0
        self.held: dict[str, int] = {}
        self.restocked: set[str] = set()

    @property
    def snapshot_rows(self) -> int:
        """What its state holds that grows with its history: the orders holding units, the
        returns put back (the application snapshots a stock less often as it grows)."""
        return len(self.held) + len(self.restocked)

    @classmethod
    def open(cls, product_id: str, sku: str, units: int | None) -> Stock:
        _check_units(units)
        return cls._create(cls.Opened, id=stock_id_for(product_id, sku), product_id=product_id,
                           sku=sku, units=units)

    @property
    def units_held(self) -> int:
        return sum(self.held.values())

    def set_level(self, units: int | None, by: str) -> None:
        _check_units(units)
        if units == (self.left if self.tracked else None):
            return
        self._level_set(units=units, by=by)

    @event(LevelSet)
    def _level_set(self, units: int | None, by: str) -> None:
        if units is None:
            # Untracked: what is left stops counting; units already held stay held.
            self.stocked -= self.left
            self.left = 0
            self.tracked = False
        else:
            self.stocked += units - self.left
            self.left = units
            self.tracked = True

    def can_take(self, qty: int) -> bool:
        return not self.tracked or qty <= self.left

    def reserve(self, order_id: str, qty: int, label: str) -> None:
        """Holds `qty` units for the order; an untracked variant holds nothing."""
        if qty < 1:
            raise DomainError("quantity must be at least 1", field="qty")
        if order_id in self.held:
            return  # already holding for this order
        if not self.tracked:
            return
        if qty > self.left:
            raise OutOfStockError(f"only {self.left} of {label} left", field="qty")
        self._reserved(order_id=order_id, qty=qty)

    @event(Reserved)
    def _reserved(self, order_id: str, qty: int) -> None:
        self.held[order_id] = qty
        self.left -= qty

    def release(self, order_id: str, qty: int | None, reason: str) -> None:
        """Gives back what the order no longer needs (all of it when qty is None)."""
        holding = self.held.get(order_id, 0)
        qty = holding if qty is None else min(qty, holding)
        if qty > 0:
            self._released(order_id=order_id, qty=qty, reason=reason)

    @event(Released)
    def _released(self, order_id: str, qty: int, reason: str) -> None:
        self.held[order_id] -= qty
        if not self.held[order_id]:
            del self.held[order_id]
        if self.tracked:
            self.left += qty
        else:
            self.stocked -= qty  # nothing to go back to: those units leave the ledger

    def sell(self, order_id: str) -> None:
        qty = self.held.get(order_id, 0)
        if qty:
            self._sold(order_id=order_id, qty=qty)

    @event(Sold)
    def _sold(self, order_id: str, qty: int) -> None:
        del self.held[order_id]
        self.sold += qty

    def restock(self, reference: str, qty: int) -> None:
        """Returned units back on sale, once per reference; only what was sold here."""
        if reference in self.restocked or not self.tracked:
            return
        qty = min(qty, self.sold)
        if qty > 0:
            self._restocked_(reference=reference, qty=qty)

    @event(Restocked)
    def _restocked_(self, reference: str, qty: int) -> None:
        self.restocked.add(reference)
        self.sold -= qty
        self.left += qty


def _check_units(units: int | None) -> None:
    if units is not None and (isinstance(units, bool) or not isinstance(units, int)
                              or not 0 <= units <= MAX_UNITS):
        raise DomainError(f"stock is 0 to {MAX_UNITS} units, or null when not tracked", field="stock")
