"""Password guessing is throttled before any hashing: failed sign-ins are counted per account
(the email as typed, known or not: the same answer either way) and per client IP, within a
sliding window. Past the limit, 429 with Retry-After until the oldest failure leaves the window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from psycopg import Connection

from domain.errors import RateLimitedError

# Tables (login_failures): eventmart/schema/, applied by `eventmart migrate`.


def _subjects(email: str, client_ip: str) -> tuple[str, str]:
    return f"account:{email.strip().lower()}", f"ip:{client_ip}"


def check(conn: Connection, *, email: str, client_ip: str, now: datetime, per_account: int,
          per_ip: int, window: timedelta) -> None:
    """Raises RateLimitedError when the account or the address has failed too often."""
    for subject, limit in zip(_subjects(email, client_ip), (per_account, per_ip), strict=True):
        row = conn.execute(
            "SELECT count(*), min(failed_at) FROM login_failures WHERE subject = %s AND failed_at > %s",
            (subject, now - window)).fetchone()
        if row is not None and row[0] >= limit:
            wait = int((row[1] + window - now).total_seconds()) + 1
            raise RateLimitedError("too many failed sign-ins; try again later", retry_after=wait)


def record_failure(conn: Connection, *, email: str, client_ip: str, now: datetime,
                   window: timedelta) -> None:
    account, ip = _subjects(email, client_ip)
    conn.execute("INSERT INTO login_failures (subject, failed_at) VALUES (%s, %s), (%s, %s)",
                 (account, now, ip, now))
    # Old rows are of no use: keep the table small as it goes.
    conn.execute("DELETE FROM login_failures WHERE subject IN (%s, %s) AND failed_at <= %s",
                 (account, ip, now - window))


def record_success(conn: Connection, *, email: str) -> None:
    """The account's owner got in: their earlier typos no longer count (the address's do)."""
    conn.execute("DELETE FROM login_failures WHERE subject = %s", (_subjects(email, "")[0],))
