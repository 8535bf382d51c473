"""The server-rendered web UI (Jinja2; script only from /static, never inline): login, guard queue and
review, supervisor enrolments, administration; the shared rendering (``render``, CSRF, role guards).
The watchlist pages are in ``web_watchlist``, the privacy officer's in ``web_privacy``. Session cookie (HttpOnly, SameSite=Strict) plus a CSRF
token in every form. Not part of the OpenAPI document (it is HTML, not the API)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from backoffice._auth import ROLES, Principal
from backoffice._errors import BackofficeError, Forbidden, Invalid, LoginThrottled
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
        raise Forbidden("CSRF token missing or wrong; reload the page")


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


# -- guard: queue and review -------------------------------------------------------------------
@router.get("/queue")
def queue(request: Request, ctx: Ctx, user: UiGuard) -> HTMLResponse:
    statuses = ["open", "referred"] if user.role == "supervisor" else ["open"]
    items, total = ctx.records.list_exceptions(statuses, 0, 200)
    return render(request, ctx, "queue.html", user, items=items, total=total)


@router.get("/exceptions/{exception_id}")
def review(exception_id: str, request: Request, ctx: Ctx, user: UiGuard) -> HTMLResponse:
    e = ctx.records.exception_detail(exception_id, user)
    can_decide = e["status"] == "open" or (e["status"] == "referred" and user.role == "supervisor")
    return render(request, ctx, "review.html", user, e=e, can_decide=can_decide)


@router.get("/exceptions/{exception_id}/images/{which}")
def review_image(exception_id: str, which: str, ctx: Ctx, user: UiGuard) -> Response:
    if which not in ("live", "chip"):
        raise Invalid("image must be live or chip")
    data, media = ctx.records.exception_image(exception_id, which, user)
    return Response(data, media_type=media, headers={"Cache-Control": "no-store"})


@router.post("/exceptions/{exception_id}/decision")
def decide(exception_id: str, ctx: Ctx, user: UiGuard, decision: Annotated[str, Form(max_length=10)] = "",
           notes: Annotated[str, Form(max_length=2000)] = "",
           csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    _csrf(ctx, user, csrf_token)
    if decision not in ("admit", "refuse", "refer"):
        raise Invalid("decision must be admit, refuse or refer")
    ctx.records.decide(exception_id, user, decision, notes)
    return _redirect("/ui/queue?flash_key=decided")


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
