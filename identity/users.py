"""User accounts. Not event-sourced: secrets and personal data stay out of the
append-only log; events name users by id only."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg import Connection, errors
from psycopg.rows import dict_row

from domain.actor import Role
from domain.errors import ConflictError, DomainError, RateLimitedError

CUSTOMER = Role.CUSTOMER  # the Customer Journey seed says "consumer": same role
SELF_SERVICE_ROLES = frozenset({Role.CUSTOMER, Role.VENDOR})
STAFF_ROLES = frozenset({Role.ADMIN, Role.SUPPORT, Role.AUDITOR})
ALL_ROLES = frozenset(Role)

# Tables (users): eventmart/schema/, applied by `eventmart migrate`.


def canonical_role(role: str) -> str:
    """The role a name stands for; a name that is no role stays as it is (callers check)."""
    return CUSTOMER if role == "consumer" else role


class WeakPasswordError(DomainError, title="Weak password"): ...


class EmailTakenError(ConflictError, title="Email already registered"): ...


class PhoneTakenError(ConflictError, title="Phone already registered"): ...


@dataclass(frozen=True)
class User:
    id: UUID
    email: str | None
    phone: str | None
    role: Role
    created_at: datetime
    updated_at: datetime
    name: str | None = None
    city: str | None = None
    society: str | None = None
    basic_onboarding_done: bool = False
    role_onboarding_done: bool = False
    marketing_opt_in: bool = False
    location_allowed: bool = False
    data_sharing: bool = False

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> User:
        # canonical_role: a row written as "consumer" by hand still reads as a customer.
        return cls(**{f.name: row[f.name] for f in fields(cls)} | {"role": Role(canonical_role(row["role"]))})

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "email": self.email,
            "phone": self.phone,
            "role": self.role,
            "name": self.name,
            "city": self.city,
            "society": self.society,
            "basic_onboarding_done": self.basic_onboarding_done,
            "role_onboarding_done": self.role_onboarding_done,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }

    def privacy_settings(self) -> dict[str, bool]:
        return {
            "marketing_opt_in": self.marketing_opt_in,
            "location_allowed": self.location_allowed,
            "data_sharing": self.data_sharing,
        }


def check_password_strength(password: str) -> None:
    if len(password) < 8:
        raise WeakPasswordError("password must be at least 8 characters", field="password")
    if len(password) > 128:
        raise WeakPasswordError("password must be at most 128 characters", field="password")
    # Letters of any script: "пароль12" mixes letters with digits as "password12" does.
    if not (any(c.isalpha() for c in password) and not password.isalpha()):
        raise WeakPasswordError(
            "password must mix letters with digits or symbols", field="password"
        )


class Passwords:
    """argon2id hashing, at most `concurrency` hashes at once: a flood of sign-ins from many
    addresses waits for a slot (RateLimitedError after `wait` seconds) instead of taking
    every core and `memory_kib` each."""

    def __init__(self, memory_kib: int, concurrency: int = 4, wait: float = 10.0) -> None:
        # One thread per hash (argon2-cffi's default is 4): `concurrency` hashes then take at
        # most that many cores. The memory cost, which makes guessing dear, is unchanged, and
        # hashes made with other settings still verify (each carries its own).
        self._hasher = PasswordHasher(memory_cost=memory_kib, parallelism=1)
        self.concurrency = concurrency
        self.wait = wait
        self._slots = threading.BoundedSemaphore(concurrency)
        # Verified against when the email is unknown, so both cases take the same time.
        self._dummy_hash = self._hasher.hash("not a real password 0")

    def _slot(self) -> None:
        if not self._slots.acquire(timeout=self.wait):
            raise RateLimitedError("too many sign-ins at once; try again in a moment", retry_after=1)

    def hash(self, password: str) -> str:
        self._slot()
        try:
            return self._hasher.hash(password)
        finally:
            self._slots.release()

    def needs_rehash(self, password_hash: str) -> bool:
        """Made with other settings than today's (e.g. 4 threads, before `parallelism=1`)."""
        try:
            return bool(self._hasher.check_needs_rehash(password_hash))
        except (InvalidHashError, ValueError):
            return False

    def verify(self, password_hash: str | None, password: str) -> bool:
        self._slot()
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and bool(
                password_hash
            )
        except (VerificationError, InvalidHashError):
            return False
        finally:
            self._slots.release()


def _one(conn: Connection, query: str, params: tuple[Any, ...]) -> User | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, params).fetchone()  # type: ignore[arg-type]
    return User.from_row(row) if row else None


def create_user(
    conn: Connection,
    *,
    role: str,
    email: str | None = None,
    phone: str | None = None,
    password_hash: str | None = None,
    now: datetime,
) -> User:
    try:
        with conn.transaction():
            user = _one(
                conn,
                "INSERT INTO users (id, email, phone, password_hash, role, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
                (uuid4(), email.lower() if email else None, phone, password_hash,
                 canonical_role(role), now, now),
            )
    except errors.UniqueViolation as e:
        if "email" in str(e.diag.constraint_name or ""):
            raise EmailTakenError("an account with this email already exists", field="email") from None
        raise PhoneTakenError("an account with this phone already exists", field="phone") from None
    assert user is not None
    return user


def find_by_email(conn: Connection, email: str) -> tuple[User, str | None] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM users WHERE email=%s", (email.lower(),)).fetchone()
    return (User.from_row(row), row["password_hash"]) if row else None


def get_user(conn: Connection, user_id: UUID) -> User | None:
    return _one(conn, "SELECT * FROM users WHERE id=%s", (user_id,))


def user_for_phone(conn: Connection, phone: str, *, now: datetime) -> User:
    """The account of this phone, made on first sign-in (customer until onboarding says)."""
    existing = _one(conn, "SELECT * FROM users WHERE phone=%s", (phone,))
    if existing:
        return existing
    try:
        return create_user(conn, role=CUSTOMER, phone=phone, now=now)
    except PhoneTakenError:  # a concurrent first sign-in made it
        found = _one(conn, "SELECT * FROM users WHERE phone=%s", (phone,))
        assert found is not None
        return found


def set_password_hash(conn: Connection, user_id: UUID, password_hash: str) -> None:
    conn.execute("UPDATE users SET password_hash=%s WHERE id=%s", (password_hash, user_id))


def update_user(conn: Connection, user_id: UUID, *, now: datetime, **changes: Any) -> User:
    allowed = {"name", "city", "society", "role", "basic_onboarding_done", "role_onboarding_done",
               "marketing_opt_in", "location_allowed", "data_sharing"}
    unknown = set(changes) - allowed
    assert not unknown, unknown
    sets = ", ".join(f"{k}=%s" for k in changes)
    user = _one(
        conn,
        f"UPDATE users SET {sets}{', ' if sets else ''}updated_at=%s WHERE id=%s RETURNING *",
        (*changes.values(), now, user_id),
    )
    assert user is not None
    return user
