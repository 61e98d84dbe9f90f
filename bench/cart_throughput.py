"""Measures cart command throughput and cart_view projection throughput on real PostgreSQL.

    .venv/bin/python bench/cart_throughput.py [--carts 300] [--threads 4]

Uses DATABASE_URL when set, else a throwaway embedded server. Prints figures; asserts nothing.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import test_server_runtime  # noqa: E402
from bench.options import counts  # noqa: E402
from projections import cart_view  # noqa: E402
from workers.projection import rebuild  # noqa: E402


def main() -> None:
    args = counts(carts=300, threads=4)
    with test_server_runtime() as (rt, url):
        product_id = uuid.uuid4()
        rt.catalog.list_product(product_id=product_id, name="Bench", slug="bench", category="x",
                                variants=[{"sku": "B", "name": "B", "price": 100, "currency": "INR"}])
        owners = [uuid.uuid4() for _ in range(args.carts)]

        def work(chunk: list[uuid.UUID]) -> None:
            for owner in chunk:
                cart = rt.commerce.open_cart(owner).value
                for _ in range(3):
                    rt.commerce.add_cart_item(owner_id=owner, cart_id=cart.id,
                                              product_id=product_id, sku="B", qty=1)

        started = time.perf_counter()
        threads = [threading.Thread(target=work, args=(owners[i :: args.threads],))
                   for i in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        commands = args.carts * 4
        print(f"commands: {commands} in {elapsed:.2f}s = {commands / elapsed:.0f}/s "
              f"({args.threads} threads, one event per command)")

        started = time.perf_counter()
        events = rebuild(rt, cart_view.READ_MODEL)
        elapsed = time.perf_counter() - started
        print(f"cart_view rebuild: {events} events in {elapsed:.2f}s = {events / elapsed:.0f}/s")
        rt.close()


if __name__ == "__main__":
    main()
