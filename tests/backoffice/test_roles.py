"""Walk the whole role x route matrix: every route of the app must be in EXPECTED, and every
principal gets through exactly the routes it is allowed (others: 401 anonymous, 403 wrong role;
UI pages redirect anonymous users to the login page)."""

import re

import pytest
from fastapi.routing import APIRoute

from tests.backoffice.conftest import ROLES, login_form_token, ui_login
from tests.backoffice.role_matrix import EXPECTED, GATE, KIOSK, PRINCIPALS, PUBLIC


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
