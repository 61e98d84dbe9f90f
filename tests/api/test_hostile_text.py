"""Issue 12: text with NUL or other control characters is refused at the edge (400 naming the
field), nothing is stored, and no request with it is a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.catalog import HOURS, make_shop, unique
from tests.support.problems import assert_problem
from tests.support.profiles import ADDRESS, BASIC

NUL = "\u0000"


def field_named(problem: dict[str, Any], name: str) -> bool:
    """The problem names this field (or an entry of it: `images.1`)."""
    return any(e["field"] == name or e["field"].startswith(f"{name}.") for e in problem.get("errors") or [])


def test_a_nul_in_a_ticket_is_refused_and_nothing_is_stored(new_client) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    body = {"subject": f"hi{NUL}", "category": "other", "message": "help"}
    problem = assert_problem(client.post("/api/v1/consumer/support/ticket", json=body), 400)
    assert field_named(problem, "subject")
    assert client.get("/api/v1/consumer/support/tickets").json()["count"] == 0
    # A line break is fine in the message (multi-line), not in the subject (one line).
    ok = client.post("/api/v1/consumer/support/ticket",
                     json={**body, "subject": "hi", "message": "a\nb\tc \u202bمرحبا\u202c"})
    assert ok.status_code == 201, ok.text
    assert_problem(client.post("/api/v1/consumer/support/ticket", json={**body, "subject": "h\ni"}), 400)
    assert_problem(client.post("/api/v1/consumer/support/ticket", json={**body, "subject": "hi",
                                                                         "message": f"x{NUL}"}), 400)
    assert_problem(client.post("/api/v1/consumer/support/ticket", json={**body, "subject": "hi",
                                                                         "message": "x\u0085y"}), 400)


@pytest.mark.parametrize("control", [NUL, "\u0001", "\u001b", "\u007f", "\u0085", "\u009b",
                                     "\u2028", "\u202e", "\u2066"])
def test_every_kind_of_control_character_is_refused(new_client, control: str) -> None:  # type: ignore[no-untyped-def]
    vendor = new_client("vendor")
    r = vendor.post("/v1/vendor/shops", json={"name": f"Shop{control}", "city": "Pune", "society": "S",
                                              "shop_type": "grocery", "opening_hours": HOURS})
    assert field_named(assert_problem(r, 400), "name")
    assert vendor.get("/v1/vendor/shops").json()["count"] == 0


def test_a_name_of_only_spaces_is_refused(new_client) -> None:  # type: ignore[no-untyped-def]
    vendor = new_client("vendor")
    r = vendor.post("/v1/vendor/shops", json={"name": " \u3000 ", "city": "Pune", "society": "S",
                                              "shop_type": "grocery", "opening_hours": HOURS})
    assert field_named(assert_problem(r, 400), "name")
    assert vendor.get("/v1/vendor/shops").json()["count"] == 0


def test_order_text_is_clean(new_client, shop) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    r = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash", "delivery_notes": f"gate{NUL}"})
    assert field_named(assert_problem(r, 400), "delivery_notes")
    order = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "cash",
                                                                 "delivery_notes": "gate 2\nring twice"})
    assert order.status_code == 201, order.text
    msg = client.post(f"/api/v1/consumer/orders/{order.json()['id']}/message", json={"text": f"a{NUL}"})
    assert_problem(msg, 400)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/auth/login", {"email": f"a{NUL}b@example.com", "password": "x"}),
    ("get", "/v1/categories/a%00b/", None),
    ("get", "/v1/products/?category=%00", None),
    ("get", "/v1/products/?q=tea%00", None),
    ("get", "/api/v1/support/faq?x=%0A", None),
    ("get", "/v1/products/?q=%ff%fe", None),  # not UTF-8: once read as two U+FFFD, matching everything
    ("get", "/v1/products/?q=tea&category=%c3", None),
    ("get", "/v1/categories/%ff/", None),  # not UTF-8 in the path: once looked up as U+FFFD
    ("get", "/v1/categories/tea%c3/", None),
])
def test_anonymous_requests_with_control_characters_are_400_not_500(anonymous, method: str, path: str,  # type: ignore[no-untyped-def]
                                                                    body: dict[str, Any] | None) -> None:
    r = anonymous.request(method.upper(), path, json=body)
    assert_problem(r, 400)


def test_signed_in_paths_with_control_characters(phone_client) -> None:  # type: ignore[no-untyped-def]
    client = phone_client()
    assert_problem(client.post("/api/v1/onboarding/basic", json={**BASIC, "city": f"Pune{NUL}"}), 400)
    assert client.post("/api/v1/onboarding/basic", json=BASIC).status_code == 200
    assert_problem(client.get("/api/v1/consumer/shops?city=%00"), 400)
    assert_problem(client.post("/api/v1/consumer/address/add", json={**ADDRESS, "street": f"M{NUL}G"}), 400)
    assert client.get("/api/v1/consumer/addresses").json() == [] or client.get(
        "/api/v1/consumer/addresses").json().get("results", []) == []


def test_lists_and_strings_have_a_maximum_size(new_client) -> None:  # type: ignore[no-untyped-def]
    vendor = new_client("vendor")
    spans = [["09:00", "10:00"]] * 20_000
    r = vendor.post("/v1/vendor/shops", json={"name": "Big", "city": "Pune", "society": "S",
                                              "shop_type": "grocery", "opening_hours": {"mon": spans}})
    assert field_named(assert_problem(r, 400), "opening_hours")
    assert make_shop(vendor, unique("City"))["name"] == "Green Basket"


@pytest.mark.parametrize("image", ["javascript:alert(1)", "http://example.com/a.png",
                                   "/media/aaaaaaaaaaaaaaaaaaaaaaaa.png"])
def test_shop_and_item_images_are_https_urls_or_uploads(new_client, shop, image: str) -> None:  # type: ignore[no-untyped-def]
    vendor = shop["vendor"]
    r = vendor.post("/v1/vendor/shops", json={"name": "Pics", "city": "Pune", "society": "S",
                                              "shop_type": "grocery", "opening_hours": HOURS, "images": [image]})
    assert field_named(assert_problem(r, 400), "images")
    r = vendor.post(f"/v1/vendor/shops/{shop['id']}/products", json={
        "name": "Pic", "category": shop["category"], "images": ["https://example.com/ok.png", image],
        "variants": [{"sku": "P-1", "name": "one", "price": 100}]})
    assert field_named(assert_problem(r, 400), "images")
    assert_problem(vendor.patch(f"/v1/vendor/products/{shop['tea']['id']}", json={"images": [image]}), 400)
    ok = vendor.patch(f"/v1/vendor/products/{shop['tea']['id']}", json={"images": ["https://example.com/t.png"]})
    assert ok.status_code == 200 and ok.json()["images"] == ["https://example.com/t.png"]


@pytest.mark.parametrize("sku", ["a/b", "a b", "-lead", "x" * 65, "ünï"])
def test_a_sku_is_a_path_segment_that_can_be_changed_later(shop, sku: str) -> None:  # type: ignore[no-untyped-def]
    vendor = shop["vendor"]
    r = vendor.post(f"/v1/vendor/shops/{shop['id']}/products", json={
        "name": "Odd", "category": shop["category"], "variants": [{"sku": sku, "name": "one", "price": 100}]})
    assert_problem(r, 400)
    r = vendor.post(f"/v1/vendor/products/{shop['tea']['id']}/variants", json={"sku": sku, "name": "x", "price": 1})
    assert_problem(r, 400)
    # What is allowed can be addressed again.
    added = vendor.post(f"/v1/vendor/products/{shop['tea']['id']}/variants",
                        json={"sku": "Tea_1.5-kg", "name": "1.5 kg", "price": 100})
    assert added.status_code == 201, added.text
    changed = vendor.patch(f"/v1/vendor/products/{shop['tea']['id']}/variants/Tea_1.5-kg", json={"price": 90})
    assert changed.status_code == 200, changed.text


@pytest.mark.parametrize("currency", ["USD", "ZZZ", "inr"])
def test_an_item_is_priced_only_in_what_carts_are_opened_in(shop, currency: str) -> None:  # type: ignore[no-untyped-def]
    # Listed in another currency, it could never be added to any cart (currency mismatch).
    r = shop["vendor"].post(f"/v1/vendor/products/{shop['tea']['id']}/variants",
                            json={"sku": "FX-1", "name": "x", "price": 100, "currency": currency})
    assert field_named(assert_problem(r, 400), "currency")


@pytest.mark.parametrize("flag", [0, 1, "true", "yes", "off", 1.0])
def test_a_flag_is_true_or_false_not_a_number_or_a_word(  # type: ignore[no-untyped-def]
        new_client, shop, flag: Any) -> None:
    client, vendor = new_client(), shop["vendor"]
    before = client.get("/api/v1/consumer/settings").json()
    for who, path, body in [
        (client, "/api/v1/consumer/settings/update", {"data_sharing": flag}),
        (client, "/api/v1/consumer/notifications/mark-read", {"all": flag}),
        (vendor, f"/v1/vendor/shops/{shop['id']}/status", {"is_open": flag}),
    ]:
        problem = assert_problem(who.post(path, json=body), 400)
        assert "true or false" in str(problem)
    assert client.get("/api/v1/consumer/settings").json() == before
    assert client.post("/api/v1/consumer/settings/update", json={"data_sharing": True}).json()["data_sharing"] is True
