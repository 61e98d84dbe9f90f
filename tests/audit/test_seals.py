"""Tamper evidence: the seal follower chains every stored event; `eventmart audit verify`
recomputes the chain and names the first position where the log was changed."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import psycopg

from projections import audit_chain
from runtime import Runtime
from tests.support.audit_seals import run_eventmart, seal, wallets
from tests.support.db import scalar
from workers.audit_seal import SealFollower

# A stored event's amount changed in place, as an intruder with SQL access would.
ALTER_AMOUNT = ("UPDATE commerce_events SET state = convert_to(replace(convert_from(state, 'UTF8'), "
                "'\"amount\":1000', %s), 'UTF8') WHERE notification_id = %s")


def nth_position(conn: psycopg.Connection[tuple[object, ...]], n: int) -> int:
    return int(scalar(conn, "SELECT notification_id FROM commerce_events ORDER BY notification_id "
                            "OFFSET %s LIMIT 1", (n - 1,)))


def test_the_follower_seals_every_n_events_and_the_rest_when_due(own: Runtime) -> None:
    wallets(own, 6, loads=1)  # 12 events
    reached = seal(own, every_events=5)
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        sealed = audit_chain.seals(conn, "commerce")
        head = scalar(conn, "SELECT max(notification_id) FROM commerce_events")
        assert reached == head
        assert [s.events for s in sealed] == [5, 5, 2]
        assert [s.seq for s in sealed] == [1, 2, 3]
        assert sealed[0].from_position == 0 and sealed[-1].position == head
        assert all(b.from_position == a.position for a, b in zip(sealed, sealed[1:], strict=False))
        assert seal(own) == head  # nothing new: no new seal, however often it runs
        assert len(audit_chain.seals(conn, "commerce")) == 3
        result = audit_chain.verify(conn, "commerce", audit_chain.iter_seals(conn, "commerce"))
    assert result.ok and result.verified_up_to == head and result.events == 12


def test_events_wait_for_the_next_seal_until_t_seconds_have_passed(own: Runtime) -> None:
    wallets(own, 6, loads=1)  # 12 events
    patient = SealFollower(own, "commerce", every_events=5, every_seconds=3600)
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        patient.catch_up(conn)
        patient.step(conn)
        assert [s.events for s in audit_chain.seals(conn, "commerce")] == [5, 5]
        pending = scalar(conn, "SELECT pending_digests FROM audit_chain_heads WHERE application='commerce'")
        assert len(pending) == 2 * audit_chain.DIGEST_BYTES  # chained, not sealed yet
    seal(own, every_events=5)  # every_seconds=0: due at once
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        assert [s.events for s in audit_chain.seals(conn, "commerce")] == [5, 5, 2]


def test_three_sealers_at_once_chain_each_event_once(own: Runtime) -> None:
    wallets(own, 20, loads=1)
    threads = [threading.Thread(target=seal, args=(own,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        sealed = audit_chain.seals(conn, "commerce")
        result = audit_chain.verify(conn, "commerce", sealed)
    assert sum(s.events for s in sealed) == 40
    assert result.ok and result.events == 40


def test_verify_passes_on_an_untouched_log(own: Runtime, tmp_path: Path) -> None:
    wallets(own, 12, loads=2)
    head = seal(own)
    done = run_eventmart(own.database_url, tmp_path, "audit", "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"commerce: verified up to {head} (8 seals, 36 events" in done.stdout
    assert "catalog: verified up to 0" in done.stdout


def test_an_event_altered_in_postgresql_is_named_by_its_position(own: Runtime, tmp_path: Path) -> None:
    wallets(own, 4, loads=2)
    seal(own)
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        victim = nth_position(conn, 8)
        conn.execute(ALTER_AMOUNT, ('"amount":9000', victim))
        assert b'"amount":9000' in bytes(scalar(
            conn, "SELECT state FROM commerce_events WHERE notification_id=%s", (victim,)))
    done = run_eventmart(own.database_url, tmp_path, "audit", "verify", "--application", "commerce")
    assert done.returncode == 1
    assert f"commerce: DIFFERS at position {victim}:" in done.stdout
    assert "catalog" not in done.stdout


def test_a_removed_event_is_named_by_the_position_after_it(own: Runtime) -> None:
    wallets(own, 4, loads=2)
    seal(own)
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        removed, after = nth_position(conn, 4), nth_position(conn, 5)
        conn.execute("DELETE FROM commerce_events WHERE notification_id = %s", (removed,))
        result = audit_chain.verify(conn, "commerce", audit_chain.iter_seals(conn, "commerce"))
    assert not result.ok and result.position == after


def test_a_rewritten_seal_is_caught_at_that_seal(own: Runtime) -> None:
    wallets(own, 4, loads=2)
    seal(own)
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        first, second = audit_chain.seals(conn, "commerce")[:2]
        conn.execute("UPDATE audit_seals SET chain_hash = repeat('0', 64) "
                     "WHERE application='commerce' AND seq=2")
        result = audit_chain.verify(conn, "commerce", audit_chain.iter_seals(conn, "commerce"))
    assert not result.ok and result.position == second.position
    assert result.verified_up_to == first.position and "seal 2" in (result.problem or "")


def test_exported_seals_catch_a_rewrite_of_events_and_seals_together(own: Runtime, tmp_path: Path) -> None:
    """A database superuser can alter an event and recompute every later seal: the table then
    agrees with itself, and only seals kept elsewhere show it."""
    wallets(own, 4, loads=2)
    seal(own)
    kept = tmp_path / "seals.jsonl"
    done = run_eventmart(own.database_url, tmp_path, "audit", "export-seals", "--output", str(kept))
    assert done.returncode == 0, done.stderr
    exported = [json.loads(line) for line in kept.read_text().splitlines()]
    assert [s["seq"] for s in exported] == [1, 2, 3] and {s["application"] for s in exported} == {"commerce"}
    with psycopg.connect(own.database_url, autocommit=True) as conn:
        victim = nth_position(conn, 6)
        conn.execute(ALTER_AMOUNT, ('"amount":1', victim))
        # The forger's part: the chain recomputed from scratch, every seal rewritten to match.
        conn.execute("DELETE FROM audit_seals")
        conn.execute("UPDATE audit_chain_heads SET position=0, chain_hash=NULL, seq=0, "
                     "sealed_position=0, pending_digests=''::bytea")
        conn.execute("UPDATE follower_positions SET position=0, position_xid='0' WHERE follower='audit_seal'")
    seal(own)
    assert run_eventmart(own.database_url, tmp_path, "audit", "verify").returncode == 0
    done = run_eventmart(own.database_url, tmp_path, "audit", "verify", "--seals", str(kept))
    assert done.returncode == 1
    assert f"commerce: DIFFERS at position {victim}:" in done.stdout
    assert "seal table differs" in done.stdout
