"""Watchlists: entries, CSV import, the versioned change feed (ETag) and matching.

Supervisors add, edit, deactivate and delete single entries; every change is ledgered (who, which entry,
why). With ``BackofficeConfig.watchlist_four_eyes`` a change answers 202 with the pending change, applied
only when a second supervisor approves it (``/pending/{id}/approve``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from backoffice._errors import Invalid
from backoffice._watchlist import refuse_import_under_four_eyes
from backoffice.deps import Ctx, Supervisor, WatchlistChecker, WatchlistFeedReader, WatchlistReader
from backoffice.schemas import (
    DeactivateCreate,
    DocumentCreate,
    DocumentUpdate,
    ImportReportPublic,
    MatchPublic,
    PendingDecisionCreate,
    PersonCreate,
    PersonUpdate,
    ProblemPublic,
    WatchlistChangesPublic,
    WatchlistCheckCreate,
    WatchlistCheckPublic,
    WatchlistEntryPublic,
    WatchlistPagePublic,
    WatchlistPendingPublic,
)
from watchlist import PersonQuery, WatchlistError

router = APIRouter(prefix="/api/v1/watchlist", tags=["watchlist"])
_P = {r: {"model": ProblemPublic} for r in (401, 403, 404, 422)}
_PENDING = {202: {"model": WatchlistPendingPublic, "description": "Four-eyes: waiting for a second supervisor"}}
_C = {**_P, **_PENDING, 409: {"model": ProblemPublic}}


def _changed(ctx, supervisor, op: str, status_code: int = 200, **kw) -> WatchlistEntryPublic | JSONResponse | None:
    result = ctx.watchlist.change(op, supervisor, ctx.privacy, four_eyes=ctx.config.watchlist_four_eyes, **kw)
    if result["status"] == "pending":
        return JSONResponse(WatchlistPendingPublic(**result["pending"]).model_dump(mode="json"), status_code=202)
    return WatchlistEntryPublic(**result["entry"]) if result["entry"] is not None else None


@router.get("/entries", responses=_P)
def list_entries(reader: WatchlistReader, ctx: Ctx, kind: Literal["person", "document"] | None = None,
                 offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100) -> WatchlistPagePublic:
    items, total = ctx.watchlist.list(kind, offset, limit)
    return WatchlistPagePublic(total=total, offset=offset, items=[WatchlistEntryPublic(**i) for i in items])


@router.get("/entries/{entry_id}", responses=_P)
def get_entry(entry_id: str, reader: WatchlistReader, ctx: Ctx) -> WatchlistEntryPublic:
    return WatchlistEntryPublic(**ctx.watchlist.get(entry_id))


@router.post("/persons", status_code=201, responses=_C)
def add_person(body: PersonCreate, supervisor: Supervisor, ctx: Ctx) -> WatchlistEntryPublic:
    """Create (or, with an existing ``id``, replace) a watchlisted person; 409 when ``id`` is a document's."""
    data = body.model_dump(mode="json", exclude={"id"})
    return _changed(ctx, supervisor, "upsert", kind="person", entry_id=body.id, data=data)


@router.post("/documents", status_code=201, responses=_C)
def add_document(body: DocumentCreate, supervisor: Supervisor, ctx: Ctx) -> WatchlistEntryPublic:
    """Create (or replace) a lost/stolen/revoked document record; 409 when ``id`` is a person's."""
    data = body.model_dump(mode="json", exclude={"id"})
    return _changed(ctx, supervisor, "upsert", kind="document", entry_id=body.id, data=data)


@router.put("/persons/{entry_id}", responses=_C)
def edit_person(entry_id: str, body: PersonUpdate, supervisor: Supervisor, ctx: Ctx) -> WatchlistEntryPublic:
    """Replace an existing person entry (a deactivated one becomes active again); 404 when there is none,
    409 when the entry is a document."""
    return _changed(ctx, supervisor, "edit", kind="person", entry_id=entry_id, data=body.model_dump(mode="json"))


@router.put("/documents/{entry_id}", responses=_C)
def edit_document(entry_id: str, body: DocumentUpdate, supervisor: Supervisor, ctx: Ctx) -> WatchlistEntryPublic:
    """Replace an existing document entry; 404 when there is none, 409 when the entry is a person."""
    return _changed(ctx, supervisor, "edit", kind="document", entry_id=entry_id, data=body.model_dump(mode="json"))


@router.post("/entries/{entry_id}/deactivate", responses={**_P, **_PENDING})
def deactivate_entry(entry_id: str, body: DeactivateCreate, supervisor: Supervisor, ctx: Ctx) -> WatchlistEntryPublic:
    """Deactivate an active entry with a reason: it no longer matches and gates drop it (a ``delete`` in the
    feed), but it stays readable with ``active: false`` and its ``deactivated`` {at, by, reason}."""
    return _changed(ctx, supervisor, "deactivate", entry_id=entry_id, reason=body.reason)


@router.delete("/entries/{entry_id}", status_code=204, responses={**_P, **_PENDING})
def delete_entry(entry_id: str, supervisor: Supervisor, ctx: Ctx) -> Response:
    result = _changed(ctx, supervisor, "delete", entry_id=entry_id)
    return result if isinstance(result, JSONResponse) else Response(status_code=204)


@router.get("/pending", responses=_P)
def list_pending(reader: WatchlistReader, ctx: Ctx,
                 status: Literal["pending", "approved", "rejected"] = "pending",
                 limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[WatchlistPendingPublic]:
    """Changes waiting for a second supervisor (four-eyes), oldest first; or the decided ones."""
    return [WatchlistPendingPublic(**p) for p in ctx.watchlist.pending(status, limit)]


@router.post("/pending/{pending_id}/approve", responses={**_P, 409: {"model": ProblemPublic}})
def approve_pending(pending_id: str, supervisor: Supervisor, ctx: Ctx,
                    body: PendingDecisionCreate | None = None) -> WatchlistPendingPublic:
    """Apply a pending change: by a supervisor other than the one who asked (403 otherwise); 409 when it is
    already decided or no longer applies (the entry changed kind)."""
    return WatchlistPendingPublic(**ctx.watchlist.decide(pending_id, True, supervisor, ctx.privacy,
                                                         body.reason if body else ""))


@router.post("/pending/{pending_id}/reject", responses={**_P, 409: {"model": ProblemPublic}})
def reject_pending(pending_id: str, supervisor: Supervisor, ctx: Ctx,
                   body: PendingDecisionCreate | None = None) -> WatchlistPendingPublic:
    """Drop a pending change (any supervisor, the one who asked included); 409 when already decided."""
    return WatchlistPendingPublic(**ctx.watchlist.decide(pending_id, False, supervisor, ctx.privacy,
                                                         body.reason if body else ""))


@router.post("/import", responses={**_P, 413: {"model": ProblemPublic}}, openapi_extra={
    "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}, "example": (
        "id,name,name_hanzi,date_of_birth,nationality,reason\n"
        "wl-0001,NGUYEN VAN AN,,1980-05-17,VNM,example entry\n")}}}})
async def import_csv(request: Request, supervisor: Supervisor, ctx: Ctx,
                     kind: Literal["person", "document"],
                     dry_run: bool = False) -> ImportReportPublic:
    """Import a CSV with a header row. Persons: id, name, aliases (``;``-separated), name_hanzi,
    name_pinyin, date_of_birth, nationality, reason. Documents: id, document_number,
    issuing_state, document_type, reason. The report gives each row's status and errors."""
    refuse_import_under_four_eyes(ctx.config.watchlist_four_eyes, dry_run)
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Invalid("the CSV must be UTF-8") from e
    report = await run_in_threadpool(ctx.watchlist.import_csv, kind, text, supervisor.actor, dry_run=dry_run)
    if not dry_run:
        ctx.watchlist.ledger_import(report, supervisor, ctx.privacy)
    return ImportReportPublic(**report)


@router.get("/changes", responses={**_P, 304: {"description": "Not modified (If-None-Match matched)"}})
def changes(reader: WatchlistFeedReader, ctx: Ctx, response: Response,
            since: Annotated[int, Query(ge=0, le=2**62)] = 0,
            limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
            if_none_match: Annotated[str | None, Header(alias="If-None-Match", max_length=500)] = None,
            ) -> WatchlistChangesPublic:
    """Changes after version ``since``, oldest first. Apply them, then ask again with
    ``since=version`` while ``more`` is true. The ETag names (since, latest version, limit): send it
    back as If-None-Match to get 304 when nothing changed."""
    limit = min(limit or ctx.config.changes_page_limit, ctx.config.changes_page_limit)
    latest = ctx.watchlist.version()
    etag = f'"wl-{since}-{latest}-{limit}"'
    if if_none_match and (if_none_match.strip() == "*" or
                          etag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
    result = ctx.watchlist.changes(since, limit)
    response.headers["ETag"] = f'"wl-{since}-{result["latest"]}-{limit}"'
    response.headers["Cache-Control"] = "no-cache"
    return WatchlistChangesPublic(**result)


@router.post("/check", responses=_P)
def check(body: WatchlistCheckCreate, caller: WatchlistChecker, ctx: Ctx,
          limit: Annotated[int, Query(ge=1, le=50)] = 10) -> WatchlistCheckPublic:
    """Match a traveller: exact document number (+ issuing state), fuzzy name with date of birth."""
    query = None  # the schema holds a name to match on, a Hanzi name or a document number (never none)
    if body.name is not None or body.name_hanzi is not None:
        try:
            query = PersonQuery(body.name or "", body.date_of_birth, body.nationality, body.name_hanzi)
        except WatchlistError as e:  # not reached with a schema-valid body: kept as the last guard
            raise Invalid(str(e)) from e
    matches, version = ctx.watchlist.check(query, body.document_number, body.issuing_state, limit)
    return WatchlistCheckPublic(hit=any(m.hit for m in matches), version=version,
                                matches=[MatchPublic(**m) for m in ctx.watchlist.describe(matches)])
