"""FastAPI dependencies as ``Annotated`` aliases: the context, the caller, and role checks.

API routes authenticate with ``Authorization: Bearer`` only (staff tokens ``sbs_``, device
tokens ``sbd_``); cookies are ignored there, so the API needs no CSRF defence. Web UI routes
authenticate with the session cookie and check a CSRF token on every form post.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from backoffice._auth import Principal
from backoffice._context import Context
from backoffice._errors import Forbidden, PageForbidden, Unauthorized
from backoffice._idempotency import KEY_PATTERN

__all__ = [
    "Admin",
    "AnyStaff",
    "Caller",
    "Ctx",
    "Device",
    "EnrolmentReader",
    "ExceptionReporter",
    "Guard",
    "IdempotencyKey",
    "Kiosk",
    "PrivacyOfficer",
    "SESSION_COOKIE",
    "Supervisor",
    "UiLoginRequired",
    "UiUser",
    "WatchlistChecker",
    "WatchlistFeedReader",
    "WatchlistReader",
    "require",
    "ui_require",
]

SESSION_COOKIE = "sb_session"


def get_ctx(request: Request) -> Context:
    return request.app.state.ctx


Ctx = Annotated[Context, Depends(get_ctx)]


def get_caller(request: Request, ctx: Ctx) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send Authorization: Bearer <token>")
    principal = None
    if token.startswith("sbd_"):
        principal = ctx.auth.resolve_device(token)
    elif token.startswith("sbs_"):
        principal = ctx.auth.resolve_staff(token, "api")
    if principal is None:
        raise Unauthorized("token unknown, expired or revoked")
    request.state.principal = principal
    return principal


Caller = Annotated[Principal, Depends(get_caller)]


def require(*allowed: str) -> Callable[..., Principal]:
    """A dependency admitting only the given roles (staff roles or ``device:gate``/``device:kiosk``)."""

    def dependency(caller: Caller) -> Principal:
        if caller.role not in allowed:
            raise Forbidden(f"role {caller.role} may not do this (allowed: {', '.join(allowed)})")
        return caller

    dependency.allowed = frozenset(allowed)  # type: ignore[attr-defined]
    return dependency


STAFF = ("border_guard", "supervisor", "privacy_officer", "admin")
AnyStaff = Annotated[Principal, Depends(require(*STAFF))]
Guard = Annotated[Principal, Depends(require("border_guard", "supervisor"))]
Supervisor = Annotated[Principal, Depends(require("supervisor"))]
PrivacyOfficer = Annotated[Principal, Depends(require("privacy_officer"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Device = Annotated[Principal, Depends(require("device:gate", "device:kiosk"))]
Kiosk = Annotated[Principal, Depends(require("device:kiosk"))]
Gate = Annotated[Principal, Depends(require("device:gate"))]
ExceptionReporter = Device
EnrolmentReader = Annotated[Principal, Depends(require("supervisor"))]
WatchlistReader = Annotated[Principal, Depends(require("border_guard", "supervisor"))]
WatchlistFeedReader = Annotated[Principal, Depends(require("supervisor", "device:gate"))]
WatchlistChecker = Annotated[Principal, Depends(require("border_guard", "supervisor", "device:gate", "device:kiosk"))]
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=KEY_PATTERN,
    description="Unique per record; retries reuse it (a missing key answers 400 idempotency-key-missing)")]


# -- web UI --------------------------------------------------------------------------------
class UiLoginRequired(Exception):
    """No valid session cookie: the UI redirects to the login page."""


def get_ui_user(request: Request, ctx: Ctx) -> Principal:
    token = request.cookies.get(SESSION_COOKIE, "")
    principal = ctx.auth.resolve_staff(token, "web") if token.startswith("sbw_") else None
    if principal is None:
        raise UiLoginRequired()
    request.state.principal = principal
    return principal


UiUser = Annotated[Principal, Depends(get_ui_user)]


def ui_require(*allowed: str) -> Callable[..., Principal]:
    def dependency(user: UiUser) -> Principal:
        if user.role not in allowed:
            raise PageForbidden(f"role {user.role} may not open this page")
        return user

    dependency.allowed = frozenset(allowed)  # type: ignore[attr-defined]
    return dependency
