from __future__ import annotations

import io
import struct
import uuid
import zlib
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from identity import profiles
from tests.support.problems import assert_problem
from tests.support.profiles import ADDRESS, BASIC, CONSUMER


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = zlib.compress(b"\x00\xff\x00\x00")
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


@pytest.fixture
def onboarded(phone_client) -> TestClient:  # type: ignore[no-untyped-def]
    client = phone_client()
    assert client.post("/api/v1/onboarding/basic", json=BASIC).status_code == 200
    r = client.post("/api/v1/consumer/onboarding", json=CONSUMER)
    assert r.status_code == 201, r.text
    return client


def test_basic_onboarding_sets_the_profile(phone_client) -> None:  # type: ignore[no-untyped-def]
    client = phone_client()
    r = client.post("/api/v1/onboarding/basic", json=BASIC)
    assert r.status_code == 200
    user = r.json()
    assert user["basic_onboarding_done"] is True and user["role_onboarding_done"] is False
    assert (user["name"], user["city"], user["society"], user["role"]) == (
        "Asha Rao", "Bengaluru", "Prestige Lakeside", "customer")


def test_onboarding_as_vendor(phone_client) -> None:  # type: ignore[no-untyped-def]
    client = phone_client()
    r = client.post("/api/v1/onboarding/basic", json={**BASIC, "role": "vendor"})
    assert r.json()["role"] == "vendor"
    assert_problem(client.post("/api/v1/consumer/onboarding", json=CONSUMER), 403)


@pytest.mark.parametrize("role", ["admin", "support", "auditor", "superuser", ""])
def test_no_one_onboards_into_a_staff_role(phone_client, role: str) -> None:  # type: ignore[no-untyped-def]
    client = phone_client()
    assert_problem(client.post("/api/v1/onboarding/basic", json={**BASIC, "role": role}), 400)
    assert client.get("/auth/me").json()["role"] == "customer"


def test_staff_cannot_onboard_as_a_shopper(staff_client) -> None:  # type: ignore[no-untyped-def]
    admin = staff_client("admin")
    assert_problem(admin.post("/api/v1/onboarding/basic", json=BASIC), 403)
    assert admin.get("/auth/me").json()["role"] == "admin"


def test_role_is_fixed_after_role_onboarding(onboarded: TestClient) -> None:
    assert_problem(onboarded.post("/api/v1/onboarding/basic", json={**BASIC, "role": "vendor"}), 409)
    assert onboarded.post("/api/v1/onboarding/basic", json={**BASIC, "name": "A. Rao"}).status_code == 200


def test_a_vendor_keeps_the_role_and_its_shops_keep_their_vendor(shop) -> None:  # type: ignore[no-untyped-def]
    vendor = shop["vendor"]
    assert "keeps its role" in assert_problem(
        vendor.post("/api/v1/onboarding/basic", json={**BASIC, "role": "consumer"}), 409)["detail"]
    assert vendor.get("/auth/me").json()["role"] == "vendor"
    assert vendor.get("/v1/vendor/shops").status_code == 200


def test_a_customer_who_has_shopped_keeps_the_role(phone_client, shop) -> None:  # type: ignore[no-untyped-def]
    client = phone_client()
    assert client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]}).status_code == 200
    assert "shopped" in assert_problem(
        client.post("/api/v1/onboarding/basic", json={**BASIC, "role": "vendor"}), 409)["detail"]
    assert client.get("/auth/me").json()["role"] == "customer"
    assert client.get("/api/v1/consumer/cart/view").json()["items"]


def test_a_customer_with_a_wallet_load_that_may_be_paid_keeps_the_role(phone_client) -> None:  # type: ignore[no-untyped-def]
    # Given a customer who asked for a wallet load and has not paid it yet (no wallet yet)
    client = phone_client()
    r = client.post("/api/v1/consumer/wallet/load", json={"amount": 50_000},
                    headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text
    # When they ask to become a vendor, then it is refused: the money would land behind a 403
    assert "wallet load" in assert_problem(
        client.post("/api/v1/onboarding/basic", json={**BASIC, "role": "vendor"}), 409)["detail"]
    assert client.get("/auth/me").json()["role"] == "customer"
    # And once paid, the balance is theirs to see
    assert client.post(f"/v1/payments/sandbox/{r.json()['payment_id']}/pay",
                       follow_redirects=False).status_code == 303
    assert client.get("/api/v1/consumer/wallet").status_code == 200


def test_the_role_is_chosen_once(phone_client) -> None:  # type: ignore[no-untyped-def]
    client = phone_client()
    assert client.post("/api/v1/onboarding/basic", json=BASIC).status_code == 200
    assert_problem(client.post("/api/v1/onboarding/basic", json={**BASIC, "role": "vendor"}), 409)
    assert client.get("/auth/me").json()["role"] == "customer"


def test_consumer_onboarding_needs_basic_first(phone_client) -> None:  # type: ignore[no-untyped-def]
    client = phone_client()
    assert_problem(client.post("/api/v1/consumer/onboarding", json=CONSUMER), 409)


def test_consumer_onboarding_creates_the_profile_once(onboarded: TestClient) -> None:
    me = onboarded.get("/api/v1/consumer/profile/me").json()
    assert me["user"]["role_onboarding_done"] is True
    assert me["profile"]["flat_number"] == "B-1204" and me["profile"]["birth_date"] == "1994-03-17"
    assert me["profile"]["preferred_language"] == "kn" and me["profile"]["gender"] == "female"
    assert_problem(onboarded.post("/api/v1/consumer/onboarding", json=CONSUMER), 409)


@pytest.mark.parametrize("change", [
    {"birth_date": (date.today() + timedelta(days=2)).isoformat()},
    {"birth_date": "1850-01-01"},
    {"gender": "robot"},
    {"preferred_language": "xx"},
    {"flat_number": ""},
    {"profile_photo": "http://insecure.example.com/a.png"},
    {"profile_photo": "/media/does-not-exist-aaaaaaaaaaaaaaaa.png"},
])
def test_consumer_onboarding_validation(phone_client, change: dict) -> None:  # type: ignore[no-untyped-def]
    client = phone_client()
    client.post("/api/v1/onboarding/basic", json=BASIC)
    assert_problem(client.post("/api/v1/consumer/onboarding", json={**CONSUMER, **change}), 400)
    assert client.get("/api/v1/consumer/profile/me").json()["profile"] is None


def test_profile_edit_is_partial_and_bumps_updated_at(onboarded: TestClient, clock) -> None:  # type: ignore[no-untyped-def]
    before = onboarded.get("/api/v1/consumer/profile/me").json()
    clock.advance(60)
    r = onboarded.post("/api/v1/consumer/profile/edit", json={"name": "Asha R.", "preferred_language": "en"})
    assert r.status_code == 200
    after = r.json()
    assert after["user"]["name"] == "Asha R." and after["profile"]["preferred_language"] == "en"
    assert after["profile"]["flat_number"] == "B-1204"  # untouched
    assert after["profile"]["updated_at"] > before["profile"]["updated_at"]
    assert after["user"]["updated_at"] > before["user"]["updated_at"]
    assert onboarded.get("/api/v1/consumer/profile/me").json() == after


def test_profile_edit_before_onboarding_is_404(phone_client) -> None:  # type: ignore[no-untyped-def]
    assert_problem(phone_client().post("/api/v1/consumer/profile/edit", json={"flat_number": "1"}), 404)


def test_avatar_upload_round_trip(onboarded: TestClient) -> None:
    image = png()
    up = onboarded.post("/api/v1/uploads/images", files={"file": ("me.png", image, "image/png")})
    assert up.status_code == 201, up.text
    url = up.json()["url"]
    assert up.json()["content_type"] == "image/png" and url.startswith("/media/")
    r = onboarded.post("/api/v1/consumer/profile/edit", json={"avatar": url})
    assert r.json()["profile"]["avatar"] == url
    served = onboarded.get(url)
    assert served.status_code == 200 and served.content == image
    assert served.headers["content-type"] == "image/png"
    assert served.headers.get_list("x-content-type-options") == ["nosniff"]  # once, not twice


def test_uploads_are_checked_by_content_and_size(onboarded: TestClient, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fake = onboarded.post("/api/v1/uploads/images", files={"file": ("x.png", b"<svg>", "image/png")})
    assert_problem(fake, 400)
    monkeypatch.setattr(runtime.media, "max_bytes", 100)
    big = onboarded.post("/api/v1/uploads/images", files={"file": ("x.png", png() + b"\0" * 200, "image/png")})
    assert_problem(big, 400)
    assert_problem(onboarded.get("/media/../../etc/passwd"), 404)
    assert_problem(onboarded.get("/media/nothing-here-aaaaaaaaaaaaaaaaaa.png"), 404)


def png_of(width: int, height: int) -> bytes:
    """A PNG header claiming this size, over a few bytes of pixels: what a decompression bomb
    looks like before it is decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def encoded(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(("name", "data", "why"), [
    ("garbage.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "not a whole PNG"),
    ("cut.png", png()[:-20], "not a whole PNG"),
    ("cut.jpg", encoded("JPEG")[:-200], "not a whole JPG"),
    ("bomb.png", png_of(20_000, 20_000), "pixels a side"),
    ("wide.png", png_of(9000, 1), "pixels a side"),
])
def test_an_upload_is_kept_only_if_it_decodes_whole_within_the_limits(
        onboarded: TestClient, name: str, data: bytes, why: str) -> None:
    r = onboarded.post("/api/v1/uploads/images", files={"file": (name, data, "image/png")})
    assert why in assert_problem(r, 400)["detail"]


@pytest.mark.parametrize(("fmt", "content_type"), [("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_jpeg_and_webp_uploads_round_trip(onboarded: TestClient, fmt: str, content_type: str) -> None:
    data = encoded(fmt)
    up = onboarded.post("/api/v1/uploads/images", files={"file": ("x", data, "application/octet-stream")})
    assert up.status_code == 201, up.text
    served = onboarded.get(up.json()["url"])
    assert served.content == data and served.headers["content-type"] == content_type


def test_address_book(onboarded: TestClient, runtime) -> None:  # type: ignore[no-untyped-def]
    r = onboarded.post("/api/v1/consumer/address/add", json=ADDRESS)
    assert r.status_code == 201
    home = r.json()
    work = onboarded.post("/api/v1/consumer/address/add", json={**ADDRESS, "label": "Work"}).json()
    listed = onboarded.get("/api/v1/consumer/addresses").json()
    assert listed["count"] == 2 and [a["id"] for a in listed["results"]] == [home["id"], work["id"]]

    edited = onboarded.post(f"/api/v1/consumer/address/{home['id']}/edit",
                            json={"landmark": "Opposite park", "street": None})
    assert edited.status_code == 200
    assert edited.json()["landmark"] == "Opposite park" and edited.json()["street"] == "Sarjapur Road"

    assert onboarded.post(f"/api/v1/consumer/address/{home['id']}/delete").status_code == 204
    listed = onboarded.get("/api/v1/consumer/addresses").json()
    assert [a["id"] for a in listed["results"]] == [work["id"]]
    assert_problem(onboarded.post(f"/api/v1/consumer/address/{home['id']}/edit", json={}), 404)
    # Still resolvable for the orders that were delivered there.
    user_id = uuid.UUID(onboarded.user["id"])  # type: ignore[attr-defined]
    with runtime.pool.connection() as conn:
        kept = profiles.get_address(conn, user_id, uuid.UUID(home["id"]), include_deleted=True)
    assert kept["deleted_at"] is not None and kept["landmark"] == "Opposite park"


@pytest.mark.parametrize("change", [{"pincode": "!!"}, {"city": ""}, {"house_number": None},
                                    {"street": "x" * 300}])
def test_address_validation(onboarded: TestClient, change: dict) -> None:
    assert_problem(onboarded.post("/api/v1/consumer/address/add", json={**ADDRESS, **change}), 400)
    assert onboarded.get("/api/v1/consumer/addresses").json()["count"] == 0


def test_someone_elses_address_is_404(onboarded: TestClient, phone_client) -> None:  # type: ignore[no-untyped-def]
    mine = onboarded.post("/api/v1/consumer/address/add", json=ADDRESS).json()
    other = phone_client()
    assert_problem(other.post(f"/api/v1/consumer/address/{mine['id']}/edit", json={"label": "x"}), 404)
    assert_problem(other.post(f"/api/v1/consumer/address/{mine['id']}/delete"), 404)
    assert other.get("/api/v1/consumer/addresses").json()["count"] == 0
    assert onboarded.get("/api/v1/consumer/addresses").json()["results"][0]["label"] == "Home"


def test_privacy_settings(onboarded: TestClient) -> None:
    assert onboarded.get("/api/v1/consumer/settings").json() == {
        "marketing_opt_in": False, "location_allowed": False, "data_sharing": False}
    r = onboarded.post("/api/v1/consumer/settings/update", json={"location_allowed": True})
    assert r.json() == {"marketing_opt_in": False, "location_allowed": True, "data_sharing": False}
    r = onboarded.post("/api/v1/consumer/settings/update", json={"marketing_opt_in": True})
    assert r.json()["location_allowed"] is True and r.json()["marketing_opt_in"] is True
    assert_problem(onboarded.post("/api/v1/consumer/settings/update", json={"data_sharing": "maybe"}), 400)
    assert onboarded.get("/api/v1/consumer/settings").json()["data_sharing"] is False
