"""The privacy officer's pages of the web UI: ledger, retention, purge, subject access and erasure.

Erasure takes two POSTs: the first (``action=erase``) only looks (counts per category, nothing decrypted) and
answers a confirmation page naming the subject and the purpose, with a confirmation token: an HMAC under the
secret key bound to the subject, the purpose, the officer's session and a short expiry; only the second
(``action=erase_confirmed`` with that token) erases. The subject access export is a file download (JSON,
``Content-Disposition: attachment``), never rendered into the page."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from backoffice._auth import Principal
from backoffice._errors import Invalid
from backoffice._i18n import translate
from backoffice._review_images import forget_all
from backoffice.deps import Ctx
from backoffice.routers.web import SECURITY_HEADERS, UiPrivacy, _csrf, _lang, render

router = APIRouter(prefix="/ui", include_in_schema=False)

#: how long an erasure confirmation stays valid (seconds)
ERASE_CONFIRM_TTL_S = 300


# -- privacy officer ---------------------------------------------------------------------------
def _category(lang: str, category: str) -> str:
    """A data category in words ("live_image" -> "Live capture (face image)"); the identifier if unknown."""
    key = f"pv_cat_{category}"
    text = translate(lang, key)
    return category if text == key else text


def _retention_rows(ctx, lang: str) -> list[dict]:
    rows = ctx.privacy.retention_report(lang)  # the rule in ``lang`` (RetentionPolicy.rule_text) and its bases
    return [{**r, "name": _category(lang, r["category"])} for r in rows]


def _purposes(lang: str, purposes: list[dict]) -> list[dict]:
    out = []
    for p in purposes:
        key = f"pv_purpose_{p['name']}"
        text = translate(lang, key)
        out.append({**p, "title": p["name"] if text == key else text})
    return out


def _by_category(lang: str, counts: dict[str, int]) -> list[dict]:
    return [{"category": c, "name": _category(lang, c), "count": n} for c, n in sorted(counts.items())]


def _history(lang: str, runs: list[dict]) -> list[dict]:
    return [{**r, "categories": _by_category(lang, r.get("by_category") or {})} for r in runs]


def _privacy_page(request: Request, ctx, user: Principal, status_code: int = 200, **extra) -> HTMLResponse:
    p = ctx.privacy
    lang = _lang(request, ctx)
    return render(request, ctx, "privacy.html", user, status_code, ledger=p.verify_ledger(),
                  ledger_tail=p.ledger_tail(25), retention=_retention_rows(ctx, lang),
                  purges=_history(lang, p.purge_history()), purposes=_purposes(lang, p.purposes()), **extra)


@router.get("/privacy")
def privacy_page(request: Request, ctx: Ctx, user: UiPrivacy) -> HTMLResponse:
    return _privacy_page(request, ctx, user)


@router.post("/privacy/purge")
def privacy_purge(request: Request, ctx: Ctx, user: UiPrivacy, dry_run: Annotated[str, Form(max_length=5)] = "",
                  csrf_token: Annotated[str, Form(max_length=200)] = "") -> HTMLResponse:
    _csrf(ctx, user, csrf_token)
    result = ctx.privacy.purge(dry_run=bool(dry_run), actor=user.actor, role=user.role)
    if not dry_run:
        forget_all(request.app)
    if not dry_run:
        ctx.records.enrolments.invalidate()
    result["categories"] = _by_category(_lang(request, ctx), result.get("by_category") or {})
    return _privacy_page(request, ctx, user, purge_result=result)


# -- subject access and erasure ------------------------------------------------------------------
def _confirm_mac(ctx, user: Principal, subject: str, purpose: str, expires: int) -> str:
    """The erasure confirmation's MAC: subject, purpose, the officer's session (its CSRF token, itself an HMAC
    of the session) and the expiry, under the secret key, in a domain of its own."""
    message = "\x00".join(("erase-confirm", subject, purpose, ctx.auth.csrf_token(user), str(expires)))
    return hmac.new(ctx.config.secret_key.encode(), message.encode(), hashlib.sha256).hexdigest()


def erase_confirmation(ctx, user: Principal, subject: str, purpose: str) -> str:
    """A confirmation token ``<expiry>.<mac>`` valid for :data:`ERASE_CONFIRM_TTL_S` seconds."""
    expires = int(ctx.auth.clock()) + ERASE_CONFIRM_TTL_S
    return f"{expires}.{_confirm_mac(ctx, user, subject, purpose, expires)}"


def check_erase_confirmation(ctx, user: Principal, subject: str, purpose: str, token: str) -> bool:
    expires, _, mac = token.partition(".")
    if not expires.isdigit() or not mac or int(expires) < ctx.auth.clock():
        return False
    return hmac.compare_digest(_confirm_mac(ctx, user, subject, purpose, int(expires)).encode(), mac.encode())


def _export_download(ctx, user: Principal, subject: str, purpose: str) -> Response:
    result = ctx.privacy.export_subject(subject, actor=user.actor, role=user.role, purpose=purpose)  # ledgered
    result["records"] = ctx.records.subject_records(subject)
    body = json.dumps(result, indent=2, ensure_ascii=False, default=str).encode()
    # the keyed subject id (an HMAC of state and document number), never the document number itself
    day = str(result.get("exported_at") or dt.datetime.now(dt.UTC).isoformat())[:10].replace("-", "")
    name = f"subject-access-{day}-{subject.removeprefix('subj_')[:12]}.json"
    return Response(body, media_type="application/json", headers={
        **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@router.post("/privacy/subject")
def privacy_subject(request: Request, ctx: Ctx, user: UiPrivacy,
                    document_number: Annotated[str, Form(min_length=1, max_length=40)],
                    issuing_state: Annotated[str, Form(min_length=1, max_length=3)],
                    purpose: Annotated[str, Form(min_length=3, max_length=200)] = "subject_access_request",
                    action: Annotated[str, Form(max_length=20)] = "export",
                    confirm_token: Annotated[str, Form(max_length=200)] = "",
                    csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    _csrf(ctx, user, csrf_token)
    subject = ctx.records.subject_id(issuing_state, document_number)
    lang = _lang(request, ctx)
    document_number, issuing_state, purpose = document_number.strip(), issuing_state.strip().upper(), purpose.strip()
    if action == "export":
        return _export_download(ctx, user, subject, purpose)
    if action == "erase":  # the first POST only looks: counts, nothing decrypted, nothing erased
        counts = ctx.privacy.erasure_preview(subject)
        records = ctx.records.subject_records(subject)
        ctx.privacy.access(actor=user.actor, role=user.role, action="erase_preview", record=subject,
                           purpose=purpose, subject_id=subject)
        return render(request, ctx, "privacy_erase_confirm.html", user, document_number=document_number,
                      issuing_state=issuing_state, purpose=purpose, categories=_by_category(lang, counts),
                      total=sum(counts.values()), records=records,
                      confirm_token=erase_confirmation(ctx, user, subject, purpose))
    if action == "erase_confirmed":
        if not check_erase_confirmation(ctx, user, subject, purpose, confirm_token):
            return render(request, ctx, "error.html", user, 403, status=403, title=translate(lang, "pv_err_title_403"),
                          message=translate(lang, "pv_err_confirm"))
        result = ctx.privacy.erase_subject(subject, actor=user.actor, role=user.role, purpose=purpose)
        forget_all(request.app)
        ctx.records.enrolments.invalidate()  # the records were dropped with the keys; the galleries reload
        return _privacy_page(request, ctx, user, erase_result=result, erased_document=document_number,
                             erased_state=issuing_state)
    raise Invalid("action must be export, erase or erase_confirmed")
