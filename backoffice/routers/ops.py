"""Health and Prometheus metrics (no personal data)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from backoffice.deps import Ctx

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz(ctx: Ctx) -> dict[str, str | int]:
    """Liveness and the current watchlist version."""
    return {"status": "ok", "watchlist_version": ctx.watchlist.version()}


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(ctx: Ctx) -> Response:
    """Prometheus text exposition format."""
    ctx.metrics.open_exceptions.set(ctx.records.count_open())
    ctx.metrics.watchlist_version.set(ctx.watchlist.version())
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
