"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ...schemas import Health

ROUTER = APIRouter(prefix="/health", tags=["health"])


@ROUTER.get("/live", summary="Liveness: the process answers")
async def health() -> Health:
    """Answer while the worker runs; no model needed (for liveness probes)."""
    return Health(status="ok")


@ROUTER.get("/ready", summary="Readiness: the model is loaded",
            responses={503: {"model": Health, "description": "The model is not loaded"}})
async def ready(request: Request, response: Response) -> Health:
    """Answer 200 once this worker has its model, 503 before (for readiness probes)."""
    if getattr(request.app.state, "predictor", None) is None:
        response.status_code = 503
        return Health(status="not ready")
    return Health(status="ready")
