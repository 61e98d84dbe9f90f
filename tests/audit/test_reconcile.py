"""Reconciliation: wallets, reward ledgers and orders folded from the log against the
wallet_balance, rewards and order_history read models."""

from __future__ import annotations

from pathlib import Path

import psycopg
from eventsourcing.utils import get_topic

from domain.commerce.wallet import Wallet
from projections import tracking
from projections.reconcile import MODELS, reconcile
from runtime import Runtime
from tests.support.audit_seals import money_history, project_money, run_eventmart, wallets


def test_read_models_built_from_the_log_reconcile_with_it(own: Runtime) -> None:
    money_history(own, customers=3)
    project_money(own)
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        report = reconcile(conn, own.commerce.mapper)
    assert report.ok, report.drifts
    w, r, o = report.wallets, report.rewards, report.orders
    assert (w.wallets, w.loads, w.spends, w.refunds, w.balances, w.read_model_balances) == (
        3, 300_000, 90_000, 90_000, 300_000, 300_000)
    assert (r.ledgers, r.earned, r.redeemed, r.restored, r.points, r.read_model_points) == (
        3, 1500, 600, 600, 1500, 1500)
    assert (o.orders, o.total, o.paid, o.refunded) == (3, 90_000, 90_000, 90_000)


def test_a_corrupted_read_model_row_is_a_drift_and_exit_code_1(own: Runtime, tmp_path: Path) -> None:
    made = money_history(own, customers=2)
    project_money(own)
    wallet, order, ledger = made[0]["wallet"], made[1]["order"], made[1]["ledger"]
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        conn.execute("UPDATE wallet_balance SET balance = balance + 7 WHERE wallet_id = %s", (wallet,))
        conn.execute("UPDATE order_history SET status = 'delivered' WHERE order_id = %s", (order,))
        conn.execute("DELETE FROM rewards WHERE ledger_id = %s", (ledger,))
        report = reconcile(conn, own.commerce.mapper)
    found = {(d.kind, d.aggregate_id, d.field): (d.expected, d.found) for d in report.drifts}
    assert found == {
        ("wallet", str(wallet), "balance"): (100_000, 100_007),
        ("order", str(order), "status"): ("cancelled", "delivered"),
        ("reward_ledger", str(ledger), "points"): (500, None),
        ("reward_ledger", str(ledger), "reserved"): (0, None),
        ("reward_ledger", str(ledger), "lifetime"): (500, None),
    }
    assert not report.wallets.conserved and not report.rewards.conserved and not report.ok

    done = run_eventmart(own.database_url, tmp_path, "audit", "reconcile")
    assert done.returncode == 1, done.stderr
    assert (f"DRIFT wallet {wallet} balance: expected 100000 (log), found 100007 (wallet_balance)"
            in done.stdout)
    assert "NOT CONSERVED" in done.stdout and "5 drifts" in done.stdout


def test_a_read_model_that_only_lags_is_not_a_drift(own: Runtime, tmp_path: Path) -> None:
    money_history(own, customers=1)
    project_money(own)
    wallets(own, 3, loads=2)  # after the read models' positions: not projected yet
    money_history(own, customers=1)
    done = run_eventmart(own.database_url, tmp_path, "audit", "reconcile", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"drifts": []' in done.stdout and '"ok": true' in done.stdout


def test_the_fold_follows_the_log_order_where_transaction_ids_gain_a_digit(own: Runtime) -> None:
    # Given a projected history whose transaction ids run from 9 to 10 and on, where their
    # text forms sort the other way ('10' < '9'): on a real server, at every power of ten
    money_history(own, customers=2)
    project_money(own)
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        row = conn.execute("SELECT min(transaction_id)::text::bigint FROM commerce_events").fetchone()
        assert row is not None
        shift = row[0] - 9
        conn.execute("UPDATE commerce_events SET transaction_id = "
                     "(transaction_id::text::bigint - %s)::text::xid8", (shift,))
        conn.execute("UPDATE follower_positions SET position_xid = "
                     "(position_xid::text::bigint - %s)::text::xid8 "
                     "WHERE application = 'commerce' AND position_xid::text::bigint > %s", (shift, shift))
        # When the log is reconciled with its read models
        report = reconcile(conn, own.commerce.mapper)
    # Then each wallet is folded from its opening on, in the log's order: no drift
    assert report.ok, report.drifts
    assert report.wallets.wallets == 2 and report.wallets.balances == 200_000


def test_an_event_that_does_not_decode_is_reported_not_a_crash(own: Runtime, tmp_path: Path) -> None:
    # Given a wallet whose next version was stored without its fields (a damaged store), and
    # read models that were told to pass over it
    made = money_history(own, customers=2)
    wallet = made[0]["wallet"]
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        (version,) = conn.execute("SELECT max(originator_version) FROM commerce_events "  # type: ignore[misc]
                                  "WHERE originator_id = %s", (wallet,)).fetchone()
        (bad,) = conn.execute(  # type: ignore[misc]
            "INSERT INTO commerce_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s) RETURNING notification_id",
            (wallet, version + 1, get_topic(Wallet.Debited),
             b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-01T00:00:00+00:00"},"amount":5}')
        ).fetchone()
        for model in MODELS:
            tracking.ensure_follower(conn, model, "commerce")
            tracking.record_skip(conn, model, "commerce", bad, by="tester", reason="damaged")
    project_money(own)
    # When the log is reconciled
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        report = reconcile(conn, own.commerce.mapper)
    # Then the event is reported where it is, the rest is reconciled, and the answer is not ok
    assert [(u.position, u.aggregate_id, u.version) for u in report.unreadable] == [
        (bad, str(wallet), version + 1)]
    assert "AttributeError" in report.unreadable[0].error and not report.ok
    assert report.orders.orders == 2 and report.rewards.ledgers == 2
    done = run_eventmart(own.database_url, tmp_path, "audit", "reconcile")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"UNREADABLE event at position {bad} (aggregate {wallet} version {version + 1})" in done.stdout
