"""/api/v1/consumer/settings and /api/v1/consumer/settings/update."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from api.dependencies import Customer, CustomerCall
from api.routing import Router
from api.text import RequestModel
from identity import users

router = Router(prefix="/api/v1/consumer/settings", tags=["settings"])


class PrivacySettings(BaseModel):
    marketing_opt_in: bool
    location_allowed: bool
    data_sharing: bool


class PrivacySettingsUpdate(RequestModel):
    marketing_opt_in: bool | None = None
    location_allowed: bool | None = None
    data_sharing: bool | None = None

    model_config = {"json_schema_extra": {"examples": [{"marketing_opt_in": False, "location_allowed": True}]}}


@router.get("", response_model=PrivacySettings, summary="Your data and privacy settings")
def get_settings(user: Customer) -> dict[str, Any]:
    return user.privacy_settings()


@router.post("/update", response_model=PrivacySettings, summary="Change some settings")
def update_settings(body: PrivacySettingsUpdate, me: CustomerCall) -> dict[str, Any]:
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return users.update_user(me.conn, me.user.id, now=me.runtime.clock(), **changes).privacy_settings()
