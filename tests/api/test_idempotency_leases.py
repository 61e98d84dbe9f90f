"""Idempotency claims are leases (issue 11, item 3).

A request killed while it holds its key (SIGKILL, a database error while the claim is cleaned
up) is simulated by what it leaves behind: a `running` claim with no outcome, with or without
the command's effect saved under the claim's id. The retry then finishes the command or
replays its outcome, exactly once. Time moves with the injected clock; nothing sleeps."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from adapters import idempotency_store
from api import idempotency
from domain.commerce.wallet import Wallet, wallet_id_for
from domain.payments.application import WALLET_LOAD, LoadLimits
from domain.payments.payment import Payment
from runtime import Runtime
from tests.support.clock import Clock
from tests.support.commerce import balance, cart_with, fund
from tests.support.problems import assert_problem
from tests.support.waiting import eventually
from workers.policies import PaymentExpirySweep

DEBIT = "POST /api/v1/consumer/wallet/debit"
CHECKOUT = "POST /v1/checkouts"
CONFIRM = "POST /api/v1/consumer/order/confirm"
LOAD = "POST /api/v1/consumer/wallet/load"
TIP = {"amount": 2500, "reference": "tip"}


def user_id(client: TestClient) -> uuid.UUID:
    return uuid.UUID(client.user["id"])  # type: ignore[attr-defined]


def lease(runtime: Runtime) -> float:
    return runtime.settings.idempotency_lease_seconds


def dead_claim(runtime: Runtime, client: TestClient, endpoint: str, key: str, body: dict[str, Any],
               *, at: datetime) -> uuid.UUID:
    """What a request killed after claiming its key leaves: a running claim, no outcome."""
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "INSERT INTO idempotency_keys (user_id, endpoint, key, fingerprint, state, created_at, "
            "lease_until, holder) VALUES (%s, %s, %s, %s, 'running', %s, %s, %s) RETURNING claim_id",
            (user_id(client), endpoint, key, idempotency.fingerprint_of(body), at,
             at + timedelta(seconds=lease(runtime)), uuid.uuid4())).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def claim_state(runtime: Runtime, client: TestClient, endpoint: str, key: str) -> str | None:
    with runtime.pool.connection() as conn:
        row = conn.execute("SELECT state FROM idempotency_keys WHERE user_id=%s AND endpoint=%s "
                           "AND key=%s", (user_id(client), endpoint, key)).fetchone()
    return None if row is None else str(row[0])


def debits(runtime: Runtime, client: TestClient) -> list[Wallet.Debited]:
    events = runtime.commerce.events.get(wallet_id_for(user_id(client)))  # type: ignore[attr-defined]
    return [e for e in events if isinstance(e, Wallet.Debited)]


def debit(client: TestClient, key: str, body: dict[str, Any] = TIP):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/consumer/wallet/debit", json=body, headers={"Idempotency-Key": key})


# A killed wallet debit


@pytest.mark.parametrize("applied", [False, True], ids=["nothing-applied", "debit-applied"])
def test_a_killed_debit_is_finished_or_replayed_once_after_its_lease(  # type: ignore[no-untyped-def]
        new_client, runtime, clock: Clock, applied: bool) -> None:
    client = new_client()
    fund(runtime, client, 10_000)
    claim_id = dead_claim(runtime, client, DEBIT, "k1", TIP, at=clock())
    if applied:  # the request saved its debit, then died before storing the outcome
        runtime.commerce.debit_wallet(user_id(client), 2500, "tip", key=str(claim_id))

    busy = assert_problem(debit(client, "k1"), 409)  # the lease still runs: it may be alive
    assert "still running" in busy["detail"]
    clock.advance(lease(runtime) - 5)  # (5 s of margin for real time passing meanwhile)
    assert_problem(debit(client, "k1"), 409)

    clock.advance(6)  # the lease ran out: the retry finishes the command, or answers with it
    r = debit(client, "k1")
    assert r.status_code == 200, r.text
    assert r.json()["balance"] == 7500 and "idempotent-replayed" not in r.headers
    [done] = debits(runtime, client)
    assert done.key == str(claim_id) and done.amount == 2500
    assert r.json()["updated_at"] == done.timestamp.isoformat(), "the debit's own outcome"

    again = debit(client, "k1")
    assert again.json() == r.json() and again.headers["idempotent-replayed"] == "true"
    assert balance(runtime, client) == 7500 and len(debits(runtime, client)) == 1
    assert claim_state(runtime, client, DEBIT, "k1") == "done"


def test_a_later_debit_after_a_keyed_one_shows_its_own_outcome(  # type: ignore[no-untyped-def]
        new_client, runtime, clock: Clock) -> None:
    """A re-executed debit answers with the balance after it, not the balance now."""
    client = new_client()
    fund(runtime, client, 10_000)
    claim_id = dead_claim(runtime, client, DEBIT, "first", TIP, at=clock())
    runtime.commerce.debit_wallet(user_id(client), 2500, "tip", key=str(claim_id))
    assert debit(client, "second", {"amount": 1000, "reference": "x"}).json()["balance"] == 6500
    clock.advance(lease(runtime) + 1)
    assert debit(client, "first").json()["balance"] == 7500
    assert balance(runtime, client) == 6500 and len(debits(runtime, client)) == 2


@pytest.mark.parametrize("applied", [False, True], ids=["nothing-applied", "debit-applied"])
def test_a_database_error_while_freeing_the_key_is_healed_by_the_lease(  # type: ignore[no-untyped-def]
        new_client, runtime, database_url, clock: Clock, applied: bool) -> None:
    client = new_client()
    fund(runtime, client, 10_000)
    doomed = psycopg.connect(database_url, autocommit=True)

    def execute(claim_id: uuid.UUID) -> tuple[int, dict[str, Any]]:
        if applied:
            runtime.commerce.debit_wallet(user_id(client), 2500, "tip", key=str(claim_id))
        with psycopg.connect(database_url, autocommit=True) as other:  # the connection dies
            other.execute("SELECT pg_terminate_backend(%s)", (doomed.info.backend_pid,))
        raise RuntimeError("the request failed")

    with doomed, pytest.raises(RuntimeError, match="the request failed"):
        idempotency.run_once(doomed, user_id=user_id(client), endpoint=DEBIT, key="k2", body=TIP,
                             now=clock(), lease_seconds=lease(runtime), execute=execute)
    assert claim_state(runtime, client, DEBIT, "k2") == "running", "the clean-up could not run"
    assert_problem(debit(client, "k2"), 409)

    clock.advance(lease(runtime) + 1)
    r = debit(client, "k2")
    assert r.status_code == 200 and r.json()["balance"] == 7500, r.text
    assert debit(client, "k2").json() == r.json()
    assert balance(runtime, client) == 7500 and len(debits(runtime, client)) == 1


def test_a_failed_debit_frees_its_key_and_a_retry_debits_once(  # type: ignore[no-untyped-def]
        new_client, runtime) -> None:
    client = new_client()
    assert_problem(debit(client, "poor"), 400)  # insufficient funds: nothing changed
    assert claim_state(runtime, client, DEBIT, "poor") == "failed"
    fund(runtime, client, 3000)
    assert debit(client, "poor").json()["balance"] == 500
    assert debit(client, "poor").headers["idempotent-replayed"] == "true"
    # After a failure the key may also carry a different request: a new operation.
    assert_problem(debit(client, "poor2", {"amount": 600, "reference": "x"}), 400)
    assert debit(client, "poor2", {"amount": 500, "reference": "x"}).json()["balance"] == 0
    assert len(debits(runtime, client)) == 2


# Orders and payments


@pytest.mark.parametrize("applied", [False, True], ids=["nothing-applied", "order-placed"])
def test_a_killed_checkout_places_one_order(  # type: ignore[no-untyped-def]
        new_client, runtime, shop, clock: Clock, applied: bool) -> None:
    client = new_client()
    cart_id = cart_with(client, shop["tea"])
    claim_id = dead_claim(runtime, client, CHECKOUT, "c1", {"cart_id": cart_id}, at=clock())
    if applied:
        runtime.commerce.checkout(owner_id=user_id(client), cart_id=uuid.UUID(cart_id), order_id=claim_id)

    def go():  # type: ignore[no-untyped-def]
        return client.post("/v1/checkouts", json={"cart_id": cart_id}, headers={"Idempotency-Key": "c1"})

    assert_problem(go(), 409)
    clock.advance(lease(runtime) + 1)
    r = go()
    assert r.status_code == 201, r.text
    assert r.json()["order_id"] == str(claim_id)
    assert go().json() == r.json()
    assert eventually(lambda: client.get("/v1/orders").json()["count"] == 1)


@pytest.mark.parametrize("applied", [False, True], ids=["nothing-applied", "order-placed"])
def test_a_killed_wallet_order_is_placed_and_paid_once(  # type: ignore[no-untyped-def]
        new_client, runtime, shop, clock: Clock, applied: bool) -> None:
    client = new_client()
    fund(runtime, client, 100_000)
    cart_with(client, shop["tea"])
    body = {"payment_mode": "wallet"}
    full = {"payment_mode": "wallet", "delivery_notes": "", "address_id": None}
    claim_id = dead_claim(runtime, client, CONFIRM, "o1", full, at=clock())
    if applied:
        runtime.commerce.confirm_order(owner_id=user_id(client), payment_mode="wallet",
                                       delivery_notes="", address=None, order_id=claim_id)
    clock.advance(lease(runtime) + 1)
    r = client.post("/api/v1/consumer/order/confirm", json=body, headers={"Idempotency-Key": "o1"})
    assert r.status_code == 201, r.text
    assert r.json()["id"] == str(claim_id)
    again = client.post("/api/v1/consumer/order/confirm", json=body, headers={"Idempotency-Key": "o1"})
    assert again.json()["id"] == str(claim_id) and again.headers["idempotent-replayed"] == "true"
    paid = [e for e in debits(runtime, client) if e.kind == "order"]
    assert len(paid) == 1 and balance(runtime, client) == 100_000 - paid[0].amount
    assert client.get("/api/v1/consumer/order/history").json()["count"] == 1


@pytest.mark.parametrize("applied", [False, True], ids=["nothing-applied", "payment-started"])
def test_a_killed_wallet_load_starts_one_payment(  # type: ignore[no-untyped-def]
        new_client, runtime, clock: Clock, applied: bool) -> None:
    client = new_client()
    body = {"amount": 50_000, "return_url": None}
    claim_id = dead_claim(runtime, client, LOAD, "l1", body, at=clock())
    if applied:
        runtime.payments.start(order_id=uuid.uuid4(), customer_id=user_id(client), amount=50_000,
                               currency="INR", return_url="https://example.com", now=clock(),
                               purpose=WALLET_LOAD, payment_id=claim_id,
                               limits=LoadLimits(per_load=1_000_000, daily=2_500_000))
    clock.advance(lease(runtime) + 1)
    r = client.post("/api/v1/consumer/wallet/load", json={"amount": 50_000}, headers={"Idempotency-Key": "l1"})
    assert r.status_code == 201, r.text
    assert r.json()["payment_id"] == str(claim_id) and r.json()["status"] == "pending"
    assert runtime.payments.payment(claim_id).amount == 50_000
    created = [e for e in runtime.payments.events.get(claim_id)  # type: ignore[attr-defined]
               if isinstance(e, Payment.Created)]
    assert len(created) == 1
    day = runtime.payments.allowance(str(user_id(client)), clock().date().isoformat())
    assert day.holds(str(claim_id))


# Keys that must still be refused


def test_same_key_while_in_flight_is_409_and_debits_once(new_client, runtime) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    fund(runtime, client, 10_000)
    results: list[int] = []
    start = threading.Barrier(4)

    def go() -> None:
        start.wait()
        results.append(debit(client, "race").status_code)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) <= {200, 409} and 200 in results
    assert balance(runtime, client) == 7500 and len(debits(runtime, client)) == 1


def test_a_live_claim_is_409_until_its_lease_ends(new_client, runtime, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    fund(runtime, client, 10_000)
    dead_claim(runtime, client, DEBIT, "live", TIP, at=clock())
    body = assert_problem(debit(client, "live"), 409)
    found = re.search(r"retry in (\d+) s", body["detail"])
    assert found and 1 <= int(found[1]) <= lease(runtime)
    assert balance(runtime, client) == 10_000


def test_same_key_different_body_is_409_even_after_the_lease(  # type: ignore[no-untyped-def]
        new_client, runtime, clock: Clock) -> None:
    client = new_client()
    fund(runtime, client, 10_000)
    dead_claim(runtime, client, DEBIT, "dead", TIP, at=clock())
    clock.advance(lease(runtime) + 1)
    other = {"amount": 9000, "reference": "tip"}
    assert "different request" in assert_problem(debit(client, "dead", other), 409)["detail"]
    assert debit(client, "done").status_code == 200
    assert "different request" in assert_problem(debit(client, "done", other), 409)["detail"]
    assert debit(client, "dead").json()["balance"] == 5000
    assert len(debits(runtime, client)) == 2


# Retention


def test_keys_past_retention_are_swept(new_client, runtime, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    fund(runtime, client, 10_000)
    old = clock() - idempotency.KEEP_FOR - timedelta(minutes=1)
    dead_claim(runtime, client, DEBIT, "old-running", TIP, at=old)
    with runtime.pool.connection() as conn:
        conn.execute("UPDATE idempotency_keys SET created_at = %s WHERE user_id = %s",
                     (old, user_id(client)))
    assert debit(client, "fresh").status_code == 200
    with runtime.pool.connection() as conn:
        conn.execute("UPDATE idempotency_keys SET created_at = %s WHERE user_id = %s AND key = 'fresh'",
                     (old + timedelta(minutes=2), user_id(client)))  # done, a minute inside 24 h
        conn.execute("INSERT INTO idempotency_keys (user_id, endpoint, key, fingerprint, state, "
                     "status, body, created_at) VALUES (%s, %s, 'old-done', '\\x00', 'done', 200, "
                     "'{}', %s)", (user_id(client), DEBIT, old))
        idempotency_store.sweep(conn, clock())  # (the session's own timer may beat it to some)
        keys = {r[0] for r in conn.execute("SELECT key FROM idempotency_keys WHERE user_id = %s",
                                           (user_id(client),))}
    assert keys == {"fresh"}


def test_the_expiry_timer_sweeps_keys(new_client, runtime, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    client = new_client()
    dead_claim(runtime, client, DEBIT, "ancient", TIP,
               at=clock() - idempotency.KEEP_FOR - timedelta(hours=1))
    sweeper = PaymentExpirySweep(runtime)
    thread = threading.Thread(target=sweeper.run, daemon=True)
    thread.start()
    try:
        eventually(lambda: claim_state(runtime, client, DEBIT, "ancient") is None)
    finally:
        sweeper.stop()
        thread.join()
