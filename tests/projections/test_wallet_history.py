"""Given a wallet's events, then its `wallet_history` lines."""

from __future__ import annotations

from uuid import uuid4

from domain.commerce.wallet import Wallet
from projections import wallet_history
from tests.spec import FIXED_TIME, Stream


def test_each_movement_is_a_line_and_an_order_payment_is_a_debit() -> None:
    s, owner = Stream(Wallet), uuid4()
    events = [
        s.event(Wallet.Opened, owner_id=str(owner), currency="INR"),
        s.event(Wallet.Credited, amount=5000, kind="load", reference="pay-1", balance_after=5000),
        s.event(Wallet.Debited, amount=1200, kind="order", reference="order-1", balance_after=3800),
        s.event(Wallet.Credited, amount=1200, kind="refund", reference="order-1", balance_after=5000),
    ]
    line = {"wallet_id": s.id, "owner_id": owner, "at": FIXED_TIME}
    assert [wallet_history.entry(e, owner) for e in events] == [
        None,
        {**line, "version": 2, "type": "load", "amount": 5000, "balance_after": 5000, "reference": "pay-1"},
        {**line, "version": 3, "type": "debit", "amount": 1200, "balance_after": 3800, "reference": "order-1"},
        {**line, "version": 4, "type": "refund", "amount": 1200, "balance_after": 5000, "reference": "order-1"},
    ]
