"""The watchlist pages of the web UI: list, check, CSV import (guards read, supervisors change)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from backoffice._errors import Invalid
from backoffice.deps import Ctx
from backoffice.routers.web import UiGuard, UiSupervisor, _csrf, render
from watchlist import PersonQuery, WatchlistError

router = APIRouter(prefix="/ui", include_in_schema=False)


# -- watchlist ---------------------------------------------------------------------------------
@router.get("/watchlist")
def watchlist_page(request: Request, ctx: Ctx, user: UiGuard, name: str = "", dob: str = "",
                   document_number: str = "") -> HTMLResponse:
    matches = None
    if name.strip() or document_number.strip():
        try:
            query = PersonQuery(name, dob.strip() or None) if name.strip() else None
            found, _ = ctx.watchlist.check(query, document_number.strip() or None, None)
            matches = [m.to_dict() for m in found]
        except WatchlistError as e:
            raise Invalid(str(e)) from e
    items, total = ctx.watchlist.list(None, 0, 100)
    return render(request, ctx, "watchlist.html", user, items=items, total=total, version=ctx.watchlist.version(),
                  matches=matches, q_name=name, q_dob=dob, q_doc=document_number, report=None)


@router.post("/watchlist/import")
async def watchlist_import(request: Request, ctx: Ctx, user: UiSupervisor, file: UploadFile,
                           kind: Annotated[str, Form(max_length=10)] = "person",
                           dry_run: Annotated[str, Form(max_length=5)] = "",
                           csrf_token: Annotated[str, Form(max_length=200)] = "") -> HTMLResponse:
    _csrf(ctx, user, csrf_token)
    try:
        text = (await file.read()).decode("utf-8")
    except UnicodeDecodeError as e:
        raise Invalid("the CSV must be UTF-8") from e
    report = await run_in_threadpool(ctx.watchlist.import_csv, kind, text, user.actor, dry_run=bool(dry_run))
    items, total = ctx.watchlist.list(None, 0, 100)
    return render(request, ctx, "watchlist.html", user, items=items, total=total, version=ctx.watchlist.version(),
                  matches=None, q_name="", q_dob="", q_doc="", report=report)
