"""Web UI through the test client (the browser flows are in test_browser.py)."""

import re

from fastapi.testclient import TestClient

from backoffice._i18n import _EN, _VI
from tests.backoffice.conftest import ui_login
from tests.backoffice.test_enrolments import enrolment, face


def test_both_languages_have_every_string():
    assert set(_EN) == set(_VI)
    assert all(_VI[k] for k in _VI)


def _session(world, username):
    c = TestClient(world.app, raise_server_exceptions=False, follow_redirects=False)
    r = ui_login(c, username)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    return c


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)


def test_login_failure_shows_message_in_vietnamese(world):
    c = TestClient(world.app)
    r = ui_login(c, "admin", "wrong")
    assert r.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu." in r.text


def test_supervisor_enrolment_page(world):
    world.client.post("/api/v1/enrolments", json=enrolment("C1", face_bytes=face(1)),
                      headers=world.h("kiosk", **{"Idempotency-Key": "a"}))
    dup = world.client.post("/api/v1/enrolments", json=enrolment("C2", face_bytes=face(1)),
                            headers=world.h("kiosk", **{"Idempotency-Key": "b"})).json()
    c = _session(world, "supervisor")
    page = c.get("/ui/enrolments")
    assert dup["id"] in page.text
    r = c.post(f"/ui/enrolments/{dup['id']}/decision", data={"decision": "accept"})
    assert r.status_code == 403  # no CSRF token
    r = c.post(f"/ui/enrolments/{dup['id']}/decision", data={"decision": "accept", "csrf_token": _csrf(page.text)})
    assert r.status_code == 303
    assert world.client.get(f"/api/v1/enrolments/{dup['id']}", headers=world.h("supervisor")).json()["status"] == "accepted"


def test_watchlist_page_import_and_check(world):
    c = _session(world, "supervisor")
    page = c.get("/ui/watchlist")
    csv = "name,date_of_birth,nationality\nNguyễn Văn Đức,1980-05-17,VNM\n,1980,VNM\n"
    r = c.post("/ui/watchlist/import", data={"kind": "person", "csrf_token": _csrf(page.text)},
               files={"file": ("w.csv", csv.encode(), "text/csv")})
    assert r.status_code == 200 and 'id="import-report"' in r.text and "no usable name" in r.text
    r = c.get("/ui/watchlist", params={"name": "NGUYEN VAN DUC", "dob": "1980-05-17"})
    assert 'id="matches"' in r.text and "name_exact" in r.text


def test_admin_page_issues_device_token_once(world):
    c = _session(world, "admin")
    page = c.get("/ui/admin")
    r = c.post("/ui/admin/devices", data={"device_id": "kiosk-09", "kind": "kiosk", "csrf_token": _csrf(page.text)})
    token = re.search(r'id="new-token">(sbd_[^<]+)<', r.text).group(1)
    assert world.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert token not in c.get("/ui/admin").text


def test_ui_error_pages_are_html(world):
    c = _session(world, "privacy-officer")
    r = c.get("/ui/queue")
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    page = c.get("/ui/privacy")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp  # scripts from /static only, never inline
    assert page.headers["x-frame-options"] == "DENY"
