"""Issue 11: Prometheus metrics at /metrics."""

from __future__ import annotations

import re
import uuid


def value(text: str, name: str, **labels: str) -> float:
    """The sample `name{labels}` in Prometheus text format (labels matched as a subset)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels}")


def test_metrics_count_requests_by_route_template_and_report_workers(anonymous, new_client) -> None:  # type: ignore[no-untyped-def]
    before = anonymous.get("/metrics").text
    for _ in range(3):
        assert anonymous.get(f"/v1/products/{uuid.uuid4()}/").status_code == 404
    r = anonymous.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    labels = {"method": "GET", "route": "/v1/products/{product_id}/", "status": "404"}
    old = value(before, "eventmart_http_requests_total", **labels) if "product_id}/\",status=\"404" in before else 0
    assert value(text, "eventmart_http_requests_total", **labels) == old + 3
    assert value(text, "eventmart_http_request_seconds_count", method="GET", route="/v1/products/{product_id}/") >= 3
    assert value(text, "eventmart_http_requests_in_flight") >= 1  # this scrape
    assert value(text, "eventmart_db_pool_size") >= 1
    assert value(text, "eventmart_db_up") == 1
    assert value(text, "eventmart_events_appended_total", application="catalog") >= 0
    assert value(text, "eventmart_follower_lag", follower="cart_view", application="commerce") >= 0
    assert value(text, "eventmart_follower_poisoned", follower="order_history", application="commerce") == 0
    assert "eventmart_idempotency_replays_total" in text
    assert value(text, "eventmart_stale_appends_total", application="commerce") >= 0
    assert value(text, "eventmart_aggregate_lookups_total") >= 0


def test_a_replayed_keyed_request_is_counted(new_client) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    count = lambda: value(client.get("/metrics").text, "eventmart_idempotency_replays_total")  # noqa: E731
    before = count()
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.post("/api/v1/consumer/wallet/load", json={"amount": 1000}, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post("/api/v1/consumer/wallet/load", json={"amount": 1000}, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert count() == before + 1
