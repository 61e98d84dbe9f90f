"""GET /metrics: Prometheus text format (see api/metrics.py for what is measured)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from api import metrics
from api.routing import Router

router = Router(tags=["operations"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {metrics.CONTENT_TYPE: {}},
                             "description": "Prometheus text exposition format"}})
def get_metrics(request: Request) -> Response:
    registry = request.app.state.metrics
    return Response(metrics.render(registry), media_type=metrics.CONTENT_TYPE)
