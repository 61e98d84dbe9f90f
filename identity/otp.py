"""Phone one-time passwords: 6 digits from a CSPRNG, only an HMAC of them stored,
valid 5 minutes, single use, burnt after 5 wrong tries, sends rate-limited."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import Connection

from adapters.sms import SmsSender
from domain.errors import AuthenticationError, DomainError, RateLimitedError

log = logging.getLogger(__name__)

E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
CODE_TTL = timedelta(minutes=5)
MAX_WRONG_TRIES = 5
PER_PHONE_GAP = timedelta(seconds=30)
PER_PHONE_PER_HOUR = 5

# Tables (otp_codes, otp_sends): eventmart/schema/, applied by `eventmart migrate`.


class InvalidPhoneError(DomainError, title="Invalid phone number"): ...


@dataclass(frozen=True)
class SentCode:
    expires_in: int
    code: str  # returned to the caller only in dev mode


def check_phone(phone: str) -> str:
    phone = phone.strip()
    if not E164.match(phone):
        raise InvalidPhoneError("phone must be in E.164 form, e.g. +919812345678", field="phone")
    return phone


def _hash(secret_key: str, phone: str, code: str) -> bytes:
    return hmac.new(secret_key.encode(), f"{phone}:{code}".encode(), hashlib.sha256).digest()


def _retry_after(now: datetime, oldest: datetime, window: timedelta) -> int:
    return int((oldest + window - now).total_seconds()) + 1


def send_code(
    conn: Connection,
    sms: SmsSender,
    *,
    phone: str,
    client_ip: str,
    now: datetime,
    secret_key: str,
    ip_per_hour: int,
) -> SentCode:
    phone = check_phone(phone)
    with conn.transaction():
        # Serialise sends per phone so that two parallel requests cannot both pass the limit.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"otp:{phone}",))
        hour_ago = now - timedelta(hours=1)
        last, count = conn.execute(
            "SELECT max(sent_at), count(*) FROM otp_sends WHERE phone=%s AND sent_at > %s",
            (phone, hour_ago),
        ).fetchone()  # type: ignore[misc]
        if last is not None and now - last < PER_PHONE_GAP:
            raise RateLimitedError("wait before asking for another code",
                                   retry_after=_retry_after(now, last, PER_PHONE_GAP))
        if count >= PER_PHONE_PER_HOUR:
            (oldest,) = conn.execute(
                "SELECT min(sent_at) FROM otp_sends WHERE phone=%s AND sent_at > %s",
                (phone, hour_ago),
            ).fetchone()  # type: ignore[misc]
            raise RateLimitedError("too many codes for this phone; try later",
                                   retry_after=_retry_after(now, oldest, timedelta(hours=1)))
        ip_count, ip_oldest = conn.execute(
            "SELECT count(*), min(sent_at) FROM otp_sends WHERE client_ip=%s AND sent_at > %s",
            (client_ip, hour_ago),
        ).fetchone()  # type: ignore[misc]
        if ip_count >= ip_per_hour:
            raise RateLimitedError("too many codes from this network; try later",
                                   retry_after=_retry_after(now, ip_oldest, timedelta(hours=1)))
        code = f"{secrets.randbelow(10**6):06d}"
        conn.execute(
            "INSERT INTO otp_codes (phone, code_hash, created_at, expires_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (phone) DO UPDATE SET "
            "code_hash=EXCLUDED.code_hash, created_at=EXCLUDED.created_at, "
            "expires_at=EXCLUDED.expires_at, wrong_tries=0, consumed_at=NULL",
            (phone, _hash(secret_key, phone, code), now, now + CODE_TTL),
        )
        conn.execute(
            "INSERT INTO otp_sends (phone, client_ip, sent_at) VALUES (%s, %s, %s)",
            (phone, client_ip, now),
        )
    sms.send(phone, f"Your EventMart code is {code}. It expires in 5 minutes.")
    return SentCode(int(CODE_TTL.total_seconds()), code)


def verify_code(conn: Connection, *, phone: str, code: str, now: datetime, secret_key: str) -> str:
    """Consumes the phone's code if `code` matches; returns the phone. Raises otherwise."""
    phone = check_phone(phone)
    burnt = False
    with conn.transaction():
        row = conn.execute(
            "SELECT code_hash, expires_at, wrong_tries, consumed_at FROM otp_codes "
            "WHERE phone=%s FOR UPDATE",
            (phone,),
        ).fetchone()
        if row is None or row[3] is not None or row[1] <= now:
            raise AuthenticationError("code invalid or expired; ask for a new one")
        code_hash, _, wrong_tries, _ = row
        if wrong_tries >= MAX_WRONG_TRIES:
            burnt = True
        elif hmac.compare_digest(code_hash, _hash(secret_key, phone, code)):
            conn.execute("UPDATE otp_codes SET consumed_at=%s WHERE phone=%s", (now, phone))
            return phone
        else:
            conn.execute(
                "UPDATE otp_codes SET wrong_tries = wrong_tries + 1 WHERE phone=%s", (phone,)
            )
    if burnt:
        raise RateLimitedError("too many wrong codes; ask for a new one",
                               retry_after=int(PER_PHONE_GAP.total_seconds()))
    raise AuthenticationError("code invalid or expired; ask for a new one")
