"""Watchlists: entries, CSV import, the versioned change feed (ETag) and matching."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from backoffice._errors import Invalid
from backoffice.deps import Ctx, Supervisor, WatchlistChecker, WatchlistFeedReader, WatchlistReader
from backoffice.schemas import (
    DocumentCreate,
    ImportReportPublic,
    MatchPublic,
    PersonCreate,
    ProblemPublic,
    WatchlistChangesPublic,
    WatchlistCheckCreate,
    WatchlistCheckPublic,
    WatchlistEntryPublic,
    WatchlistPagePublic,
)
from watchlist import PersonQuery, WatchlistError

router = APIRouter(prefix="/api/v1/watchlist", tags=["watchlist"])
_P = {r: {"model": ProblemPublic} for r in (401, 403, 404, 422)}


@router.get("/entries", responses=_P)
def list_entries(reader: WatchlistReader, ctx: Ctx, kind: Literal["person", "document"] | None = None,
                 offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100) -> WatchlistPagePublic:
    items, total = ctx.watchlist.list(kind, offset, limit)
    return WatchlistPagePublic(total=total, offset=offset, items=[WatchlistEntryPublic(**i) for i in items])


@router.get("/entries/{entry_id}", responses=_P)
def get_entry(entry_id: str, reader: WatchlistReader, ctx: Ctx) -> WatchlistEntryPublic:
    return WatchlistEntryPublic(**ctx.watchlist.get(entry_id))


@router.post("/persons", status_code=201, responses={**_P, 409: {"model": ProblemPublic}})
def add_person(body: PersonCreate, supervisor: Supervisor, ctx: Ctx) -> WatchlistEntryPublic:
    """Create (or, with an existing ``id``, replace) a watchlisted person; 409 when ``id`` is a document's."""
    data = body.model_dump(exclude={"id"})
    return WatchlistEntryPublic(**ctx.watchlist.upsert("person", data, supervisor.actor, body.id))


@router.post("/documents", status_code=201, responses={**_P, 409: {"model": ProblemPublic}})
def add_document(body: DocumentCreate, supervisor: Supervisor, ctx: Ctx) -> WatchlistEntryPublic:
    """Create (or replace) a lost/stolen/revoked document record; 409 when ``id`` is a person's."""
    data = body.model_dump(exclude={"id"})
    return WatchlistEntryPublic(**ctx.watchlist.upsert("document", data, supervisor.actor, body.id))


@router.delete("/entries/{entry_id}", status_code=204, responses=_P)
def delete_entry(entry_id: str, supervisor: Supervisor, ctx: Ctx) -> Response:
    ctx.watchlist.delete(entry_id, supervisor.actor)
    return Response(status_code=204)


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
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Invalid("the CSV must be UTF-8") from e
    report = await run_in_threadpool(ctx.watchlist.import_csv, kind, text, supervisor.actor, dry_run=dry_run)
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
                                matches=[MatchPublic(**m.to_dict()) for m in matches])
