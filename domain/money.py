"""Money, shared by every context: the catalog prices in it, commerce charges it."""

from __future__ import annotations

from dataclasses import dataclass

# What the marketplace sells in: every cart is opened in the first, so an item priced in any
# other could be listed but never bought.
CURRENCIES = ("INR",)


@dataclass(frozen=True)
class Money:
    """An amount in minor units (paise, cents) of one ISO 4217 currency; never a float."""

    amount: int
    currency: str
