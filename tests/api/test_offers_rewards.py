from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.commerce.cart import cart_id_for
from domain.commerce.coupon import Coupon, coupon_id
from domain.commerce.order import Order
from domain.commerce.rewards import RewardLedger
from domain.commerce.wallet import Wallet
from tests.support.commerce import balance, delivered_order, fund
from tests.support.db import scalar
from tests.support.problems import assert_problem
from tests.support.waiting import eventually

NOW = datetime.now(UTC)


def offer(admin: TestClient, **changes: Any) -> dict[str, Any]:
    body = {"code": f"T{uuid.uuid4().hex[:8].upper()}", "discount_type": "flat", "value": 5000,
            "min_order": 20000, "valid_from": (NOW - timedelta(days=1)).isoformat(),
            "valid_until": (NOW + timedelta(days=30)).isoformat(), "usage_limit_per_user": 1,
            **changes}
    r = admin.post("/v1/admin/offers", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_an_admins_offer_for_a_shop_is_for_a_shop_that_exists(admin, shop) -> None:  # type: ignore[no-untyped-def]
    # Listed to every customer, an offer for no shop could never be used
    code = f"T{uuid.uuid4().hex[:8].upper()}"
    body = {"code": code, "discount_type": "flat", "value": 500, "valid_from": (NOW - timedelta(days=1)).isoformat(),
            "valid_until": (NOW + timedelta(days=3)).isoformat(), "shop_id": str(uuid.uuid4())}
    assert "no shop" in assert_problem(admin.post("/v1/admin/offers", json=body), 404)["detail"]
    assert offer(admin, shop_id=shop["id"])["shop_id"] == shop["id"]


def test_offers_are_stopped_by_admins_and_by_their_shops_vendor(new_client, admin, shop) -> None:  # type: ignore[no-untyped-def]
    # Given a platform offer and one of the shop's, listed to customers
    client, vendor = new_client(), shop["vendor"]
    platform, mine = offer(admin), offer(admin, shop_id=shop["id"])

    def listed() -> set[str]:
        return {o["code"] for o in client.get("/api/v1/consumer/offers").json()["results"]}

    assert {platform["code"], mine["code"]} <= listed()
    # When the shop's vendor stops the shop's offer, then it is no longer listed
    stop = f"/v1/vendor/shops/{shop['id']}/offers/{mine['code']}/deactivate"
    assert_problem(new_client("vendor").post(stop), 404)  # another vendor
    stopped = vendor.post(stop)
    assert stopped.status_code == 200 and stopped.json()["active"] is False
    assert mine["code"] not in listed() and platform["code"] in listed()
    # And a vendor cannot stop the platform's offer through their shop, nor an unknown one
    assert_problem(vendor.post(f"/v1/vendor/shops/{shop['id']}/offers/{platform['code']}/deactivate"), 404)
    assert_problem(admin.post("/v1/admin/offers/NOSUCHCODE/deactivate"), 404)
    assert admin.post(f"/v1/admin/offers/{platform['code']}/deactivate").json()["active"] is False
    assert platform["code"] not in listed()


def test_a_coupon_stopped_after_it_was_applied_can_be_taken_off_the_cart(new_client, admin, shop) -> None:  # type: ignore[no-untyped-def]
    # Given a cart with a coupon applied, and the offer stopped since
    client = new_client()
    code = offer(admin, min_order=0)["code"]
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    assert client.post("/api/v1/consumer/cart/apply-coupon", json={"code": code}).status_code == 200
    assert admin.post(f"/v1/admin/offers/{code}/deactivate").status_code == 200
    # When the customer orders, then the answer says why not and what to do
    refused = assert_problem(client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}), 400)
    assert "no longer offered" in refused["detail"] and "remove-coupon" in refused["detail"]
    # And taking the coupon off (twice: idempotent) lets the cart be ordered at its full price
    for _ in range(2):
        cart = client.post("/api/v1/consumer/cart/remove-coupon")
        assert cart.status_code == 200 and cart.json()["coupon"] is None and cart.json()["discount"] == 0
    assert client.get("/api/v1/consumer/cart/view").json()["coupon"] is None
    placed = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"})
    assert placed.status_code == 201 and placed.json()["discount"] == 0


def earn(runtime, client: TestClient, points: int) -> None:  # type: ignore[no-untyped-def]
    ledger = runtime.commerce.ledger(uuid.UUID(client.user["id"]))  # type: ignore[attr-defined]
    ledger.earn(f"seed-{uuid.uuid4()}", points)
    runtime.commerce.save(ledger)


def test_offers_listing_and_coupon_rules(new_client, admin, shop) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    platform = offer(admin, description="₹50 off over ₹200")
    mine = shop["vendor"].post(f"/v1/vendor/shops/{shop['id']}/offers", json={
        "code": f"S{uuid.uuid4().hex[:8]}", "discount_type": "percent", "value": 10, "cap": 3000,
        "valid_from": (NOW - timedelta(days=1)).isoformat(), "valid_until": (NOW + timedelta(days=3)).isoformat()})
    assert mine.status_code == 201 and mine.json()["shop_id"] == shop["id"]
    assert_problem(new_client("vendor").post(f"/v1/vendor/shops/{shop['id']}/offers", json={
        "code": "NOTYOURS1", "discount_type": "flat", "value": 1,
        "valid_from": NOW.isoformat(), "valid_until": (NOW + timedelta(days=1)).isoformat()}), 404)
    future = offer(admin, valid_from=(NOW + timedelta(days=2)).isoformat())
    expired = offer(admin, valid_from=(NOW - timedelta(days=9)).isoformat(),
                    valid_until=(NOW - timedelta(days=2)).isoformat())
    codes = [o["code"] for o in client.get("/api/v1/consumer/offers").json()["results"]]
    assert platform["code"] in codes and mine.json()["code"] in codes
    assert future["code"] not in codes and expired["code"] not in codes
    assert_problem(admin.post("/v1/admin/offers", json={**{k: v for k, v in platform.items()
                                                          if k in ("code", "discount_type", "value")},
                                                       "valid_from": NOW.isoformat(),
                                                       "valid_until": (NOW + timedelta(days=1)).isoformat()}), 409)

    assert_problem(client.post("/api/v1/consumer/cart/apply-coupon", json={"code": platform["code"]}), 400)  # empty cart
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})  # ₹249
    for code, why in [("NOSUCHCODE", "not a valid code"), (future["code"], "starts"), (expired["code"], "expired")]:
        assert why in assert_problem(client.post("/api/v1/consumer/cart/apply-coupon", json={"code": code}), 400)["detail"]
    high = offer(admin, min_order=50000)
    assert "at least" in assert_problem(client.post("/api/v1/consumer/cart/apply-coupon", json={"code": high["code"]}), 400)["detail"]
    r = client.post("/api/v1/consumer/cart/apply-coupon", json={"code": platform["code"].lower()})
    assert r.status_code == 200, r.text
    cart = r.json()
    assert cart["coupon"]["discount"] == 5000 and cart["discount"] == 5000
    assert cart["total"] == 24900 - 5000 + 2500
    pct = client.post("/api/v1/consumer/cart/apply-coupon", json={"code": mine.json()["code"]}).json()
    assert pct["coupon"]["discount"] == 2490  # 10% of ₹249, under the ₹30 cap
    assert client.get("/api/v1/consumer/cart/view").json()["discount"] == 2490


@pytest.mark.parametrize("changes", [
    {"usage_limit_total": 2**63},  # past the read model's integer
    {"usage_limit_per_user": 2**31},
    {"value": 10**13},
    {"min_order": 10**13},
    {"valid_until": "2027-01-01T00:00:00"},  # no zone: never comparable with the clock
    {"valid_from": "2026-01-01T00:00:00", "valid_until": "2027-01-01T00:00:00"},
    {"valid_from": "0001-01-01T00:00:00+14:00"},  # before year 1 in UTC
    {"valid_until": "9999-12-31T23:59:59-14:00"},  # after year 9999 in UTC
])
def test_offer_terms_no_column_or_clock_can_hold_are_refused(new_client, admin, shop, changes) -> None:  # type: ignore[no-untyped-def]
    # Each was once stored (201), then stopped the offers read model, or failed every offers
    # read or coupon use with a 500.
    body = {"code": f"B{uuid.uuid4().hex[:8].upper()}", "discount_type": "flat", "value": 100,
            "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2031-01-01T00:00:00Z", **changes}
    field = next(iter(changes))
    assert field in str(assert_problem(admin.post("/v1/admin/offers", json=body), 400))
    assert field in str(assert_problem(
        shop["vendor"].post(f"/v1/vendor/shops/{shop['id']}/offers", json=body), 400))
    # Offers still serve, and a good offer made next is projected.
    good = offer(admin)
    codes = [o["code"] for o in new_client().get("/api/v1/consumer/offers").json()["results"]]
    assert good["code"] in codes and body["code"] not in codes


def test_coupon_use_is_per_user_limited_and_given_back_on_cancel(new_client, admin, shop, runtime) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    code = offer(admin)["code"]
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    client.post("/api/v1/consumer/cart/apply-coupon", json={"code": code})
    order = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}).json()
    assert order["discount"] == 5000 and order["discounts"] == [{"kind": "coupon", "code": code, "amount": 5000}]
    assert order["total"] == 24900 - 5000 + 2500
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    used = assert_problem(client.post("/api/v1/consumer/cart/apply-coupon", json={"code": code}), 400)
    assert "as often as allowed" in used["detail"]
    client.post(f"/api/v1/consumer/orders/{order['id']}/cancel")
    assert client.post("/api/v1/consumer/cart/apply-coupon", json={"code": code}).status_code == 200


def test_the_global_limit_holds_under_concurrency(new_client, admin, shop, runtime) -> None:  # type: ignore[no-untyped-def]
    code = offer(admin, usage_limit_total=3)["code"]
    clients = [new_client() for _ in range(8)]
    for c in clients:
        c.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
        assert c.post("/api/v1/consumer/cart/apply-coupon", json={"code": code}).status_code == 200

    def confirm(c: TestClient) -> int:
        return c.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(confirm, clients))
    assert codes.count(201) == 3 and codes.count(400) == 5, codes
    coupon: Coupon = runtime.commerce.repository.get(coupon_id(code))
    assert len(coupon.uses) == 3
    # Those who lost keep their cart: nothing partial happened to them.
    losers = [c for c, status in zip(clients, codes, strict=True) if status == 400]
    assert all(len(c.get("/api/v1/consumer/cart/view").json()["items"]) == 1 for c in losers)
    # A used-up offer is no longer offered.
    eventually(lambda: code not in [o["code"] for o in clients[0].get("/api/v1/consumer/offers").json()["results"]])


def test_points_are_earned_redeemed_restored_and_reversed(new_client, shop, staff_client, runtime) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    order = delivered_order(client, shop["vendor"], shop["tea"], qty=2)  # ₹498 of goods
    rewards = client.get("/api/v1/consumer/rewards").json()
    assert rewards["points"] == 498 and rewards["tier"] == "bronze"
    assert rewards["next_tier"] == "silver" and rewards["points_to_next_tier"] == 2
    assert rewards["history"][0]["type"] == "earned"

    assert_problem(client.post("/api/v1/consumer/rewards/redeem", json={"points": 100}), 400)  # empty cart
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    assert_problem(client.post("/api/v1/consumer/rewards/redeem", json={"points": 499}), 400)
    held = client.post("/api/v1/consumer/rewards/redeem", json={"points": 100}).json()
    assert held["rewards"]["reserved"] == 100 and held["cart"]["points_discount"] == 1000
    assert client.get("/api/v1/consumer/cart/view").json()["discount"] == 1000
    client.post("/api/v1/consumer/cart/clear")
    assert client.get("/api/v1/consumer/rewards").json()["reserved"] == 0

    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    client.post("/api/v1/consumer/rewards/redeem", json={"points": 100})
    placed = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}).json()
    assert placed["discounts"] == [{"kind": "points", "points": 100, "amount": 1000}]
    assert client.get("/api/v1/consumer/rewards").json()["points"] == 398
    client.post(f"/api/v1/consumer/orders/{placed['id']}/cancel")
    assert client.get("/api/v1/consumer/rewards").json()["points"] == 498

    line = order["items"][0]["item_id"]
    ret = client.post(f"/api/v1/consumer/orders/{order['id']}/return/raise",
                      json={"items": [{"item_id": line, "quantity": 1}], "reason": "x"}).json()["returns"][0]
    staff_client("support").post(f"/v1/admin/orders/{order['id']}/returns/{ret['id']}/approve")
    after = client.get("/api/v1/consumer/rewards").json()
    assert after["points"] == 498 - 249 and after["history"][0]["type"] == "reversed"


def test_a_return_takes_back_the_points_it_earned_or_their_value_once_spent(  # type: ignore[no-untyped-def]
        new_client, shop, staff_client, runtime) -> None:
    # Given a delivered order of two teas (₹498 of goods: 498 points), and the points spent on
    # another order
    client = new_client()
    order = delivered_order(client, shop["vendor"], shop["tea"], qty=2)
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    assert client.post("/api/v1/consumer/rewards/redeem", json={"points": 498}).status_code == 200
    assert client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}).status_code == 201
    assert client.get("/api/v1/consumer/rewards").json()["points"] == 0
    wallet_before = balance(runtime, client)
    # When both teas come back
    line = order["items"][0]["item_id"]
    ret = client.post(f"/api/v1/consumer/orders/{order['id']}/return/raise",
                      json={"items": [{"item_id": line, "quantity": 2}], "reason": "x"}).json()["returns"][0]
    assert staff_client("support").post(
        f"/v1/admin/orders/{order['id']}/returns/{ret['id']}/approve").status_code == 200
    # Then the points' value (498 x 10 paise) stays out of the refund, the rest reaches the
    # wallet, the order counts both as given back, and the lifetime total drops to what was kept
    refunds = client.get(f"/v1/orders/{order['id']}").json()["refunds"]
    assert [(r["method"], r["amount"]) for r in refunds] == [("points", 4_980), ("wallet", 49_800 - 4_980)]
    assert balance(runtime, client) == wallet_before + 49_800 - 4_980
    rewards = client.get("/api/v1/consumer/rewards").json()
    assert (rewards["points"], rewards["lifetime_points"]) == (0, 0)
    notices = client.get("/api/v1/consumer/notifications").json()["results"]
    assert any(n["title"] == "Refund reduced by points already spent" for n in notices)


def test_a_return_gives_back_the_points_spent_on_its_goods(  # type: ignore[no-untyped-def]
        new_client, shop, staff_client, runtime) -> None:
    # Given 498 points earned, then all spent on a tea (₹249 less ₹49.80), delivered
    client, vendor = new_client(), shop["vendor"]
    delivered_order(client, vendor, shop["tea"], qty=2)
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    client.post("/api/v1/consumer/rewards/redeem", json={"points": 498})
    order = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}).json()
    for step in ("accept", "packed", "out-for-delivery", "delivered"):
        assert vendor.post(f"/v1/vendor/orders/{order['id']}/{step}").status_code == 200
    assert client.get("/api/v1/consumer/rewards").json()["points"] == 199  # earned on ₹199.20
    wallet_before = balance(runtime, client)
    # When the tea comes back
    line = client.get(f"/v1/orders/{order['id']}").json()["items"][0]["item_id"]
    ret = client.post(f"/api/v1/consumer/orders/{order['id']}/return/raise",
                      json={"items": [{"item_id": line, "quantity": 1}], "reason": "x"}).json()["returns"][0]
    assert staff_client("support").post(
        f"/v1/admin/orders/{order['id']}/returns/{ret['id']}/approve").status_code == 200
    # Then what was paid comes back to the wallet, the 498 points spent come back, and the 199
    # the tea earned go: as if it had never been bought
    assert balance(runtime, client) == wallet_before + 24_900 - 4_980
    rewards = client.get("/api/v1/consumer/rewards").json()
    assert (rewards["points"], rewards["lifetime_points"]) == (498, 498)
    assert [h["type"] for h in rewards["history"][:2]] == ["reversed", "restored"]


def test_points_that_paid_for_all_the_goods_come_back_when_they_come_back(  # type: ignore[no-untyped-def]
        new_client, shop, staff_client, runtime) -> None:
    # Given a tea (₹249) paid for with points alone, delivered
    client, vendor = new_client(), shop["vendor"]
    earn(runtime, client, 3_000)
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    client.post("/api/v1/consumer/rewards/redeem", json={"points": 2_490})
    order = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}).json()
    assert order["discount"] == 24_900
    for step in ("accept", "packed", "out-for-delivery", "delivered"):
        assert vendor.post(f"/v1/vendor/orders/{order['id']}/{step}").status_code == 200
    # When it comes back
    line = client.get(f"/v1/orders/{order['id']}").json()["items"][0]["item_id"]
    ret = client.post(f"/api/v1/consumer/orders/{order['id']}/return/raise",
                      json={"items": [{"item_id": line, "quantity": 1}], "reason": "x"}).json()["returns"][0]
    assert staff_client("support").post(
        f"/v1/admin/orders/{order['id']}/returns/{ret['id']}/approve").status_code == 200
    # Then the points that paid for it come back (nothing was paid in money, nothing refunded)
    assert client.get("/api/v1/consumer/rewards").json()["points"] == 3_000


def test_points_a_smaller_order_no_longer_needs_come_back(  # type: ignore[no-untyped-def]
        new_client, shop, runtime) -> None:
    # Given two teas (₹498) with ₹300 off in points
    client, vendor = new_client(), shop["vendor"]
    earn(runtime, client, 3_000)
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"], "quantity": 2})
    client.post("/api/v1/consumer/rewards/redeem", json={"points": 3_000})
    order = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash"}).json()
    assert order["discount"] == 30_000
    # When the shop can send one tea (₹249) and the customer agrees
    line = order["items"][0]["item_id"]
    assert vendor.post(f"/v1/vendor/orders/{order['id']}/modify",
                       json={"quantities": {line: 1}}).status_code == 200
    assert client.post(f"/api/v1/consumer/orders/{order['id']}/confirm-modified").status_code == 200
    # Then the discount is cut to ₹249, and the points for the ₹51 cut come back
    assert client.get(f"/v1/orders/{order['id']}").json()["discount"] == 24_900
    assert client.get("/api/v1/consumer/rewards").json()["points"] == 510
    # And cancelling the order gives back the rest, once
    assert client.post(f"/api/v1/consumer/orders/{order['id']}/cancel").status_code == 200
    assert client.get("/api/v1/consumer/rewards").json()["points"] == 3_000


STEPS = [
    (Coupon, "redeem"),
    (RewardLedger, "redeem"),
    (Wallet, "debit"),
    (Order, "place"),
]


@pytest.mark.parametrize("where", [*[f"{cls.__name__}.{name}" for cls, name in STEPS], "save"])
def test_confirm_with_wallet_coupon_and_points_is_all_or_nothing(
    where: str, new_client, admin, shop, runtime, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    client = new_client()
    owner = uuid.UUID(client.user["id"])  # type: ignore[attr-defined]
    fund(runtime, client, 100_000)
    earn(runtime, client, 300)
    code = offer(admin)["code"]
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["rice"]["id"]})
    client.post("/api/v1/consumer/cart/apply-coupon", json={"code": code})
    client.post("/api/v1/consumer/rewards/redeem", json={"points": 200})

    def snapshot() -> dict[str, Any]:
        cart = runtime.commerce.repository.get(cart_id_for(owner))
        ledger = runtime.commerce.ledger(owner)
        # What is stored, not a follower's read (which stops below any transaction still
        # running anywhere on the server, another test's included).
        with runtime.pool.connection() as conn:
            orders = scalar(conn, "SELECT count(*) FROM commerce_events WHERE topic LIKE %s "
                            "AND position(%s::bytea IN state) > 0", ("%Order.Placed", str(owner).encode()))
        return {"wallet": balance(runtime, client), "uses": len(runtime.commerce.coupon(code).uses),
                "points": (ledger.balance, ledger.reserved), "cart": (len(cart.lines), cart.coupon, cart.points),
                "orders": orders}

    before = snapshot()
    if where == "save":
        def broken_save(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("injected: the database went away")
        monkeypatch.setattr(runtime.commerce, "save", broken_save)
    else:
        cls_name, method = where.split(".")
        cls = {c.__name__: c for c, _ in STEPS}[cls_name]
        original = getattr(cls, method)  # a function, or the bound classmethod Order.place

        def after_step(*args: Any, **kwargs: Any) -> Any:
            original(*args, **kwargs)
            raise RuntimeError(f"injected after {where}")

        monkeypatch.setattr(cls, method, after_step)
    with pytest.raises(RuntimeError, match="injected"):
        runtime.commerce.confirm_order(owner_id=owner, payment_mode="wallet", delivery_notes="", address=None)
    monkeypatch.undo()
    assert snapshot() == before, "nothing partial was stored"

    order = runtime.commerce.confirm_order(owner_id=owner, payment_mode="wallet", delivery_notes="",
                                           address=None).value
    after = snapshot()
    assert order.amounts["discount"] == 5000 + 2000 and order.paid == order.total
    assert after["wallet"] == before["wallet"] - order.total
    assert after["uses"] == before["uses"] + 1 and after["points"] == (100, 0)
    assert after["cart"] == (0, None, 0) and after["orders"] == 1


def test_the_tier_meter_follows_the_configured_ladder(new_client, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runtime.settings, "reward_tiers", "member:0,insider:250,vip:1000")
    client = new_client()
    assert client.get("/api/v1/consumer/rewards").json()["tier"] == "member"
    earn(runtime, client, 300)  # written behind the API's back: the read model catches up shortly
    eventually(lambda: client.get("/api/v1/consumer/rewards").json()["points"] == 300)
    rewards = client.get("/api/v1/consumer/rewards").json()
    assert (rewards["tier"], rewards["next_tier"], rewards["points_to_next_tier"]) == ("insider", "vip", 700)


def test_an_order_earning_billions_of_points_is_projected_and_spendable(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    # Given the dearest item a vendor may list, 99 of them delivered (cash): 9.9 billion points,
    # past PostgreSQL's integer, which once stopped the rewards read model for everyone.
    vendor = shop["vendor"]
    r = vendor.post(f"/v1/vendor/shops/{shop['id']}/products", json={
        "name": "Gold bar", "category": shop["category"],
        "variants": [{"sku": "GOLD-1KG", "name": "1 kg", "price": 10**10, "stock": 99}]})
    assert r.status_code == 201, r.text
    client = new_client()
    delivered_order(client, vendor, r.json(), qty=99)
    # Then the customer's points show them, and the next customer's points still follow.
    assert client.get("/api/v1/consumer/rewards").json()["points"] == 99 * 10**10 // 100
    other = new_client()
    delivered_order(other, vendor, shop["tea"], qty=1)
    assert other.get("/api/v1/consumer/rewards").json()["points"] == 249
