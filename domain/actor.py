"""Who issues a command. Authorisation rules live with the commands that need them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Shared by the domain and identity. A StrEnum is a str: stored rows, events and JSON
    keep the plain values."""

    CUSTOMER = "customer"
    VENDOR = "vendor"
    ADMIN = "admin"
    SUPPORT = "support"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class Actor:
    user_id: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.ADMIN, Role.SUPPORT)
