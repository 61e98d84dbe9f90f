"""The in-app assistant behind POST /api/v1/agent/query.

It answers the questions a shopper actually asks in a help chat (where is my order, what is
my balance, any offers, how do I return...) from the caller's own read models, and finds items
for "find/buy X". No language model: answers are exact, cheap, private (nothing leaves the
server) and testable. `classify` is pure; `answer` reads read models only, never the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection

from projections import catalog_search, offers, order_history, rewards, support_tickets, wallet_balance
from projections.notifications import money

MAX_QUERY = 500

# (intent, words that signal it). First match wins, so more specific intents come first.
INTENTS: list[tuple[str, tuple[str, ...]]] = [
    ("return", ("return", "damaged", "broken", "wrong item", "exchange")),
    ("cancel", ("cancel",)),
    ("refund", ("refund", "money back")),
    ("human", ("human", "agent", "person", "talk to", "complaint", "ticket", "support")),
    ("order_status", ("where is my order", "my order", "order status", "track", "delivery",
                      "delivered", "late", "order")),
    ("wallet", ("wallet", "balance", "add money")),
    ("rewards", ("point", "reward", "tier", "loyalty")),
    ("offers", ("offer", "coupon", "discount", "promo", "deal", "code")),
    ("search", ("find", "buy", "search", "looking for", "need", "want", "where can i get")),
    ("greeting", ("hello", "hi", "hey", "namaste", "help")),
]
SEARCH_FILLER = re.compile(
    r"\b(find|buy|search|for|looking|need|want|where|can|i|get|me|some|a|an|the|please|to|order|"
    r"near|nearby|shop|shops|store|show|you|your|do|have|is|are|any|of)\b", re.IGNORECASE)
SUGGESTIONS = ["Where is my order?", "What is my wallet balance?", "Any offers today?",
               "How many points do I have?", "Find basmati rice", "Talk to support"]
HELP = {
    "return": ("Delivered items can be returned from the order screen within the return window. "
               "Once support approves, the money goes to your wallet.", "/orders"),
    "cancel": ("You can cancel an order from its screen until it is out for delivery; wallet "
               "payments come back to your wallet at once.", "/orders"),
    "refund": ("Wallet refunds are instant. Online payments are refunded through the payment "
               "provider, usually within 5-7 working days.", "/wallet"),
}


@dataclass(frozen=True)
class Reply:
    intent: str
    answer: str
    links: list[dict[str, str]]
    items: list[dict[str, Any]]


def _words(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9 ]+", " ", text.lower()) + " "


# A signal matches a word that is the signal with one of these endings ("points", "cancelled",
# "tracking"), not any word it is part of: "person" is not in "personal care", nor "order" in
# "border".
ENDINGS = frozenset({"", "s", "es", "d", "ed", "ing", "led", "ling"})
# A question that starts so asks for goods, whatever goods it names ("find broken wheat").
SEARCH_VERBS = frozenset({"find", "buy", "search", "looking"})
ARTICLES = frozenset({"a", "an", "some"})


def _signalled(words: list[str], padded: str, signal: str) -> bool:
    if " " in signal:
        return f" {signal} " in padded
    return any(w.startswith(signal) and w[len(signal):] in ENDINGS for w in words)


def classify(text: str) -> str:
    """The intent of a question. Pure."""
    padded = _words(text)
    words = padded.split()
    asks = words[1:] if words[:1] == ["i"] else words
    if asks[:1] and (asks[0] in SEARCH_VERBS or (
            asks[0] in ("need", "want") and asks[1:2] and asks[1] in ARTICLES)):
        return "search"  # "need a leather wallet" is goods, not the wallet's balance
    for intent, signals in INTENTS:
        if any(_signalled(words, padded, s) for s in signals):
            return intent
    return "search" if len(words) <= 3 else "unknown"


def search_terms(text: str) -> str:
    return " ".join(SEARCH_FILLER.sub(" ", _words(text)).split())


def _order_status(conn: Connection, user_id: UUID) -> Reply:
    found = order_history.list_orders(conn, customer=user_id, page=1, size=1)
    if not found.rows:
        return Reply("order_status", "You have no orders yet.",
                     [{"label": "Browse shops", "link": "/shops"}], [])
    o = found.rows[0]
    shop = f" from {o['shop_name']}" if o.get("shop_name") else ""
    status = str(o["status"]).replace("_", " ")
    more = f" You have {found.count} orders in all." if found.count > 1 else ""
    return Reply("order_status",
                 f"Your latest order{shop} ({money(o['total'], o.get('currency', 'INR'))}) is {status}.{more}",
                 [{"label": "Open the order", "link": f"/orders/{o['id']}"},
                  {"label": "All orders", "link": "/orders"}], [])


def _wallet(conn: Connection, user_id: UUID) -> Reply:
    row = wallet_balance.find(conn, user_id)
    balance = row["balance"] if row else 0
    return Reply("wallet", f"Your wallet balance is {money(balance)}.",
                 [{"label": "Add money", "link": "/wallet/load"}, {"label": "History", "link": "/wallet"}], [])


def _rewards(conn: Connection, user_id: UUID, tiers: tuple[tuple[str, int], ...]) -> Reply:
    from domain.commerce.rewards import POINT_VALUE, tier_of

    row, _ = rewards.find(conn, user_id, history=0)
    points, lifetime = (row["points"], row["lifetime"]) if row else (0, 0)
    tier, next_tier, to_next = tier_of(lifetime, tiers)
    nxt = f" {to_next} more to reach {next_tier}." if next_tier else ""
    return Reply("rewards", f"You have {points} points (worth {money(points * POINT_VALUE)}), "
                            f"{tier} tier.{nxt}", [{"label": "Rewards", "link": "/rewards"}], [])


def _offers(conn: Connection, now: datetime) -> Reply:
    live = offers.live(conn, now)
    if not live:
        return Reply("offers", "There are no offers right now.", [], [])
    top = live[:3]
    listed = "; ".join(f"{o['code']}: {o['description'] or 'a discount'}" for o in top)
    return Reply("offers", f"{len(live)} offers are live. {listed}.",
                 [{"label": "All offers", "link": "/offers"}],
                 [{"code": o["code"], "description": o["description"]} for o in top])


def _search(conn: Connection, text: str) -> Reply:
    terms = search_terms(text)
    if not terms:
        return Reply("search", "What are you looking for? Try \"find basmati rice\".", [], [])
    found = catalog_search.search_products(conn, catalog_search.ProductFilters(q=terms, available=True),
                                           page=1, size=5)
    if not found.rows:
        return Reply("search", f"I found nothing for \"{terms}\" right now.",
                     [{"label": "Browse shops", "link": "/shops"}], [])
    items = [{"id": str(r["product_id"]), "name": r["name"], "price": r["min_price"],
              "link": f"/products/{r['product_id']}"} for r in found.rows]
    return Reply("search", f"{found.count} items match \"{terms}\". Here are the best ones.",
                 [{"label": "See all", "link": f"/search?q={terms}"}], items)


def _human(conn: Connection, user_id: UUID) -> Reply:
    page = support_tickets.page(conn, customer_id=user_id, status="open", page=1, size=1)
    extra = f" You have {page.count} open ticket{'s' if page.count != 1 else ''}." if page.count else ""
    return Reply("human", f"Our support team can help: open a ticket and they will reply here.{extra}",
                 [{"label": "Open a ticket", "link": "/support/new"},
                  {"label": "My tickets", "link": "/support/tickets"}], [])


def answer(conn: Connection, user_id: UUID, text: str, *, now: datetime,
           tiers: tuple[tuple[str, int], ...]) -> Reply:
    intent = classify(text)
    if intent == "order_status":
        return _order_status(conn, user_id)
    if intent == "wallet":
        return _wallet(conn, user_id)
    if intent == "rewards":
        return _rewards(conn, user_id, tiers)
    if intent == "offers":
        return _offers(conn, now)
    if intent == "search":
        return _search(conn, text)
    if intent == "human":
        return _human(conn, user_id)
    if intent in HELP:
        body, link = HELP[intent]
        return Reply(intent, body, [{"label": "Go", "link": link}], [])
    if intent == "greeting":
        return Reply(intent, "Hi! I can track orders, check your wallet and points, find offers and "
                             "items, or get you to support.", [], [])
    return Reply("unknown", "Sorry, I did not get that. Try one of the suggestions, or talk to support.",
                 [{"label": "Talk to support", "link": "/support/new"}], [])
