from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.support.problems import assert_problem


def open_cart(client: TestClient) -> dict:
    r = client.post("/v1/carts")
    assert r.status_code in (200, 201), r.text
    return r.json()


def add(client: TestClient, cart_id: str, product: dict, sku: str = "DJ-100", qty: int = 1, **extra):  # type: ignore[no-untyped-def]
    body = {"product_id": product["id"], "sku": sku, "qty": qty, **extra}
    return client.post(f"/v1/carts/{cart_id}/items", json=body)


def test_open_cart_creates_once_then_returns_the_same_cart(new_client) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    first = client.post("/v1/carts")
    second = client.post("/v1/carts")
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["items"] == [] and first.json()["currency"] == "INR"


def test_add_change_remove_and_read_back(new_client, product) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    cart = open_cart(client)
    r = add(client, cart["id"], product, qty=2, unit_price=19950)
    assert r.status_code == 201, r.text
    item_id = r.json()["item_id"]
    assert r.json()["cart"]["total_amount"] == 39900

    r = add(client, cart["id"], product, sku="DJ-500", qty=1)
    assert r.status_code == 201

    # The read model shows the writes at once (read-your-writes), same shape as commands.
    view = client.get(f"/v1/carts/{cart['id']}")
    assert view.status_code == 200
    assert view.json() == r.json()["cart"]
    assert view.json()["total_amount"] == 39900 + 89900
    assert view.json()["item_count"] == 3

    r = client.patch(f"/v1/carts/{cart['id']}/items/{item_id}", json={"qty": 5})
    assert r.status_code == 200
    line = next(i for i in r.json()["items"] if i["item_id"] == item_id)
    assert line["qty"] == 5 and line["line_total"] == 5 * 19950

    r = client.delete(f"/v1/carts/{cart['id']}/items/{item_id}")
    assert r.status_code == 200
    assert [i["sku"] for i in r.json()["items"]] == ["DJ-500"]
    view = client.get(f"/v1/carts/{cart['id']}").json()
    assert view == r.json() and view["total_amount"] == 89900


def test_adding_the_same_sku_twice_makes_one_line(new_client, product) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    cart = open_cart(client)
    first = add(client, cart["id"], product, qty=1).json()["item_id"]
    again = add(client, cart["id"], product, qty=2).json()
    assert again["item_id"] == first
    assert [(i["item_id"], i["qty"]) for i in again["cart"]["items"]] == [(first, 3)]


def test_stale_unit_price_is_409_and_changes_nothing(new_client, product) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    cart = open_cart(client)
    body = assert_problem(add(client, cart["id"], product, unit_price=1), 409)
    assert "19950" in body["detail"]
    assert client.get(f"/v1/carts/{cart['id']}").json()["items"] == []


def test_price_comes_from_the_catalog_not_the_client(new_client, product, runtime) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    cart = open_cart(client)
    item = add(client, cart["id"], product, qty=1).json()["item_id"]
    runtime.catalog.change_price(uuid.UUID(product["id"]), "DJ-100", 25000)
    r = client.patch(f"/v1/carts/{cart['id']}/items/{item}", json={"qty": 2})
    assert r.json()["total_amount"] == 50000


@pytest.mark.parametrize("qty", [0, -3, 100, 1_000_000, "2", 1.5, None])
def test_invalid_qty_is_400_and_changes_nothing(new_client, product, qty) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    cart = open_cart(client)
    body = assert_problem(add(client, cart["id"], product, qty=qty), 400)
    assert body["errors"][0]["field"] == "qty"
    assert client.get(f"/v1/carts/{cart['id']}").json()["items"] == []


@pytest.mark.parametrize("qty", [0, 100])
def test_invalid_qty_on_change_is_400(new_client, product, qty) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    cart = open_cart(client)
    item = add(client, cart["id"], product).json()["item_id"]
    assert_problem(client.patch(f"/v1/carts/{cart['id']}/items/{item}", json={"qty": qty}), 400)
    assert client.get(f"/v1/carts/{cart['id']}").json()["items"][0]["qty"] == 1


def test_unknown_product_is_404_and_unknown_sku_400(new_client, product) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    cart = open_cart(client)
    assert_problem(add(client, cart["id"], {"id": str(uuid.uuid4())}), 404)
    body = assert_problem(add(client, cart["id"], product, sku="NOPE"), 400)
    assert body["errors"][0]["field"] == "sku"


def test_malformed_bodies_are_400(new_client) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    cart = open_cart(client)
    url = f"/v1/carts/{cart['id']}/items"
    assert_problem(client.post(url, content=b"{not json", headers={"content-type": "application/json"}), 400)
    assert_problem(client.post(url, json={"product_id": "not-a-uuid", "sku": "x", "qty": 1}), 400)
    assert_problem(client.post(url, json={}), 400)


def test_unknown_cart_and_item_are_404(new_client, product) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    cart = open_cart(client)
    missing = str(uuid.uuid4())
    assert_problem(client.get(f"/v1/carts/{missing}"), 404)
    assert_problem(add(client, missing, product), 404)
    assert_problem(client.patch(f"/v1/carts/{cart['id']}/items/{missing}", json={"qty": 1}), 404)
    assert_problem(client.delete(f"/v1/carts/{cart['id']}/items/{missing}"), 404)
    assert_problem(client.get("/v1/carts/not-a-uuid"), 400)


def test_someone_elses_cart_is_404_for_every_verb(new_client, product) -> None:  # type: ignore[no-untyped-def]
    owner, other = new_client(), new_client()
    cart = open_cart(owner)
    item = add(owner, cart["id"], product).json()["item_id"]
    base = f"/v1/carts/{cart['id']}"
    assert_problem(other.get(base), 404)
    assert_problem(add(other, cart["id"], product), 404)
    assert_problem(other.patch(f"{base}/items/{item}", json={"qty": 9}), 404)
    assert_problem(other.delete(f"{base}/items/{item}"), 404)
    assert owner.get(base).json()["items"][0]["qty"] == 1


def test_every_cart_endpoint_needs_a_session(anonymous: TestClient, product) -> None:  # type: ignore[no-untyped-def]
    cart, item = uuid.uuid4(), uuid.uuid4()
    calls = [
        ("POST", "/v1/carts", None),
        ("GET", f"/v1/carts/{cart}", None),
        ("POST", f"/v1/carts/{cart}/items", {"product_id": product["id"], "sku": "DJ-100", "qty": 1}),
        ("PATCH", f"/v1/carts/{cart}/items/{item}", {"qty": 1}),
        ("DELETE", f"/v1/carts/{cart}/items/{item}", None),
    ]
    for method, url, body in calls:
        assert_problem(anonymous.request(method, url, json=body), 401)
