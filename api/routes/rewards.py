"""Loyalty: /api/v1/consumer/rewards and /api/v1/consumer/rewards/redeem."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from api.dependencies import ConnectionDep, Customer, CustomerCall, RuntimeDep
from api.read_your_writes import await_read_model, remember_write
from api.routes.carts import CartOut
from api.routing import Router
from api.text import RequestModel
from domain.commerce.rewards import POINT_VALUE, tier_of
from projections import cart_view, rewards

router = Router(prefix="/api/v1/consumer/rewards", tags=["rewards"])


class RewardLine(BaseModel):
    type: str = Field(description="earned, redeemed, restored or reversed")
    points: int
    reference: str
    at: str


class RewardsOut(BaseModel):
    points: int
    reserved: int = Field(description="held for your current cart")
    available: int
    point_value: int = Field(description="paise off per point")
    tier: str
    next_tier: str | None
    points_to_next_tier: int
    lifetime_points: int
    history: list[RewardLine]


class RedeemIn(RequestModel):
    points: Annotated[int, Field(strict=True, ge=0, le=10**7, description="0 releases the reservation")]

    model_config = {"json_schema_extra": {"examples": [{"points": 200}]}}


class RedeemOut(BaseModel):
    rewards: RewardsOut
    cart: CartOut


def state(tiers: tuple[tuple[str, int], ...], points: int, reserved: int, lifetime: int,
          history: list[dict[str, Any]]) -> dict[str, Any]:
    tier, next_tier, to_next = tier_of(lifetime, tiers)
    return {"points": points, "reserved": reserved, "available": points - reserved,
            "point_value": POINT_VALUE, "tier": tier, "next_tier": next_tier,
            "points_to_next_tier": to_next, "lifetime_points": lifetime,
            "history": [{**h, "at": h["at"].isoformat()} for h in history]}


@router.get("", response_model=RewardsOut, summary="Your points, tier and recent history")
def get_rewards(user: Customer, runtime: RuntimeDep, conn: ConnectionDep) -> dict[str, Any]:
    await_read_model(runtime, conn, user, rewards.READ_MODEL)
    row, history = rewards.find(conn, user.id)
    if row is None:
        return state(runtime.settings.tiers, 0, 0, 0, [])
    return state(runtime.settings.tiers, row["points"], row["reserved"], row["lifetime"], history)


@router.post("/redeem", response_model=RedeemOut,
             summary="Hold points against your cart; applied as a discount when you confirm")
def redeem(body: RedeemIn, me: CustomerCall) -> dict[str, Any]:
    saved = me.runtime.commerce.reserve_points(owner_id=me.user.id, points=body.points)
    remember_write(me.conn, me.user, "commerce", saved.position)
    cart, ledger = saved.value
    await_read_model(me.runtime, me.conn, me.user, rewards.READ_MODEL)
    _, history = rewards.find(me.conn, me.user.id)
    tiers = me.runtime.settings.tiers
    return {"rewards": state(tiers, ledger.balance, ledger.reserved, ledger.lifetime, history),
            "cart": cart_view.summary(cart)}
