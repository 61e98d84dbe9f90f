"""The range of instants every part can store and compare: far enough inside Python's and
PostgreSQL's ranges that converting to any zone, or widening a bound by a few seconds of
commit skew, never overflows."""

from __future__ import annotations

from datetime import UTC, datetime

EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)
