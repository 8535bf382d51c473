"""Exceptions posted by devices, the guard review queue and decisions; device events."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from backoffice.deps import Ctx, Device, Guard, IdempotencyKey, Supervisor
from backoffice.schemas import (
    DecisionCreate,
    EventCreate,
    EventPublic,
    ExceptionCreate,
    ExceptionDetailPublic,
    ExceptionPagePublic,
    ExceptionPublic,
    ProblemPublic,
)

router = APIRouter(prefix="/api/v1", tags=["exceptions"])
_P = {r: {"model": ProblemPublic} for r in (400, 401, 403, 404, 409, 413, 422)}
_REPLAY = {200: {"description": "Replay of an earlier request with the same Idempotency-Key"}}


def _idempotent_response(result, model) -> JSONResponse:
    """The stored answer (validated against ``model`` and encoded before its transaction committed)."""
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return JSONResponse(result.body, status_code=200 if result.replayed else result.status_code, headers=headers)


@router.post("/exceptions", status_code=201, response_model=ExceptionPublic, responses={**_P, **_REPLAY})
def post_exception(body: ExceptionCreate, device: Device, ctx: Ctx, idempotency_key: IdempotencyKey = None):
    """A gate or kiosk reports an exception: reason codes, scores, document data and images (stored
    encrypted in the privacy vault). Idempotent on the ``Idempotency-Key`` header."""
    return _idempotent_response(ctx.records.create_exception(device, body, idempotency_key), ExceptionPublic)


@router.get("/exceptions", responses=_P)
def list_exceptions(guard: Guard, ctx: Ctx,
                    status: Literal["open", "referred", "resolved", "queue"] = "queue",
                    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50) -> ExceptionPagePublic:
    """The review queue (``status=queue``: open ones, plus referred ones for supervisors), oldest first."""
    statuses = [status] if status != "queue" else (["open", "referred"] if guard.role == "supervisor" else ["open"])
    items, total = ctx.records.list_exceptions(statuses, offset, limit)
    return ExceptionPagePublic(total=total, items=[ExceptionPublic(**i) for i in items])


@router.get("/exceptions/{exception_id}", responses=_P)
def get_exception(exception_id: str, guard: Guard, ctx: Ctx) -> ExceptionDetailPublic:
    """The review view with document data (the access is written to the privacy ledger)."""
    return ExceptionDetailPublic(**ctx.records.exception_detail(exception_id, guard))


@router.get("/exceptions/{exception_id}/images/{which}", response_class=Response, responses={
    **_P, 200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                            "image/png": {"schema": {"type": "string", "format": "binary"}},
                            "image/jp2": {"schema": {"type": "string", "format": "binary"}}}},
    410: {"model": ProblemPublic, "description": "the image's data key was destroyed by the retention purge or an "
          "erasure (`.../shredded`): no copy of it can be read, also not one restored from a backup"},
    409: {"model": ProblemPublic, "description": "the sealed image failed authentication (tampered) or its key is "
          "unknown to this key store (`.../sealed-item-unreadable`); logged as a tamper event"}})
def get_exception_image(exception_id: str, which: Literal["live", "chip"], guard: Guard, ctx: Ctx) -> Response:
    """The live capture or the chip (DG2) image, decrypted for review (ledgered, never cached). 404 once it
    was purged; 410 ``shredded`` when the database still lists it but its key is gone (a restored backup)."""
    data, media = ctx.records.exception_image(exception_id, which, guard)
    return Response(data, media_type=media, headers={"Cache-Control": "no-store"})


@router.post("/exceptions/{exception_id}/decision", responses=_P)
def decide_exception(exception_id: str, body: DecisionCreate, guard: Guard, ctx: Ctx) -> ExceptionPublic:
    """Admit, refuse or refer (to a supervisor) with notes."""
    return ExceptionPublic(**ctx.records.decide(exception_id, guard, body.decision, body.notes))


@router.post("/events", status_code=201, response_model=EventPublic, responses={**_P, **_REPLAY})
def post_event(body: EventCreate, device: Device, ctx: Ctx, idempotency_key: IdempotencyKey = None):
    """A gate transaction or device event (no personal data). Idempotent on ``Idempotency-Key``."""
    return _idempotent_response(ctx.records.create_event(device, body, idempotency_key), EventPublic)


@router.get("/events", responses=_P)
def list_events(supervisor: Supervisor, ctx: Ctx,
                device_id: Annotated[str | None, Query(max_length=64)] = None,
                offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[EventPublic]:
    return [EventPublic(**e) for e in ctx.records.list_events(device_id, offset, limit)]
