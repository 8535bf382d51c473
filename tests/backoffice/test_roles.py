"""Walk the whole role x route matrix: every route of the app must be in EXPECTED, and every
principal gets through exactly the routes it is allowed (others: 401 anonymous, 403 wrong role;
UI pages redirect anonymous users to the login page)."""

import re

import pytest
from fastapi.routing import APIRoute

from tests.backoffice.conftest import ROLES, login_form_token, ui_login

G, S, P, A = "border_guard", "supervisor", "privacy_officer", "admin"
GATE, KIOSK = "gate", "kiosk"
STAFF = {G, S, P, A}
PUBLIC = "public"

EXPECTED = {
    ("POST", "/api/v1/auth/token"): {PUBLIC},
    ("POST", "/api/v1/auth/logout"): STAFF | {GATE, KIOSK},
    ("GET", "/api/v1/auth/me"): STAFF | {GATE, KIOSK},
    ("GET", "/api/v1/users"): {A},
    ("POST", "/api/v1/users"): {A},
    ("PATCH", "/api/v1/users/{username}"): {A},
    ("GET", "/api/v1/devices"): {A},
    ("POST", "/api/v1/devices"): {A},
    ("POST", "/api/v1/devices/{device_id}/rotate"): {A},
    ("POST", "/api/v1/devices/{device_id}/revoke"): {A},
    ("GET", "/api/v1/watchlist/entries"): {G, S},
    ("GET", "/api/v1/watchlist/entries/{entry_id}"): {G, S},
    ("POST", "/api/v1/watchlist/persons"): {S},
    ("POST", "/api/v1/watchlist/documents"): {S},
    ("DELETE", "/api/v1/watchlist/entries/{entry_id}"): {S},
    ("POST", "/api/v1/watchlist/import"): {S},
    ("GET", "/api/v1/watchlist/changes"): {S, GATE},
    ("POST", "/api/v1/watchlist/check"): {G, S, GATE, KIOSK},
    ("PUT", "/api/v1/watchlist/persons/{entry_id}"): {S},
    ("PUT", "/api/v1/watchlist/documents/{entry_id}"): {S},
    ("POST", "/api/v1/watchlist/entries/{entry_id}/deactivate"): {S},
    ("GET", "/api/v1/watchlist/pending"): {G, S},
    ("POST", "/api/v1/watchlist/pending/{pending_id}/approve"): {S},
    ("POST", "/api/v1/watchlist/pending/{pending_id}/reject"): {S},
    ("POST", "/api/v1/exceptions"): {GATE, KIOSK},
    ("GET", "/api/v1/exceptions"): {G, S},
    ("GET", "/api/v1/exceptions/{exception_id}"): {G, S},
    ("GET", "/api/v1/exceptions/{exception_id}/images/{which}"): {G, S},
    ("POST", "/api/v1/exceptions/{exception_id}/decision"): {G, S},
    ("POST", "/api/v1/events"): {GATE, KIOSK},
    ("GET", "/api/v1/events"): {S},
    ("POST", "/api/v1/enrolments"): {KIOSK},
    ("POST", "/api/v1/enrolments/verify"): {GATE},
    ("GET", "/api/v1/enrolments"): {S},
    ("GET", "/api/v1/enrolments/{enrolment_id}"): {S},
    ("POST", "/api/v1/enrolments/{enrolment_id}/decision"): {S},
    ("POST", "/api/v1/calls"): {GATE, KIOSK},
    ("GET", "/api/v1/trust-store"): {S, A, GATE, KIOSK},
    ("GET", "/api/v1/trust-store/devices"): {S, A},
    ("GET", "/api/v1/trust-store/signing-key"): {S, A},
    ("GET", "/api/v1/calls"): {G, S},
    ("POST", "/api/v1/calls/{call_id}/acknowledge"): {G, S},
    ("POST", "/api/v1/calls/{call_id}/close"): {G, S},
    ("GET", "/api/v1/privacy/retention"): {P},
    ("POST", "/api/v1/privacy/purge"): {P},
    ("GET", "/api/v1/privacy/purges"): {P},
    ("GET", "/api/v1/privacy/ledger/verify"): {P},
    ("GET", "/api/v1/privacy/ledger"): {P},
    ("POST", "/api/v1/privacy/subjects/export"): {P},
    ("POST", "/api/v1/privacy/subjects/erase"): {P},
    ("GET", "/api/v1/privacy/purposes"): {P},
    ("GET", "/healthz"): {PUBLIC},
    ("GET", "/metrics"): {S, A},  # or a scraper on loopback (test_security_headers)
    # web UI (session cookie)
    ("GET", "/ui/login"): {PUBLIC},
    ("POST", "/ui/login"): {PUBLIC},
    ("GET", "/ui/lang/{code}"): {PUBLIC},
    ("POST", "/ui/logout"): STAFF,
    ("GET", "/ui/"): STAFF,
    ("GET", "/ui/queue"): {G, S},
    ("GET", "/ui/queue/count"): {G, S},
    ("GET", "/ui/exceptions/{exception_id}"): {G, S},
    ("GET", "/ui/exceptions/{exception_id}/images/{which}"): {G, S},
    ("POST", "/ui/exceptions/{exception_id}/decision"): {G, S},
    ("GET", "/ui/watchlist"): {G, S},
    ("POST", "/ui/watchlist/import"): {S},
    ("POST", "/ui/watchlist/entries"): {S},
    ("GET", "/ui/watchlist/entries/{entry_id}"): {S},
    ("POST", "/ui/watchlist/entries/{entry_id}"): {S},
    ("POST", "/ui/watchlist/entries/{entry_id}/deactivate"): {S},
    ("POST", "/ui/watchlist/pending/{pending_id}/{decision}"): {S},
    ("GET", "/ui/enrolments"): {S},
    ("POST", "/ui/enrolments/{enrolment_id}/decision"): {S},
    ("GET", "/ui/calls/feed"): {G, S},
    ("POST", "/ui/calls/{call_id}/{action}"): {G, S},
    ("GET", "/ui/privacy"): {P},
    ("POST", "/ui/privacy/purge"): {P},
    ("POST", "/ui/privacy/subject"): {P},
    ("GET", "/ui/admin"): {A},
    ("POST", "/ui/admin/users"): {A},
    ("POST", "/ui/admin/devices"): {A},
    ("POST", "/ui/admin/devices/{device_id}/{action}"): {A},
}
PRINCIPALS = ("anonymous", G, S, P, A, GATE, KIOSK)


def _routes(app):
    out = []

    def walk(routes):
        for route in routes:
            if isinstance(route, APIRoute):
                out.extend((method, route.path) for method in route.methods)
            elif hasattr(route, "original_router"):  # FastAPI >= 0.16x keeps included routers lazily
                walk(route.original_router.routes)

    walk(app.routes)
    return out


def test_every_route_is_in_the_matrix(world):
    routes = set(_routes(world.app))
    assert routes == set(EXPECTED), f"missing: {routes - set(EXPECTED)}, stale: {set(EXPECTED) - routes}"


@pytest.fixture()
def ui_sessions(world):
    sessions = {}
    for role in ROLES:
        from fastapi.testclient import TestClient

        c = TestClient(world.app, raise_server_exceptions=False, follow_redirects=False)
        r = ui_login(c, role.replace("_", "-"))
        assert r.status_code == 303, r.text
        csrf = world.ctx.auth.csrf_token(world.ctx.auth.resolve_staff(c.cookies.get("sb_session"), "web"))
        sessions[role] = (c, csrf)
    return sessions


def _fill(path: str) -> str:
    return re.sub(r"\{which\}", "live", re.sub(r"\{action\}", "rotate", re.sub(r"\{[a-z_]+\}", "zz-missing", path)))


def test_role_route_matrix(world, ui_sessions):
    from fastapi.testclient import TestClient

    anon = TestClient(world.app, raise_server_exceptions=False, follow_redirects=False)
    # logout last: it revokes the credential used
    ordered = sorted(EXPECTED, key=lambda k: "logout" in k[1])
    failures = []
    for method, path in ordered:
        allowed = EXPECTED[(method, path)]
        url = _fill(path)
        for who in PRINCIPALS:
            is_ui = path.startswith("/ui/")
            if is_ui and who in (GATE, KIOSK):
                continue  # devices have no UI session; covered by the anonymous case
            if is_ui and who != "anonymous":
                client, csrf = ui_sessions[who]
                kwargs = {"data": {"csrf_token": csrf}} if method == "POST" else {}
            elif is_ui or who == "anonymous":
                client, kwargs = anon, {}
            else:
                client, kwargs = world.client, {"headers": world.h(who)}
            if (method, path) == ("POST", "/ui/login"):  # its CSRF token comes with the login page, not a session
                kwargs = {"data": {"csrf_token": login_form_token(client)}}
            r = client.request(method, url, **kwargs)
            ok = PUBLIC in allowed or who in allowed
            if ok:
                if r.status_code == 403 or (r.status_code == 401 and PUBLIC not in allowed) or (is_ui and r.status_code == 303 and
                                                   r.headers.get("location") == "/ui/login" and "logout" not in path):
                    failures.append((method, path, who, r.status_code, "should be allowed"))
            else:
                expected = (303 if is_ui else 401) if who == "anonymous" else 403
                if r.status_code != expected:
                    failures.append((method, path, who, r.status_code, f"expected {expected}"))
                if expected == 303 and r.headers.get("location") != "/ui/login":
                    failures.append((method, path, who, r.headers.get("location"), "not redirected to login"))
            assert r.status_code < 500, (method, path, who, r.text)
    assert failures == [], "\n".join(map(str, failures))
