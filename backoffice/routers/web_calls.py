"""The guards' side of officer calls in the web UI: the banner's JSON feed (polled by ``static/calls.js`` every
5 s, which plays a short tone when a new call appears) and the Acknowledge / Close forms of
``templates/calls_banner.html`` (session cookie and CSRF token, like every UI form)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response

from backoffice._errors import Conflict, NotFound
from backoffice._i18n import translate
from backoffice.deps import Ctx
from backoffice.routers.web import SECURITY_HEADERS, UiGuard, _csrf, _lang, _redirect

__all__ = ["router", "call_view"]

router = APIRouter(prefix="/ui/calls", include_in_schema=False)


def _age(lang: str, age_s: int) -> str:
    if age_s < 60:
        return translate(lang, "call_age_s").replace("{n}", str(age_s))
    return translate(lang, "call_age_min").replace("{n}", str(age_s // 60))


def _word(lang: str, prefix: str, code: str) -> str:
    key = f"{prefix}{code}"
    text = translate(lang, key)
    return code if text == key else text


def call_view(lang: str, call: dict) -> dict:
    """A call as the banner shows it: its codes in words, its age in the UI's language."""
    return {"id": call["id"], "device_id": call["device_id"], "status": call["status"],
            "kind": _word(lang, "call_kind_", call["device_kind"]), "location": call["location"] or call["device_id"],
            "screen": _word(lang, "call_state_", call["state"]), "reason": _word(lang, "call_reason_", call["reason"]),
            "status_text": _word(lang, "call_status_", call["status"]), "age_s": call["age_s"],
            "age": _age(lang, call["age_s"]), "acknowledged_by": call["acknowledged_by"]}


def _back(value: str) -> str:
    """Where a form returns: a page of this UI (never another site), else the queue."""
    if value.startswith("/ui/") and "//" not in value and "\\" not in value and not value.startswith("/ui/calls"):
        return value
    return "/ui/queue"


@router.get("/feed")
def calls_feed(request: Request, ctx: Ctx, user: UiGuard) -> JSONResponse:
    """The calls not closed yet, oldest first, with the count of those nobody acknowledged yet."""
    lang = _lang(request, ctx)
    calls = [call_view(lang, c) for c in ctx.calls.open_calls()]
    return JSONResponse({"count": sum(c["status"] == "open" for c in calls), "total": len(calls), "calls": calls},
                        headers=SECURITY_HEADERS)


@router.post("/{call_id}/{action}")
def call_action(call_id: str, action: str, ctx: Ctx, user: UiGuard,
                csrf_token: Annotated[str, Form(max_length=200)] = "",
                back: Annotated[str, Form(max_length=300)] = "") -> Response:
    _csrf(ctx, user, csrf_token)
    if action not in ("acknowledge", "close"):
        raise NotFound("action must be acknowledge or close")
    flash = "call_acknowledged" if action == "acknowledge" else "call_closed"
    try:
        if action == "acknowledge":
            ctx.calls.acknowledge(call_id, user)
        else:
            ctx.calls.close(call_id, user)
    except Conflict:  # another officer was quicker: say so on the page instead of an error page
        flash = "call_already_handled"
    return _redirect(f"{_back(back.split('?', 1)[0])}?flash_key={flash}")
