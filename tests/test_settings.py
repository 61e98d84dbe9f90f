"""Settings that depend on the machine: their defaults follow it, and the environment wins."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from runtime import settings as settings_module
from runtime.settings import Settings


@pytest.mark.parametrize(("cpus", "expected"), [(1, 4), (2, 4), (3, 6), (16, 32)])
def test_requests_using_the_database_at_once_default_to_twice_the_cpus_and_at_least_four(
        monkeypatch: pytest.MonkeyPatch, cpus: int, expected: int) -> None:
    # Given a process that may run on `cpus` CPUs and no DB_POOL_SIZE
    monkeypatch.delenv("DB_POOL_SIZE", raising=False)
    monkeypatch.setattr(settings_module, "usable_cpus", lambda: cpus)
    # Then that many requests use the database at once
    assert Settings().db_pool_size == expected


def test_the_environment_sets_it_and_a_pool_too_small_to_open_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", "30")
    assert Settings().db_pool_size == 30
    monkeypatch.setenv("DB_POOL_SIZE", "1")  # the pool keeps 2 connections open
    with pytest.raises(ValidationError):
        Settings()


def test_the_cpus_counted_are_those_this_process_may_run_on() -> None:
    assert 1 <= settings_module.usable_cpus() <= (settings_module.os.cpu_count() or 1)
