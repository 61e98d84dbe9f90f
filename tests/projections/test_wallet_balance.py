"""Given a wallet's events, then its `wallet_balance` row."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from domain.commerce.wallet import Wallet
from projections import wallet_balance
from tests.spec import FIXED_TIME, Stream, projection

LATER = FIXED_TIME + timedelta(minutes=5)


def test_an_opened_wallet_has_a_zero_balance() -> None:
    s, owner = Stream(Wallet), uuid4()
    projection(wallet_balance.evolve).given(
        s.event(Wallet.Opened, owner_id=str(owner), currency="INR"),
    ).then({"wallet_id": s.id, "owner_id": owner, "currency": "INR", "balance": 0, "version": 1,
            "updated_at": FIXED_TIME})


def test_the_balance_is_the_one_after_the_last_movement() -> None:
    s, owner = Stream(Wallet), uuid4()
    projection(wallet_balance.evolve).given(
        s.event(Wallet.Opened, owner_id=str(owner), currency="INR"),
        s.event(Wallet.Credited, amount=5000, kind="load", reference="pay-1", balance_after=5000),
        s.event(Wallet.Debited, amount=1200, kind="order", reference="order-1", balance_after=3800,
                timestamp=LATER),
    ).then({"wallet_id": s.id, "owner_id": owner, "currency": "INR", "balance": 3800, "version": 3,
            "updated_at": LATER})


def test_the_event_says_the_balance_the_row_does_not_add_it_up() -> None:
    s = Stream(Wallet)
    projection(wallet_balance.evolve).given(
        s.event(Wallet.Opened, owner_id=str(uuid4()), currency="INR"),
        s.event(Wallet.Credited, amount=100, kind="refund", reference="r", balance_after=7100),
    ).then_including(balance=7100, version=2)


def test_movements_of_a_wallet_never_seen_opening_make_no_row() -> None:
    s = Stream(Wallet)
    s.version = 4
    projection(wallet_balance.evolve).given(
        s.event(Wallet.Credited, amount=100, kind="load", reference="p", balance_after=100),
    ).then_nothing()
