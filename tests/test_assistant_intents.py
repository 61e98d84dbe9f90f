"""The assistant's intent rules, without a database."""

from __future__ import annotations

import pytest

from projections.assistant import classify, search_terms


@pytest.mark.parametrize(("text", "intent"), [
    ("Where is my order?", "order_status"),
    ("track my delivery please", "order_status"),
    ("what's my wallet balance", "wallet"),
    ("How many points do I have", "rewards"),
    ("any coupons today?", "offers"),
    ("I want to return a damaged item", "return"),
    ("cancel my order", "cancel"),
    ("when will I get my refund", "refund"),
    ("let me talk to a human", "human"),
    ("find basmati rice", "search"),
    ("paneer", "search"),
    ("hello", "greeting"),
    ("the quick brown fox jumps over the lazy dog", "unknown"),
])
def test_classify(text: str, intent: str) -> None:
    assert classify(text) == intent


def test_search_terms_drop_the_filler() -> None:
    assert search_terms("Can you find me some Basmati rice near me?") == "basmati rice"
    assert search_terms("buy paneer") == "paneer"
