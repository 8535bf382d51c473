"""Privacy officer API: retention report and purge, purge history, ledger verification and
export, subject access export and erasure, the register of processing purposes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from backoffice._review_images import forget_all
from backoffice.deps import Ctx, PrivacyOfficer
from backoffice.schemas import (
    LedgerEntryPublic,
    LedgerVerifyPublic,
    ProblemPublic,
    PurgeResultPublic,
    PurgeRunPublic,
    PurposePublic,
    RetentionRowPublic,
    SubjectAccessExport,
    SubjectErasurePublic,
    SubjectLookup,
)

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])
_P = {r: {"model": ProblemPublic} for r in (401, 403, 404, 422)}


@router.get("/retention", responses=_P)
def retention_report(officer: PrivacyOfficer, ctx: Ctx) -> list[RetentionRowPublic]:
    """Per data category: records held, records due for purge, the policy."""
    return ctx.privacy.retention_report()


@router.post("/purge", responses={**_P, 409: {"model": ProblemPublic}})
def purge(request: Request, officer: PrivacyOfficer, ctx: Ctx, dry_run: bool = True) -> PurgeResultPublic:
    """Run the retention purge (``dry_run=true`` by default: report what would go); 409 while another purge runs
    (several workers on PostgreSQL share one purge lock)."""
    result = ctx.privacy.purge(dry_run=dry_run, actor=officer.actor, role=officer.role)
    if not dry_run:
        ctx.records.enrolments.invalidate()
        forget_all(request.app)  # no photo decrypted before the purge stays in memory
    return result


@router.get("/purges", responses=_P)
def purge_history(officer: PrivacyOfficer, ctx: Ctx) -> list[PurgeRunPublic]:
    return ctx.privacy.purge_history()


@router.get("/ledger/verify", responses=_P)
def verify_ledger(officer: PrivacyOfficer, ctx: Ctx) -> LedgerVerifyPublic:
    """Check the hash chain of the audit ledger: ``ok``, number of entries, first broken entry."""
    return ctx.privacy.verify_ledger()


@router.get("/ledger", responses=_P)
def ledger(officer: PrivacyOfficer, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[LedgerEntryPublic]:
    """The latest ledger entries (who, role, action, record, purpose, when)."""
    return ctx.privacy.ledger_tail(limit)


@router.post("/subjects/export", responses=_P)
def export_subject(body: SubjectLookup, officer: PrivacyOfficer, ctx: Ctx) -> SubjectAccessExport:
    """Subject access request: everything held about the holder of a document (decrypted; ledgered)."""
    subject = ctx.records.subject_id(body.issuing_state, body.document_number)
    result = ctx.privacy.export_subject(subject, actor=officer.actor, role=officer.role, purpose=body.purpose)
    result["records"] = ctx.records.subject_records(subject)
    return result


@router.post("/subjects/erase", responses=_P)
def erase_subject(request: Request, body: SubjectLookup, officer: PrivacyOfficer, ctx: Ctx) -> SubjectErasurePublic:
    """Erase (crypto-shred) every record of the holder of a document."""
    subject = ctx.records.subject_id(body.issuing_state, body.document_number)
    result = ctx.privacy.erase_subject(subject, actor=officer.actor, role=officer.role, purpose=body.purpose)
    ctx.records.enrolments.invalidate()  # the records were dropped with the keys; the galleries reload
    forget_all(request.app)
    return result


@router.get("/purposes", responses=_P)
def purposes(officer: PrivacyOfficer, ctx: Ctx) -> list[PurposePublic]:
    """The register of processing purposes (GDPR art. 30 / Vietnam Decree 13/2023 style)."""
    return ctx.privacy.purposes()
