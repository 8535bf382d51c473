"""The watchlist pages of the web UI: list, check, CSV import, single-entry management.

Guards read and check; supervisors add, edit and deactivate single entries (each with a reason, a source
agency and an expiry; ledgered), approve or reject the changes waiting for a second supervisor (four-eyes,
when configured), and import CSV. A check or a form that cannot be used says why in the UI's language
and keeps what was typed (never a bare English 422); a name typed in Hanzi is checked as ``name_hanzi``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from backoffice._errors import BackofficeError, Conflict, Forbidden, Invalid, NotFound
from backoffice._i18n import translate
from backoffice._watchlist import refuse_import_under_four_eyes
from backoffice.deps import Ctx
from backoffice.routers.web import UiGuard, UiSupervisor, _csrf, _lang, render
from backoffice.schemas import DeactivateCreate, DocumentUpdate, PendingDecisionCreate, PersonUpdate
from watchlist import PersonQuery, WatchlistError, is_hanzi, parse_partial_date

router = APIRouter(prefix="/ui", include_in_schema=False)

_F = Annotated[str, Form(max_length=400)]
#: the form's fields, as the entry's data has them
_PERSON_FIELDS = ("name", "name_hanzi", "aliases", "date_of_birth", "nationality", "reason", "source", "expires_on")
_DOCUMENT_FIELDS = ("document_number", "issuing_state", "document_type", "reason", "source", "expires_on")
_ERRORS = {NotFound: "wl_err_not_found", Conflict: "wl_err_conflict", Forbidden: "wl_err_forbidden",
           Invalid: "wl_err_invalid"}


def _page(request: Request, ctx, user, *, status_code: int = 200, **values) -> HTMLResponse:
    items, total = ctx.watchlist.list(None, 0, 200, inactive=True)
    values.setdefault("matches", None)
    values.setdefault("report", None)
    values.setdefault("form", {})
    values.setdefault("edit", None)
    values.setdefault("check", {})
    return render(request, ctx, "watchlist.html", user, status_code=status_code, items=items, total=total,
                  version=ctx.watchlist.version(), pending=ctx.watchlist.pending(),
                  four_eyes=ctx.config.watchlist_four_eyes, **values)


def _done(pending: bool) -> RedirectResponse:
    return RedirectResponse(f"/ui/watchlist?flash_key={'wl_pending_saved' if pending else 'wl_saved'}",
                            status_code=303)


def _error_text(request: Request, ctx, key: str, fields: list[str] = ()) -> str:
    lang = _lang(request, ctx)
    text = translate(lang, key)
    if fields:
        text += " " + ", ".join(translate(lang, f"wl_field_{f}") for f in fields)
    return text


# -- the page and the check --------------------------------------------------------------------
@router.get("/watchlist")
def watchlist_page(request: Request, ctx: Ctx, user: UiGuard, name: str = "", dob: str = "",
                   document_number: str = "", nationality: str = "") -> HTMLResponse:
    check = {"name": name, "dob": dob, "document_number": document_number, "nationality": nationality}
    name, dob, doc, nat = name.strip(), dob.strip(), document_number.strip(), nationality.strip().upper()
    if not (name or doc):
        return _page(request, ctx, user, check=check)
    error = None
    try:
        parse_partial_date(dob or None)
    except WatchlistError:
        error = _error_text(request, ctx, "wl_err_dob")
    if error is None and (len(name) > 200 or len(doc) > 40 or (nat and not (len(nat) == 3 and nat.isalpha()))):
        error = _error_text(request, ctx, "wl_err_check")
    query = None
    if error is None and name:
        # 张伟 typed in the form: the Hanzi go to the query's Hanzi name, any Latin letters to its name
        hanzi = "".join(c for c in name if is_hanzi(c)) or None
        latin = "".join(c for c in name if not is_hanzi(c)).strip()
        try:
            query = PersonQuery(latin, dob or None, nat or None, hanzi)
        except WatchlistError:
            if not doc:
                error = _error_text(request, ctx, "wl_err_no_name")
    if error is not None:
        return _page(request, ctx, user, status_code=422, check=check, check_error=error)
    found, _ = ctx.watchlist.check(query, doc or None, None)
    return _page(request, ctx, user, check=check, matches=ctx.watchlist.describe(found))


# -- single-entry management (supervisors) ------------------------------------------------------
def _form_data(kind: str, raw: dict[str, str]) -> dict:
    fields = _PERSON_FIELDS if kind == "person" else _DOCUMENT_FIELDS
    data: dict = {k: raw.get(k, "").strip() for k in fields}
    if kind == "person":
        data["aliases"] = [a.strip() for a in data["aliases"].split(";") if a.strip()]
    return {k: v for k, v in data.items() if v not in ("", [])}


def _validated(kind: str, data: dict) -> dict:
    model = PersonUpdate if kind == "person" else DocumentUpdate
    return model.model_validate(data).model_dump(mode="json", exclude_none=True)


def _manage(request: Request, ctx, user, op: str, *, kind: str, entry_id: str | None, raw: dict[str, str],
            reason: str = "", form_values: dict | None = None) -> HTMLResponse | RedirectResponse:
    """Validate the form with the API's own schema, apply (or queue) the change; errors re-render the page
    with what was typed and the fields at fault, in the UI's language."""
    if kind not in ("person", "document"):
        kind = "person"
    form = {"kind": kind, **(form_values or raw)}
    try:
        if op == "deactivate":
            reason = DeactivateCreate(reason=reason).reason
            data = None
        else:
            data = _validated(kind, _form_data(kind, raw))
        result = ctx.watchlist.change(op, user, ctx.privacy, kind=None if op == "deactivate" else kind,
                                      entry_id=entry_id or None, data=data, reason=reason,
                                      four_eyes=ctx.config.watchlist_four_eyes)
    except ValidationError as e:
        fields = sorted({str(err["loc"][0]) for err in e.errors() if err["loc"]}) or ["name"]
        return _page(request, ctx, user, status_code=422, form=form, edit=entry_id if op == "edit" else None,
                     form_error=_error_text(request, ctx, "wl_err_fields", fields))
    except BackofficeError as e:
        key = next((k for cls, k in _ERRORS.items() if isinstance(e, cls)), "wl_err_invalid")
        return _page(request, ctx, user, status_code=e.status, form=form, edit=entry_id if op == "edit" else None,
                     form_error=_error_text(request, ctx, key))
    return _done(result["status"] == "pending")


def _raw(**fields: str) -> dict[str, str]:
    return {k: v for k, v in fields.items()}


@router.post("/watchlist/entries")
def add_entry(request: Request, ctx: Ctx, user: UiSupervisor, csrf_token: _F = "", kind: _F = "person",
              name: _F = "", name_hanzi: _F = "", aliases: _F = "", date_of_birth: _F = "", nationality: _F = "",
              document_number: _F = "", issuing_state: _F = "", document_type: _F = "", reason: _F = "",
              source: _F = "", expires_on: _F = "") -> HTMLResponse:
    _csrf(ctx, user, csrf_token)
    raw = _raw(name=name, name_hanzi=name_hanzi, aliases=aliases, date_of_birth=date_of_birth,
               nationality=nationality, document_number=document_number, issuing_state=issuing_state,
               document_type=document_type, reason=reason, source=source, expires_on=expires_on)
    return _manage(request, ctx, user, "upsert", kind=kind, entry_id=None, raw=raw)


@router.get("/watchlist/entries/{entry_id}")
def edit_page(entry_id: str, request: Request, ctx: Ctx, user: UiSupervisor) -> HTMLResponse:
    entry = ctx.watchlist.get(entry_id)
    form = {k: v for k, v in entry.items() if isinstance(v, str)}
    form["aliases"] = "; ".join(entry.get("aliases") or [])
    return _page(request, ctx, user, form=form, edit=entry_id)


@router.post("/watchlist/entries/{entry_id}")
def edit_entry(entry_id: str, request: Request, ctx: Ctx, user: UiSupervisor, csrf_token: _F = "",
               kind: _F = "person", name: _F = "", name_hanzi: _F = "", aliases: _F = "", date_of_birth: _F = "",
               nationality: _F = "", document_number: _F = "", issuing_state: _F = "", document_type: _F = "",
               reason: _F = "", source: _F = "", expires_on: _F = "") -> HTMLResponse:
    _csrf(ctx, user, csrf_token)
    raw = _raw(name=name, name_hanzi=name_hanzi, aliases=aliases, date_of_birth=date_of_birth,
               nationality=nationality, document_number=document_number, issuing_state=issuing_state,
               document_type=document_type, reason=reason, source=source, expires_on=expires_on)
    return _manage(request, ctx, user, "edit", kind=kind, entry_id=entry_id, raw=raw)


@router.post("/watchlist/entries/{entry_id}/deactivate")
def deactivate_entry(entry_id: str, request: Request, ctx: Ctx, user: UiSupervisor, csrf_token: _F = "",
                     reason: _F = "") -> HTMLResponse:
    _csrf(ctx, user, csrf_token)
    return _manage(request, ctx, user, "deactivate", kind="person", entry_id=entry_id, raw={}, reason=reason)


@router.post("/watchlist/pending/{pending_id}/{decision}")
def decide_pending(pending_id: str, decision: str, request: Request, ctx: Ctx, user: UiSupervisor,
                   csrf_token: _F = "", reason: _F = "") -> HTMLResponse:
    _csrf(ctx, user, csrf_token)
    if decision not in ("approve", "reject"):
        raise NotFound("no such decision")
    try:
        ctx.watchlist.decide(pending_id, decision == "approve", user, ctx.privacy,
                             PendingDecisionCreate(reason=reason).reason)
    except ValidationError:
        return _page(request, ctx, user, status_code=422, form_error=_error_text(request, ctx, "wl_err_invalid"))
    except BackofficeError as e:
        key = next((k for cls, k in _ERRORS.items() if isinstance(e, cls)), "wl_err_invalid")
        if isinstance(e, Forbidden):
            key = "wl_err_four_eyes"
        return _page(request, ctx, user, status_code=e.status, form_error=_error_text(request, ctx, key))
    return RedirectResponse(f"/ui/watchlist?flash_key=wl_{decision}d", status_code=303)


# -- CSV import ----------------------------------------------------------------------------------
@router.post("/watchlist/import")
async def watchlist_import(request: Request, ctx: Ctx, user: UiSupervisor, file: UploadFile,
                           kind: Annotated[str, Form(max_length=10)] = "person",
                           dry_run: Annotated[str, Form(max_length=5)] = "",
                           csrf_token: Annotated[str, Form(max_length=200)] = "") -> HTMLResponse:
    _csrf(ctx, user, csrf_token)
    refuse_import_under_four_eyes(ctx.config.watchlist_four_eyes, bool(dry_run))
    try:
        text = (await file.read()).decode("utf-8")
    except UnicodeDecodeError:
        return _page(request, ctx, user, status_code=422, form_error=_error_text(request, ctx, "wl_err_utf8"))
    if kind not in ("person", "document"):
        kind = "person"
    try:
        report = await run_in_threadpool(ctx.watchlist.import_csv, kind, text, user.actor, dry_run=bool(dry_run))
    except Invalid:
        return _page(request, ctx, user, status_code=422, form_error=_error_text(request, ctx, "wl_err_csv"))
    if not dry_run:
        ctx.watchlist.ledger_import(report, user, ctx.privacy)
    return _page(request, ctx, user, report=report)
