"""Consumer profiles, address book and uploaded images' owners."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, get_args
from uuid import UUID, uuid4

from psycopg import Connection
from psycopg.rows import dict_row

from domain.errors import ConflictError, DomainError, NotFoundError

Gender = Literal["female", "male", "non_binary", "other", "prefer_not_to_say"]
GENDERS: tuple[Gender, ...] = get_args(Gender)
# ISO 639-1 codes of the languages the apps are translated into.
Language = Literal["en", "hi", "bn", "te", "mr", "ta", "ur", "gu", "kn", "ml", "or", "pa", "as"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
MAX_ADDRESSES = 20

# Tables (consumer_profiles, consumer_addresses): eventmart/schema/, applied by `eventmart migrate`.


class AlreadyOnboardedError(ConflictError, title="Already onboarded"): ...


class OnboardingOrderError(ConflictError, title="Onboarding step missing"): ...


class ProfileNotFoundError(NotFoundError, title="Profile not found"): ...


class AddressNotFoundError(NotFoundError, title="Address not found"): ...


class TooManyAddressesError(DomainError, title="Too many addresses"): ...


def check_birth_date(birth_date: date | None, today: date) -> None:
    if birth_date is not None and (birth_date > today or birth_date.year < 1900):
        raise DomainError("birth_date must be a past date after 1900", field="birth_date")


def create_consumer_profile(
    conn: Connection, user_id: UUID, *, now: datetime, **fields: Any
) -> dict[str, Any]:
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO consumer_profiles (user_id, flat_number, profile_photo, avatar, gender, "
            "birth_date, preferred_language, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (user_id) DO NOTHING "
            "RETURNING *",
            (user_id, fields.get("flat_number"), fields.get("profile_photo"),
             fields.get("profile_photo"), fields.get("gender"), fields.get("birth_date"),
             fields.get("preferred_language") or "en", now, now),
        ).fetchone()
        if row is None:
            raise AlreadyOnboardedError("consumer profile exists; use profile/edit")
        cur.execute(
            "UPDATE users SET role_onboarding_done=true, updated_at=%s WHERE id=%s", (now, user_id)
        )
    return row


def get_consumer_profile(conn: Connection, user_id: UUID) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM consumer_profiles WHERE user_id=%s", (user_id,)
        ).fetchone()


def edit_consumer_profile(
    conn: Connection, user_id: UUID, *, now: datetime, name: str | None, **changes: Any
) -> None:
    with conn.transaction():
        if changes:
            sets = ", ".join(f"{k}=%s" for k in changes)
            cur = conn.execute(
                f"UPDATE consumer_profiles SET {sets}, updated_at=%s WHERE user_id=%s",
                (*changes.values(), now, user_id),
            )
            if cur.rowcount == 0:
                raise ProfileNotFoundError("no consumer profile yet; onboard first")
        elif get_consumer_profile(conn, user_id) is None:
            raise ProfileNotFoundError("no consumer profile yet; onboard first")
        if name is not None:
            conn.execute("UPDATE users SET name=%s WHERE id=%s", (name, user_id))
        conn.execute("UPDATE users SET updated_at=%s WHERE id=%s", (now, user_id))


ADDRESS_FIELDS = ("house_number", "street", "landmark", "city", "society", "pincode", "label")


def list_addresses(conn: Connection, user_id: UUID) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM consumer_addresses WHERE user_id=%s AND deleted_at IS NULL "
            "ORDER BY created_at, id",
            (user_id,),
        ).fetchall()


def add_address(conn: Connection, user_id: UUID, *, now: datetime, **fields: Any) -> dict[str, Any]:
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT 1 FROM users WHERE id=%s FOR UPDATE", (user_id,))
        counted = cur.execute(
            "SELECT count(*) AS n FROM consumer_addresses WHERE user_id=%s AND deleted_at IS NULL",
            (user_id,),
        ).fetchone()
        count = counted["n"] if counted else 0
        if count >= MAX_ADDRESSES:
            raise TooManyAddressesError(f"an address book holds at most {MAX_ADDRESSES} addresses")
        row = cur.execute(
            "INSERT INTO consumer_addresses (id, user_id, house_number, street, landmark, city, "
            "society, pincode, label, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
            (uuid4(), user_id, *(fields.get(f) for f in ADDRESS_FIELDS), now, now),
        ).fetchone()
    assert row is not None
    return row


def get_address(
    conn: Connection, user_id: UUID, address_id: UUID, *, include_deleted: bool = False
) -> dict[str, Any]:
    """Someone else's address is as good as missing. Deleted ones stay resolvable (for past
    orders) only when asked for."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT * FROM consumer_addresses WHERE id=%s AND user_id=%s", (address_id, user_id)
        ).fetchone()
    if row is None or (row["deleted_at"] is not None and not include_deleted):
        raise AddressNotFoundError(f"address {address_id} not found")
    return row


def edit_address(
    conn: Connection, user_id: UUID, address_id: UUID, *, now: datetime, **changes: Any
) -> dict[str, Any]:
    get_address(conn, user_id, address_id)
    if changes:
        sets = ", ".join(f"{k}=%s" for k in changes)
        conn.execute(
            f"UPDATE consumer_addresses SET {sets}, updated_at=%s WHERE id=%s AND user_id=%s",
            (*changes.values(), now, address_id, user_id),
        )
    return get_address(conn, user_id, address_id)


def delete_address(conn: Connection, user_id: UUID, address_id: UUID, *, now: datetime) -> None:
    get_address(conn, user_id, address_id)
    conn.execute(
        "UPDATE consumer_addresses SET deleted_at=%s, updated_at=%s WHERE id=%s AND user_id=%s",
        (now, now, address_id, user_id),
    )
