"""Text already in the log may hold NUL (U+0000), which PostgreSQL text cannot: every read
model must still apply such events and rebuild from position 0, storing the text without it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from domain.actor import Actor, Role
from domain.commerce.values import DeliveryAddress
from domain.support.ticket import SupportTicket
from projections import READ_MODELS, tracking
from runtime import Runtime
from tests.support.db import scalar
from tests.support.runtimes import own_runtime
from workers.projection import rebuild

NUL = "\x00"
ALL_WEEK = {d: [["00:00", "23:59"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture(scope="module")
def poisoned(postgres: str) -> Iterator[Runtime]:
    """A database of its own whose logs hold NUL in every kind of text a read model stores."""
    with own_runtime(postgres) as rt:
        admin, vendor = Actor(str(uuid.uuid4()), Role.ADMIN), Actor(str(uuid.uuid4()), Role.VENDOR)
        customer = Actor(str(uuid.uuid4()), Role.CUSTOMER)
        rt.catalog.create_category(slug="nul", name=f"Nu{NUL}ll", description=f"d{NUL}")
        shop = rt.catalog.register_shop(vendor, vendor_id=vendor.user_id, details={
            "name": f"Shop{NUL}", "description": f"best{NUL}", "city": f"Pu{NUL}ne", "society": "S",
            "shop_type": "grocery", "tags": [f"t{NUL}"], "opening_hours": ALL_WEEK, "images": []}).value
        rt.catalog.set_shop_open(vendor, shop.id, True)
        product_id = uuid.uuid4()
        with pytest.MonkeyPatch.context() as before_the_sku_rule:
            # Listed before SKUs had a pattern (domain/catalog/product.py SKU): the log keeps
            # such a SKU, in the product, the stock, the cart and the order.
            before_the_sku_rule.setattr("domain.catalog.product.SKU", re.compile(r".{1,64}", re.S))
            rt.catalog.list_product(product_id=product_id, name=f"Tea{NUL}", slug="tea-nul", category="nul",
                                    description=f"strong{NUL}", shop_id=shop.id,
                                    variants=[{"sku": f"A{NUL}", "name": f"100{NUL}g", "price": 100, "stock": 5}])
        now = datetime.now(UTC)
        rt.commerce.create_coupon(admin, {
            "code": "NULCODE", "description": f"off{NUL}", "discount_type": "flat", "value": 10, "cap": None,
            "min_order": 0, "valid_from": now - timedelta(days=1), "valid_until": now + timedelta(days=1),
            "usage_limit_total": None, "usage_limit_per_user": None})
        owner = uuid.UUID(customer.user_id)
        rt.commerce.add_to_my_cart(owner_id=owner, product_id=product_id, sku=f"A{NUL}", qty=1, replace=False)
        order = rt.commerce.confirm_order(owner_id=owner, payment_mode="cash", delivery_notes=f"gate{NUL}2",
                                          address=DeliveryAddress.from_data({"street": f"M{NUL}G Road"})).value
        rt.commerce.post_order_message(customer, order.id, f"ring{NUL} twice")
        rt.commerce.cancel_order(customer, order.id, reason=f"changed{NUL}")
        ticket = rt.support.open_ticket(customer, subject=f"hi{NUL}", category="other", order_id=None,
                                        text=f"help{NUL}").value
        rt.support.post_message(Actor(str(uuid.uuid4()), Role.SUPPORT), ticket.id, f"on{NUL} it")
        yield rt


@pytest.mark.parametrize("name", sorted(READ_MODELS))
def test_every_read_model_rebuilds_over_nul_text(poisoned: Runtime, name: str) -> None:
    model = READ_MODELS[name]
    rebuild(poisoned, model)
    with poisoned.pool.connection() as conn:
        head = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {model.application}_events").fetchone()
        assert head is not None and tracking.position_of(conn, model.name, model.application) == head[0]


def test_the_text_is_kept_without_the_nul(poisoned: Runtime) -> None:
    for name in ("catalog_search", "support_tickets", "order_history", "offers"):
        rebuild(poisoned, READ_MODELS[name])
    with poisoned.pool.connection() as conn:
        assert scalar(conn, "SELECT name FROM catalog_shops") == "Shop"
        assert scalar(conn, "SELECT name FROM catalog_products") == "Tea"
        assert scalar(conn, "SELECT name FROM catalog_categories") == "Null"
        found = conn.execute("SELECT doc->>'delivery_notes' FROM order_history").fetchone()
        assert found is not None and found[0] == "gate2"
    # The log itself keeps the text as it was written.
    events = list(poisoned.support.events.get(next(iter(_ticket_ids(poisoned)))))
    assert isinstance(events[0], SupportTicket.Opened) and events[0].subject == f"hi{NUL}"


def _ticket_ids(rt: Runtime) -> list[uuid.UUID]:
    with rt.pool.connection() as conn:
        return [r[0] for r in conn.execute("SELECT DISTINCT originator_id FROM support_events").fetchall()]
