"""Given catalog events, then the `catalog_categories`, `catalog_shops` and `catalog_products` rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

from domain.catalog.category import Category
from domain.catalog.product import Product
from domain.catalog.shop import Shop
from projections import catalog_search
from tests.spec import FIXED_TIME, Stream, projection

CATEGORY = projection(catalog_search.evolve_category)
SHOP = projection(catalog_search.evolve_shop)
PRODUCT = projection(catalog_search.evolve_product)
LATER = FIXED_TIME + timedelta(hours=1)
HOURS = {"mon": [["09:00", "13:00"]]}


def test_a_category_is_created_updated_and_removed() -> None:
    s = Stream(Category)
    created = s.event(Category.Created, slug="tea", name="Tea", description="", featured=False)
    CATEGORY.given(created).then({"slug": "tea", "name": "Tea", "description": "", "featured": False,
                                  "removed": False, "created_at": FIXED_TIME, "updated_at": FIXED_TIME})
    updated = s.event(Category.Updated, name="Teas", description="Leaf", featured=True, timestamp=LATER)
    CATEGORY.given(created, updated).then_including(name="Teas", description="Leaf", featured=True,
                                                    removed=False, updated_at=LATER)
    CATEGORY.given(created, updated, s.event(Category.Removed)).then_including(removed=True, name="Teas")


def shop_details(**changes: Any) -> dict[str, Any]:
    return {"name": "Green Basket", "city": "Pune", "society": "Lakeside", "shop_type": "grocery", **changes}


def test_a_registered_shop_is_closed_and_unrated_with_defaults_for_what_was_not_given() -> None:
    s, vendor = Stream(Shop), uuid4()
    SHOP.given(s.event(Shop.Registered, vendor_id=str(vendor), details=shop_details())).then({
        "shop_id": s.id, "vendor_id": vendor, "is_open": False, "rating_sum": 0, "rating_count": 0,
        "rating": None, "name": "Green Basket", "description": "", "city": "Pune", "society": "Lakeside",
        "shop_type": "grocery", "tags": [], "opening_hours": {}, "images": [],
        "created_at": FIXED_TIME, "updated_at": FIXED_TIME,
    })


def test_a_shop_opens_changes_its_details_and_averages_its_ratings() -> None:
    s = Stream(Shop)
    SHOP.given(
        s.event(Shop.Registered, vendor_id=str(uuid4()), details=shop_details()),
        s.event(Shop.StatusChanged, is_open=True),
        s.event(Shop.DetailsChanged, details=shop_details(name="Blue Basket", tags=["organic"], opening_hours=HOURS)),
        s.event(Shop.Rated, order_id="o1", rating=5),
        s.event(Shop.Rated, order_id="o2", rating=4),
        s.event(Shop.Rated, order_id="o3", rating=4),
    ).then_including(is_open=True, name="Blue Basket", tags=["organic"], opening_hours=HOURS,
                     rating_sum=13, rating_count=3, rating=4.33)


def variant(sku: str, price: int, **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "name": f"{sku} pack", "price": price, "currency": "INR", **extra}


def listed(s: Stream[Product], *variants: dict[str, Any], shop_id: str | None = None) -> Product.Event:
    return s.event(Product.Listed, shop_id=shop_id, name="Assam Tea", slug="assam-tea", category="tea",
                   description="Strong", variants=list(variants), images=["a.png"])


def test_a_listed_product_shows_its_price_range_and_whether_any_variant_sells() -> None:
    s, shop = Stream(Product), uuid4()
    PRODUCT.given(listed(s, variant("S", 24900, stock=0), variant("L", 64500), shop_id=str(shop))).then({
        "product_id": s.id, "shop_id": shop, "category": "tea", "name": "Assam Tea", "slug": "assam-tea",
        "description": "Strong", "images": ["a.png"], "delisted": False, "shop_rating": None,
        "variants": [
            {"sku": "S", "name": "S pack", "price": 24900, "currency": "INR", "stock": 0, "is_available": True,
             "in_stock": False},
            {"sku": "L", "name": "L pack", "price": 64500, "currency": "INR", "stock": None, "is_available": True,
             "in_stock": True},
        ],
        "min_price": 24900, "max_price": 64500, "currency": "INR", "available": True,
        "created_at": FIXED_TIME, "updated_at": FIXED_TIME,
    })


def test_a_product_with_nothing_to_sell_is_not_available() -> None:
    s = Stream(Product)
    PRODUCT.given(listed(s, variant("S", 100, stock=0), variant("L", 200, is_available=False))).then_including(
        available=False, shop_id=None)


def test_price_and_variant_changes_move_the_price_range() -> None:
    s = Stream(Product)
    PRODUCT.given(
        listed(s, variant("S", 24900), variant("L", 64500)),
        s.event(Product.PriceChanged, sku="L", price=59900),
        s.event(Product.VariantAdded, variant=variant("XL", 99900, stock=3)),
        s.event(Product.VariantChanged, sku="S", changes={"is_available": False}, timestamp=LATER),
    ).then_including(
        min_price=24900, max_price=99900, available=True, updated_at=LATER,
        variants=[
            {"sku": "S", "name": "S pack", "price": 24900, "currency": "INR", "stock": None, "is_available": False,
             "in_stock": False},
            {"sku": "L", "name": "L pack", "price": 59900, "currency": "INR", "stock": None, "is_available": True,
             "in_stock": True},
            {"sku": "XL", "name": "XL pack", "price": 99900, "currency": "INR", "stock": 3, "is_available": True,
             "in_stock": True},
        ])


def test_details_change_and_delisting() -> None:
    s = Stream(Product)
    PRODUCT.given(
        listed(s, variant("S", 100)),
        s.event(Product.DetailsChanged, changes={"name": "Assam Gold", "category": "premium-tea"}),
        s.event(Product.Delisted),
    ).then_including(name="Assam Gold", category="premium-tea", delisted=True, slug="assam-tea")


def test_events_never_seen_created_make_no_rows() -> None:
    CATEGORY.given(Stream(Category).event(Category.Removed)).then_nothing()
    SHOP.given(Stream(Shop).event(Shop.StatusChanged, is_open=True)).then_nothing()
    PRODUCT.given(Stream(Product).event(Product.Delisted)).then_nothing()
