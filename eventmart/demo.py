"""`eventmart seed-demo [--scale N]`: a realistic, deterministic marketplace to click through.

Same input, same ids and data: running it twice changes nothing. At scale 1: 4 cities,
12 societies, 48 shops, about 1,900 items over 20 categories, and users of every role.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate
from psycopg import Connection

from domain.catalog.application import CatalogApplication
from domain.catalog.category import Category
from domain.catalog.product import Product
from domain.catalog.shop import Shop, check_details
from domain.commerce.application import CommerceApplication
from domain.commerce.coupon import Coupon, coupon_id
from identity import users

log = logging.getLogger(__name__)

DEMO_PASSWORD = "demo-pass-1"
CITIES = {
    "Bengaluru": ["Prestige Lakeside", "Sobha Dream Acres", "Brigade Metropolis"],
    "Mumbai": ["Hiranandani Gardens", "Lodha Palava", "Oberoi Splendor"],
    "Pune": ["Magarpatta City", "Amanora Park", "Kumar Princetown"],
    "Hyderabad": ["My Home Jewel", "Aparna Sarovar", "Lanco Hills"],
}
CATEGORIES: dict[str, tuple[str, bool, list[str], list[tuple[str, int]]]] = {
    # slug: (name, featured, item names, variants as (label, price in paise))
    "fruits": ("Fruits", True, ["Alphonso Mango", "Banana", "Apple", "Papaya", "Pomegranate",
                                "Guava", "Orange", "Grapes"], [("500 g", 6000), ("1 kg", 11000)]),
    "vegetables": ("Vegetables", True, ["Tomato", "Onion", "Potato", "Okra", "Spinach",
                                        "Cauliflower", "Carrot", "Capsicum"], [("500 g", 3000), ("1 kg", 5500)]),
    "dairy": ("Dairy", True, ["Toned Milk", "Curd", "Paneer", "Butter", "Ghee", "Cheese Slices"],
              [("200 g", 6000), ("500 g", 14000)]),
    "bakery": ("Bakery", False, ["Whole Wheat Bread", "Pav", "Rusk", "Croissant", "Fruit Cake",
                                 "Multigrain Bread"], [("1 pack", 4500), ("2 packs", 8500)]),
    "staples": ("Rice, Atta & Dal", True, ["Basmati Rice", "Sona Masoori Rice", "Chakki Atta",
                                           "Toor Dal", "Moong Dal", "Chana Dal"], [("1 kg", 12000), ("5 kg", 55000)]),
    "snacks": ("Snacks", False, ["Masala Chips", "Bhujia", "Khakhra", "Roasted Makhana",
                                 "Banana Chips", "Murukku"], [("150 g", 5000), ("400 g", 12000)]),
    "beverages": ("Beverages", False, ["Mango Drink", "Coconut Water", "Lassi", "Lemon Soda",
                                       "Jaljeera"], [("250 ml", 2500), ("1 l", 9000)]),
    "tea-coffee": ("Tea & Coffee", True, ["Assam Tea", "Darjeeling Tea", "Masala Chai",
                                          "Filter Coffee", "Green Tea"], [("250 g", 24900), ("1 kg", 89900)]),
    "spices": ("Spices & Masalas", False, ["Turmeric Powder", "Red Chilli Powder", "Garam Masala",
                                           "Cumin Seeds", "Sambar Powder"], [("100 g", 4500), ("500 g", 19000)]),
    "personal-care": ("Personal Care", False, ["Neem Soap", "Herbal Shampoo", "Coconut Hair Oil",
                                               "Toothpaste", "Face Wash"], [("1 unit", 9900), ("3 units", 27900)]),
    "household": ("Household", False, ["Dishwash Bar", "Floor Cleaner", "Detergent Powder",
                                       "Agarbatti", "Garbage Bags"], [("1 unit", 9900), ("3 units", 27900)]),
    "baby-care": ("Baby Care", False, ["Baby Wipes", "Diapers", "Baby Lotion", "Baby Soap"],
                  [("1 pack", 29900), ("2 packs", 57900)]),
    "medicines": ("Medicines", True, ["Paracetamol 500", "ORS Sachet", "Antacid Syrup",
                                      "Vitamin C Tablets", "Cough Syrup"], [("1 strip", 3500), ("3 strips", 9900)]),
    "wellness": ("Wellness", False, ["Chyawanprash", "Ashwagandha", "Protein Powder",
                                     "Honey"], [("250 g", 29900), ("1 kg", 99900)]),
    "meat-fish": ("Meat & Fish", False, ["Chicken Curry Cut", "Mutton Keema", "Rohu Fish",
                                         "Prawns", "Eggs"], [("500 g", 22000), ("1 kg", 42000)]),
    "frozen": ("Frozen", False, ["Frozen Peas", "Veg Momos", "Ice Cream Tub", "Paratha"],
               [("1 pack", 15000), ("2 packs", 28000)]),
    "sweets": ("Sweets", False, ["Kaju Katli", "Gulab Jamun", "Mysore Pak", "Rasgulla",
                                 "Soan Papdi"], [("250 g", 22000), ("500 g", 42000)]),
    "stationery": ("Stationery", False, ["Notebook", "Gel Pen", "Pencil Box", "Sketch Pens",
                                         "Geometry Box"], [("1 unit", 6000), ("5 units", 27500)]),
    "electronics-accessories": ("Electronics Accessories", False, [
        "USB-C Cable", "Phone Charger", "Earphones", "Power Bank", "LED Bulb"],
        [("1 unit", 49900), ("2 units", 94900)]),
    "apparel": ("Apparel", False, ["Cotton Kurta", "Leggings", "T-Shirt", "Dupatta", "Socks"],
                [("M", 79900), ("L", 79900), ("XL", 84900)]),
}
SHOP_TYPES = {
    "grocery": ["staples", "snacks", "beverages", "tea-coffee", "spices", "household", "personal-care"],
    "pharmacy": ["medicines", "wellness", "baby-care", "personal-care"],
    "bakery": ["bakery", "sweets"],
    "dairy": ["dairy", "frozen"],
    "fruits_vegetables": ["fruits", "vegetables"],
    "meat": ["meat-fish", "frozen"],
    "stationery": ["stationery"],
    "electronics": ["electronics-accessories"],
    "apparel": ["apparel"],
    "general": ["staples", "snacks", "household", "stationery", "fruits"],
}
SHOP_NAMES = ["Sri Lakshmi", "Green Basket", "Annapurna", "Fresh Mart", "City Corner", "Sai Ram",
              "Daily Needs", "Om", "Balaji", "Royal", "Nature's", "Metro", "Gokul", "Krishna"]
QUALIFIERS = ["", "Organic", "Premium", "Farm Fresh", "Classic", "Homestyle"]
TAGS = ["organic", "fresh", "home-delivery", "24x7", "local", "discounts", "premium", "budget"]
ROLES = ("admin", "support", "auditor", "vendor", "customer")
# A fixed window keeps the demo deterministic; it covers any date a demo is likely to run on.
OFFER_WINDOW = {"valid_from": datetime(2025, 1, 1, tzinfo=UTC), "valid_until": datetime(2031, 1, 1, tzinfo=UTC)}
PLATFORM_OFFERS: list[dict[str, Any]] = [
    {"code": "WELCOME50", "description": "₹50 off your first order over ₹200", "discount_type": "flat",
     "value": 5000, "cap": None, "min_order": 20000, "usage_limit_total": None, "usage_limit_per_user": 1},
    {"code": "SAVE10", "description": "10% off orders over ₹300, up to ₹100", "discount_type": "percent",
     "value": 10, "cap": 10000, "min_order": 30000, "usage_limit_total": None, "usage_limit_per_user": 5},
    {"code": "BIGBASKET150", "description": "₹150 off orders over ₹1,500; first 1,000 orders",
     "discount_type": "flat", "value": 15000, "cap": None, "min_order": 150000, "usage_limit_total": 1000,
     "usage_limit_per_user": 1},
]
SHOP_OFFER_EVERY = 4  # every fourth shop runs an offer of its own


def demo_id(kind: str, key: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"eventmart:demo:{kind}:{key}")


# Kept for the README's example and the tests: a product id that exists after seed-demo.
def demo_product_id(shop_number: int, item_number: int) -> UUID:
    return demo_id("product", f"{shop_number}:{item_number}")


@dataclass(frozen=True)
class Seeded:
    categories: int  # newly added
    shops: int
    products: int
    added: int  # shops and items newly added
    users: list[str]
    offers: int = 0  # newly added


def _hours(rng: random.Random) -> dict[str, list[list[str]]]:
    opens, closes = rng.choice([("07:00", "22:00"), ("08:00", "21:00"), ("09:00", "23:00")])
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    hours = {d: [[opens, closes]] for d in days}
    if rng.random() < 0.3:
        hours["sun"] = [[opens, "13:00"]]
    return hours


def _shops(scale: int, vendor_ids: list[str]) -> Iterator[tuple[int, Shop, list[Product]]]:
    rng = random.Random(2026)
    places = [(c, s) for c, socs in CITIES.items() for s in socs]
    types = list(SHOP_TYPES)
    for n in range(48 * scale):
        city, society = places[n % len(places)]
        shop_type = types[n % len(types)]
        name = f"{SHOP_NAMES[n % len(SHOP_NAMES)]} {shop_type.replace('_', ' ').title()}"
        details = {
            "name": name if scale == 1 and n < 48 else f"{name} {n}",
            "description": f"Your neighbourhood {shop_type.replace('_', ' ')} in {society}.",
            "city": city, "society": society, "shop_type": shop_type,
            "tags": sorted(rng.sample(TAGS, 2)), "opening_hours": _hours(rng), "images": [],
        }
        check_details(details)
        shop = Shop._create(Shop.Registered, id=demo_id("shop", str(n)),
                            vendor_id=vendor_ids[n % len(vendor_ids)], details=details)
        if rng.random() < 0.8:
            shop.set_open(True)
        for _ in range(rng.randint(0, 6)):
            shop.rate(str(demo_id("rating", f"{n}:{rng.random()}")), rng.choice([3, 4, 4, 5, 5]))
        products = []
        slugs = SHOP_TYPES[shop_type]
        for i in range(40):
            slug = slugs[i % len(slugs)]
            _, _, bases, sizes = CATEGORIES[slug]
            base = bases[(i // len(slugs)) % len(bases)]
            qualifier = QUALIFIERS[(i // (len(slugs) * len(bases))) % len(QUALIFIERS)]
            item = f"{qualifier} {base}".strip()
            factor = rng.uniform(0.85, 1.25)
            variants = [{"sku": f"S{n}-I{i}-V{j}", "name": label,
                         "price": int(price * factor) // 100 * 100 + 99, "currency": "INR",
                         "stock": rng.choice([None, 0, 5, 20, 50]), "is_available": rng.random() > 0.05}
                        for j, (label, price) in enumerate(sizes)]
            products.append(Product.list_new(
                demo_product_id(n, i), shop_id=str(shop.id), name=item,
                slug=f"{item.lower().replace(' ', '-')}-{n}-{i}", category=slug,
                description=f"{item} from {details['name']}, {society}.", variants=variants,
                images=[],
            ))
        yield n, shop, products


def _save(catalog: CatalogApplication, conn: Connection, aggregates: list[Aggregate]) -> int:
    """Saves the aggregates not in the log yet (so that a re-run adds only what is missing).

    Existence is checked first: a failed save has already collected the aggregates'
    pending events, so "try, then retry one by one" would silently save nothing."""
    existing = {row[0] for row in conn.execute(
        "SELECT DISTINCT originator_id FROM catalog_events WHERE originator_id = ANY(%s)",
        ([a.id for a in aggregates],),
    )}
    new = [a for a in aggregates if a.id not in existing]
    if new:
        catalog.save(*new)
    return len(new)


def _user(conn: Connection, passwords: users.Passwords, role: str, n: int) -> str:
    email = f"{role}{n}@demo.eventmart.dev"
    found = users.find_by_email(conn, email)
    if found:
        return str(found[0].id)
    from runtime import utcnow

    user = users.create_user(conn, role=role, email=email, password_hash=passwords.hash(DEMO_PASSWORD),
                             now=utcnow())
    if role == "customer":
        city = list(CITIES)[n % len(CITIES)]
        users.update_user(conn, user.id, now=utcnow(), name=f"Demo Customer {n}", city=city,
                          society=CITIES[city][0], basic_onboarding_done=True)
    return str(user.id)


def _offers(shops: list[Shop]) -> Iterator[dict[str, Any]]:
    for terms in PLATFORM_OFFERS:
        yield {**terms, **OFFER_WINDOW, "shop_id": None, "created_by": None}
    for n, shop in enumerate(shops):
        if n % SHOP_OFFER_EVERY == 0:
            percent = 5 + 5 * (n // SHOP_OFFER_EVERY % 3)
            yield {"code": f"SHOP{n}-{percent}", "description": f"{percent}% off at {shop.details['name']}",
                   "discount_type": "percent", "value": percent, "cap": 7500, "min_order": 25000,
                   "usage_limit_total": None, "usage_limit_per_user": 3, **OFFER_WINDOW,
                   "shop_id": str(shop.id), "created_by": shop.vendor_id}


def _seed_offers(commerce: CommerceApplication, shops: list[Shop], admin_id: str) -> int:
    new = []
    for offer in _offers(shops):
        created_by = offer.pop("created_by") or admin_id
        if coupon_id(offer["code"]) not in commerce.repository:
            new.append(Coupon.create(offer, created_by=created_by))
    if new:
        commerce.save(*new)
    return len(new)


def seed_demo(catalog: CatalogApplication, conn: Connection, passwords: users.Passwords,
              *, scale: int = 1, commerce: CommerceApplication | None = None) -> Seeded:
    """Without ``commerce`` no offers are made (the catalog benchmark needs none)."""
    emails = []
    vendor_ids = []
    shops: list[Shop] = []
    for role in ROLES:
        for n in range(1, (6 if role in ("vendor", "customer") else 2)):
            user_id = _user(conn, passwords, role, n)
            emails.append(f"{role}{n}@demo.eventmart.dev")
            if role == "vendor":
                vendor_ids.append(user_id)
    categories = [Category(slug=slug, name=name, description="", featured=featured)
                  for slug, (name, featured, _, _) in CATEGORIES.items()]
    made_categories = _save(catalog, conn, list(categories))
    added = 0
    batch: list[Aggregate] = []
    for _, shop, items in _shops(scale, vendor_ids):
        shops.append(shop)
        batch += [shop, *items]
        if len(batch) >= 400:
            added += _save(catalog, conn, batch)
            batch = []
    if batch:
        added += _save(catalog, conn, batch)
    offers = 0
    if commerce is not None:
        admin = users.find_by_email(conn, "admin1@demo.eventmart.dev")
        assert admin is not None
        offers = _seed_offers(commerce, shops, str(admin[0].id))
    log.info("seeded %s categories, %s shops and items, %s offers", made_categories, added, offers)
    total_shops = 48 * scale
    return Seeded(made_categories, total_shops, 40 * total_shops, added, emails, offers)
