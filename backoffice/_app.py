"""The application factory: wiring, error handlers (RFC 9457), size limit, metrics, access log, the
ledger's signed head on every answer to a device."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import privacy
from backoffice._auth import Auth
from backoffice._config import BackofficeConfig
from backoffice._context import Context
from backoffice._errors import BackofficeError, problem
from backoffice._observability import Metrics, access_log, new_request_id
from backoffice._openapi import LEDGER_HEAD_HEADER, install_openapi
from backoffice._store import Store
from backoffice._watchlist import WatchlistService
from backoffice.deps import UiLoginRequired
from storage import CommitUnconfirmedError, DatabaseBusyError, DatabaseUnavailableError, StorageError

__all__ = ["create_app"]

log = logging.getLogger("backoffice")
HERE = Path(__file__).resolve().parent
PROBLEM_JSON = "application/problem+json"

DESCRIPTION = """The Bắc Luân I back office: watchlists and their change feed for the gates, exception
records and their review, kiosk enrolments with a duplicate check, and the privacy officer's tools.

* Staff: `POST /api/v1/auth/token` then `Authorization: Bearer sbs_...`.
* Devices (gates, kiosks): `Authorization: Bearer sbd_...` issued by an admin.
* Ingestion (`POST /api/v1/exceptions`, `/events`, `/enrolments`) and officer calls (`POST /api/v1/calls`)
  need an `Idempotency-Key` header;
  a retry with the same key and body returns the first response (`Idempotent-Replayed: true`).
* Every 4xx is `application/problem+json` (RFC 9457).
* Every response to a device carries `X-Ledger-Head`, the audit ledger's signed head; devices keep the
  newest as a witness against truncation of the ledger.
"""


def allowed_methods(app, path: str) -> list[str]:
    """Every method some route of ``app`` answers on ``path`` (RFC 9110 §15.5.6: a 405 lists them all)."""
    from fastapi import routing
    from starlette.routing import compile_path

    # FastAPI >= 0.16x wraps included routers; iter_route_contexts yields each route with its full path
    routes = routing.iter_route_contexts(app.routes) if hasattr(routing, "iter_route_contexts") else app.routes
    static: set[str] = set()
    templated: set[str] = set()
    for route in routes:
        path_format = getattr(route, "path_format", None)
        if path_format and route.methods and compile_path(path_format)[0].match(path):
            (templated if "{" in path_format else static).update(route.methods)
    # a fixed path names its own resource (/enrolments/verify is not the enrolment "verify")
    return sorted(static or templated)


def _problem_response(request: Request, status: int, title: str, detail: str, slug: str | None = None,
                      headers: dict | None = None, **extra: object) -> JSONResponse:
    body = problem(status, title, detail, slug=slug, instance=request.url.path, **extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class BodyLimit:
    """Pure ASGI middleware: refuse bodies over ``limit`` bytes with 413. A declared ``Content-Length``
    over the limit is refused before anything is read; a body without one (chunked) is cut where it
    passes the limit, and whatever the application then answers is replaced by the 413."""

    def __init__(self, app, limit: int, overrides: dict[str, int] | None = None) -> None:
        self.app = app
        self.default = limit
        self.overrides = overrides or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            limit = self.overrides.get(scope.get("path", ""), self.default)
            length = dict(scope.get("headers") or []).get(b"content-length")
            too_big = False
            if length is not None:
                try:
                    too_big = int(length) > limit
                except ValueError:
                    too_big = True
            if too_big:
                request = Request(scope)
                response = _problem_response(request, 413, "Request body too large",
                                             f"the limit is {limit} bytes", slug="payload-too-large")
                await response(scope, receive, send)
                return
            received = 0
            cut = False

            async def limited_receive():
                nonlocal received, cut
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        cut = True
                        return {"type": "http.disconnect"}
                return message

            replaced = False

            async def send_413_if_cut(message):
                nonlocal replaced
                if not cut:
                    await send(message)
                elif message["type"] == "http.response.start" and not replaced:
                    replaced = True
                    response = _problem_response(Request(scope), 413, "Request body too large",
                                                 f"the limit is {limit} bytes", slug="payload-too-large")
                    await response(scope, receive, send)
                # the application's own answer to the cut body (a 400) is dropped

            try:
                await self.app(scope, limited_receive, send_413_if_cut)
            except Exception:
                if not cut or replaced:
                    raise
                await send_413_if_cut({"type": "http.response.start"})  # the route failed on the cut body
            return
        await self.app(scope, receive, send)


class _Pairs(list):
    """A JSON object as the parser met it: every (key, value) pair, duplicates kept."""


def json_body_problem(raw: bytes) -> tuple[list[str], str, str] | None:
    """The first duplicate key (at any depth) or non-finite number (``NaN``, ``Infinity``, ``-Infinity``
    literals, or a number such as ``1e999`` that overflows to infinity) of a JSON body, as (location,
    message, error type); None when there is none or the body is not JSON (left to the route's parser)."""
    try:
        value = json.loads(raw, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):  # not JSON (or not UTF-8): the route answers that
        return None
    stack: list[tuple[object, list[str]]] = [(value, ["body"])]
    while stack:
        item, loc = stack.pop()
        if isinstance(item, _Pairs):
            seen: set[str] = set()
            for key, child in item:
                if key in seen:
                    return [*loc, key], f"duplicate key {key!r}", "duplicate_key"
                seen.add(key)
                stack.append((child, [*loc, key]))
        elif isinstance(item, list):
            stack.extend((child, [*loc, str(i)]) for i, child in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            return loc, "NaN and Infinity are not numbers here (a number must be finite)", "finite_number"
    return None


def _is_json(scope) -> bool:
    """FastAPI parses a body as JSON without a Content-Type too, and for any ``*/json`` or ``*/*+json``."""
    ctype = dict(scope.get("headers") or []).get(b"content-type")
    if ctype is None:
        return True
    media = ctype.split(b";", 1)[0].strip().lower()
    return media.endswith(b"/json") or media.endswith(b"+json")


class StrictJson:
    """Pure ASGI middleware: a JSON request body with a duplicate key or a non-finite number is refused
    (422, a validation problem naming the key) before any route runs; otherwise the body goes on as it came.
    Sits inside :class:`BodyLimit`, so an oversized body is refused (413) before it is buffered."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH", "DELETE") or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        messages, chunks = [], []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # a disconnect (or BodyLimit's cut): the route sees it as before
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                body = b"".join(chunks)
                found = json_body_problem(body) if body else None
                if found is not None:
                    loc, msg, kind = found
                    response = _problem_response(Request(scope), 422, "Invalid request",
                                                 f"{msg} at {'.'.join(loc[1:]) or 'the top level'}",
                                                 slug="validation", errors=[{"loc": loc, "msg": msg, "type": kind}])
                    await response(scope, receive, send)
                    return
                break
        pending = list(messages)

        async def replay():
            if pending:
                return pending.pop(0)
            return await receive()

        await self.app(scope, replay, send)


HSTS = "max-age=31536000; includeSubDomains"


class Hsts:
    """Pure ASGI middleware, the outermost: every response (also the 413/422 of the body checks) carries
    ``Strict-Transport-Security`` (one year, subdomains). Installed only outside dev: a dev server is plain
    http on loopback, and a browser that is told HSTS for ``localhost`` keeps refusing http there for a year.
    Browsers ignore the header on an http answer (RFC 6797 8.1), so it is harmless behind a TLS proxy."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"strict-transport-security"]
                message = {**message, "headers": [*headers, (b"strict-transport-security", HSTS.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_hsts)


class LedgerHead:
    """Pure ASGI middleware: a response to a request that authenticated as a device (``deps.get_caller``
    set ``request.state.principal``) carries the ledger's signed head, read after the route ran (so it
    covers what the request itself ledgered): ``X-Ledger-Head: <base64url of compact JSON {seq,
    entry_hash, at, key_id, signature}>``. Gates and kiosks keep the newest as witnesses: whoever later
    deletes the ledger's newest entries, and the signatures over them, cannot reach those copies."""

    def __init__(self, app, head: Callable[[], privacy.Checkpoint | None]) -> None:
        self.app = app
        self.head = head

    def _value(self) -> bytes | None:
        try:
            head = self.head()
        except (StorageError, privacy.PrivacyError) as e:  # the answer goes out; the device keeps its last head
            log.warning("ledger head not readable", extra={"event": "ledger_head_unreadable", "error": type(e).__name__})
            return None
        return None if head is None else head.to_token().encode("ascii")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})  # the dict request.state writes into, shared with the route

        async def send_with_head(message):
            if message["type"] == "http.response.start" and getattr(state.get("principal"), "kind", None) == "device":
                value = await run_in_threadpool(self._value)
                if value is not None:
                    message = {**message, "headers": [*message.get("headers", ()),
                                                      (LEDGER_HEAD_HEADER.lower().encode(), value)]}
            await send(message)

        await self.app(scope, receive, send_with_head)


def _ledger_head(ctx: Context) -> Callable[[], privacy.Checkpoint | None]:
    """The stored signed head of the privacy gateway's ledger (None with a gateway that has no ledger)."""

    def head() -> privacy.Checkpoint | None:
        ledger = getattr(ctx.privacy, "ledger", None)
        return ledger.head() if ledger is not None else None

    return head


def create_app(config: BackofficeConfig, *, store: Store | None = None, privacy=None) -> FastAPI:
    """Build the back-office app. ``store`` lets a test share one database between apps;
    ``privacy`` replaces the privacy gateway (an object with the methods of
    :class:`backoffice._privacy.PrivacyGateway`)."""
    from backoffice import routers

    store = store or Store(config.db_path)
    metrics = Metrics()
    auth = Auth(store, config.secret_key, max_failures=config.login_max_failures, window_s=config.login_window_s,
                session_ttl_s=config.session_ttl_s, token_ttl_s=config.token_ttl_s,
                time_cost=config.argon2_time_cost, memory_kib=config.argon2_memory_kib)
    watchlist = WatchlistService(store, threshold=config.watchlist_threshold,
                                 dob_window_days=config.watchlist_dob_window_days, page_limit=config.changes_page_limit)
    ctx = Context(config=config, store=store, auth=auth, watchlist=watchlist, metrics=metrics)
    from backoffice._records import Records

    if privacy is None:
        from backoffice._privacy import PrivacyGateway

        privacy = PrivacyGateway.from_config(config, store)
    ctx.privacy = privacy
    ctx.records = Records(ctx)
    from backoffice._calls import CallService

    ctx.calls = CallService(store, metrics)  # officer calls from gates and kiosks
    from backoffice._trust_feed import SIGNING_KEY_NAME, TrustFeed

    def signed_list_key():  # the vault's Ed25519 signed-list key (created on first use, kept wrapped)
        return ctx.privacy.vault.signing_key(SIGNING_KEY_NAME)

    ctx.trust = TrustFeed(config.trust_store_dir, store, signed_list_key)  # the signed trust store for gates

    app = FastAPI(title="Smart border back office", version="1.0.0", description=DESCRIPTION,
                  docs_url="/docs" if config.dev else None, redoc_url=None,
                  openapi_tags=[{"name": n} for n in ("auth", "admin", "watchlist", "devices", "exceptions",
                                                      "enrolments", "calls", "privacy", "trust", "ops")])
    app.state.ctx = ctx
    install_openapi(app)
    _install_handlers(app)
    _install_observability(app, metrics)
    for r in routers.ALL:
        app.include_router(r)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    big = {"/api/v1/watchlist/import": config.max_import_bytes, "/ui/watchlist/import": config.max_import_bytes}
    app.add_middleware(StrictJson)
    app.add_middleware(BodyLimit, limit=config.max_body_bytes, overrides=big)
    app.add_middleware(LedgerHead, head=_ledger_head(ctx))
    if not config.dev:
        app.add_middleware(Hsts)
    return app


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(BackofficeError)
    async def backoffice_error(request: Request, exc: BackofficeError):
        if _ui_page(request):
            return _ui_error(request, exc.status, *_ui_message(request, exc), headers=exc.headers or None)
        return _problem_response(request, exc.status, exc.title, exc.detail, slug=exc.slug,
                                 headers=exc.headers or None, **exc.extra)

    @app.exception_handler(UiLoginRequired)
    async def ui_login(request: Request, exc: UiLoginRequired):
        return RedirectResponse("/ui/login", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        title = {404: "Not found", 405: "Method not allowed", 400: "Bad request"}.get(exc.status_code, "HTTP error")
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # Starlette names the first matching route's methods only: name them all
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request.app, request.url.path))}
        if _ui_page(request) and exc.status_code in (404, 405):
            key = "pv_err_not_found" if exc.status_code == 404 else "pv_err_other"
            return _ui_error(request, exc.status_code, _t(request, key), None, headers=headers)
        return _problem_response(request, exc.status_code, title, str(exc.detail), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()[:50]]  # the offending input is not echoed: it may be personal data
        if _ui_page(request):  # a form of the web UI: an HTML page in the UI's language naming the field
            return _ui_error(request, 422, _field_messages(request, exc.errors()[:5]), None)
        return _problem_response(request, 422, "Invalid request", "the request does not match the schema",
                                 slug="validation", errors=errors)

    @app.exception_handler(DatabaseUnavailableError)
    async def database_unavailable(request: Request, exc: DatabaseUnavailableError):
        # the database went away (a primary lost before the standby is promoted): a device retries, nothing is
        # stored twice (the Idempotency-Key)
        log.error("database unavailable", extra={"event": "database_unavailable", "error": type(exc).__name__})
        return _problem_response(request, 503, "Database unavailable", "the back office cannot reach its database; "
                                 "retry later", slug="database-unavailable", headers={"Retry-After": "5"})

    @app.exception_handler(CommitUnconfirmedError)
    async def commit_unconfirmed(request: Request, exc: CommitUnconfirmedError):
        # written on the primary, never confirmed by the synchronous standby: not acknowledged, so the device keeps
        # the record and retries with its Idempotency-Key (the replay waits for the standby in its turn)
        log.error("commit not confirmed by the standby", extra={"event": "commit_unconfirmed",
                                                                 "error": type(exc).__name__})
        return _problem_response(request, 503, "Not confirmed by the standby", "the change was written on the primary "
                                 "database but its standby did not confirm it; retry later with the same "
                                 "Idempotency-Key", slug="commit-unconfirmed", headers={"Retry-After": "5"})

    @app.exception_handler(DatabaseBusyError)
    @app.exception_handler(PoolTimeoutError)
    async def database_busy(request: Request, exc: Exception):
        # every pooled connection in use (each waiting on the standby, say) or a lock held too long: try again
        log.error("database busy", extra={"event": "database_busy", "error": type(exc).__name__})
        return _problem_response(request, 503, "Database busy", "the back office's database is busy; retry later",
                                 slug="database-busy", headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # the last line of defence: log, no details out
        log.error("unhandled error", extra={"event": "unhandled", "error": type(exc).__name__})
        return _problem_response(request, 500, "Internal error", "the error was logged", slug="internal")


# -- error pages of the web UI (/ui/): error.html in the UI's language -------------------------------------
def _ui_page(request: Request) -> bool:
    """A page of the web UI answers errors as HTML (an image under it, fetched by an <img>, as a problem)."""
    return request.url.path.startswith("/ui/") and "/images/" not in request.url.path


def _t(request: Request, key: str) -> str:
    from backoffice._i18n import translate
    from backoffice.routers.web import _lang

    return translate(_lang(request, request.app.state.ctx), key)


def _ui_message(request: Request, exc: BackofficeError) -> tuple[str, str | None]:
    """(message in the UI's language, the English detail or None): the known errors get a sentence of their
    own; any other keeps its detail under a translated title."""
    from backoffice._errors import CsrfRefused, NotFound, PageForbidden

    detail = exc.detail or ""
    if isinstance(exc, CsrfRefused):  # web._csrf
        return _t(request, "pv_err_csrf"), None
    if isinstance(exc, PageForbidden):  # deps.ui_require
        return _t(request, "pv_err_forbidden"), None
    if isinstance(exc, NotFound):
        return _t(request, "pv_err_not_found"), detail
    return _t(request, "pv_err_other"), detail


def _field_name(request: Request, field: str) -> str:
    for key in (f"pv_field_{field}", field):
        text = _t(request, key)
        if text != key:
            return text
    return field.replace("_", " ")


def _field_messages(request: Request, errors: list[dict]) -> str:
    """One sentence per invalid form field ("The field “Issuing state” is too long (at most 3 characters).")."""
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "header", "cookie")]
        field = _field_name(request, loc[-1]) if loc else "?"
        kind, limits = e.get("type", ""), e.get("ctx") or {}
        key = {"missing": "pv_err_field_missing", "string_too_long": "pv_err_field_too_long",
               "string_too_short": "pv_err_field_too_short"}.get(kind, "pv_err_field_invalid")
        n = limits.get("max_length", limits.get("min_length", ""))
        out.append(_t(request, key).format(field=field, n=n))
    return " ".join(dict.fromkeys(out)) or _t(request, "pv_err_field_invalid").format(field="?")


def _ui_error(request: Request, status: int, message: str, detail: str | None, headers: dict | None = None):
    from backoffice.routers.web import render

    user = getattr(request.state, "principal", None)
    title_key = f"pv_err_title_{status}"
    title = _t(request, title_key)
    response = render(request, request.app.state.ctx, "error.html", user, status, status=status,
                      title=_t(request, "pv_err_title") if title == title_key else title, message=message,
                      detail=detail)
    for k, v in (headers or {}).items():
        if k.lower() not in ("www-authenticate",):
            response.headers[k] = v
    return response


def _install_observability(app: FastAPI, metrics: Metrics) -> None:
    @app.middleware("http")
    async def observe(request: Request, call_next):
        t0 = time.perf_counter()
        request_id = new_request_id()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Request-Id"] = request_id
            return response
        finally:
            route = getattr(request.scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - t0
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.latency.labels(route).observe(elapsed)
            principal = getattr(request.state, "principal", None)
            access_log.info("request", extra={
                "event": "request", "method": request.method, "route": route, "status": status,
                "duration_ms": round(elapsed * 1000, 2), "request_id": request_id,
                "principal": principal.kind if principal else "anonymous",
                "role": principal.role if principal else None})
