"""The auditors' log reads (projections/event_log.py) against the raw scan+decode rate of the
same log, in one run (ratios: these machines are noisy).

    .venv/bin/python -m bench.audit_log [--events 100000]

Makes its own throwaway embedded PostgreSQL and a commerce log (bench.audit_speed's fill),
then measures: paging the whole log; a page of a rare type with and without the
(topic, position) index; locating a time window by bisection against scanning to it; and
EXPLAINs the type-filter query.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

import psycopg
from eventsourcing.utils import get_topic

from bench.audit_speed import fill
from bench.common import embedded_runtime
from domain.commerce.cart import Cart
from domain.commerce.wallet import Wallet
from projections import event_log
from workers.log_follower import read_log


def timed(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    with embedded_runtime() as (rt, url):
        started = time.perf_counter()
        n = fill(url, rt.commerce.mapper, args.events)
        print(f"log: {n} commerce events in {time.perf_counter() - started:.1f}s")
        app = rt.commerce
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE commerce_events")

            def follower_scan() -> None:
                after = 0
                while batch := read_log(conn, app, after, 1000):
                    after = batch[-1].notification.id

            def audit_pages() -> None:
                after: int | None = 0
                while after is not None:
                    after = event_log.read_log(conn, app, after=after, limit=1000).next_after

            base = n / timed(follower_scan, 2)
            pages = n / timed(audit_pages, 2)
            print(f"{'scan+decode (follower)':>34}: {base:>9,.0f} events/s")
            print(f"{'audit log pages of 1000':>34}: {pages:>9,.0f} events/s ({pages / base:.2f})")

            opened = [get_topic(Wallet.Opened)]  # about 1 event in 34
            never = [get_topic(Cart.Cleared)]  # not in this log: the worst case, no match
            head = event_log.head(conn, app.name)

            def rare_page() -> None:
                event_log.read_log(conn, app, after=head // 2, limit=100, topics=opened)

            def absent_page() -> None:
                event_log.read_log(conn, app, after=head // 2, limit=100, topics=never)

            with_index, absent_with = timed(rare_page), timed(absent_page)
            plan = "\n".join(r[0] for r in conn.execute(
                "EXPLAIN SELECT notification_id FROM commerce_events WHERE topic = %s "
                "AND notification_id > %s ORDER BY notification_id LIMIT 100",
                (opened[0], head // 2)).fetchall())
            conn.execute("DROP INDEX commerce_events_topic_position")
            without, absent_without = timed(rare_page), timed(absent_page)
            conn.execute("CREATE INDEX commerce_events_topic_position ON commerce_events "
                         "(topic, notification_id)")
            print(f"{'1-in-34 type page, index':>34}: {with_index * 1000:>9.1f} ms")
            print(f"{'1-in-34 type page, no index':>34}: {without * 1000:>9.1f} ms "
                  f"({without / with_index:.0f}x slower)")
            print(f"{'absent type from mid-log, index':>34}: {absent_with * 1000:>9.1f} ms")
            print(f"{'absent type from mid-log, no index':>34}: {absent_without * 1000:>9.1f} ms "
                  f"({absent_without / absent_with:.0f}x slower)")
            print("plan with the index:\n  " + plan.replace("\n", "\n  "))

            middle = event_log.read_log(conn, app, after=head // 2, limit=1).entries[0]
            assert middle.timestamp is not None
            since = middle.timestamp + timedelta(microseconds=1)

            def bisect() -> None:
                event_log.read_log(conn, app, since=since, limit=100)

            def scan_to_time() -> None:
                after = 0
                while batch := read_log(conn, app, after, 1000):
                    if batch[-1].event.timestamp >= since:
                        return
                    after = batch[-1].notification.id

            b, s = timed(bisect), timed(scan_to_time, 2)
            print(f"{'first page since mid-log, bisect':>34}: {b * 1000:>9.1f} ms")
            print(f"{'scan+decode to mid-log':>34}: {s * 1000:>9.1f} ms ({s / b:.0f}x slower)")
        rt.close()


if __name__ == "__main__":
    main()
