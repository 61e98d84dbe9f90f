"""/api/v1/onboarding/basic and /api/v1/consumer/onboarding."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import status
from pydantic import Field

from api.dependencies import CustomerCall, SelfServiceCall
from api.routes.auth import UserOut
from api.routes.profile import ProfileOut, profile_response
from api.routes.uploads import ImageRef, check_image_ref
from api.routing import Router
from api.text import RequestModel
from domain.errors import ConflictError
from identity import profiles, users
from identity.profiles import Gender, Language, OnboardingOrderError
from runtime import Runtime

router = Router(prefix="/api/v1", tags=["onboarding"])

Text = Field(min_length=1, max_length=120)


class BasicOnboarding(RequestModel):
    name: str = Text
    city: str = Text
    society: str = Text
    role: Literal["consumer", "customer", "vendor"]

    model_config = {"json_schema_extra": {"examples": [
        {"name": "Asha Rao", "city": "Bengaluru", "society": "Prestige Lakeside", "role": "consumer"}
    ]}}


class ConsumerOnboarding(RequestModel):
    flat_number: str = Field(min_length=1, max_length=32)
    profile_photo: ImageRef | None = None
    gender: Gender | None = None
    birth_date: date | None = None
    preferred_language: Language = "en"

    model_config = {"json_schema_extra": {"examples": [{
        "flat_number": "B-1204", "profile_photo": "https://example.com/asha.jpg",
        "gender": "female", "birth_date": "1994-03-17", "preferred_language": "kn",
    }]}}


class RoleChangeError(ConflictError):
    title = "Role already chosen"


def check_role_change(runtime: Runtime, user: users.User) -> None:
    """A role is chosen once, by a customer who has not yet onboarded or shopped: a vendor who
    became a customer left open shops taking orders no one could accept, and a customer who
    became a vendor left a wallet balance behind a 403."""
    if user.role_onboarding_done or user.basic_onboarding_done:
        raise RoleChangeError(f"you finished onboarding as {user.role}; the role cannot change")
    if user.role != users.CUSTOMER:
        raise RoleChangeError(f"a {user.role} account keeps its role")
    if runtime.commerce.has_shopped(user.id):
        raise RoleChangeError("this account has shopped as a customer; the role cannot change")
    if runtime.payments.may_still_load(user.id, runtime.clock()):
        raise RoleChangeError("this account has a wallet load that may still be paid; the role "
                              "cannot change")


@router.post("/onboarding/basic", response_model=UserOut,
             summary="Name, city, society and role (consumer or vendor)")
def basic(body: BasicOnboarding, me: SelfServiceCall) -> dict[str, Any]:
    role = users.canonical_role(body.role)
    if role != me.user.role:
        check_role_change(me.runtime, me.user)
    updated = users.update_user(
        me.conn, me.user.id, now=me.runtime.clock(), name=body.name, city=body.city,
        society=body.society, role=role, basic_onboarding_done=True,
    )
    return updated.public()


@router.post("/consumer/onboarding", status_code=status.HTTP_201_CREATED,
             response_model=ProfileOut, summary="Create the consumer profile")
def consumer(body: ConsumerOnboarding, me: CustomerCall) -> dict[str, Any]:
    if not me.user.basic_onboarding_done:
        raise OnboardingOrderError("finish POST /api/v1/onboarding/basic first")
    now = me.runtime.clock()
    profiles.check_birth_date(body.birth_date, now.date())
    check_image_ref(me.runtime, body.profile_photo)
    profiles.create_consumer_profile(me.conn, me.user.id, now=now, **body.model_dump())
    return profile_response(me.conn, me.user.id)
