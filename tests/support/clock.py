"""The clock the test runtime runs on: wall-clock time that a test may move forward instead of
sleeping (the `clock` fixture resets it after each test). Production code takes any
`Callable[[], datetime]`; only tests need one that moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        self.offset = timedelta(0)
