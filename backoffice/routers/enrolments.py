"""Enrolments from kiosks (with the 1:N duplicate check) and their supervision."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from backoffice.deps import Ctx, Gate, IdempotencyKey, Kiosk, Supervisor
from backoffice.routers.exceptions import _REPLAY, _idempotent_response
from backoffice.schemas import (
    EnrolmentCreate,
    EnrolmentDecisionCreate,
    EnrolmentPublic,
    FingerVerifyCreate,
    FingerVerifyPublic,
    ProblemPublic,
)

router = APIRouter(prefix="/api/v1/enrolments", tags=["enrolments"])
_P = {r: {"model": ProblemPublic} for r in (400, 401, 403, 404, 409, 413, 422)}


@router.post("", status_code=201, response_model=EnrolmentPublic, responses={**_P, **_REPLAY})
def post_enrolment(body: EnrolmentCreate, kiosk: Kiosk, ctx: Ctx, idempotency_key: IdempotencyKey = None):
    """A kiosk submits an enrolment (document data, face template, optional fingerprint templates,
    consent). Checked 1:N against other subjects first: ``accepted`` or ``duplicate_suspected``
    (held for a supervisor). ``checks`` says which modalities were compared."""
    return _idempotent_response(ctx.records.enrolments.create(kiosk, body, idempotency_key), EnrolmentPublic)


@router.post("/verify", responses=_P)
def verify_fingerprints(body: FingerVerifyCreate, gate: Gate, ctx: Ctx) -> FingerVerifyPublic:
    """A gate's 1:1 fingerprint check against the traveller's enrolment. The enrolled templates never
    leave the back office; the access is ledgered (purpose ``gate_fingerprint_verification``) and the
    probe is not stored."""
    return FingerVerifyPublic(**ctx.records.enrolments.verify_fingers(gate, body.document_number, body.issuing_state,
                                                                        body.finger_templates))


@router.get("", responses=_P)
def list_enrolments(supervisor: Supervisor, ctx: Ctx,
                    status: Literal["accepted", "duplicate_suspected", "rejected"] | None = None,
                    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[EnrolmentPublic]:
    return [EnrolmentPublic(**e) for e in ctx.records.enrolments.list(status, offset, limit)]


@router.get("/{enrolment_id}", responses=_P)
def get_enrolment(enrolment_id: str, supervisor: Supervisor, ctx: Ctx) -> EnrolmentPublic:
    return EnrolmentPublic(**ctx.records.enrolments.get(enrolment_id))


@router.post("/{enrolment_id}/decision", responses=_P)
def decide_enrolment(enrolment_id: str, body: EnrolmentDecisionCreate, supervisor: Supervisor,
                     ctx: Ctx) -> EnrolmentPublic:
    """Accept or reject an enrolment held as ``duplicate_suspected``."""
    return EnrolmentPublic(**ctx.records.enrolments.decide(enrolment_id, supervisor, body.decision, body.notes))
