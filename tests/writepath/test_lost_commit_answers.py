"""A save whose commit's answer is lost (the connection breaks after the server committed)
is not done twice: retrying the append would meet its own events, and a command that
took that for a concurrent writer's would decide again (a second debit)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from eventsourcing.utils import get_topic

from domain.commerce.wallet import Wallet
from eventmart.migrations import migrate
from runtime import Runtime, open_runtime
from tests.infra import fresh_database
from tests.support.lost_answers import AnswerLosingProxy
from tests.support.settings import make_settings
from tests.support.waiting import eventually


@pytest.fixture
def proxied(postgres: str) -> Iterator[tuple[Runtime, AnswerLosingProxy]]:
    with fresh_database(postgres) as url:
        migrate(make_settings(url), url)
        proxy = AnswerLosingProxy(url)
        runtime = open_runtime(make_settings(proxy.url), database_url=proxy.url)
        try:
            yield runtime, proxy
        finally:
            runtime.close()
            proxy.close()


def debits(runtime: Runtime, wallet_id: uuid.UUID) -> list[int]:
    with psycopg.connect(runtime.database_url, autocommit=True) as conn:
        return [v for (v,) in conn.execute(
            "SELECT originator_version FROM commerce_events WHERE originator_id = %s AND topic = %s "
            "ORDER BY originator_version", (wallet_id, get_topic(Wallet.Debited))
        ).fetchall()]


def funded_wallet(runtime: Runtime, credits: int) -> Wallet:
    wallet = runtime.commerce.wallet(uuid.uuid4())
    for n in range(credits):
        wallet.credit(1_000, kind="adjustment", reference=f"fund:{n}")
    runtime.commerce.save(wallet)
    return wallet


def test_a_debit_whose_commit_answer_is_lost_is_saved_once(
        proxied: tuple[Runtime, AnswerLosingProxy]) -> None:
    runtime, proxy = proxied
    # Given a funded wallet, and a connection that will break once the debit has committed
    wallet = funded_wallet(runtime, credits=3)
    proxy.lose_commit_of(b"INSERT")
    # When the debit is asked for once, without an idempotency key
    saved = runtime.commerce.debit_wallet(uuid.UUID(wallet.owner_id), 500, "order:1")
    # Then the answer was lost, and the wallet was debited once all the same
    assert proxy.lost.is_set()
    assert debits(runtime, wallet.id) == [5]
    assert saved.value.balance == 2_500 and saved.value.version == 5
    assert runtime.commerce.get(wallet.id, Wallet).balance == 2_500


def test_a_snapshot_whose_commit_answer_is_lost_does_not_repeat_the_command(
        proxied: tuple[Runtime, AnswerLosingProxy]) -> None:
    runtime, proxy = proxied
    # Given a wallet one debit short of its snapshot interval, and a connection that will
    # break once that debit's snapshot has committed (the second INSERT: events, snapshot)
    interval = runtime.commerce.snapshotting_intervals[Wallet]
    wallet = funded_wallet(runtime, credits=interval - 2)
    proxy.lose_commit_of(b"INSERT", skip=1)
    # When the debit is asked for once
    runtime.commerce.debit_wallet(uuid.UUID(wallet.owner_id), 500, "order:1")
    # Then it was saved once
    assert proxy.lost.is_set()
    assert debits(runtime, wallet.id) == [interval]
    assert runtime.commerce.get(wallet.id, Wallet).balance == (interval - 2) * 1_000 - 500


def test_a_debit_whose_connection_dies_before_the_commit_is_saved_once(
        proxied: tuple[Runtime, AnswerLosingProxy]) -> None:
    runtime, _ = proxied
    wallet = funded_wallet(runtime, credits=3)
    with psycopg.connect(runtime.database_url, autocommit=True) as locker, \
            psycopg.connect(runtime.database_url, autocommit=True) as admin:
        # Given the debit's append held behind a lock on the log
        locker.execute("BEGIN")
        locker.execute("LOCK TABLE commerce_events IN EXCLUSIVE MODE")
        debit = threading.Thread(target=runtime.commerce.debit_wallet,
                                 args=(uuid.UUID(wallet.owner_id), 500, "order:1"))
        debit.start()
        # When its session is ended there, before it could commit
        eventually(lambda: admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'INSERT INTO%%commerce_events%%'").fetchall() != [], timeout=30, interval=0.01)
        locker.execute("COMMIT")
        debit.join(timeout=30)
    # Then the debit was appended again, once
    assert not debit.is_alive()
    assert debits(runtime, wallet.id) == [5]
    assert runtime.commerce.get(wallet.id, Wallet).balance == 2_500
