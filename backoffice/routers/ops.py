"""Health and Prometheus metrics (no personal data).

``/healthz`` is public. ``/metrics`` answers a scraper on the same host (a loopback peer whose request
carries no ``Authorization``, ``X-Forwarded-For`` or ``Forwarded`` header, so a reverse proxy on the same
host does not make every caller local) and otherwise needs a supervisor's or an admin's bearer token.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from backoffice._errors import Forbidden
from backoffice.deps import Ctx, get_caller

router = APIRouter(tags=["ops"])

#: the staff roles that may read the metrics from another host (bearer token)
METRICS_ROLES = ("supervisor", "admin")


def _local_scraper(request: Request) -> bool:
    """A direct caller on the loopback interface: no proxy in between, no credential sent."""
    headers = request.headers
    if any(h in headers for h in ("authorization", "x-forwarded-for", "forwarded")):
        return False
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:  # not an IP address (a Unix socket, a test client)
        return False


def metrics_reader(request: Request, ctx: Ctx) -> None:
    """A scraper on loopback, or a bearer token of a role in :data:`METRICS_ROLES` (401/403 otherwise)."""
    if _local_scraper(request):
        return
    caller = get_caller(request, ctx)
    if caller.role not in METRICS_ROLES:
        raise Forbidden(f"role {caller.role} may not read the metrics (allowed: {', '.join(METRICS_ROLES)}, "
                        "or a scraper on the loopback interface)")


metrics_reader.allowed = frozenset(METRICS_ROLES)  # type: ignore[attr-defined]


@router.get("/healthz")
def healthz(ctx: Ctx) -> dict[str, str | int]:
    """Liveness and the current watchlist version."""
    return {"status": "ok", "watchlist_version": ctx.watchlist.version()}


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(ctx: Ctx, _: Annotated[None, Depends(metrics_reader)]) -> Response:
    """Prometheus text exposition format. A scraper on the same host (loopback, no proxy header) needs no
    credential; from elsewhere send a supervisor's or an admin's bearer token."""
    ctx.metrics.open_exceptions.set(ctx.records.count_open())
    ctx.metrics.watchlist_version.set(ctx.watchlist.version())
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
