"""Officer calls: devices raise them (idempotent, strict body, no personal data), guards and supervisors list,
acknowledge and close them over the API and from the banner at the top of their pages."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.backoffice.conftest import ui_login


def _raise(world, who="kiosk", key="c-1", **body):
    return world.client.post("/api/v1/calls", json={"state": "review", "reason": "traveller_request", **body},
                             headers=world.h(who, **{"Idempotency-Key": key}))


def test_a_kiosk_call_is_stored_with_the_device_and_its_location(world):
    r = _raise(world)
    assert r.status_code == 201, r.text
    call = r.json()
    assert call["id"].startswith("call_") and (call["device_id"], call["device_kind"], call["location"]) == (
        "kiosk-01", "kiosk", "Hall")
    assert (call["state"], call["reason"], call["status"]) == ("review", "traveller_request", "open")
    assert call["acknowledged_by"] is None and call["closed_by"] is None and call["created_at"].endswith("Z")
    assert r.headers.get("X-Ledger-Head")  # an answer to a device carries the ledger head
    gate = _raise(world, "gate", "g-1", state="face", reason="referral").json()
    assert (gate["device_kind"], gate["location"], gate["reason"]) == ("gate", "Bắc Luân I entry", "referral")


def test_raising_a_call_is_idempotent(world):
    first = _raise(world)
    again = _raise(world)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert world.ctx.store.one("SELECT COUNT(*) AS n FROM officer_calls")["n"] == 1
    other = _raise(world, state="face")  # the same key for another call
    assert other.status_code == 422 and other.json()["type"].endswith("idempotency-key-reused")
    missing = world.client.post("/api/v1/calls", json={"state": "review"}, headers=world.h("kiosk"))
    assert missing.status_code == 400 and missing.json()["type"].endswith("idempotency-key-missing")
    # another device may use the same key: keys are per device
    assert _raise(world, "gate", "c-1").status_code == 201


@pytest.mark.parametrize("body", [
    {}, {"state": ""}, {"state": "Review"}, {"state": "review screen"}, {"state": "a" * 33},
    {"state": "review", "reason": "because"}, {"state": "review", "name": "NGUYEN VAN A"},
    {"state": "review", "document_number": "C1234567"}, {"state": 5}, {"state": "review\n"}])
def test_a_call_is_a_code_and_a_reason_nothing_else(world, body):
    r = world.client.post("/api/v1/calls", json=body, headers=world.h("kiosk", **{"Idempotency-Key": "bad"}))
    assert r.status_code == 422, (body, r.text)
    assert world.ctx.store.one("SELECT COUNT(*) AS n FROM officer_calls")["n"] == 0


def test_roles(world):
    _raise(world)
    for who in ("border_guard", "supervisor"):
        assert world.client.get("/api/v1/calls", headers=world.h(who)).status_code == 200
    for who in ("privacy_officer", "admin", "gate", "kiosk"):
        assert world.client.get("/api/v1/calls", headers=world.h(who)).status_code == 403
    for who in ("border_guard", "supervisor", "privacy_officer", "admin"):
        assert _raise(world, who, key=f"k-{who}").status_code == 403
    assert world.client.get("/api/v1/calls").status_code == 401


def test_acknowledge_then_close(world):
    call_id = _raise(world).json()["id"]
    listed = world.client.get("/api/v1/calls?status=open", headers=world.h("border_guard")).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == call_id
    r = world.client.post(f"/api/v1/calls/{call_id}/acknowledge", headers=world.h("border_guard"))
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    assert r.json()["acknowledged_by"] == "border-guard" and r.json()["acknowledged_at"]
    assert world.client.get("/api/v1/calls?status=open", headers=world.h("border_guard")).json()["total"] == 0
    active = world.client.get("/api/v1/calls", headers=world.h("supervisor")).json()  # default: not closed yet
    assert [c["id"] for c in active["items"]] == [call_id]
    again = world.client.post(f"/api/v1/calls/{call_id}/acknowledge", headers=world.h("supervisor"))
    assert again.status_code == 409
    r = world.client.post(f"/api/v1/calls/{call_id}/close", headers=world.h("supervisor"))
    assert r.status_code == 200 and (r.json()["status"], r.json()["closed_by"]) == ("closed", "supervisor")
    assert r.json()["acknowledged_by"] == "border-guard"
    for action in ("acknowledge", "close"):
        closed = world.client.post(f"/api/v1/calls/{call_id}/{action}", headers=world.h("border_guard"))
        assert closed.status_code == 409 and closed.headers["content-type"].startswith("application/problem+json")
    assert world.client.get("/api/v1/calls", headers=world.h("border_guard")).json()["total"] == 0
    closed = world.client.get("/api/v1/calls?status=closed", headers=world.h("border_guard")).json()
    assert [c["id"] for c in closed["items"]] == [call_id]


def test_a_call_may_be_closed_without_an_acknowledgement_and_unknown_calls_are_404(world):
    call_id = _raise(world).json()["id"]
    r = world.client.post(f"/api/v1/calls/{call_id}/close", headers=world.h("border_guard"))
    assert r.status_code == 200 and r.json()["acknowledged_by"] is None
    for action in ("acknowledge", "close"):
        assert world.client.post(f"/api/v1/calls/call_nope/{action}", headers=world.h("border_guard")).status_code == 404
    assert world.client.get("/api/v1/calls?status=nope", headers=world.h("border_guard")).status_code == 422


def test_oldest_call_first(world):
    ids = [_raise(world, key=f"k{i}", state=s).json()["id"] for i, s in enumerate(("document", "face", "review"))]
    with world.ctx.store.tx() as db:  # make the last one the oldest
        db.execute("UPDATE officer_calls SET created_at = '2026-01-01T00:00:00Z' WHERE id = ?", [ids[2]])
    items = world.client.get("/api/v1/calls", headers=world.h("border_guard")).json()["items"]
    assert [c["id"] for c in items] == [ids[2], ids[0], ids[1]]


# -- web UI ------------------------------------------------------------------------------------------
def _guard(world, username="border-guard") -> TestClient:
    c = TestClient(world.app, follow_redirects=False)
    assert ui_login(c, username).status_code == 303
    c.cookies.set("sb_lang", "en", path="/ui")
    return c


def test_the_banner_lists_open_calls_on_guards_pages(world):
    c = _guard(world)
    page = c.get("/ui/queue")
    assert 'id="calls-banner"' in page.text and "No officer call waiting." in page.text
    call_id = _raise(world).json()["id"]
    page = c.get("/ui/queue").text
    banner = page[page.index('id="calls-banner"'):page.index("</section>", page.index('id="calls-banner"'))]
    assert f'data-id="{call_id}"' in banner and "Hall" in banner and "Kiosk" in banner
    assert "review" in banner and "Traveller asked for help" in banner
    assert re.search(r'id="calls-count"[^>]*>1<', banner)
    assert f'action="/ui/calls/{call_id}/acknowledge"' in banner and f'action="/ui/calls/{call_id}/close"' in banner
    assert banner.count('name="csrf_token"') == 2
    assert "<script>" not in page  # no inline script (CSP)
    assert 'src="/static/calls.js"' in page
    # the watchlist page (another guard page) shows it too; a privacy officer's page does not
    assert f'data-id="{call_id}"' in c.get("/ui/watchlist").text
    privacy = TestClient(world.app, follow_redirects=False)
    ui_login(privacy, "privacy-officer")
    assert 'id="calls-banner"' not in privacy.get("/ui/privacy").text


def test_the_feed_for_calls_js(world):
    c = _guard(world)
    call_id = _raise(world, state="fingerprints").json()["id"]
    feed = c.get("/ui/calls/feed")
    assert feed.status_code == 200 and feed.headers["cache-control"] == "no-store"
    data = feed.json()
    assert data["count"] == 1 and data["total"] == 1
    (call,) = data["calls"]
    assert (call["id"], call["location"], call["screen"], call["kind"], call["status"]) == (
        call_id, "Hall", "fingerprints", "Kiosk", "open")
    assert call["age"].endswith(" s") and isinstance(call["age_s"], int)
    c.cookies.set("sb_lang", "vi", path="/ui")
    assert c.get("/ui/calls/feed").json()["calls"][0]["screen"] == "vân tay"
    anon = TestClient(world.app, follow_redirects=False)
    assert anon.get("/ui/calls/feed").headers["location"] == "/ui/login"


def test_acknowledge_and_close_from_the_banner(world):
    c = _guard(world)
    call_id = _raise(world).json()["id"]
    csrf = world.ctx.auth.csrf_token(world.ctx.auth.resolve_staff(c.cookies.get("sb_session"), "web"))
    forged = c.post(f"/ui/calls/{call_id}/acknowledge", data={"back": "/ui/queue"})
    assert forged.status_code == 403 and world.ctx.calls.get(call_id)["status"] == "open"
    r = c.post(f"/ui/calls/{call_id}/acknowledge", data={"csrf_token": csrf, "back": "/ui/watchlist?x=1"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/watchlist?flash_key=call_acknowledged"
    assert world.ctx.calls.get(call_id)["acknowledged_by"] == "border-guard"
    page = c.get("/ui/queue").text
    assert "On the way: border-guard" in page and f'action="/ui/calls/{call_id}/acknowledge"' not in page
    r = c.post(f"/ui/calls/{call_id}/close", data={"csrf_token": csrf, "back": "https://evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/queue?flash_key=call_closed"
    assert world.ctx.calls.get(call_id)["status"] == "closed"
    assert "Call closed." in c.get(r.headers["location"]).text
    # another officer was quicker: the page says so (no error page)
    late = c.post(f"/ui/calls/{call_id}/close", data={"csrf_token": csrf})
    assert late.status_code == 303 and late.headers["location"] == "/ui/queue?flash_key=call_already_handled"
    assert "Another officer has already handled this call." in c.get(late.headers["location"]).text
    assert c.post("/ui/calls/call_nope/close", data={"csrf_token": csrf}).status_code == 404
    assert c.post(f"/ui/calls/{call_id}/explode", data={"csrf_token": csrf}).status_code == 404
