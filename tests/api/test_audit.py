"""Auditors read streams, states at any version or time, each application's global log and the
event catalogue, straight from the stored events (issue 15)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.commerce.wallet import wallet_id_for
from domain.event_catalogue import all_entries
from runtime import Runtime
from tests.support.audit import assert_public, head, log_by_cursor, one_of_each, whole_log, whole_stream
from tests.support.commerce import fund, user_id
from tests.support.problems import assert_problem


@pytest.fixture
def auditor(staff_client: Callable[[str], TestClient]) -> TestClient:
    return staff_client("auditor")


def test_every_kind_of_aggregate_has_its_stream_and_state(
        runtime: Runtime, new_client: Callable[..., TestClient], admin: TestClient,
        shop: dict[str, Any], auditor: TestClient) -> None:
    ids = one_of_each(runtime, new_client, admin, shop)

    for kind, aggregate_id in ids.items():
        r = auditor.get(f"/v1/audit/streams/{aggregate_id}/events")
        assert r.status_code == 200, (kind, r.text)
        stream = r.json()
        assert stream["aggregate"] == kind
        assert [e["version"] for e in stream["events"]] == list(range(1, stream["last_version"] + 1))
        assert all(e["aggregate_id"] == aggregate_id for e in stream["events"])
        assert stream["events"][0]["type"].startswith(f"{stream['application']}.{kind}.")
        for event in stream["events"]:
            assert_public(event)
        state = auditor.get(f"/v1/audit/streams/{aggregate_id}/state")
        assert state.status_code == 200, (kind, state.text)
        assert state.json()["version"] == stream["last_version"]
        assert state.json()["aggregate"] == kind


def test_a_wallet_replays_to_each_version_and_to_any_time(
        runtime: Runtime, new_client: Callable[..., TestClient], auditor: TestClient) -> None:
    customer = new_client()
    for amount in (10_000, 2_500, 400):
        fund(runtime, customer, amount)
    wallet = str(wallet_id_for(user_id(customer)))

    events = whole_stream(auditor, wallet, page=2)

    assert [e["type"] for e in events] == ["commerce.wallet.opened"] + ["commerce.wallet.credited"] * 3
    assert [e["data"]["balance_after"] for e in events[1:]] == [10_000, 12_500, 12_900]
    assert all(isinstance(e["data"]["amount"], int) for e in events[1:])
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
    for version, expected in ((1, 0), (2, 10_000), (3, 12_500), (4, 12_900), (99, 12_900)):
        state = auditor.get(f"/v1/audit/streams/{wallet}/state", params={"version": version}).json()
        assert state["state"]["balance"] == expected
        assert state["version"] == min(version, 4) and state["last_version"] == 4
    second = datetime.fromisoformat(events[2]["timestamp"])
    third = datetime.fromisoformat(events[3]["timestamp"])
    between = second + (third - second) / 2
    for as_of, version in ((second, 3), (between, 3), (third, 4)):
        state = auditor.get(f"/v1/audit/streams/{wallet}/state", params={"as_of": as_of.isoformat()})
        assert state.json()["version"] == version, state.text
        assert state.json()["timestamp"] == events[version - 1]["timestamp"]
    naive = between.replace(tzinfo=None).isoformat()  # no zone: UTC
    assert auditor.get(f"/v1/audit/streams/{wallet}/state", params={"as_of": naive}).json()["version"] == 3
    before = datetime.fromisoformat(events[0]["timestamp"]) - timedelta(seconds=1)
    assert_problem(auditor.get(f"/v1/audit/streams/{wallet}/state",
                               params={"as_of": before.isoformat()}), 404)
    assert_problem(auditor.get(f"/v1/audit/streams/{wallet}/state",
                               params={"as_of": third.isoformat(), "version": 2}), 400)
    assert_problem(auditor.get(f"/v1/audit/streams/{wallet}/state", params={"as_of": "99999999999"}), 400)
    assert_problem(auditor.get(f"/v1/audit/streams/{wallet}/state", params={"version": 0}), 400)


def test_a_wallets_keyed_debits_are_part_of_its_state(
        runtime: Runtime, new_client: Callable[..., TestClient], auditor: TestClient) -> None:
    # Given a wallet debited through the API with an Idempotency-Key
    customer = new_client()
    fund(runtime, customer, 10_000)
    debit = customer.post("/api/v1/consumer/wallet/debit", json={"amount": 2_500, "reference": "tip"},
                          headers={"Idempotency-Key": str(uuid.uuid4())})
    assert debit.status_code == 200, debit.text
    wallet = str(wallet_id_for(user_id(customer)))

    # When an auditor reads its state
    state = auditor.get(f"/v1/audit/streams/{wallet}/state")

    # Then the debit's outcome is there under its claim, as plain JSON
    assert state.status_code == 200, state.text
    (outcome,) = state.json()["state"]["debit_keys"].values()
    assert outcome["balance_after"] == 7_500 and datetime.fromisoformat(outcome["at"])


def test_unknown_streams_are_404_and_bad_input_400(auditor: TestClient) -> None:
    for path in ("events", "state"):
        assert_problem(auditor.get(f"/v1/audit/streams/{uuid.uuid4()}/{path}"), 404)
        assert_problem(auditor.get(f"/v1/audit/streams/not-a-uuid/{path}"), 400)
    assert_problem(auditor.get(f"/v1/audit/streams/{uuid.uuid4()}/events",
                               params={"limit": 0}), 400)


def test_the_global_log_pages_by_position_and_filters(
        runtime: Runtime, new_client: Callable[..., TestClient], auditor: TestClient) -> None:
    start = head(auditor, "commerce")
    customers = [new_client() for _ in range(2)]
    for customer in customers:
        for amount in (1_000, 2_000):
            fund(runtime, customer, amount)
    wallets = {str(wallet_id_for(user_id(c))) for c in customers}

    log = [e for e in whole_log(auditor, "commerce", start, page=3) if e["aggregate_id"] in wallets]

    assert [e["type"] for e in log] == (["commerce.wallet.opened"] + ["commerce.wallet.credited"] * 2) * 2
    for event in log:
        assert_public(event)
    one = sorted(wallets)[0]
    by_aggregate = whole_log(auditor, "commerce", start, page=2, aggregate_id=one)
    assert by_aggregate == [e for e in log if e["aggregate_id"] == one]
    credited = whole_log(auditor, "commerce", start, page=2, type="commerce.wallet.credited")
    assert [e for e in credited if e["aggregate_id"] in wallets] == [
        e for e in log if e["type"] == "commerce.wallet.credited"]
    assert {e["type"] for e in credited} == {"commerce.wallet.credited"}
    twice = whole_log(auditor, "commerce", start, page=2, type=["commerce.wallet.credited"] * 3)
    assert twice == credited  # each event once, however often its type is given
    both = whole_log(auditor, "commerce", start, page=2,
                     type=["commerce.wallet.credited", "commerce.wallet.opened"])
    assert [e for e in both if e["aggregate_id"] in wallets] == log

    # since/until bound by the events' own times, inclusive
    since, until = log[1]["timestamp"], log[4]["timestamp"]
    timed = whole_log(auditor, "commerce", start, page=2, since=since, until=until)
    assert [e for e in timed if e["aggregate_id"] in wallets] == log[1:5]
    assert all(since <= e["timestamp"] <= until for e in timed)


def test_the_global_log_pages_by_cursor_in_commit_order(
        runtime: Runtime, new_client: Callable[..., TestClient], auditor: TestClient) -> None:
    # Given the cursor at the end of the log so far
    _, start = log_by_cursor(auditor, "commerce", "0-0", page=1000)
    # When customers' wallets are opened and loaded
    customers = [new_client() for _ in range(2)]
    for customer in customers:
        for amount in (1_000, 2_000):
            fund(runtime, customer, amount)
    wallets = {str(wallet_id_for(user_id(c))) for c in customers}

    def ours(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in events if e["aggregate_id"] in wallets]

    # Then reading on from that cursor, page by page, gives each of their events once, as
    # reading by position does
    log, _ = log_by_cursor(auditor, "commerce", start, page=3, wanted=lambda seen: len(ours(seen)) == 6)
    assert ours(log) == [e for e in whole_log(auditor, "commerce", 0, page=1000) if e["aggregate_id"] in wallets]
    assert [e["type"] for e in ours(log)] == (
        ["commerce.wallet.opened"] + ["commerce.wallet.credited"] * 2) * 2
    assert len({e["position"] for e in log}) == len(log)
    # And with a filter, by aggregate or by type
    one = sorted(wallets)[0]
    by_aggregate, _ = log_by_cursor(auditor, "commerce", start, page=2, aggregate_id=one,
                                    wanted=lambda seen: len(seen) == 3)
    assert by_aggregate == [e for e in log if e["aggregate_id"] == one]
    credited, _ = log_by_cursor(auditor, "commerce", start, page=2, type="commerce.wallet.credited",
                                wanted=lambda seen: len(ours(seen)) == 4)
    assert ours(credited) == [e for e in ours(log) if e["type"] == "commerce.wallet.credited"]
    assert {e["type"] for e in credited} == {"commerce.wallet.credited"}


def test_the_log_refuses_what_it_cannot_answer(auditor: TestClient) -> None:
    log = "/v1/audit/log"
    assert auditor.get(log).json()["application"] == "commerce"  # unless told otherwise
    assert_problem(auditor.get(log, params={"application": "identity"}), 400)
    assert_problem(auditor.get(log, params={"application": "commerce", "type": "order.placed"}), 400)
    wrong = assert_problem(auditor.get(log, params={"application": "catalog",
                                                    "type": "commerce.order.placed"}), 400)
    assert "commerce log" in wrong["detail"]
    assert_problem(auditor.get(log, params={"application": "commerce", "since": "2026-02-01T00:00:00Z",
                                            "until": "2026-01-01T00:00:00Z"}), 400)
    assert_problem(auditor.get(log, params={"application": "commerce", "since": "0001-01-01T00:00:00"}), 400)
    for number in ("99999999999", "1700000000", "-5", "1.5"):  # not read as Unix time
        assert_problem(auditor.get(log, params={"since": number}), 400)
    r = auditor.get(log, params={"application": "commerce", "after": 2**62})
    assert r.status_code == 200 and r.json()["events"] == [] and r.json()["next_after"] is None
    for wrong_cursor in ("", "12", "1-2-3", "-1-2", "18446744073709551616-1", "1-9223372036854775808"):
        assert_problem(auditor.get(log, params={"cursor": wrong_cursor}), 400)
    for other in ({"after": 5}, {"since": "2026-01-01T00:00:00Z"}, {"until": "2026-01-01T00:00:00Z"}):
        assert "not with after" in assert_problem(auditor.get(log, params={"cursor": "0-0", **other}), 400)["detail"]


def test_the_catalogue_is_served_with_schemas(auditor: TestClient, new_client: Callable[..., TestClient]) -> None:
    r = auditor.get("/v1/audit/event-types")

    assert r.status_code == 200
    served = {t["type"]: t for t in r.json()["results"]}
    assert r.json()["count"] == len(served) == len(all_entries())
    debited = served["commerce.wallet.debited"]
    assert debited["schema_version"] == 1 and debited["aggregate"] == "wallet"
    assert debited["json_schema"]["properties"]["amount"]["type"] == "integer"
    assert "domain." not in r.text  # no class paths
    assert_problem(new_client().get("/v1/audit/event-types"), 403)


def test_admins_read_the_audit_api_too(staff_client: Callable[[str], TestClient]) -> None:
    admin = staff_client("admin")
    assert admin.get("/v1/audit/event-types").status_code == 200
    assert admin.get("/v1/audit/log", params={"application": "catalog"}).status_code == 200
