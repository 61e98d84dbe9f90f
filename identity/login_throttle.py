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


def claim_attempt(conn: Connection, *, email: str, client_ip: str, now: datetime, per_account: int,
                  per_ip: int, window: timedelta) -> None:
    """Counts this attempt as a failure, or raises RateLimitedError when the account or the
    address has failed too often. Check and count are one step under a lock per subject: checked
    first and counted after the hash, 24 concurrent guesses got 13 answers past a limit of 10."""
    subjects = _subjects(email, client_ip)
    with conn.transaction():
        for subject in subjects:  # always account, then address: no lock cycle
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (subject,))
        for subject, limit in zip(subjects, (per_account, per_ip), strict=True):
            row = conn.execute(
                "SELECT count(*), min(failed_at) FROM login_failures WHERE subject = %s AND failed_at > %s",
                (subject, now - window)).fetchone()
            if row is not None and row[0] >= limit:
                wait = int((row[1] + window - now).total_seconds()) + 1
                raise RateLimitedError("too many failed sign-ins; try again later", retry_after=wait)
        conn.execute("INSERT INTO login_failures (subject, failed_at) VALUES (%s, %s), (%s, %s)",
                     (subjects[0], now, subjects[1], now))


def record_failure(conn: Connection, *, email: str, client_ip: str, now: datetime,
                   window: timedelta) -> None:
    """The claimed attempt stays counted; old rows are of no use: keep the table small as it goes."""
    conn.execute("DELETE FROM login_failures WHERE subject IN (%s, %s) AND failed_at <= %s",
                 (*_subjects(email, client_ip), now - window))


def release_claim(conn: Connection, *, email: str, client_ip: str, now: datetime) -> None:
    """The claimed attempt was turned away for load before its password was judged (no hash
    slot, no connection for its session): it was no guess, and must not count as one. Left
    counted, 70 correct sign-ins shed in a burst locked their address out for 15 minutes."""
    for subject in _subjects(email, client_ip):
        conn.execute("DELETE FROM login_failures WHERE ctid = (SELECT ctid FROM login_failures "
                     "WHERE subject = %s AND failed_at = %s LIMIT 1)", (subject, now))


def record_success(conn: Connection, *, email: str, client_ip: str, now: datetime) -> None:
    """The account's owner got in: their earlier typos no longer count, nor does this attempt
    against the address (the address's earlier failures do)."""
    account, ip = _subjects(email, client_ip)
    conn.execute("DELETE FROM login_failures WHERE subject = %s", (account,))
    conn.execute("DELETE FROM login_failures WHERE ctid = (SELECT ctid FROM login_failures "
                 "WHERE subject = %s AND failed_at = %s LIMIT 1)", (ip, now))
