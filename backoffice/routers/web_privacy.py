"""The privacy officer's pages of the web UI: ledger, retention, purge, subject access and erasure."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from backoffice._auth import Principal
from backoffice.deps import Ctx
from backoffice.routers.web import UiPrivacy, _csrf, _lang, render

router = APIRouter(prefix="/ui", include_in_schema=False)


# -- privacy officer ---------------------------------------------------------------------------
def _privacy_page(request: Request, ctx, user: Principal, **extra) -> HTMLResponse:
    p = ctx.privacy
    return render(request, ctx, "privacy.html", user, ledger=p.verify_ledger(), ledger_tail=p.ledger_tail(25),
                  retention=p.retention_report(_lang(request, ctx)), purges=p.purge_history(), purposes=p.purposes(),
                  **extra)


@router.get("/privacy")
def privacy_page(request: Request, ctx: Ctx, user: UiPrivacy) -> HTMLResponse:
    return _privacy_page(request, ctx, user)


@router.post("/privacy/purge")
def privacy_purge(request: Request, ctx: Ctx, user: UiPrivacy, dry_run: Annotated[str, Form(max_length=5)] = "",
                  csrf_token: Annotated[str, Form(max_length=200)] = "") -> HTMLResponse:
    _csrf(ctx, user, csrf_token)
    result = ctx.privacy.purge(dry_run=bool(dry_run), actor=user.actor, role=user.role)
    if not dry_run:
        ctx.records.enrolments.invalidate()
    return _privacy_page(request, ctx, user, purge_result=json.dumps(result, indent=2, ensure_ascii=False))


@router.post("/privacy/subject")
def privacy_subject(request: Request, ctx: Ctx, user: UiPrivacy,
                    document_number: Annotated[str, Form(min_length=1, max_length=40)],
                    issuing_state: Annotated[str, Form(min_length=1, max_length=3)],
                    purpose: Annotated[str, Form(min_length=3, max_length=200)] = "subject_access_request",
                    action: Annotated[str, Form(max_length=10)] = "export",
                    csrf_token: Annotated[str, Form(max_length=200)] = "") -> HTMLResponse:
    _csrf(ctx, user, csrf_token)
    subject = ctx.records.subject_id(issuing_state, document_number)
    if action == "erase":
        result = ctx.privacy.erase_subject(subject, actor=user.actor, role=user.role, purpose=purpose)
        ctx.records.enrolments.invalidate()  # the records were dropped with the keys; the galleries reload
    else:
        result = ctx.privacy.export_subject(subject, actor=user.actor, role=user.role, purpose=purpose)
        result["records"] = ctx.records.subject_records(subject)
    return _privacy_page(request, ctx, user,
                         subject_result=json.dumps(result, indent=2, ensure_ascii=False, default=str))
