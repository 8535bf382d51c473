"""Officer calls: gates and kiosks raise them, guards and supervisors list, acknowledge and close them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from backoffice._calls import ACTIVE
from backoffice.deps import Ctx, Device, Guard, IdempotencyKey
from backoffice.routers.exceptions import _REPLAY, _idempotent_response
from backoffice.schemas import CallCreate, CallPagePublic, CallPublic, ProblemPublic

router = APIRouter(prefix="/api/v1/calls", tags=["calls"])
_P = {r: {"model": ProblemPublic} for r in (400, 401, 403, 404, 409, 413, 422)}
CallId = Annotated[str, Path(max_length=64, description="the call's id (`call_...`)")]


@router.post("", status_code=201, response_model=CallPublic, responses={**_P, **_REPLAY})
def raise_call(body: CallCreate, device: Device, ctx: Ctx, idempotency_key: IdempotencyKey = None):
    """A gate or kiosk calls an officer: the screen or state it was in and a reason code (no personal data;
    the device, its kind and location come from its credential). Idempotent on ``Idempotency-Key``."""
    return _idempotent_response(ctx.calls.raise_call(device, body, idempotency_key), CallPublic)


@router.get("", responses=_P)
def list_calls(guard: Guard, ctx: Ctx,
               status: Literal["active", "open", "acknowledged", "closed"] = "active",
               offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> CallPagePublic:
    """Officer calls, oldest first. ``status=active`` (the default): every call not closed yet; ``open``: not
    acknowledged yet."""
    statuses = ACTIVE if status == "active" else (status,)
    items, total = ctx.calls.list(statuses, offset, limit)
    return CallPagePublic(total=total, items=[CallPublic(**i) for i in items])


@router.post("/{call_id}/acknowledge", responses=_P)
def acknowledge_call(call_id: CallId, guard: Guard, ctx: Ctx) -> CallPublic:
    """An officer is on the way: ``open`` -> ``acknowledged``. 409 when it is acknowledged or closed already."""
    return CallPublic(**ctx.calls.acknowledge(call_id, guard))


@router.post("/{call_id}/close", responses=_P)
def close_call(call_id: CallId, guard: Guard, ctx: Ctx) -> CallPublic:
    """The traveller was helped: ``open``/``acknowledged`` -> ``closed``. 409 when it is closed already."""
    return CallPublic(**ctx.calls.close(call_id, guard))
