"""Issue #18 item 4: HSTS outside dev, the login form's CSRF token, who may read /metrics."""

import pytest
from fastapi.testclient import TestClient

from backoffice.routers.web import LOGIN_CSRF_COOKIE
from tests.backoffice.conftest import build_world, login_form_token, make_config, privacy_kwargs, ui_login

HSTS = "max-age=31536000; includeSubDomains"


@pytest.fixture()
def prod_world(tmp_path):
    w = build_world(make_config(db_path=tmp_path / "bo.db", dev=False, secure_cookies=True), **privacy_kwargs(tmp_path))
    yield w
    w.client.close()


def test_hsts_on_every_response_outside_dev(prod_world):
    c = prod_world.client
    for r in (c.get("/ui/login"), c.get("/healthz"), c.get("/api/v1/auth/me"),  # page, public, 401
              c.get("/api/v1/watchlist", headers=prod_world.h("gate")),  # 403 to a device
              c.post("/api/v1/events", content=b'{"a": 1, "a": 2}', headers=prod_world.h("gate")),  # StrictJson 422
              c.post("/api/v1/events", content=b"x" * (9 * 1024 * 1024), headers=prod_world.h("gate"))):  # 413
        assert r.headers.get("strict-transport-security") == HSTS, (r.request.url, r.status_code)
    assert len(c.get("/healthz").headers.get_list("strict-transport-security")) == 1


def test_no_hsts_in_dev(world):
    for r in (world.client.get("/ui/login"), world.client.get("/healthz"), world.client.get("/api/v1/auth/me")):
        assert "strict-transport-security" not in r.headers


def test_login_form_refuses_a_missing_or_wrong_csrf_token(world):
    auth = world.ctx.auth
    c = TestClient(world.app, raise_server_exceptions=False, follow_redirects=False)
    checks = auth.password_checks
    good = login_form_token(c)
    for data in ({}, {"csrf_token": ""}, {"csrf_token": "0" * 64}, {"csrf_token": good[:-1] + "x"},
                 {"csrf_token": "đ" * 10}):
        r = c.post("/ui/login", data={"username": "admin", "password": "correct horse battery", **data})
        assert r.status_code == 403 and "sb_session" not in r.headers.get("set-cookie", ""), data
        assert 'name="csrf_token"' in r.text  # the page comes back with a fresh form
    # the right token without its cookie (another browser, a forged cross-site post) is refused too
    other = TestClient(world.app, raise_server_exceptions=False, follow_redirects=False)
    r = other.post("/ui/login", data={"username": "admin", "password": "correct horse battery", "csrf_token": good})
    assert r.status_code == 403
    # no password was checked and nothing was counted as a login failure
    assert auth.password_checks == checks
    assert world.ctx.store.one("SELECT count(*) AS n FROM login_attempts", ())["n"] == 0
    r = c.post("/ui/login", data={"username": "admin", "password": "correct horse battery", "csrf_token": good})
    assert r.status_code == 303 and r.headers["location"] == "/ui/"


def test_login_csrf_cookie_is_strict_and_scoped_and_expires(prod_world):
    c = TestClient(prod_world.app, base_url="https://testserver", follow_redirects=False)
    page = c.get("/ui/login")
    cookie = next(v for v in page.headers.get_list("set-cookie") if v.startswith(LOGIN_CSRF_COOKIE))
    low = cookie.lower()
    assert "samesite=strict" in low and "httponly" in low and "secure" in low and "path=/ui/login" in low
    token = login_form_token(c)
    auth = prod_world.ctx.auth
    real_clock = auth.clock
    auth.clock = lambda: real_clock() + auth.LOGIN_CSRF_TTL_S + 1  # an hour later the pair is stale
    try:
        r = c.post("/ui/login", data={"username": "admin", "password": "x", "csrf_token": token})
        assert r.status_code == 403
    finally:
        auth.clock = real_clock
    r = ui_login(c, "admin")
    assert r.status_code == 303
    assert any(v.startswith(f'{LOGIN_CSRF_COOKIE}=""') or f"{LOGIN_CSRF_COOKIE}=;" in v
               for v in r.headers.get_list("set-cookie"))  # spent: the cookie is dropped


def test_metrics_access(world):
    anon = world.client.get("/metrics")
    assert anon.status_code == 401 and anon.headers["content-type"].startswith("application/problem+json")
    for who in ("border_guard", "privacy_officer", "gate", "kiosk"):
        assert world.client.get("/metrics", headers=world.h(who)).status_code == 403, who
    for who in ("supervisor", "admin"):
        r = world.client.get("/metrics", headers=world.h(who))
        assert r.status_code == 200 and "backoffice_http_requests_total" in r.text, who


def test_metrics_for_a_scraper_on_loopback_only_without_proxy_headers(world):
    for host in ("127.0.0.1", "::1"):
        local = TestClient(world.app, raise_server_exceptions=False, client=(host, 40000))
        assert local.get("/metrics").status_code == 200, host
        # a reverse proxy on the same host forwards remote callers: they are not local
        assert local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 401
        assert local.get("/metrics", headers={"Forwarded": "for=203.0.113.9"}).status_code == 401
        assert local.get("/metrics", headers=world.h("gate")).status_code == 403  # a credential is checked
    remote = TestClient(world.app, raise_server_exceptions=False, client=("192.0.2.7", 40000))
    assert remote.get("/metrics").status_code == 401
