"""`eventmart replay` (state at a version or time, by the domain's own classes) and
`eventmart export-events` (the log as JSON lines with public types)."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from psycopg import sql

from domain.commerce.application import CommerceApplication
from domain.commerce.order import Action, Order
from domain.commerce.values import DeliveryAddress, DeliveryAddressRef, OrderLine
from domain.commerce.wallet import Wallet
from domain.event_catalogue import entry_for_topic, public_type
from projections.audit_chain import events_table
from projections.event_export import _SELECT, Exported, _encode, _Exporter, event_json, export, export_from
from runtime import Runtime
from tests.support.audit_seals import money_history, run_eventmart, wallets


def replayed(url: str, tmp: Path, *args: str) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    done = run_eventmart(url, tmp, "replay", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    events, _, rest = done.stdout.partition("state of ")
    title, _, state = rest.partition("\n")
    return [json.loads(line) for line in events.splitlines()], json.loads(state), title


def test_replay_shows_the_events_and_the_state_at_a_version_or_a_time(own: Runtime, tmp_path: Path) -> None:
    wallet = Wallet(owner_id=str(uuid.uuid4()), currency="INR")
    wallet.credit(100_000, kind="load", reference="pay-1")
    own.commerce.save(wallet)
    wallet.debit(30_000, kind="order", reference="order-1", key="claim-1")
    own.commerce.save(wallet)
    wallet.credit(5_000, kind="refund", reference="order-1")
    own.commerce.save(wallet)
    url = own.database_url

    events, state, title = replayed(url, tmp_path, str(wallet.id))
    assert [e["version"] for e in events] == [1, 2, 3, 4]
    assert title == f"Wallet {wallet.id} at version 4 (commerce log):"
    assert state["balance"] == 75_000 and state["version"] == 4 and state["id"] == str(wallet.id)
    assert state["debit_keys"] == {"claim-1": {"balance_after": 70_000, "at": events[2]["timestamp"]}}
    assert events[1]["data"] == {"amount": 100_000, "kind": "load", "reference": "pay-1",
                                 "balance_after": 100_000}
    assert events[1]["type"] == public_type("domain.commerce.wallet:Wallet.Credited")
    assert all(e["position"] > 0 and e["aggregate_id"] == str(wallet.id) for e in events)

    events, state, _ = replayed(url, tmp_path, str(wallet.id), "--version", "3")
    assert [e["version"] for e in events] == [1, 2, 3] and state["balance"] == 70_000

    _, state, title = replayed(url, tmp_path, str(wallet.id), "--as-of", events[1]["timestamp"])
    assert state["balance"] == 100_000 and "at version 2" in title

    unknown = run_eventmart(url, tmp_path, "replay", str(uuid.uuid4()))
    assert unknown.returncode == 1 and "no aggregate" in unknown.stderr
    too_far = run_eventmart(url, tmp_path, "replay", str(wallet.id), "--version", "9")
    assert too_far.returncode == 1
    both = run_eventmart(url, tmp_path, "replay", str(wallet.id), "--version", "2", "--as-of", "2026-01-01")
    assert both.returncode == 2 and "not both" in both.stderr


def test_replay_of_an_order_shows_its_lines_address_and_status_as_json(own: Runtime, tmp_path: Path) -> None:
    # Given an order, whose state holds value objects (lines, an address reference) and enums,
    order = Order.place(customer_id=str(uuid.uuid4()), shop_id=None, currency="INR", delivery_fee=0,
                        discount=0, payment_mode="cash", address=DeliveryAddressRef("copy-1"),
                        lines=[OrderLine(item_id="l1", product_id="p", sku="S", name="Tea", qty=2,
                                         unit_price=100, line_total=200)])
    order.advance(Action.ACCEPT, by="vendor", at=datetime.now(UTC))
    own.commerce.save(order)
    # When it is replayed, then its state is plain JSON: lines and address as their fields.
    events, state, _ = replayed(own.database_url, tmp_path, str(order.id))
    assert [e["type"] for e in events] == ["commerce.order.placed", "commerce.order.status_changed"]
    assert state["lines"] == [{"item_id": "l1", "product_id": "p", "sku": "S", "name": "Tea", "qty": 2,
                               "unit_price": 100, "line_total": 200}]
    assert state["address"] == {"copy_id": "copy-1"} and state["status"] == "accepted"


def test_export_streams_json_lines_in_position_order_between_positions(own: Runtime, tmp_path: Path) -> None:
    wallets(own, 5, loads=1)  # 10 commerce events
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        positions = [r[0] for r in conn.execute(
            "SELECT notification_id FROM commerce_events ORDER BY notification_id").fetchall()]
    done = run_eventmart(own.database_url, tmp_path, "export-events", "--application", "commerce",
                         "--after", str(positions[1]), "--until", str(positions[7]))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["position"] for e in lines] == positions[2:8]
    assert {e["application"] for e in lines} == {"commerce"}
    assert {e["type"] for e in lines} == {public_type("domain.commerce.wallet:Wallet.Opened"),
                                          public_type("domain.commerce.wallet:Wallet.Credited")}
    credited = [e for e in lines if "amount" in e["data"]]
    assert credited and all(e["data"]["amount"] == 1000 and e["data"]["kind"] == "load" for e in credited)
    assert all(e["timestamp"].endswith("+00:00") for e in lines)
    assert {e["schema_version"] for e in lines} == {
        entry_for_topic("domain.commerce.wallet:Wallet.Credited").schema_version}

    everything = run_eventmart(own.database_url, tmp_path, "export-events")
    assert everything.returncode == 0 and len(everything.stdout.splitlines()) == 10


def test_the_fast_export_writes_what_decoding_the_domain_events_writes(own: Runtime) -> None:
    money_history(own, customers=2)
    order = Order.place(customer_id=str(uuid.uuid4()), shop_id=None, currency="INR", delivery_fee=2500,
                        discount=0, payment_mode="cash",
                        address=DeliveryAddress.from_data({"street": "x", "label": "y"}),
                        lines=[OrderLine(item_id="l1", product_id="p", sku="S", name="Tea {\"_type_\"",
                                         qty=1, unit_price=100, line_total=100)])
    order.advance(Action.ACCEPT, by="vendor", at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), note="ok")
    for action in (Action.PACK, Action.DISPATCH, Action.DELIVER):
        order.advance(action, by="vendor", at=datetime.now(UTC))
    order.request_return(return_id="r1", items=[{"item_id": "l1", "quantity": 1}], reason="torn",
                         now=datetime.now(UTC))
    order.decide_return("r1", approved=True, note="", by="vendor")  # stored with class_version 2
    own.commerce.save(order)
    exporter, types = _Exporter(own.commerce), dict[str, tuple[str, int]]()
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        rows = conn.execute(sql.SQL(_SELECT).format(events_table("commerce")), (0, 2**62)).fetchall()
    assert len(rows) > 20
    for position, oid, version, topic, state in rows:
        event = own.commerce.mapper.to_domain_event(StoredEvent(uuid.UUID(oid), version, topic, state))
        assert exporter.line(position, oid, version, topic, state) == _encode(
            event_json("commerce", position, event, topic, types))
    # Every line was cut from the stored text but the one with a class version (parsed).
    assert exporter.decoded == 0 and exporter.spliced == len(rows) - 1


def test_export_writes_a_row_it_cannot_read_with_its_error_and_exits_non_zero(
    own: Runtime, tmp_path: Path
) -> None:
    # Given a log whose rows include one of a known type that lacks its fields, one that is not
    # UTF-8 and one of a type no code knows (written by hand, as a damaged store would hold)
    wallets(own, 2, loads=1)
    broken = [(get_topic(Wallet.Credited), b'{"garbage": true}'),
              (get_topic(Wallet.Credited), b'{"timestamp": "\xff\xfe"}'),
              ("domain.gone:Nothing.Happened", b'{"timestamp": 1}')]
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        bad = [conn.execute(
            "INSERT INTO commerce_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, 1, %s, %s) RETURNING notification_id", (uuid.uuid4(), topic, state)
        ).fetchone()[0] for topic, state in broken]  # type: ignore[index]
    wallets(own, 1, loads=1)
    # When the log is exported
    done = run_eventmart(own.database_url, tmp_path, "export-events", "--application", "commerce")
    # Then every row is a line, in order; the unreadable ones carry their error and no data
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 4 + 3 + 2
    assert [e["position"] for e in lines] == sorted(e["position"] for e in lines)
    unread = [e for e in lines if "error" in e]
    assert [e["position"] for e in unread] == bad
    assert all(e["data"] is None and e["timestamp"] is None and e["error"] for e in unread)
    assert "UnicodeDecodeError" in unread[1]["error"]
    assert unread[0]["type"] == public_type(get_topic(Wallet.Credited))
    assert unread[2]["type"] == "domain.gone:Nothing.Happened" and unread[2]["schema_version"] is None
    assert all(e["data"]["amount"] == 1000 for e in lines if e["type"].endswith("credited") and "error" not in e)
    # And the command says which rows, and fails: a script must not take it for a clean export
    assert done.returncode == 1
    assert done.stderr.count("commerce:") == 3 and "3 stored events could not be read" in done.stderr


def test_replay_of_a_stream_it_cannot_read_says_where_and_exits_1(own: Runtime, tmp_path: Path) -> None:
    # Given a wallet whose third version was stored without its fields
    (wallet_id,) = wallets(own, 1, loads=1)
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        (bad,) = conn.execute(  # type: ignore[misc]
            "INSERT INTO commerce_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, 3, %s, %s) RETURNING notification_id",
            (wallet_id, get_topic(Wallet.Debited),
             b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-01T00:00:00+00:00"},"amount":5}')
        ).fetchone()
    # When it is replayed
    done = run_eventmart(own.database_url, tmp_path, "replay", str(wallet_id))
    # Then the events before it are shown, and the command names the event and fails
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert [json.loads(line)["version"] for line in done.stdout.splitlines()] == [1, 2]
    assert f"the event at version 3 (position {bad} of the commerce log) cannot be replayed" in done.stderr
    # And up to the version before it, the replay is whole
    assert run_eventmart(own.database_url, tmp_path, "replay", str(wallet_id), "--version", "2").returncode == 0


def test_an_export_stops_before_a_position_a_running_transaction_holds(own: Runtime) -> None:
    # Given a transaction that drew a position and has not committed, and a later event that has
    (wallet_id,) = wallets(own, 1, loads=0)
    with own.pool.connection() as held:
        held.autocommit = False
        (late,) = held.execute(  # type: ignore[misc]
            "INSERT INTO commerce_events (originator_id, originator_version, topic, state) "
            "SELECT gen_random_uuid(), 1, topic, state FROM commerce_events "
            "WHERE originator_id = %s RETURNING notification_id", (wallet_id,)).fetchone()
        wallets(own, 1, loads=0)
        # When the log is exported, then the export stops before the held position
        with psycopg.connect(own.database_url, autocommit=True) as conn:
            first, out = export_lines(conn, own)
            assert [e["position"] for e in out] == [late - 1] and first.upto == late - 1
            # And once it commits, an export from where the first stopped has both, none lost
            held.commit()
            rest, out = export_lines(conn, own, after=first.upto)
        assert [e["position"] for e in out] == [late, late + 1] and rest.upto == late + 1


def export_lines(conn: psycopg.Connection[Any], rt: Runtime, after: int = 0) -> tuple[Exported, list[dict[str, Any]]]:
    out = io.StringIO()
    done = export(conn, rt.commerce, out, after=after)
    return done, [json.loads(line) for line in out.getvalue().splitlines()]


def test_an_export_of_compressed_events_decodes_them(own: Runtime) -> None:
    # Given events stored compressed (an application configured with a compressor)
    env = {**own.commerce.env, "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}
    compressed = CommerceApplication(env, prices=own.catalog)
    try:
        wallet = Wallet(owner_id=str(uuid.uuid4()), currency="INR")
        wallet.credit(1000, kind="load", reference="zlib")
        compressed.save(wallet)
        # When its log is exported, then every line has its data: none is an error
        with psycopg.connect(own.database_url, autocommit=True) as conn:
            out = io.StringIO()
            done = export(conn, compressed, out)
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert done.failed == [] and [e["data"].get("amount") for e in lines] == [None, 1000]
    finally:
        compressed.close()


def test_an_export_resumed_from_its_cursor_never_passes_a_late_commit(own: Runtime, tmp_path: Path) -> None:
    """By position this interleaving loses an event: a transaction that took its id first draws
    its position after another's and commits first; an export resumed after the last position
    written passed the other's event for good."""
    (wallet_id,) = wallets(own, 1, loads=0)
    copy = ("INSERT INTO commerce_events (originator_id, originator_version, topic, state) "
            "SELECT gen_random_uuid(), 1, topic, state FROM commerce_events "
            "WHERE originator_id = %s RETURNING notification_id")
    with own.pool.connection() as first, own.pool.connection() as late, \
            psycopg.connect(own.database_url, autocommit=True) as conn:
        # Given a transaction that takes its id, then another that takes a later id and draws a
        # position, then the first draws a higher position and commits while the other runs
        first.autocommit = late.autocommit = False
        first.execute("SELECT pg_current_xact_id()")
        late.execute("SELECT pg_current_xact_id()")
        (drawn_late,) = late.execute(copy, (wallet_id,)).fetchone()  # type: ignore[misc]
        (drawn_first,) = first.execute(copy, (wallet_id,)).fetchone()  # type: ignore[misc]
        first.commit()
        # When the log is exported by cursor, and again from where that ended once the other
        # commits
        out = io.StringIO()
        done = export_from(conn, own.commerce, out, (0, 0))
        late.commit()
        rest = io.StringIO()
        again = export_from(conn, own.commerce, rest, done.cursor or (0, 0))
    # Then every event was exported once, the late one by the second export
    positions = [json.loads(line)["position"] for line in (out.getvalue() + rest.getvalue()).splitlines()]
    assert positions == [1, drawn_first, drawn_late] and again.upto == drawn_late
    # And the command does the same, saying where to go on from; a cursor needs one log
    url = own.database_url
    whole = run_eventmart(url, tmp_path, "export-events", "-a", "commerce", "--cursor", "0-0")
    assert whole.returncode == 0 and len(whole.stdout.splitlines()) == 3
    go_on = whole.stderr.split("--cursor ")[1].split(")")[0]
    nothing = run_eventmart(url, tmp_path, "export-events", "-a", "commerce", "--cursor", go_on)
    assert nothing.returncode == 0 and nothing.stdout == "" and f"--cursor {go_on}" in nothing.stderr
    for wrong in (["--cursor", "0-0"], ["-a", "commerce", "--cursor", "12"],
                  ["-a", "commerce", "--cursor", "0-0", "--after", "3"]):
        refused = run_eventmart(url, tmp_path, "export-events", *wrong)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr


def test_an_export_by_cursor_orders_transaction_ids_as_numbers(own: Runtime) -> None:
    # Given events of transactions 9 and 10 (as text, "10" < "9")
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        for xid in (9, 10):
            conn.execute("INSERT INTO commerce_events (originator_id, originator_version, topic, state, "
                         "transaction_id) VALUES (gen_random_uuid(), 1, %s, %s, %s::text::xid8)",
                         (get_topic(Wallet.Opened), b'{"timestamp":{"_type_":"datetime_iso","_data_":'
                          b'"2026-01-01T00:00:00+00:00"},"owner_id":"x","currency":"INR"}', str(xid)))
        by_xid = [r[0] for r in conn.execute(
            "SELECT notification_id FROM commerce_events ORDER BY transaction_id").fetchall()]
        # When the log is exported by cursor
        out = io.StringIO()
        done = export_from(conn, own.commerce, out, (0, 0))
    # Then transaction 9's event comes first, and the cursor ends at transaction 10
    assert [json.loads(line)["position"] for line in out.getvalue().splitlines()] == by_xid
    assert done.cursor == (10, by_xid[-1])
