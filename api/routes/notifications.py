"""Customer Journey notification centre: /api/v1/consumer/notifications and
/api/v1/consumer/notifications/mark-read."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from api.dependencies import ConnectionDep, Customer, CustomerCall, RuntimeDep
from api.pagination import PageDep
from api.read_your_writes import await_read_model
from api.routing import Router
from api.text import RequestModel
from projections import notifications

router = Router(prefix="/api/v1/consumer/notifications", tags=["notifications"])


class NotificationOut(BaseModel):
    id: str
    kind: str = Field(description="order, wallet, rewards, promotion or support")
    title: str
    body: str
    link: str = Field(description="deep link for the app, e.g. /orders/{order_id} or /wallet")
    at: str
    read_at: str | None


class NotificationsOut(BaseModel):
    count: int
    next: str | None
    previous: str | None
    unread: int = Field(description="unread notifications in all, for the badge")
    results: list[NotificationOut]


class MarkReadIn(RequestModel):
    ids: list[UUID] | None = Field(default=None, max_length=100)
    all: bool = Field(default=False, description="mark everything read")

    @model_validator(mode="after")
    def _one_of(self) -> MarkReadIn:
        if self.all == (self.ids is not None):
            raise ValueError("send either ids or all: true")
        return self

    model_config = {"json_schema_extra": {"examples": [
        {"ids": ["0b3c7f0e-5d1a-5c55-9a43-6f4ad0a2f1b7"]}, {"all": True}]}}


class MarkReadOut(BaseModel):
    marked: int
    unread: int


@router.get("", response_model=NotificationsOut,
            summary="Your notifications, newest first (offers only if you opted in to marketing)")
def list_notifications(user: Customer, runtime: RuntimeDep, conn: ConnectionDep, page: PageDep,
                       unread: bool = False) -> dict[str, Any]:
    for model in (notifications.READ_MODEL, notifications.SUPPORT_READ_MODEL):
        await_read_model(runtime, conn, user, model)
    found, unread_count = notifications.page(
        conn, user.id, promotions=user.marketing_opt_in, joined=user.created_at, unread_only=unread,
        page=page.page, size=page.size)
    rows = [{**r, "id": str(r["id"]), "at": r["at"].isoformat(),
             "read_at": r["read_at"].isoformat() if r["read_at"] else None} for r in found.rows]
    return {**page.envelope(found.count, rows), "unread": unread_count}


@router.post("/mark-read", response_model=MarkReadOut, summary="Mark some or all notifications read")
def mark_read(body: MarkReadIn, me: CustomerCall) -> dict[str, int]:
    marked = notifications.mark_read(me.conn, me.user.id, body.ids, promotions=me.user.marketing_opt_in,
                                     joined=me.user.created_at, now=me.runtime.clock())
    unread = notifications.unread_count(me.conn, me.user.id, promotions=me.user.marketing_opt_in,
                                        joined=me.user.created_at)
    return {"marked": marked, "unread": unread}
