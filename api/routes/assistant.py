"""Customer Journey assistant: POST /api/v1/agent/query (any signed-in user)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from api.dependencies import ConnectionDep, CurrentUser, RuntimeDep
from api.read_your_writes import await_read_model
from api.routing import Router
from api.text import RequestModel
from projections import assistant, offers, order_history, rewards, support_tickets, wallet_balance

router = Router(prefix="/api/v1/agent", tags=["assistant"])


class QueryIn(RequestModel):
    query: str = Field(min_length=1, max_length=assistant.MAX_QUERY)

    model_config = {"json_schema_extra": {"examples": [{"query": "Where is my order?"},
                                                       {"query": "find basmati rice"}]}}


class Link(BaseModel):
    label: str
    link: str


class AnswerOut(BaseModel):
    intent: str = Field(description="order_status, wallet, rewards, offers, search, human, return, "
                                    "cancel, refund, greeting or unknown")
    answer: str
    links: list[Link]
    items: list[dict[str, Any]] = Field(description="matching items (search) or offers")
    suggestions: list[str]


@router.post("/query", response_model=AnswerOut,
             summary="Ask the assistant: orders, wallet, points, offers, finding items, support")
def query(body: QueryIn, user: CurrentUser, runtime: RuntimeDep, conn: ConnectionDep) -> dict[str, Any]:
    for model in (order_history.READ_MODEL, wallet_balance.READ_MODEL, rewards.READ_MODEL,
                  offers.READ_MODEL, support_tickets.READ_MODEL):
        await_read_model(runtime, conn, user, model)  # the answer reflects the caller's own writes
    reply = assistant.answer(conn, user.id, body.query, now=runtime.clock(), tiers=runtime.settings.tiers)
    return {"intent": reply.intent, "answer": reply.answer, "links": reply.links, "items": reply.items,
            "suggestions": assistant.SUGGESTIONS}
