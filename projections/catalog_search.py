"""Catalog read model: categories, shops and products as browsing and search read them.

Whole life here: tables, pure `evolve_*` functions, `apply` (their SQL), and the queries
behind GET /v1/categories/, /v1/products/, /api/v1/consumer/shops... and the wishlist view.
Search is PostgreSQL full text (tsvector + GIN) with prefix matching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.rows import dict_row

from domain.catalog.category import Category
from domain.catalog.product import Product, Variant
from domain.catalog.shop import Shop
from projections import stock_levels
from projections.batch import Derived, Table, evolve_all
from projections.paging import Page, Row, page_of, where
from projections.read_model import ReadModel

CREATE_SQL = """
CREATE TABLE IF NOT EXISTS catalog_categories (
    slug text PRIMARY KEY,
    name text NOT NULL,
    description text NOT NULL,
    featured boolean NOT NULL,
    removed boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS catalog_shops (
    shop_id uuid PRIMARY KEY,
    vendor_id uuid NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    city text NOT NULL,
    society text NOT NULL,
    shop_type text NOT NULL,
    tags text[] NOT NULL,
    opening_hours jsonb NOT NULL,
    images jsonb NOT NULL,
    is_open boolean NOT NULL,
    rating_sum bigint NOT NULL,
    rating_count integer NOT NULL,
    rating numeric(3, 2),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    search tsvector NOT NULL
);
CREATE INDEX IF NOT EXISTS catalog_shops_city ON catalog_shops (lower(city), lower(society));
CREATE INDEX IF NOT EXISTS catalog_shops_vendor ON catalog_shops (vendor_id);
CREATE INDEX IF NOT EXISTS catalog_shops_search ON catalog_shops USING gin (search);
CREATE TABLE IF NOT EXISTS catalog_products (
    product_id uuid PRIMARY KEY,
    shop_id uuid,
    category text NOT NULL,
    name text NOT NULL,
    slug text NOT NULL,
    description text NOT NULL,
    variants jsonb NOT NULL,
    images jsonb NOT NULL,
    currency text NOT NULL,
    min_price bigint NOT NULL,
    max_price bigint NOT NULL,
    available boolean NOT NULL,
    delisted boolean NOT NULL,
    shop_rating numeric(3, 2),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    search tsvector NOT NULL
);
CREATE INDEX IF NOT EXISTS catalog_products_search ON catalog_products USING gin (search);
CREATE INDEX IF NOT EXISTS catalog_products_category ON catalog_products (category, created_at);
CREATE INDEX IF NOT EXISTS catalog_products_shop ON catalog_products (shop_id);
CREATE INDEX IF NOT EXISTS catalog_products_price ON catalog_products (min_price);
-- A category by price (the storefront's usual sort): the page's 20 rows and the bounded count
-- straight from this index, listed products only; was a sort of every product of the category.
CREATE INDEX IF NOT EXISTS catalog_products_category_price ON catalog_products (category, min_price, product_id)
    WHERE NOT delisted;
CREATE INDEX IF NOT EXISTS catalog_products_newest_first ON catalog_products (created_at DESC, product_id);
"""
DROP_SQL = "DROP TABLE IF EXISTS catalog_categories, catalog_shops, catalog_products"



# Pure evolution of rows.

def evolve_category(row: Row | None, event: Category.Event) -> Row | None:
    if isinstance(event, Category.Created):
        return {"slug": event.slug, "name": event.name, "description": event.description,
                "featured": event.featured, "removed": False,
                "created_at": event.timestamp, "updated_at": event.timestamp}
    if row is None:
        return None
    row = {**row, "updated_at": event.timestamp}
    if isinstance(event, Category.Updated):
        row.update(name=event.name, description=event.description, featured=event.featured)
    elif isinstance(event, Category.Removed):
        row["removed"] = True
    return row


def _shop_details(row: Row, details: Mapping[str, Any]) -> Row:
    row.update(
        name=details["name"], description=details.get("description", ""),
        city=details["city"], society=details["society"], shop_type=details["shop_type"],
        tags=list(details.get("tags", [])), opening_hours=details.get("opening_hours", {}),
        images=list(details.get("images", [])),
    )
    return row


def evolve_shop(row: Row | None, event: Shop.Event) -> Row | None:
    if isinstance(event, Shop.Registered):
        return _shop_details(
            {"shop_id": event.originator_id, "vendor_id": UUID(event.vendor_id), "is_open": False,
             "rating_sum": 0, "rating_count": 0, "rating": None,
             "created_at": event.timestamp, "updated_at": event.timestamp},
            event.details,
        )
    if row is None:
        return None
    row = {**row, "updated_at": event.timestamp}
    if isinstance(event, Shop.DetailsChanged):
        _shop_details(row, event.details)
    elif isinstance(event, Shop.StatusChanged):
        row["is_open"] = event.is_open
    elif isinstance(event, Shop.Rated):
        row["rating_sum"] += event.rating
        row["rating_count"] += 1
        row["rating"] = round(row["rating_sum"] / row["rating_count"], 2)
    return row


def _variant_view(v: Mapping[str, Any]) -> dict[str, Any]:
    sellable = Variant(sku=v["sku"], price=v["price"], currency=v["currency"], name=v["name"],
                       stock=v.get("stock"), is_available=v.get("is_available", True)).sellable
    return {"sku": v["sku"], "name": v.get("name", v["sku"]), "price": v["price"],
            "currency": v["currency"], "stock": v.get("stock"),
            "is_available": v.get("is_available", True), "in_stock": sellable}


def _with_prices(row: Row) -> Row:
    variants = row["variants"]
    prices = [v["price"] for v in variants]
    row["min_price"], row["max_price"] = min(prices), max(prices)
    row["currency"] = variants[0]["currency"]
    row["available"] = any(v["in_stock"] for v in variants)
    return row


def evolve_product(row: Row | None, event: Product.Event) -> Row | None:
    if isinstance(event, Product.Listed):
        return _with_prices({
            "product_id": event.originator_id,
            "shop_id": UUID(event.shop_id) if event.shop_id else None,
            "category": event.category, "name": event.name, "slug": event.slug,
            "description": event.description,
            "variants": [_variant_view(v) for v in event.variants],
            "images": list(event.images), "delisted": False, "shop_rating": None,
            "created_at": event.timestamp, "updated_at": event.timestamp,
        })
    if row is None:
        return None
    row = {**row, "updated_at": event.timestamp, "variants": [dict(v) for v in row["variants"]]}
    if isinstance(event, Product.PriceChanged):
        for v in row["variants"]:
            if v["sku"] == event.sku:
                v["price"] = event.price
    elif isinstance(event, Product.VariantAdded):
        row["variants"].append(_variant_view(event.variant))
    elif isinstance(event, Product.VariantChanged):
        row["variants"] = [_variant_view({**v, **event.changes}) if v["sku"] == event.sku else v
                           for v in row["variants"]]
    elif isinstance(event, Product.DetailsChanged):
        row.update(event.changes)
    elif isinstance(event, Product.Delisted):
        row["delisted"] = True
    return _with_prices(row)


# SQL around the pure functions: a whole batch at once (projections/batch.py).

# Weight A: the name; weight B: the words around it (category, description, tags, place).
SEARCH = Derived("search", "setweight(to_tsvector('simple', {}), 'A') || "
                           "setweight(to_tsvector('simple', {}), 'B')", ("search_a", "search_b"))
CATEGORIES = Table("catalog_categories", "slug",
                   ("slug", "name", "description", "featured", "removed", "created_at", "updated_at"))
# Category ids are uuid5 of the slug; the row is keyed by slug, which the Created event
# carries. Later events name only the id, so keep a small map from id to slug.
CATEGORY_IDS = Table("catalog_category_ids", "category_id", ("category_id", "slug"))
SHOPS = Table("catalog_shops", "shop_id",
              ("shop_id", "vendor_id", "name", "description", "city", "society", "shop_type", "tags",
               "opening_hours", "images", "is_open", "rating_sum", "rating_count", "rating",
               "created_at", "updated_at"), json=frozenset({"opening_hours", "images"}), derived=(SEARCH,))
PRODUCTS = Table("catalog_products", "product_id",
                 ("product_id", "shop_id", "category", "name", "slug", "description", "variants", "images",
                  "currency", "min_price", "max_price", "available", "delisted", "shop_rating",
                  "created_at", "updated_at"), json=frozenset({"variants", "images"}), derived=(SEARCH,))


def _searchable_shop(row: Row) -> Row:
    words = " ".join([row["shop_type"], *row["tags"], row["society"], row["city"]])
    return {**row, "search_a": row["name"], "search_b": f"{words} {row['description']}"}


def _searchable_product(row: Row) -> Row:
    return {**row, "search_a": row["name"], "search_b": f"{row['category']} {row['description']}"}


def apply_batch(conn: Connection, events: Sequence[Any]) -> None:
    """Categories, then shops (whose ratings their products copy), then products: each table
    is read once and written once per batch."""
    _categories(conn, [e for e in events if isinstance(e, Category.Event)])
    _shops(conn, [e for e in events if isinstance(e, Shop.Event)])
    _products(conn, [e for e in events if isinstance(e, Product.Event)])



def _categories(conn: Connection, events: list[Category.Event]) -> None:
    if not events:
        return
    created = {e.originator_id: e.slug for e in events if isinstance(e, Category.Created)}
    CATEGORY_IDS.insert_new(conn, [{"category_id": k, "slug": v} for k, v in created.items()])
    slugs = {**created, **{k: r["slug"] for k, r in CATEGORY_IDS.load(
        conn, (e.originator_id for e in events if e.originator_id not in created)).items()}}
    known = [e for e in events if e.originator_id in slugs]
    rows = CATEGORIES.load(conn, (slugs[e.originator_id] for e in known))
    last = evolve_all(rows, known, evolve_category, key_of=lambda e: slugs[e.originator_id])
    CATEGORIES.upsert(conn, [rows[k] for k in last])


def _shops(conn: Connection, events: list[Shop.Event]) -> None:
    if not events:
        return
    old = SHOPS.load(conn, (e.originator_id for e in events))
    rows = dict(old)
    last = evolve_all(rows, events, evolve_shop)
    SHOPS.upsert(conn, [_searchable_shop(rows[k]) for k in last])
    rated = [(rows[k]["rating"], k) for k in last if k not in old or old[k]["rating"] != rows[k]["rating"]]
    if rated:
        with conn.cursor() as cur:
            cur.executemany("UPDATE catalog_products SET shop_rating = %s WHERE shop_id = %s", rated)


def _products(conn: Connection, events: list[Product.Event]) -> None:
    if not events:
        return
    old = PRODUCTS.load(conn, (e.originator_id for e in events))
    rows = dict(old)
    last = evolve_all(rows, events, evolve_product)
    if not last:
        return
    levels = stock_levels.levels_by_product(conn, list(last))
    new_shops = {rows[k]["shop_id"] for k in last if k not in old and rows[k]["shop_id"] is not None}
    ratings = shop_ratings(conn, new_shops)
    for k in last:
        row = rows[k]
        row["variants"] = stock_levels.overlay(row["variants"], levels.get(k, {}))
        _with_prices(row)
        if k not in old and row["shop_id"] is not None:
            row["shop_rating"] = ratings.get(row["shop_id"])
    PRODUCTS.upsert(conn, [_searchable_product(rows[k]) for k in last])


def shop_ratings(conn: Connection, shop_ids: Iterable[UUID]) -> dict[UUID, Any]:
    ids = list(shop_ids)
    if not ids:
        return {}
    return dict(conn.execute("SELECT shop_id, rating FROM catalog_shops WHERE shop_id = ANY(%s)",
                             (ids,)).fetchall())


_CATEGORY_SLUG_SQL = """
CREATE TABLE IF NOT EXISTS catalog_category_ids (category_id uuid PRIMARY KEY, slug text NOT NULL)
"""


# Queries.

PAGE_SIZE_MAX = 100
ORDERINGS = {
    "price": "min_price ASC, product_id",
    "-price": "min_price DESC, product_id",
    "rating": "shop_rating DESC NULLS LAST, product_id",
    "newest": "created_at DESC, product_id",
}


def tsquery(text: str) -> str | None:
    """Prefix match on every word: 'bas ric' finds 'Basmati Rice'."""
    words = re.findall(r"\w+", text.lower())[:8]
    return " & ".join(f"{w}:*" for w in words) or None


def list_categories(conn: Connection, *, featured: bool | None, page: int, size: int) -> Page:
    query = "FROM catalog_categories WHERE NOT removed"
    params: list[Any] = []
    if featured is not None:
        query += " AND featured = %s"
        params.append(featured)
    return page_of(conn, "slug, name, description, featured", query, params,
                 "featured DESC, name, slug", page, size)


def find_category(conn: Connection, slug: str) -> Row | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT c.slug, c.name, c.description, c.featured, "
            "(SELECT count(*) FROM catalog_products p WHERE p.category = c.slug AND NOT p.delisted) "
            "AS product_count FROM catalog_categories c WHERE slug = %s AND NOT removed",
            (slug,),
        ).fetchone()


PRODUCT_COLUMNS = ("product_id, shop_id, category, name, slug, description, variants, images, "
                   "currency, min_price, max_price, available, shop_rating, created_at, updated_at")


@dataclass(frozen=True)
class ProductFilters:
    category: str | None = None
    q: str | None = None
    shop: UUID | None = None
    min_price: int | None = None
    max_price: int | None = None
    available: bool | None = None
    ordering: str | None = None


def search_products(conn: Connection, f: ProductFilters, *, page: int, size: int) -> Page:
    tsq = tsquery(f.q) if f.q else None
    clause, params = where(
        ("category = %s", f.category or None), ("shop_id = %s", f.shop or None),
        ("max_price >= %s", f.min_price), ("min_price <= %s", f.max_price),
        ("available = %s", f.available), ("search @@ to_tsquery('simple', %s)", tsq or None),
        always="NOT delisted")
    order = ORDERINGS[f.ordering or "newest"]
    rank = ""
    select_params: tuple[Any, ...] = ()
    if tsq and not f.ordering:
        rank, select_params = ", ts_rank(search, to_tsquery('simple', %s)) AS rank", (tsq,)
        order = "rank DESC, product_id"
    return page_with_bounded_count(conn, PRODUCT_COLUMNS + rank, f"FROM catalog_products {clause}",
                                   params, order, page, size, select_params)


# Counted exactly up to here; past it the planner's estimate. Counting every match of a broad
# listing (all 100k products newest first, a wide price range) cost 40-50 ms, most of such a
# request, for a figure no shopper reads exactly; counting at most 10,001 costs a few ms.
COUNT_EXACT_UP_TO = 10_000


def page_with_bounded_count(
    conn: Connection, select: str, from_where: str, params: list[Any], order: str, page: int,
    size: int, select_params: tuple[Any, ...] = (),
) -> Page:
    """One page and how many match: exact up to COUNT_EXACT_UP_TO, else an estimate (`exact`
    False), at least the bound, from the planner's statistics."""
    with conn.cursor(row_factory=dict_row) as cur:
        counted = cur.execute(
            f"SELECT count(*) AS n FROM (SELECT 1 {from_where} LIMIT %s) AS bounded",
            [*params, COUNT_EXACT_UP_TO + 1]).fetchone()
        count = int(counted["n"]) if counted else 0
        exact = count <= COUNT_EXACT_UP_TO
        if not exact:
            plan = cur.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 {from_where}", params).fetchone()
            estimate = int(plan["QUERY PLAN"][0]["Plan"]["Plan Rows"]) if plan else 0
            count = max(count, estimate)
        rows = cur.execute(f"SELECT {select} {from_where} ORDER BY {order} LIMIT %s OFFSET %s",
                           [*select_params, *params, size, (page - 1) * size]).fetchall()
    return Page(count, rows, exact)


def find_product(conn: Connection, product_id: UUID) -> Row | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {PRODUCT_COLUMNS} FROM catalog_products WHERE product_id = %s AND NOT delisted",
            (product_id,),
        ).fetchone()


SHOP_COLUMNS = ("shop_id, vendor_id, name, description, city, society, shop_type, tags, "
                "opening_hours, images, is_open, rating, rating_count, created_at, updated_at")


@dataclass(frozen=True)
class ShopFilters:
    city: str | None = None
    society: str | None = None
    prefer_society: str | None = None
    status: str | None = None  # open | closed
    shop_type: str | None = None
    tags: tuple[str, ...] = ()
    q: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    min_rating: float | None = None
    available: bool | None = None
    vendor: UUID | None = None


def search_shops(conn: Connection, f: ShopFilters, *, page: int, size: int) -> Page:
    # Shops that sell something in the price range, or anything available.
    items, item_params = where(("p.max_price >= %s", f.min_price), ("p.min_price <= %s", f.max_price),
                               ("p.available = %s", True if f.available else None),
                               always="p.shop_id = s.shop_id AND NOT p.delisted")
    tsq = tsquery(f.q) if f.q else None
    clause, params = where(
        ("lower(city) = lower(%s)", f.city or None), ("lower(society) = lower(%s)", f.society or None),
        ("vendor_id = %s", f.vendor or None),
        ("is_open = %s", (f.status == "open") if f.status else None),
        ("shop_type = %s", f.shop_type or None), ("tags @> %s", list(f.tags) or None),
        ("rating >= %s", f.min_rating))
    if item_params:
        clause += f" AND EXISTS (SELECT 1 FROM catalog_products p {items})"
        params.extend(item_params)
    if tsq:
        clause += (" AND (s.search @@ to_tsquery('simple', %s) OR EXISTS (SELECT 1 FROM catalog_products p "
                   "WHERE p.shop_id = s.shop_id AND NOT p.delisted AND p.search @@ to_tsquery('simple', %s)))")
        params.extend([tsq, tsq])
    order = "is_open DESC, rating DESC NULLS LAST, name, shop_id"
    prefix = ""
    select_params: tuple[Any, ...] = ()
    if f.prefer_society:
        prefix = "(lower(society) = lower(%s)) AS nearby, "
        select_params = (f.prefer_society,)
        order = "nearby DESC, " + order
    return page_of(conn, prefix + SHOP_COLUMNS, f"FROM catalog_shops s {clause}",
                   params, order, page, size, select_params)


def find_shop(conn: Connection, shop_id: UUID) -> Row | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {SHOP_COLUMNS} FROM catalog_shops WHERE shop_id = %s",
                           (shop_id,)).fetchone()


def vendor_of(conn: Connection, shop_id: UUID | str | None) -> UUID | None:
    """Whose shop this is (None: no such shop)."""
    row = conn.execute("SELECT vendor_id FROM catalog_shops WHERE shop_id = %s",
                       (shop_id,)).fetchone() if shop_id else None
    return row[0] if row else None


def shops_of(conn: Connection, vendor_id: UUID) -> list[UUID]:
    return [r[0] for r in conn.execute("SELECT shop_id FROM catalog_shops WHERE vendor_id = %s",
                                       (vendor_id,)).fetchall()]


def shop_names(conn: Connection, shop_ids: Iterable[UUID | str | None]) -> dict[UUID, str]:
    """The shops' current names, for read models that show them (renames show at once)."""
    ids = list({UUID(str(s)) for s in shop_ids if s})
    if not ids:
        return {}
    return dict(conn.execute("SELECT shop_id, name FROM catalog_shops WHERE shop_id = ANY(%s)",
                             (ids,)).fetchall())


def products_by_id(conn: Connection, ids: list[UUID]) -> dict[UUID, Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"SELECT {PRODUCT_COLUMNS}, delisted FROM catalog_products WHERE product_id = ANY(%s)",
            (ids,),
        ).fetchall()
    return {r["product_id"]: r for r in rows}


READ_MODEL = ReadModel(
    name="catalog_search", application="catalog",
    create_sql=CREATE_SQL + ";" + _CATEGORY_SLUG_SQL,
    drop_sql=DROP_SQL + ", catalog_category_ids",
    apply_batch=apply_batch,
    batch_lock=stock_levels.BATCH_LOCK,
    reads=(Category.Event, Shop.Event, Product.Event),
    version=2,  # 2: the (category, min_price) index
)
