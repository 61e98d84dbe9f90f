from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from typing import Any

from fastapi.testclient import TestClient

from domain.commerce.wallet import Wallet, wallet_id_for
from domain.payments.allowance import LoadAllowance
from projections import tracking
from tests.support.clock import Clock
from tests.support.commerce import balance, delivered_order, fund, webhook
from tests.support.problems import assert_problem
from tests.support.waiting import eventually


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def wallet(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/api/v1/consumer/wallet").json())


def test_a_new_wallet_is_empty(new_client) -> None:  # type: ignore[no-untyped-def]
    assert wallet(new_client()) == {"balance": 0, "currency": "INR", "updated_at": None}


def test_load_through_the_provider(new_client, runtime, anonymous) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    assert_problem(client.post("/api/v1/consumer/wallet/load", json={"amount": 50000}), 400)
    assert_problem(client.post("/api/v1/consumer/wallet/load", json={"amount": 0}, headers=key()), 400)
    assert_problem(client.post("/api/v1/consumer/wallet/load", json={"amount": 10.5}, headers=key()), 400)
    over = client.post("/api/v1/consumer/wallet/load", json={"amount": 1_000_001}, headers=key())
    assert_problem(over, 400)
    headers = key()
    r = client.post("/api/v1/consumer/wallet/load", json={"amount": 50000}, headers=headers)
    assert r.status_code == 201, r.text
    load = r.json()
    assert load["status"] == "pending" and load["credited"] is False
    again = client.post("/api/v1/consumer/wallet/load", json={"amount": 50000}, headers=headers)
    assert again.json()["payment_id"] == load["payment_id"], "a retried load is the same payment"
    assert wallet(client)["balance"] == 0, "nothing is credited before the payment succeeds"

    client.post(f"/v1/payments/sandbox/{load['payment_id']}/pay", follow_redirects=False)
    eventually(lambda: wallet(client)["balance"] == 50000)
    # The provider telling us twice credits once.
    webhook(anonymous, runtime, load["payment_id"])
    # The credit is the payment policy's write, not the customer's: the history projection
    # (another follower than the balance's) shows it eventually, with no read-your-writes wait.
    eventually(lambda: client.get("/api/v1/consumer/wallet/history").json()["count"] >= 1)
    history = client.get("/api/v1/consumer/wallet/history").json()
    assert [(h["type"], h["amount"], h["balance_after"]) for h in history["results"]] == [("load", 50000, 50000)]
    assert history["results"][0]["reference"] == load["payment_id"]


def test_daily_load_limit(new_client, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runtime.settings, "wallet_daily_load_limit", 100_000)
    client = new_client()
    assert client.post("/api/v1/consumer/wallet/load", json={"amount": 60000}, headers=key()).status_code == 201
    body = assert_problem(client.post("/api/v1/consumer/wallet/load", json={"amount": 50000}, headers=key()), 400)
    assert "per day" in body["detail"]
    assert client.post("/api/v1/consumer/wallet/load", json={"amount": 40000}, headers=key()).status_code == 201


def test_debit(new_client, runtime) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    fund(runtime, client, 10_000)
    assert_problem(client.post("/api/v1/consumer/wallet/debit", json={"amount": 100, "reference": "x"}), 400)
    poor = client.post("/api/v1/consumer/wallet/debit", json={"amount": 10_001, "reference": "x"}, headers=key())
    assert assert_problem(poor, 400)["title"] == "Insufficient funds"
    assert balance(runtime, client) == 10_000
    headers = key()
    r = client.post("/api/v1/consumer/wallet/debit", json={"amount": 2500, "reference": "tip"}, headers=headers)
    assert r.status_code == 200 and r.json()["balance"] == 7500
    replay = client.post("/api/v1/consumer/wallet/debit", json={"amount": 2500, "reference": "tip"}, headers=headers)
    assert replay.json() == r.json() and replay.headers["idempotent-replayed"] == "true"
    assert balance(runtime, client) == 7500, "a replayed key never moves money twice"
    assert wallet(client)["balance"] == 7500
    lines = client.get("/api/v1/consumer/wallet/history").json()["results"]
    assert [(x["type"], x["amount"]) for x in lines] == [("debit", 2500), ("adjustment", 10_000)]


def test_200_concurrent_debits_of_10_against_1000(new_client, runtime) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    fund(runtime, client, 1000)
    owner = uuid.UUID(client.user["id"])  # type: ignore[attr-defined]

    def debit(n: int) -> int:
        r = client.post("/api/v1/consumer/wallet/debit", json={"amount": 10, "reference": f"burst-{n}"},
                        headers=key())
        return r.status_code

    with ThreadPoolExecutor(max_workers=24) as pool:
        codes = list(pool.map(debit, range(200)))
    assert codes.count(200) == 100 and codes.count(400) == 100, sorted(set(codes))
    assert balance(runtime, client) == 0
    events = list(runtime.commerce.events.get(wallet_id_for(owner)))
    debits = [e for e in events if isinstance(e, Wallet.Debited)]
    assert len(debits) == 100 and all(e.balance_after >= 0 for e in events if hasattr(e, "balance_after"))
    eventually(lambda: wallet(client)["balance"] == 0)


def test_refunds_only_what_is_refundable(new_client, shop, staff_client, runtime) -> None:  # type: ignore[no-untyped-def]
    client, support = new_client(), staff_client("support")
    # A wallet order cancelled: refunded at once, so nothing is left to refund.
    fund(runtime, client, 100_000)
    client.post("/api/v1/consumer/cart/add", json={"item_id": shop["tea"]["id"]})
    paid = client.post("/api/v1/consumer/order/confirm", json={"payment_mode": "wallet"}).json()
    client.post(f"/api/v1/consumer/orders/{paid['id']}/cancel")
    assert_problem(client.post("/api/v1/consumer/wallet/refund", json={"order_id": paid["id"], "amount": 1}), 400)
    assert balance(runtime, client) == 100_000

    # A delivered cash order, one of two items returned: support may refund more, with a reason.
    order = delivered_order(client, shop["vendor"], shop["tea"], qty=2)
    line = order["items"][0]["item_id"]
    ret = client.post(f"/api/v1/consumer/orders/{order['id']}/return/raise",
                      json={"items": [{"item_id": line, "quantity": 1}], "reason": "torn"}).json()["returns"][0]
    support.post(f"/v1/admin/orders/{order['id']}/returns/{ret['id']}/approve")
    assert balance(runtime, client) == 100_000 + 24900
    assert_problem(client.post("/api/v1/consumer/wallet/refund", json={"order_id": order["id"], "amount": 100}), 400)
    # The approved return was refunded when approved: nothing more is owed, so nobody may
    # refund more of this order, whatever the reason (the customer keeps the other unit).
    assert_problem(support.post("/api/v1/consumer/wallet/refund", json={"order_id": order["id"], "amount": 100}), 400)
    assert_problem(support.post("/api/v1/consumer/wallet/refund", json={
        "order_id": order["id"], "amount": 2500, "reason": "late delivery goodwill"}), 400)
    assert balance(runtime, client) == 100_000 + 24900
    assert client.get(f"/v1/orders/{order['id']}").json()["refunded"] == 24900
    stranger = new_client()
    assert_problem(stranger.post("/api/v1/consumer/wallet/refund", json={"order_id": order["id"], "amount": 1}), 404)


def away_from_midnight(clock: Clock) -> None:
    """The allowance is per UTC day: keep a test's loads on one day (the injected clock)."""
    now = clock()
    midnight = datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=UTC)
    if midnight - now < timedelta(hours=1):
        clock.advance((midnight - now).total_seconds() + 60)


def allowance_of(runtime, client: TestClient) -> LoadAllowance:  # type: ignore[no-untyped-def]
    day = runtime.clock().astimezone(UTC).date().isoformat()
    return runtime.payments.allowance(client.user["id"], day)  # type: ignore[attr-defined, no-any-return]


def load_money(client: TestClient, amount: int = 1_000_000) -> Any:
    return client.post("/api/v1/consumer/wallet/load", json={"amount": amount}, headers=key())


def test_parallel_loads_cannot_beat_the_daily_limit(new_client, runtime, clock) -> None:  # type: ignore[no-untyped-def]
    assert (runtime.settings.wallet_max_load, runtime.settings.wallet_daily_load_limit) == (1_000_000, 2_500_000)
    away_from_midnight(clock)
    client = new_client()
    start = threading.Barrier(8)

    def go(_: int) -> Any:
        start.wait()
        return load_money(client)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(go, range(8)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 2 + [400] * 6, [r.text for r in answers]
    for refused in (r for r in answers if r.status_code == 400):
        body = assert_problem(refused, 400)
        assert [e["field"] for e in body["errors"]] == ["amount"] and "per day" in body["detail"]
    allowance = allowance_of(runtime, client)
    accepted = {r.json()["payment_id"] for r in answers if r.status_code == 201}
    assert set(allowance.held) == accepted and allowance.used == 2_000_000
    # Refused loads changed nothing: only the two accepted payments exist for this customer.
    stored = [e for e in runtime.payments.events.get(allowance.id)]
    assert [type(e).__name__ for e in stored] == ["Opened", "Taken", "Taken"]
    assert load_money(client, 500_000).status_code == 201, "what is left of the day can still be loaded"
    assert_problem(load_money(client, 1), 400)


def test_a_failed_or_expired_load_gives_its_allowance_back(new_client, runtime, anonymous, clock) -> None:  # type: ignore[no-untyped-def]
    away_from_midnight(clock)
    client = new_client()
    first, second = load_money(client).json(), load_money(client).json()
    assert_problem(load_money(client), 400)
    # Declined: its million is free again at once (released in the same save as the failure),
    # however often the provider reports it.
    webhook(anonymous, runtime, first["payment_id"], "failed")
    webhook(anonymous, runtime, first["payment_id"], "failed")
    third = load_money(client)
    assert third.status_code == 201, third.text
    assert_problem(load_money(client), 400)
    # Expired (the sweep's command, at the deadline): freed too, once.
    deadline = datetime.fromisoformat(second["expires_at"])
    assert runtime.payments.expire(uuid.UUID(second["payment_id"]), deadline).position is not None
    assert runtime.payments.expire(uuid.UUID(second["payment_id"]), deadline).position is None
    assert load_money(client).status_code == 201
    allowance = allowance_of(runtime, client)
    assert allowance.used == 2_000_000
    released = [e for e in runtime.payments.events.get(allowance.id) if isinstance(e, LoadAllowance.Released)]
    assert [(e.payment_id, e.reason) for e in released] == [(first["payment_id"], "failed"),
                                                           (second["payment_id"], "expired")]


def test_a_released_load_paid_late_over_the_limit_is_refunded_not_credited(new_client, runtime, anonymous,  # type: ignore[no-untyped-def]
                                                                           clock) -> None:
    away_from_midnight(clock)
    client = new_client()
    late = load_money(client).json()
    webhook(anonymous, runtime, late["payment_id"], "failed")
    paid = [load_money(client).json() for _ in range(2)]
    for p in paid:
        webhook(anonymous, runtime, p["payment_id"])
    # The provider took the declined load's money after all: 3,000,000 would beat the limit.
    _, _, r = webhook(anonymous, runtime, late["payment_id"])
    assert r.status_code == 200, r.text
    head = runtime.payments.recorder.max_notification_id() or 0
    with runtime.pool.connection() as conn:
        eventually(lambda: tracking.caught_up(conn, "order_payments", "payments", head))
    late_payment = runtime.payments.payment(uuid.UUID(late["payment_id"]))
    assert late_payment.status == "succeeded" and late_payment.refunded == 1_000_000
    assert not runtime.payments.load_admitted(late_payment.id)
    owner = uuid.UUID(client.user["id"])  # type: ignore[attr-defined]
    assert runtime.commerce.wallet(owner).balance == 2_000_000
    assert allowance_of(runtime, client).used == 2_000_000
