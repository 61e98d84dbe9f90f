"""/api/v1/consumer/profile/me and /api/v1/consumer/profile/edit."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Connection
from pydantic import BaseModel, Field

from api.dependencies import ConnectionDep, Customer, CustomerCall
from api.routes.auth import UserOut
from api.routes.uploads import ImageRef, check_image_ref
from api.routing import Router
from api.text import RequestModel
from identity import profiles, users
from identity.profiles import Language

router = Router(prefix="/api/v1/consumer/profile", tags=["profile"])


class ConsumerProfileOut(BaseModel):
    flat_number: str | None
    profile_photo: str | None
    avatar: str | None
    gender: str | None
    birth_date: str | None
    preferred_language: str
    created_at: str
    updated_at: str


class ProfileOut(BaseModel):
    user: UserOut
    profile: ConsumerProfileOut | None = Field(description="null until consumer onboarding")


class ProfileEdit(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    preferred_language: Language | None = None
    flat_number: str | None = Field(default=None, min_length=1, max_length=32)
    avatar: ImageRef | None = None

    model_config = {"json_schema_extra": {"examples": [{"name": "Asha R.", "preferred_language": "en"}]}}


def profile_response(conn: Connection, user_id: UUID) -> dict[str, Any]:
    user = users.get_user(conn, user_id)
    assert user is not None
    row = profiles.get_consumer_profile(conn, user_id)
    profile = None
    if row:
        profile = {k: row[k] for k in ("flat_number", "profile_photo", "avatar", "gender",
                                       "preferred_language")}
        profile["birth_date"] = row["birth_date"].isoformat() if row["birth_date"] else None
        profile["created_at"] = row["created_at"].isoformat()
        profile["updated_at"] = row["updated_at"].isoformat()
    return {"user": user.public(), "profile": profile}


@router.get("/me", response_model=ProfileOut, summary="Your user record and consumer profile")
def me(user: Customer, conn: ConnectionDep) -> dict[str, Any]:
    return profile_response(conn, user.id)


@router.post("/edit", response_model=ProfileOut, summary="Change some profile fields",
             responses={404: {"description": "no consumer profile yet; onboard first"}})
def edit(body: ProfileEdit, me: CustomerCall) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if "avatar" in changes:
        check_image_ref(me.runtime, changes["avatar"])
    for key in ("preferred_language", "flat_number"):
        if key in changes and changes[key] is None:
            del changes[key]  # these cannot be blanked
    name = changes.pop("name", None)
    profiles.edit_consumer_profile(me.conn, me.user.id, now=me.runtime.clock(), name=name, **changes)
    return profile_response(me.conn, me.user.id)
