from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from identity import wishlist
from projections import catalog_search
from projections.tracking import caught_up
from tests.support.catalog import make_product, make_shop, unique
from tests.support.problems import assert_problem
from tests.support.waiting import eventually
from workers.projection import rebuild


@pytest.fixture
def vendor(new_client) -> TestClient:  # type: ignore[no-untyped-def]
    return new_client("vendor")


@pytest.fixture
def category(admin: TestClient) -> str:
    slug = unique("cat")
    r = admin.post("/v1/admin/categories", json={"slug": slug, "name": "Groceries " + slug})
    assert r.status_code == 201, r.text
    return slug


@pytest.fixture
def city() -> str:
    return unique("City")


def customer_in(phone_client, city: str, society: str = "Lakeside") -> TestClient:  # type: ignore[no-untyped-def]
    client = phone_client()
    r = client.post("/api/v1/onboarding/basic",
                    json={"name": "Asha", "city": city, "society": society, "role": "consumer"})
    assert r.status_code == 200
    return client


# Categories


def test_categories_browse_featured_first(admin: TestClient, anonymous: TestClient) -> None:
    plain, star = unique("plain"), unique("star")
    admin.post("/v1/admin/categories", json={"slug": plain, "name": "Plain"})
    admin.post("/v1/admin/categories", json={"slug": star, "name": "Star", "featured": True})
    featured = anonymous.get("/v1/categories/", params={"featured": "true", "page_size": 100}).json()
    assert star in [c["slug"] for c in featured["results"]]
    assert plain not in [c["slug"] for c in featured["results"]]
    detail = anonymous.get(f"/v1/categories/{star}/").json()
    assert detail == {"slug": star, "name": "Star", "description": "", "featured": True,
                      "product_count": 0}


def test_category_rules(admin: TestClient, anonymous: TestClient, category: str) -> None:
    assert_problem(anonymous.get("/v1/categories/no-such-slug/"), 404)
    assert_problem(admin.post("/v1/admin/categories", json={"slug": category, "name": "x"}), 409)
    assert_problem(admin.post("/v1/admin/categories", json={"slug": "Bad Slug", "name": "x"}), 400)
    r = admin.patch(f"/v1/admin/categories/{category}", json={"featured": True, "name": "Renamed"})
    assert r.status_code == 200 and r.json()["featured"] is True and r.json()["name"] == "Renamed"
    assert admin.delete(f"/v1/admin/categories/{category}").status_code == 204
    assert_problem(anonymous.get(f"/v1/categories/{category}/"), 404)
    assert_problem(admin.patch(f"/v1/admin/categories/{category}", json={"name": "again"}), 404)
    assert_problem(admin.post("/v1/admin/categories", json={"slug": category, "name": "x"}), 409)


# Vendor management


def test_shop_lifecycle_and_vendor_isolation(vendor: TestClient, new_client, admin: TestClient,  # type: ignore[no-untyped-def]
                                             city: str, category: str) -> None:
    shop = make_shop(vendor, city)
    assert shop["is_open"] is False and shop["vendor_id"] == vendor.user["id"]  # type: ignore[attr-defined]
    opened = vendor.post(f"/v1/vendor/shops/{shop['id']}/status", json={"is_open": True}).json()
    assert opened["is_open"] is True
    changed = vendor.patch(f"/v1/vendor/shops/{shop['id']}", json={"tags": ["organic", "local"]})
    assert changed.json()["tags"] == ["organic", "local"] and changed.json()["name"] == "Green Basket"
    assert_problem(vendor.patch(f"/v1/vendor/shops/{shop['id']}", json={"shop_type": "casino"}), 400)
    bad_hours = {"mon": [["21:00", "09:00"]]}
    assert_problem(vendor.patch(f"/v1/vendor/shops/{shop['id']}", json={"opening_hours": bad_hours}), 400)

    other = new_client("vendor")
    product = make_product(vendor, shop["id"], category)
    for method, url, body in [
        ("PATCH", f"/v1/vendor/shops/{shop['id']}", {"name": "Mine now"}),
        ("POST", f"/v1/vendor/shops/{shop['id']}/status", {"is_open": False}),
        ("GET", f"/v1/vendor/shops/{shop['id']}/products", None),
        ("POST", f"/v1/vendor/shops/{shop['id']}/products",
         {"name": "x", "category": category, "variants": [{"sku": "X", "price": 1}]}),
        ("PATCH", f"/v1/vendor/products/{product['id']}", {"name": "stolen"}),
        ("POST", f"/v1/vendor/products/{product['id']}/variants", {"sku": "Y", "price": 1}),
        ("PATCH", f"/v1/vendor/products/{product['id']}/variants/SKU-0", {"price": 1}),
        ("POST", f"/v1/vendor/products/{product['id']}/delist", None),
    ]:
        assert_problem(other.request(method, url, json=body), 404)
    assert other.get("/v1/vendor/shops").json()["count"] == 0
    assert_problem(other.post("/v1/vendor/shops", json={
        "name": "x", "city": city, "society": "y", "shop_type": "grocery",
        "vendor_id": vendor.user["id"]}), 400)  # type: ignore[attr-defined]

    # Admins register shops for vendors only: a shop of no vendor has no one to run it.
    for nobody in (str(uuid.uuid4()), other_customer(new_client)):
        assert "vendor_id" in str(assert_problem(admin.post("/v1/vendor/shops", json={
            "name": "x", "city": city, "society": "y", "shop_type": "grocery", "vendor_id": nobody}), 400))
    theirs = admin.post("/v1/vendor/shops", json={"name": "Admin Made", "city": city, "society": "y",
                                                  "shop_type": "grocery", "vendor_id": vendor.user["id"]})  # type: ignore[attr-defined]
    assert theirs.status_code == 201 and theirs.json()["vendor_id"] == vendor.user["id"]  # type: ignore[attr-defined]

    # Admins manage any shop.
    r = admin.patch(f"/v1/vendor/shops/{shop['id']}", json={"name": "Green Basket HQ"})
    assert r.status_code == 200 and r.json()["name"] == "Green Basket HQ"
    assert vendor.get("/v1/vendor/shops").json()["results"][0]["name"] == "Green Basket HQ"


def test_items_variants_stock_and_price_history(vendor: TestClient, anonymous: TestClient,
                                                staff_client, city: str, category: str) -> None:  # type: ignore[no-untyped-def]
    shop = make_shop(vendor, city)
    product = make_product(vendor, shop["id"], category, prices=(64500, 120000))
    assert (product["min_price"], product["max_price"], product["available"]) == (64500, 120000, True)
    assert_problem(make_product_raw(vendor, shop["id"], "no-such-category"), 404)
    assert_problem(vendor.post(f"/v1/vendor/shops/{shop['id']}/products", json={
        "name": "x", "category": category, "variants": [{"sku": "A", "price": -1}]}), 400)
    assert_problem(vendor.post(f"/v1/vendor/shops/{shop['id']}/products", json={
        "name": "x", "category": category, "variants": [{"sku": "A", "price": 1}, {"sku": "A", "price": 2}]}), 400)

    pid = product["id"]
    r = vendor.patch(f"/v1/vendor/products/{pid}/variants/SKU-0", json={"price": 59900})
    assert r.json()["min_price"] == 59900
    vendor.patch(f"/v1/vendor/products/{pid}/variants/SKU-0", json={"price": 61000})
    assert_problem(vendor.post(f"/v1/vendor/products/{pid}/variants", json={"sku": "SKU-1", "price": 5}), 409)
    assert_problem(vendor.patch(f"/v1/vendor/products/{pid}/variants/NOPE", json={"price": 5}), 400)

    for sku in ("SKU-0", "SKU-1"):
        vendor.patch(f"/v1/vendor/products/{pid}/variants/{sku}", json={"stock": 0})
    detail = anonymous.get(f"/v1/products/{pid}/").json()
    assert detail["available"] is False and all(not v["in_stock"] for v in detail["variants"])

    auditor = staff_client("auditor")
    history = auditor.get(f"/v1/audit/products/{pid}/history").json()
    assert [p["price"] for p in history["prices"] if p["sku"] == "SKU-0"] == [64500, 59900, 61000]
    assert [e["type"] for e in history["events"]][:2] == ["catalog.product.listed",
                                                          "catalog.product.price_changed"]
    assert_problem(auditor.get(f"/v1/audit/products/{uuid.uuid4()}/history"), 404)

    assert vendor.post(f"/v1/vendor/products/{pid}/delist").status_code == 204
    assert_problem(anonymous.get(f"/v1/products/{pid}/"), 404)
    assert_problem(vendor.post(f"/v1/vendor/products/{pid}/delist"), 404)


def make_product_raw(vendor: TestClient, shop_id: str, category: str):  # type: ignore[no-untyped-def]
    return vendor.post(f"/v1/vendor/shops/{shop_id}/products",
                       json={"name": "x", "category": category, "variants": [{"sku": "A", "price": 1}]})


# Product search


@pytest.fixture
def stocked(vendor: TestClient, city: str, category: str) -> dict[str, Any]:
    shop = make_shop(vendor, city)
    rice = make_product(vendor, shop["id"], category, "Basmati Rice", (64500,),
                        description="aged long grain")
    tea = make_product(vendor, shop["id"], category, "Assam Tea", (24900, 89900))
    soap = make_product(vendor, shop["id"], category, "Neem Soap", (4500,))
    vendor.patch(f"/v1/vendor/products/{soap['id']}/variants/SKU-0", json={"is_available": False})
    return {"shop": shop, "category": category, "rice": rice, "tea": tea, "soap": soap}


def names(page: dict[str, Any]) -> list[str]:
    return [p["name"] for p in page["results"]]


def test_product_filters_and_ordering(anonymous: TestClient, stocked: dict[str, Any]) -> None:
    base = {"category": stocked["category"]}

    def get(**params: Any) -> dict[str, Any]:
        r = anonymous.get("/v1/products/", params={**base, **params})
        assert r.status_code == 200, r.text
        return r.json()

    assert get()["count"] == 3
    assert names(get(q="bas")) == ["Basmati Rice"]          # prefix match
    assert names(get(q="long gra")) == ["Basmati Rice"]     # description, several words
    assert names(get(q="zzz")) == []
    assert names(get(ordering="price")) == ["Neem Soap", "Assam Tea", "Basmati Rice"]
    assert names(get(ordering="-price")) == ["Basmati Rice", "Assam Tea", "Neem Soap"]
    assert names(get(ordering="newest")) == ["Neem Soap", "Assam Tea", "Basmati Rice"]
    # A product matches a price range when any of its variants does.
    assert sorted(names(get(min_price=80000))) == ["Assam Tea"]
    assert sorted(names(get(min_price=20000, max_price=30000))) == ["Assam Tea"]
    assert sorted(names(get(available="true"))) == ["Assam Tea", "Basmati Rice"]
    assert names(get(available="false")) == ["Neem Soap"]
    assert get(shop=stocked["shop"]["id"])["count"] == 3
    assert get(shop=str(uuid.uuid4()))["count"] == 0


def test_page_links_are_on_the_public_address_whatever_the_host_header(
        anonymous: TestClient, stocked: dict[str, Any], runtime) -> None:  # type: ignore[no-untyped-def]
    params = {"category": stocked["category"], "ordering": "price", "page_size": 2}
    first = anonymous.get("/v1/products/", params=params, headers={"Host": "evil.example"}).json()
    base = runtime.settings.public_base_url.rstrip("/")
    assert first["next"].startswith(f"{base}/v1/products/?") and "evil" not in first["next"]
    assert "page=2" in first["next"] and f"category={stocked['category']}" in first["next"]


def test_product_search_pagination(anonymous: TestClient, stocked: dict[str, Any]) -> None:
    params = {"category": stocked["category"], "ordering": "price", "page_size": 2}
    first = anonymous.get("/v1/products/", params=params).json()
    assert first["count"] == 3 and len(first["results"]) == 2 and first["previous"] is None
    second = anonymous.get(first["next"]).json()
    assert names(second) == ["Basmati Rice"] and second["next"] is None
    assert anonymous.get(second["previous"]).json() == first
    beyond = anonymous.get("/v1/products/", params={**params, "page": 9}).json()
    assert beyond["results"] == [] and beyond["count"] == 3


def test_a_broad_listing_estimates_its_count_and_says_so(
        anonymous: TestClient, stocked: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    params = {"category": stocked["category"], "ordering": "price", "page_size": 1}
    exact = anonymous.get("/v1/products/", params=params).json()
    assert (exact["count"], exact["count_exact"]) == (3, True)

    monkeypatch.setattr(catalog_search, "COUNT_EXACT_UP_TO", 2)  # as if 10,000 were exceeded
    broad = anonymous.get("/v1/products/", params=params).json()

    assert broad["count_exact"] is False
    assert broad["count"] >= 3, "an estimate is never below what was counted"
    pages = [broad]
    while pages[-1]["next"] and len(pages) < 10:
        pages.append(anonymous.get(pages[-1]["next"]).json())
    assert [names(p) for p in pages][:3] == [names(exact)] + [
        names(anonymous.get("/v1/products/", params={**params, "page": n}).json()) for n in (2, 3)]
    assert sum(len(p["results"]) for p in pages) == 3, "following next reaches every match"


@pytest.mark.parametrize("params,status", [
    ({"category": "no-such-category"}, 404),
    ({"min_price": 10, "max_price": 5}, 400),
    ({"min_price": -1}, 400),
    ({"ordering": "cheapest"}, 400),
    ({"page": 0}, 400),
    ({"page_size": 1000}, 400),
    ({"shop": "not-a-uuid"}, 400),
])
def test_product_search_bad_input(anonymous: TestClient, params: dict, status: int) -> None:
    assert_problem(anonymous.get("/v1/products/", params=params), status)


def test_product_detail(anonymous: TestClient, stocked: dict[str, Any]) -> None:
    tea = anonymous.get(f"/v1/products/{stocked['tea']['id']}/").json()
    assert [v["sku"] for v in tea["variants"]] == ["SKU-0", "SKU-1"]
    assert tea["shop_id"] == stocked["shop"]["id"] and tea["images"] == []
    assert_problem(anonymous.get(f"/v1/products/{uuid.uuid4()}/"), 404)


def test_shop_items_lists_only_available_ones(anonymous: TestClient, stocked: dict[str, Any]) -> None:
    items = anonymous.get(f"/api/v1/shop/{stocked['shop']['id']}/items").json()
    assert sorted(names(items)) == ["Assam Tea", "Basmati Rice"]
    assert_problem(anonymous.get(f"/api/v1/shop/{uuid.uuid4()}/items"), 404)


# Shops for consumers


def test_consumer_shops_are_scoped_to_the_city(phone_client, new_client, city: str, runtime) -> None:  # type: ignore[no-untyped-def]
    v = new_client("vendor")
    make_shop(v, city, name="Here Mart", society="Lakeside", tags=["organic", "fresh"])
    near = make_shop(v, city, name="Near Mart", society="Hilltop", shop_type="pharmacy")
    make_shop(v, unique("Elsewhere"), name="Far Mart")
    v.post(f"/v1/vendor/shops/{near['id']}/status", json={"is_open": True})
    shopper = customer_in(phone_client, city, society="Lakeside")

    page = shopper.get("/api/v1/consumer/shops").json()
    assert names(page) == ["Here Mart", "Near Mart"]  # own society first, despite closed
    assert page["results"][0]["in_your_society"] is True
    assert names(shopper.get("/api/v1/consumer/shops", params={"status": "open"}).json()) == ["Near Mart"]
    assert names(shopper.get("/api/v1/consumer/shops", params={"type": "pharmacy"}).json()) == ["Near Mart"]
    assert names(shopper.get("/api/v1/consumer/shops", params={"tags": "organic,fresh"}).json()) == ["Here Mart"]
    assert names(shopper.get("/api/v1/consumer/shops", params={"society": "Hilltop"}).json()) == ["Near Mart"]
    other_city = shopper.get("/api/v1/consumer/shops", params={"city": "Nowhere-" + city}).json()
    assert other_city["count"] == 0
    assert_problem(shopper.get("/api/v1/consumer/shops", params={"type": "casino"}), 400)

    newcomer = phone_client()  # not onboarded: no city known
    assert_problem(newcomer.get("/api/v1/consumer/shops"), 400)
    assert newcomer.get("/api/v1/consumer/shops", params={"city": city}).json()["count"] == 2


def test_shop_search_open_first_then_by_rating(phone_client, new_client, city: str, runtime,  # type: ignore[no-untyped-def]
                                              category: str) -> None:
    v = new_client("vendor")
    shops = {n: make_shop(v, city, name=n) for n in ("Closed Star", "Open Good", "Open Best", "Open New")}
    for n in ("Open Good", "Open Best", "Open New"):
        v.post(f"/v1/vendor/shops/{shops[n]['id']}/status", json={"is_open": True})
    for n, ratings in {"Closed Star": [5, 5], "Open Good": [4, 3], "Open Best": [5, 4]}.items():
        for r in ratings:
            runtime.catalog.rate_shop(uuid.UUID(shops[n]["id"]), order_id=str(uuid.uuid4()), rating=r)
    make_product(v, shops["Open Good"]["id"], category, "Masala Chai", (15000,))
    make_product(v, shops["Closed Star"]["id"], category, "Filter Coffee", (45000,))
    shopper = customer_in(phone_client, city)

    def search(**params: Any) -> list[str]:
        r = shopper.get("/api/v1/consumer/shops/search", params=params)
        assert r.status_code == 200, r.text
        return names(r.json())

    # Let the rating events reach the read model.
    eventually(lambda: search(rating=4.5) == ["Open Best", "Closed Star"])
    assert search() == ["Open Best", "Open Good", "Open New", "Closed Star"]
    page = shopper.get("/api/v1/consumer/shops/search").json()
    assert page["results"][-1]["is_open"] is False and page["results"][-1]["rating"] == 5.0
    assert search(q="chai") == ["Open Good"]              # what the shop sells
    assert search(q="open be") == ["Open Best"]           # the shop's own name, by prefix
    assert search(min_price=40000) == ["Closed Star"]     # has an item in range
    assert search(max_price=20000) == ["Open Good"]
    assert search(available="true") == ["Open Good", "Closed Star"]
    assert_problem(shopper.get("/api/v1/consumer/shops/search", params={"min_price": 9, "max_price": 1}), 400)
    assert_problem(shopper.get("/api/v1/consumer/shops/search", params={"rating": 6}), 400)


# Wishlist


def test_wishlist(new_client, vendor: TestClient, stocked: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    shopper = new_client()
    rice, tea = stocked["rice"]["id"], stocked["tea"]["id"]
    first = shopper.post("/api/v1/consumer/wishlist/add", json={"item_id": rice})
    assert first.json() == {"item_id": rice, "changed": True}
    again = shopper.post("/api/v1/consumer/wishlist/add", json={"item_id": rice})
    assert again.json()["changed"] is False
    shopper.post("/api/v1/consumer/wishlist/add", json={"item_id": tea})
    assert_problem(shopper.post("/api/v1/consumer/wishlist/add", json={"item_id": str(uuid.uuid4())}), 404)

    vendor.patch(f"/v1/vendor/products/{rice}/variants/SKU-0", json={"price": 70000})
    listed = shopper.get("/api/v1/consumer/wishlist").json()
    assert listed["count"] == 2 and [e["item_id"] for e in listed["results"]] == [tea, rice]
    assert listed["results"][1]["item"]["min_price"] == 70000  # the current price

    vendor.post(f"/v1/vendor/products/{tea}/delist")
    flagged = shopper.get("/api/v1/consumer/wishlist").json()["results"][0]
    assert flagged["item_id"] == tea and flagged["listed"] is False

    assert shopper.post("/api/v1/consumer/wishlist/remove", json={"item_id": rice}).json()["changed"] is True
    assert shopper.post("/api/v1/consumer/wishlist/remove", json={"item_id": rice}).json()["changed"] is False
    assert shopper.get("/api/v1/consumer/wishlist").json()["count"] == 1


def test_unavailable_items_cannot_go_in_the_cart(new_client, vendor: TestClient, stocked: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    shopper = new_client()
    cart = shopper.post("/v1/carts").json()
    r = shopper.post(f"/v1/carts/{cart['id']}/items",
                     json={"product_id": stocked["soap"]["id"], "sku": "SKU-0", "qty": 1})
    assert_problem(r, 409)
    assert shopper.get(f"/v1/carts/{cart['id']}").json()["items"] == []


# Rebuild


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()  # noqa: S608
            for table in ("catalog_categories", "catalog_shops", "catalog_products")
        }


def test_rebuilding_the_catalog_read_model_gives_identical_rows(runtime, stocked: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    head = runtime.catalog.recorder.max_notification_id()
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        eventually(lambda: caught_up(conn, "catalog_search", "catalog", head))
    before = snapshot(runtime.database_url)
    assert sum(len(rows) for rows in before.values()) > 5
    rebuild(runtime, catalog_search.READ_MODEL)
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        assert caught_up(conn, "catalog_search", "catalog", head)  # ids have gaps: no count
    assert snapshot(runtime.database_url) == before


def test_a_lagging_view_after_a_saved_command_is_a_503_not_a_500(staff_client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    admin = staff_client("admin")
    monkeypatch.setattr(catalog_search, "find_category", lambda conn, slug: None)
    slug = f"lag-{uuid.uuid4().hex[:8]}"
    r = admin.post("/v1/admin/categories", json={"slug": slug, "name": "Lagging"})
    assert assert_problem(r, 503)["title"] == "Read model catching up" and r.headers["retry-after"] == "1"
    monkeypatch.undo()
    assert admin.get(f"/v1/categories/{slug}/").status_code == 200, "the command itself was saved"


def other_customer(new_client) -> str:  # type: ignore[no-untyped-def]
    return str(new_client().user["id"])


def test_a_full_wishlist_says_so_and_concurrent_adds_do_not_overfill_it(  # type: ignore[no-untyped-def]
        new_client, runtime, stocked: dict[str, Any]) -> None:
    # Given a wishlist two items short of full
    shopper = new_client()
    owner = uuid.UUID(shopper.user["id"])  # type: ignore[attr-defined]
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO wishlist_items (user_id, product_id, added_at) "
                     "SELECT %s, gen_random_uuid(), now() FROM generate_series(1, %s)",
                     (owner, wishlist.MAX_ITEMS - 2))
    # When three items are added, four times each, all at once
    items = [stocked[k]["id"] for k in ("rice", "tea", "soap")] * 4
    start = threading.Barrier(len(items))
    answers: list[tuple[str, int, Any]] = []

    def add(item: str) -> None:
        start.wait()
        r = shopper.post("/api/v1/consumer/wishlist/add", json={"item_id": item})
        answers.append((item, r.status_code, r.json()))

    threads = [threading.Thread(target=add, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    # Then two of them got in, each once, the third is refused as the list is full
    kept = {item for item, status, body in answers if status == 200 and body["changed"]}
    assert len(kept) == 2 and sum(1 for _, s, b in answers if s == 200 and b["changed"]) == 2
    refused = [b for item, s, b in answers if item not in kept]
    assert len(refused) == 4 and all(b["status"] == 400 and b["title"] == "Wishlist full" for b in refused)
    assert shopper.get("/api/v1/consumer/wishlist").json()["count"] == wishlist.MAX_ITEMS
