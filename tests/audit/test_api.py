"""GET /v1/audit/seals and GET /v1/audit/reconcile, on the suite's runtime with its live workers."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from fastapi.testclient import TestClient

from runtime import Runtime
from tests.support.audit_seals import seal, wallets
from tests.support.db import scalar
from tests.support.waiting import eventually


def test_the_live_seal_follower_keeps_up_with_the_log(runtime: Runtime) -> None:
    wallets(runtime, 2)
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        head = scalar(conn, "SELECT max(notification_id) FROM commerce_events")

        def reached() -> bool:
            return bool(scalar(conn, "SELECT position FROM follower_positions WHERE follower='audit_seal' "
                                     "AND application='commerce'") >= head)

        eventually(reached)
        chained = scalar(conn, "SELECT position FROM audit_chain_heads WHERE application='commerce'")
    assert chained >= head


def test_auditors_page_through_the_seals(runtime: Runtime, staff_client: Callable[[str], TestClient]) -> None:
    wallets(runtime, 3)
    seal(runtime)  # beside the live follower: they take turns on the position's row lock
    # The last seal, not the follower's position: the live follower may chain later events
    # (the suite's workers append) without sealing them yet.
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        head = scalar(conn, "SELECT max(position) FROM audit_seals WHERE application='commerce'")
    auditor = staff_client("auditor")
    first = auditor.get("/v1/audit/seals", params={"application": "commerce", "limit": 1})
    assert first.status_code == 200, first.text
    body = first.json()
    assert len(body["results"]) == 1 and body["results"][0]["seq"] == 1
    assert body["results"][0]["from_position"] == 0 and body["results"][0]["digests"] is None
    seals, after = [], 0
    while after is not None:
        page = auditor.get("/v1/audit/seals", params={"after": after, "limit": 50, "digests": True}).json()
        seals += page["results"]
        after = page["next_after"]
    assert [s["seq"] for s in seals] == list(range(1, len(seals) + 1))
    assert seals[-1]["position"] >= head and all(len(s["chain_hash"]) == 64 for s in seals)
    assert all(b["from_position"] == a["position"] for a, b in zip(seals, seals[1:], strict=False))


def test_only_auditors_and_admins_see_seals_and_reconciliation(
        staff_client: Callable[[str], TestClient], new_client: Callable[..., TestClient],
        anonymous: TestClient) -> None:
    for path in ("/v1/audit/seals", "/v1/audit/reconcile"):
        assert anonymous.get(path).status_code == 401
        assert new_client("customer").get(path).status_code == 403
        assert staff_client("support").get(path).status_code == 403
        assert staff_client("admin").get(path).status_code == 200
    report = staff_client("auditor").get("/v1/audit/reconcile").json()
    assert set(report) == {"ok", "positions", "events", "drifts", "unreadable", "totals"}
    assert set(report["totals"]) == {"wallets", "rewards", "orders"}
    assert set(report["positions"]) == {"wallet_balance", "rewards", "order_history"}
    bad = staff_client("auditor").get("/v1/audit/seals", params={"application": "identity"})
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
