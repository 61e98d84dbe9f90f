"""User accounts. Not event-sourced: secrets and personal data stay out of the
append-only log; events name users by id only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg import Connection, errors
from psycopg.rows import dict_row

from domain.errors import ConflictError, DomainError

SELF_SERVICE_ROLES = frozenset({"customer", "vendor"})
STAFF_ROLES = frozenset({"admin", "support", "auditor"})
ALL_ROLES = SELF_SERVICE_ROLES | STAFF_ROLES | {"consumer"}

DDL = """
CREATE TABLE IF NOT EXISTS users (
    id uuid PRIMARY KEY,
    email text UNIQUE,
    phone text UNIQUE,
    password_hash text,
    role text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""


class WeakPasswordError(DomainError):
    title = "Weak password"


class EmailTakenError(ConflictError):
    title = "Email already registered"


@dataclass(frozen=True)
class User:
    id: UUID
    email: str | None
    phone: str | None
    role: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> User:
        return cls(row["id"], row["email"], row["phone"], row["role"], row["created_at"])

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "email": self.email,
            "phone": self.phone,
            # The two seeds call the same role "customer" and "consumer".
            "role": "customer" if self.role == "consumer" else self.role,
            "created_at": self.created_at.isoformat(),
        }


def check_password_strength(password: str) -> None:
    if len(password) < 8:
        raise WeakPasswordError("password must be at least 8 characters", field="password")
    if len(password) > 128:
        raise WeakPasswordError("password must be at most 128 characters", field="password")
    if not (re.search(r"[A-Za-z]", password) and re.search(r"[^A-Za-z]", password)):
        raise WeakPasswordError(
            "password must mix letters with digits or symbols", field="password"
        )


class Passwords:
    def __init__(self, memory_kib: int) -> None:
        self._hasher = PasswordHasher(memory_cost=memory_kib)
        # Verified against when the email is unknown, so both cases take the same time.
        self._dummy_hash = self._hasher.hash("not a real password 0")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and bool(
                password_hash
            )
        except (VerificationError, InvalidHashError):
            return False


def create_email_user(
    conn: Connection, passwords: Passwords, *, email: str, password: str, role: str
) -> User:
    check_password_strength(password)
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                "INSERT INTO users (id, email, password_hash, role) VALUES (%s, %s, %s, %s) "
                "RETURNING *",
                (uuid4(), email.lower(), passwords.hash(password), role),
            ).fetchone()
    except errors.UniqueViolation:
        raise EmailTakenError("an account with this email already exists", field="email") from None
    assert row is not None
    return User.from_row(row)


def find_by_email(conn: Connection, email: str) -> tuple[User, str | None] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM users WHERE email=%s", (email.lower(),)).fetchone()
    return (User.from_row(row), row["password_hash"]) if row else None


def get_user(conn: Connection, user_id: UUID) -> User | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM users WHERE id=%s", (user_id,)).fetchone()
    return User.from_row(row) if row else None
