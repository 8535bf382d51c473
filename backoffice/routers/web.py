"""The server-rendered web UI (Jinja2; script only from /static, never inline): login, guard queue and
review, supervisor enrolments, administration; the shared rendering (``render``, CSRF, role guards).
The watchlist pages are in ``web_watchlist``, the privacy officer's in ``web_privacy``. Session cookie (HttpOnly, SameSite=Strict) plus a CSRF
token in every form. Not part of the OpenAPI document (it is HTML, not the API)."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

import reasons
from backoffice._auth import ROLES, Principal
from backoffice._errors import BackofficeError, CsrfRefused, Invalid, LoginThrottled
from backoffice._i18n import LANGUAGES, translate
from backoffice.deps import SESSION_COOKIE, Ctx, UiLoginRequired, ui_require

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
LANG_COOKIE = "sb_lang"
LOGIN_CSRF_COOKIE = "sb_login_csrf"
SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
                    "X-Content-Type-Options": "nosniff",
                    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; "
                                               "script-src 'self'; frame-ancestors 'none'; form-action 'self'"}

UiGuard = Annotated[Principal, Depends(ui_require("border_guard", "supervisor"))]
UiSupervisor = Annotated[Principal, Depends(ui_require("supervisor"))]
UiPrivacy = Annotated[Principal, Depends(ui_require("privacy_officer"))]
UiAdmin = Annotated[Principal, Depends(ui_require("admin"))]


def _lang(request: Request, ctx) -> str:
    lang = request.cookies.get(LANG_COOKIE)
    return lang if lang in LANGUAGES else ctx.config.default_language


def render(request: Request, ctx, name: str, user: Principal | None, status_code: int = 200, **values) -> HTMLResponse:
    lang = _lang(request, ctx)
    values.setdefault("flash", request.query_params.get("flash_key") and translate(lang, request.query_params["flash_key"]))
    calls = getattr(ctx, "calls", None)  # officer calls (backoffice/_calls.py), shown to guards on every page
    if calls is not None and user is not None and user.role in ("border_guard", "supervisor"):
        values.setdefault("open_calls", calls.open_calls())
    return templates.TemplateResponse(request, name, {
        "lang": lang, "t": lambda key: translate(lang, key), "user": user,
        "csrf": ctx.auth.csrf_token(user) if user else "", **values}, status_code=status_code,
        headers=SECURITY_HEADERS)


def _csrf(ctx, user: Principal, token: str) -> None:
    if not ctx.auth.check_csrf(user, token):
        raise CsrfRefused("CSRF token missing or wrong; reload the page")


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- login / language --------------------------------------------------------------------------
def _login_page(request: Request, ctx, status_code: int = 200, **values) -> HTMLResponse:
    """The login form with its CSRF pair: a random value in a SameSite=Strict cookie scoped to the form, and its
    HMAC under the secret key in a hidden field (``Auth.login_csrf_pair``; there is no session to bind it to)."""
    cookie, token = ctx.auth.login_csrf_pair(request.cookies.get(LOGIN_CSRF_COOKIE))
    response = render(request, ctx, "login.html", None, status_code, login_csrf=token, **values)
    response.set_cookie(LOGIN_CSRF_COOKIE, cookie, max_age=ctx.auth.LOGIN_CSRF_TTL_S, httponly=True,
                        samesite="strict", secure=ctx.config.secure_cookies, path="/ui/login")
    return response


@router.get("/login")
def login_page(request: Request, ctx: Ctx) -> HTMLResponse:
    return _login_page(request, ctx)


@router.post("/login")
def login(request: Request, ctx: Ctx, username: Annotated[str, Form(max_length=64)] = "",
          password: Annotated[str, Form(max_length=256)] = "",
          csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    lang = _lang(request, ctx)
    if not ctx.auth.check_login_csrf(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        # refused before the password check: not a login attempt, nothing counted against the account
        ctx.metrics.logins.labels("csrf_refused").inc()
        return _login_page(request, ctx, 403, error=translate(lang, "login_form_expired"))
    client = request.client.host if request.client else "unknown"
    try:
        token, principal = ctx.auth.login(username, password, client, kind="web")
    except LoginThrottled:
        ctx.metrics.logins.labels("throttled").inc()
        return _login_page(request, ctx, 429, error=translate(lang, "throttled"))
    except BackofficeError:
        ctx.metrics.logins.labels("failed").inc()
        return _login_page(request, ctx, 401, error=translate(lang, "bad_login"))
    ctx.metrics.logins.labels("ok").inc()
    response = _redirect("/ui/")
    response.set_cookie(SESSION_COOKIE, token, max_age=ctx.config.session_ttl_s, httponly=True, samesite="strict",
                        secure=ctx.config.secure_cookies, path="/ui")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui/login")
    return response


@router.post("/logout")
def logout(request: Request, ctx: Ctx, user: Annotated[Principal, Depends(ui_require(*ROLES))],
           csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    _csrf(ctx, user, csrf_token)
    ctx.auth.logout(user)
    response = _redirect("/ui/login")
    response.delete_cookie(SESSION_COOKIE, path="/ui")
    return response


@router.get("/lang/{code}")
def set_language(code: str, request: Request) -> Response:
    back = request.headers.get("referer", "/ui/")
    response = _redirect(back if back.startswith(str(request.base_url)) or back.startswith("/") else "/ui/")
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="lax", path="/ui")
    return response


@router.get("/")
def home(request: Request, ctx: Ctx, user: Annotated[Principal, Depends(ui_require(*ROLES))]) -> Response:
    target = {"border_guard": "/ui/queue", "supervisor": "/ui/queue", "privacy_officer": "/ui/privacy",
              "admin": "/ui/admin"}[user.role]
    return _redirect(target)


# -- guard: queue and review (issue #19: severity order, words not codes, photos a browser shows) ---------
QUEUE_LIMIT = 200


def _statuses(user: Principal) -> list[str]:
    return ["open", "referred"] if user.role == "supervisor" else ["open"]


def image_cache(request: Request):
    """The app's in-memory cache of converted photos and queue thumbnails (never written to disk)."""
    from backoffice._review_images import app_cache

    return app_cache(request.app)


@router.get("/queue")
def queue(request: Request, ctx: Ctx, user: UiGuard) -> HTMLResponse:
    from backoffice._review_images import ImageUnreadable, digest, thumbnail

    statuses = _statuses(user)
    count, version = ctx.records.queue_version(statuses)
    items, total, lives = ctx.records.queue_view(user, statuses, QUEUE_LIMIT)
    cache, lang, view = image_cache(request), _lang(request, ctx), _View(request, ctx)
    for e in items:
        live = lives.get(e["id"])
        e["has_thumb"] = live is not None
        if live is not None and cache.get((e["id"], "thumb"), source := digest(live)) is None:
            try:
                cache.put((e["id"], "thumb"), source, thumbnail(live), "image/jpeg")
            except ImageUnreadable:
                e["has_thumb"] = False  # the row still shows; the review says what is wrong with the image
        e["reasons_text"] = [(code, view.describe(code), reasons.severity(code)) for code in e["reason_codes"]]
        e["waiting"] = view.waited(e["waiting_since"])
        e["since_local"] = view.local(e["waiting_since"])
    return render(request, ctx, "queue.html", user, items=items, total=total, count=count, version=version,
                  count_text=_count_text(lang, total), tz=ctx.config.ui_timezone)


@router.get("/queue/count")
def queue_count(ctx: Ctx, user: UiGuard) -> JSONResponse:
    """How many cases wait and a version of the queue (changes when any case arrives or leaves): what
    review.js polls to reload the queue. No personal data."""
    count, version = ctx.records.queue_version(_statuses(user))
    return JSONResponse({"count": count, "version": version}, headers=SECURITY_HEADERS)


@router.get("/exceptions/{exception_id}")
def review(exception_id: str, request: Request, ctx: Ctx, user: UiGuard, confirm_admit: str = "") -> HTMLResponse:
    e = ctx.records.exception_detail(exception_id, user)
    can_decide = e["status"] == "open" or (e["status"] == "referred" and user.role == "supervisor")
    view = _View(request, ctx)
    since = _waiting_since(e)
    return render(request, ctx, "review.html", user, e=e, can_decide=can_decide,
                  next_id=ctx.records.next_in_queue(_statuses(user), after=exception_id),
                  reasons_text=[(code, view.describe(code), reasons.severity(code)) for code in e["reason_codes"]],
                  explanation=view.explain(e["message"]) if e["message"] else "",
                  occurred_local=view.local(e["occurred_at"]), received_local=view.local(e["received_at"]),
                  decided_local=view.local(e["decided_at"]) if e.get("decided_at") else "",
                  waiting=view.waited(since) if e["status"] != "resolved" else "", waiting_since=since,
                  bars=_score_bars(e["scores"], ctx, view), tz=ctx.config.ui_timezone,
                  listed=_listed_entries(ctx, e.get("watchlist_matches") or []),
                  confirm_admit=confirm_admit == "1" and e["status"] != "resolved")


def _listed_entries(ctx, matches: list[dict]) -> dict[str, dict]:
    """The watchlist entries behind an exception's matches, as listed now (name, Hanzi, document, why, by whom);
    an entry deleted or deactivated since is left out (the page then shows its id)."""
    from backoffice._errors import NotFound

    out = {}
    for m in matches:
        try:
            out[m["entry_id"]] = ctx.watchlist.get(m["entry_id"])
        except NotFound:
            continue
    return out


@router.get("/exceptions/{exception_id}/images/{which}")
def review_image(exception_id: str, which: str, request: Request, ctx: Ctx, user: UiGuard) -> Response:
    """A photo the browser displays: the live capture, the chip photo (JPEG 2000 converted to JPEG) or the
    queue thumbnail of the live capture. Read through the ledgered vault path; the in-memory cache only
    saves the conversion (a thumbnail made under a ledgered queue view is served while the case waits)."""
    from backoffice._review_images import ImageUnreadable, digest, thumbnail, to_browser

    if which not in ("live", "chip", "thumb"):
        raise Invalid("image must be live, chip or thumb")
    cache = image_cache(request)
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    try:
        if which == "thumb":  # cached per officer: only one whose own queue view was ledgered gets it from memory
            hit = cache.get((exception_id, "thumb", user.actor))
            if hit is not None and ctx.records.live_image_registered(exception_id):
                return Response(hit[0], media_type=hit[1], headers=headers)
            data, _ = ctx.records.exception_image(exception_id, "live", user)
            out = thumbnail(data)
            cache.put((exception_id, "thumb", user.actor), digest(data), out, "image/jpeg")
            return Response(out, media_type="image/jpeg", headers=headers)
        data, media = ctx.records.exception_image(exception_id, which, user)
        if media in ("image/jpeg", "image/png"):
            return Response(data, media_type=media, headers=headers)
        source = digest(data)
        hit = cache.get((exception_id, which), source)
        if hit is None:
            hit = to_browser(data, media)
            cache.put((exception_id, which), source, *hit)
        return Response(hit[0], media_type=hit[1], headers=headers)
    except ImageUnreadable as e:
        raise Invalid(f"the {which} image of {exception_id} cannot be displayed: {e}") from e


@router.post("/exceptions/{exception_id}/decision")
def decide(exception_id: str, request: Request, ctx: Ctx, user: UiGuard,
           decision: Annotated[str, Form(max_length=10)] = "",
           notes: Annotated[str, Form(max_length=2000)] = "",
           confirm_admit: Annotated[str, Form(max_length=3)] = "",
           csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Record the decision, then open the next case in queue order (or the queue, saying none is left).
    Admitting a watchlist hit or a suspected fraud (severity 0 or 1) takes a second, confirming press: the
    first one opens the case again asking for it (two presses in all, the issue's limit)."""
    _csrf(ctx, user, csrf_token)
    if decision not in ("admit", "refuse", "refer"):
        raise Invalid("decision must be admit, refuse or refer")
    if decision == "admit" and confirm_admit != "yes" and ctx.records.severity(exception_id) <= 1:
        return _redirect(f"/ui/exceptions/{exception_id}?confirm_admit=1")
    ctx.records.decide(exception_id, user, decision, notes)
    image_cache(request).forget(exception_id)
    following = ctx.records.next_in_queue(_statuses(user), after=exception_id)
    if following is None:
        return _redirect("/ui/queue?flash_key=decided")
    return _redirect(f"/ui/exceptions/{following}?flash_key=rv_decided_next")


def _waiting_since(e: dict) -> str:
    from backoffice._records import _waiting_since as since

    return since(e["occurred_at"], e["received_at"])


def _count_text(lang: str, n: int) -> str:
    return translate(lang, "rv_count_one") if n == 1 else translate(lang, "rv_count_waiting").format(n=n)


@functools.lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class _View:
    """Words and local times for one page: reasons in the UI's language, instants in the configured
    time zone to the minute, waiting times in minutes, hours and days."""

    def __init__(self, request: Request, ctx) -> None:
        self.lang = _lang(request, ctx)
        self.zone = _zone(ctx.config.ui_timezone)
        self.now = dt.datetime.now(dt.UTC)

    def describe(self, code: str) -> str:
        return reasons.describe(code, self.lang)

    def explain(self, message: str) -> str:
        return reasons.explain(message, self.lang)

    def _instant(self, text: str) -> dt.datetime | None:
        try:
            t = dt.datetime.fromisoformat(text)
        except (TypeError, ValueError):
            return None
        return t if t.tzinfo else t.replace(tzinfo=dt.UTC)

    def local(self, text: str | None) -> str:
        t = self._instant(text) if text else None
        return t.astimezone(self.zone).strftime("%Y-%m-%d %H:%M") if t else (text or "")

    def waited(self, since: str) -> str:
        t = self._instant(since)
        if t is None:
            return ""
        minutes = max(0, int((self.now - t).total_seconds() // 60))
        if minutes < 1:
            span = translate(self.lang, "rv_under_a_minute")
        elif minutes < 60:
            span = translate(self.lang, "rv_minutes").format(m=minutes)
        elif minutes < 24 * 60:
            span = translate(self.lang, "rv_hours").format(h=minutes // 60, m=minutes % 60)
        else:
            span = translate(self.lang, "rv_days").format(d=minutes // 1440, h=minutes % 1440 // 60)
        return translate(self.lang, "rv_waiting").format(n=span)


#: (label key, score keys a device may send, its threshold key, the configured threshold's attribute)
_BARS = (("rv_score_face", ("face", "face_similarity", "face_score"), "face_threshold",
          ("face_matching", "threshold")),
         ("rv_score_finger", ("finger", "fingerprint", "finger_similarity"), "finger_threshold",
          ("fingerprint_matching", "verify_threshold")))


def _pct(value: float, scale: float) -> float:
    return round(min(100.0, max(0.0, value / scale * 100)), 1)


def _score_bars(scores: dict, ctx, view: _View) -> list[dict]:
    """The face (and fingerprint) score against its threshold, for a bar on the review page. The gate
    sends ``face``/``face_threshold`` (``finger``/``finger_threshold``); without a threshold in the record
    the back office's configured one is used and the page says so."""
    bars = []
    for label, keys, threshold_key, (matcher, attr) in _BARS:
        key = next((k for k in keys if isinstance(scores.get(k), int | float)), None)
        if key is None:
            continue
        score, threshold, source = float(scores[key]), scores.get(threshold_key), "device"
        if not isinstance(threshold, int | float):
            threshold = getattr(getattr(ctx.config, matcher, None), attr, None)
            source = "config"
        if threshold is None:
            continue
        threshold = float(threshold)
        scale = max(1.0, score, threshold)
        note = "rv_threshold" if source == "device" else "rv_threshold_from_config"
        bars.append({"label": translate(view.lang, label), "key": key, "score": score, "threshold": threshold,
                     "score_pct": _pct(score, scale), "threshold_pct": _pct(threshold, scale), "passed": score >= threshold,
                     "source": source, "threshold_text": translate(view.lang, note).format(t=f"{threshold:.3f}")})
    return bars


# -- supervisor: enrolments held as suspected duplicates ---------------------------------------
@router.get("/enrolments")
def enrolments_page(request: Request, ctx: Ctx, user: UiSupervisor) -> HTMLResponse:
    items = ctx.records.enrolments.list("duplicate_suspected", 0, 200)
    return render(request, ctx, "enrolments.html", user, items=items)


@router.post("/enrolments/{enrolment_id}/decision")
def enrolment_decision(enrolment_id: str, ctx: Ctx, user: UiSupervisor,
                       decision: Annotated[str, Form(max_length=10)] = "",
                       csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    _csrf(ctx, user, csrf_token)
    if decision not in ("accept", "reject"):
        raise Invalid("decision must be accept or reject")
    ctx.records.enrolments.decide(enrolment_id, user, decision, "")
    return _redirect("/ui/enrolments?flash_key=decided")


# -- admin -------------------------------------------------------------------------------------
def _admin_page(request: Request, ctx, user: Principal, **extra) -> HTMLResponse:
    return render(request, ctx, "admin.html", user, users=ctx.auth.list_users(), devices=ctx.auth.list_devices(),
                  roles=ROLES, **extra)


@router.get("/admin")
def admin_page(request: Request, ctx: Ctx, user: UiAdmin) -> HTMLResponse:
    return _admin_page(request, ctx, user)


@router.post("/admin/users")
def admin_create_user(request: Request, ctx: Ctx, user: UiAdmin, username: Annotated[str, Form(max_length=64)],
                      password: Annotated[str, Form(max_length=256)], role: Annotated[str, Form(max_length=20)],
                      csrf_token: Annotated[str, Form(max_length=200)] = "") -> HTMLResponse:
    _csrf(ctx, user, csrf_token)
    ctx.auth.create_user(username, password, role)
    return _admin_page(request, ctx, user)


@router.post("/admin/devices")
def admin_issue_device(request: Request, ctx: Ctx, user: UiAdmin, device_id: Annotated[str, Form(max_length=64)],
                       kind: Annotated[str, Form(max_length=10)], location: Annotated[str, Form(max_length=200)] = "",
                       csrf_token: Annotated[str, Form(max_length=200)] = "") -> HTMLResponse:
    _csrf(ctx, user, csrf_token)
    _, token = ctx.auth.issue_device(device_id, kind, location=location)
    return _admin_page(request, ctx, user, new_token=token)


@router.post("/admin/devices/{device_id}/{action}")
def admin_device_action(device_id: str, action: str, request: Request, ctx: Ctx, user: UiAdmin,
                        csrf_token: Annotated[str, Form(max_length=200)] = "") -> HTMLResponse:
    _csrf(ctx, user, csrf_token)
    if action == "rotate":
        _, token = ctx.auth.rotate_device(device_id)
        return _admin_page(request, ctx, user, new_token=token)
    if action == "revoke":
        ctx.auth.revoke_device(device_id)
        return _admin_page(request, ctx, user)
    raise Invalid("action must be rotate or revoke")


__all__ = ["router", "UiLoginRequired"]
