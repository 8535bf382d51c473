"""The guards' workbench without a browser (issue #19 items 1 and 2): the queue's severity order, the
JPEG 2000 chip photo converted for the browser, the count endpoint the queue polls, the next case after
a decision, the queue view's single ledger entry, local times and waiting times."""

from __future__ import annotations

import base64
import io
import json
import re

from fastapi.testclient import TestClient
from PIL import Image

from tests.backoffice.conftest import exception_body, ui_login


def jp2_b64(color=(90, 90, 200), size=(120, 150)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG2000")
    return base64.b64encode(buf.getvalue()).decode()


def _post(world, key: str, **body) -> str:
    r = world.client.post("/api/v1/exceptions", json=exception_body(**body),
                          headers=world.h("gate", **{"Idempotency-Key": key}))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _session(world, username: str = "border-guard") -> TestClient:
    c = TestClient(world.app, raise_server_exceptions=False, follow_redirects=False)
    assert ui_login(c, username).status_code == 303
    return c


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _queue_ids(html: str) -> list[str]:
    return re.findall(r'<tr class="rv-row[^"]*" data-id="([^"]+)"', html)


def _doc(number: str, surname: str) -> dict:
    return {"document_number": number, "issuing_state": "VNM", "surname": surname, "given_names": "AN",
            "nationality": "VNM", "date_of_birth": "1990-01-01", "date_of_expiry": "2031-01-01", "sex": "F"}


def test_queue_orders_by_severity_then_waiting_time(world):
    expired = _post(world, "o1", reason_codes=["document_expired"], occurred_at="2026-11-22T07:00:00+07:00",
                    document=_doc("E0000001", "EXPIRED"))
    face_old = _post(world, "o2", reason_codes=["face_mismatch"], occurred_at="2026-11-22T07:10:00+07:00",
                     document=_doc("F0000001", "FACEOLD"))
    face_new = _post(world, "o3", reason_codes=["face_mismatch"], occurred_at="2026-11-22T07:50:00+07:00",
                     document=_doc("F0000002", "FACENEW"))
    fraud = _post(world, "o4", reason_codes=["face_mismatch", "chip_cloned"], occurred_at="2026-11-22T07:55:00+07:00",
                  document=_doc("C0000001", "CLONED"))
    hit = _post(world, "o5", reason_codes=["document_expired", "watchlist_hit"],
                occurred_at="2026-11-22T07:59:00+07:00", document=_doc("W0000001", "LISTED"))
    c = _session(world)
    page = c.get("/ui/queue")
    assert page.status_code == 200, page.text
    assert _queue_ids(page.text) == [hit, fraud, face_old, face_new, expired]
    # words, not codes, in the UI's language (Vietnamese by default); name, document, nationality shown
    assert "Trùng danh sách theo dõi" in page.text and "watchlist_hit<" not in page.text
    assert "LISTED" in page.text and "W0000001" in page.text and "VNM" in page.text
    assert "5 trường hợp đang chờ" in page.text
    assert re.search(r"đã chờ \d+ ngày", page.text)  # occurred on 22 November: days ago
    c.get("/ui/lang/en", headers={"referer": "/ui/queue"})
    page = c.get("/ui/queue")
    assert "Watchlist hit" in page.text and "Chip suspected cloned" in page.text and "5 waiting" in page.text
    # thumbnails of the live capture: small JPEGs made on the server
    thumb = c.get(f"/ui/exceptions/{hit}/images/thumb")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["cache-control"] == "no-store"
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 120


def test_queue_view_is_ledgered_per_traveller_shown(world):
    ids = [_post(world, f"l{i}", reason_codes=["face_mismatch"], document=_doc(f"Q000000{i}", f"ROW{i}"))
           for i in range(3)]
    rows_before = world.ctx.store.one("SELECT COUNT(*) AS n FROM ledger_entries")["n"]
    c = _session(world)
    assert c.get("/ui/queue").status_code == 200
    new = world.ctx.store.query("SELECT * FROM ledger_entries ORDER BY seq")[rows_before:]
    views = [r for r in new if r["action"] == "read:queue"]
    assert len(views) == 3, [r["action"] for r in new]
    assert all(v["actor"].endswith("border-guard") and v["purpose"] == "border_exception_review" for v in views)
    assert sorted(v["record"] for v in views) == sorted(ids)
    assert len({json.loads(v["details"])["view"] for v in views}) == 1  # one page view
    # a subject access request lists the queue view of that traveller
    subject = world.ctx.records.subject_id("VNM", "Q0000001")
    assert [v["record"] for v in views if v["subject_id"] == subject] == [ids[1]]
    # the personal data was not read item by item for the view
    assert not [r for r in new if r["action"].startswith("read:") and r["action"] != "read:queue"]


def test_jpeg2000_chip_photo_is_served_as_jpeg_and_cached_in_memory(world, tmp_path):
    exc = _post(world, "jp2", chip_image=jp2_b64())
    c = _session(world)
    raw = world.client.get(f"/api/v1/exceptions/{exc}/images/chip", headers=world.h("border_guard"))
    assert raw.headers["content-type"] == "image/jp2"  # the API serves what the chip holds
    r = c.get(f"/ui/exceptions/{exc}/images/chip")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "no-store"
    img = Image.open(io.BytesIO(r.content))
    assert img.format == "JPEG" and img.size == (120, 150)
    cache = world.app.state.review_images
    assert (exc, "chip") in cache._items
    again = c.get(f"/ui/exceptions/{exc}/images/chip")
    assert again.content == r.content
    # every view is still read through the ledgered vault path (the cache saves only the conversion)
    reads = world.ctx.store.one("SELECT COUNT(*) AS n FROM ledger_entries WHERE action = 'read:chip_image' "
                                "AND record = ?", (exc,))["n"]
    assert reads >= 2
    # never written to disk: nothing new beside the database
    assert not [p for p in tmp_path.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".jp2")]
    live = c.get(f"/ui/exceptions/{exc}/images/live")
    assert live.headers["content-type"] == "image/jpeg"
    assert c.get(f"/ui/exceptions/{exc}/images/other").status_code == 422


def test_image_cache_is_bounded():
    from backoffice._review_images import ImageCache

    now = [0.0]
    cache = ImageCache(max_entries=2, max_bytes=10, ttl_s=60, clock=lambda: now[0])
    cache.put(("a", "chip"), "s1", b"1234", "image/jpeg")
    cache.put(("b", "chip"), "s2", b"1234", "image/jpeg")
    cache.put(("c", "chip"), "s3", b"1234", "image/jpeg")
    assert cache.get(("a", "chip")) is None and len(cache) == 2 and cache.size_bytes == 8
    assert cache.get(("b", "chip"), "other source") is None  # made from another image: dropped
    assert cache.get(("c", "chip"), "s3") == (b"1234", "image/jpeg")
    now[0] = 61
    assert cache.get(("c", "chip")) is None  # expired


def test_count_endpoint_changes_when_the_queue_does(world):
    c = _session(world)
    first = c.get("/ui/queue/count")
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    assert first.json()["count"] == 0
    exc = _post(world, "c1")
    second = c.get("/ui/queue/count").json()
    assert second["count"] == 1 and second["version"] != first.json()["version"]
    page = c.get("/ui/queue")
    assert f'data-version="{second["version"]}"' in page.text
    c.post(f"/ui/exceptions/{exc}/decision", data={"decision": "admit", "csrf_token": _csrf(page.text)})
    assert c.get("/ui/queue/count").json() == first.json()
    anon = TestClient(world.app, follow_redirects=False)
    assert anon.get("/ui/queue/count").status_code in (303, 401)


def test_decision_opens_the_next_case_in_queue_order(world):
    low = _post(world, "n1", reason_codes=["document_expired"])
    top = _post(world, "n2", reason_codes=["watchlist_hit"])
    c = _session(world)
    page = c.get(f"/ui/exceptions/{top}")
    assert page.status_code == 200
    # the three decisions are one submit each, with access keys; the next case and the queue are linked
    for value, key in (("admit", "a"), ("refuse", "r"), ("refer", "f")):
        assert re.search(rf'<button type="submit" name="decision" value="{value}"[^>]*accesskey="{key}"', page.text)
    assert f'href="/ui/exceptions/{low}" id="rv-next" accesskey="n"' in page.text
    assert 'id="rv-queue" accesskey="q"' in page.text
    r = c.post(f"/ui/exceptions/{top}/decision", data={"decision": "refuse", "csrf_token": _csrf(page.text)})
    assert r.status_code == 303 and r.headers["location"] == f"/ui/exceptions/{low}?flash_key=rv_decided_next"
    page = c.get(r.headers["location"])
    assert "Đã ghi nhận quyết định" in page.text
    r = c.post(f"/ui/exceptions/{low}/decision", data={"decision": "admit", "csrf_token": _csrf(page.text)})
    assert r.headers["location"] == "/ui/queue?flash_key=decided"
    page = c.get(r.headers["location"])
    assert 'id="empty"' in page.text and "Không còn trường hợp nào" in page.text


def test_review_shows_local_time_waiting_time_and_the_face_bar(world):
    # the gate's record: face score and its threshold
    gate = _post(world, "t1", occurred_at="2026-11-22T01:00:00+00:00",
                 scores={"face": 0.788, "face_threshold": 0.933, "liveness": 0.99})
    c = _session(world)
    c.get("/ui/lang/en", headers={"referer": "/ui/queue"})
    page = c.get(f"/ui/exceptions/{gate}").text
    assert "2026-11-22 08:00" in page  # Asia/Ho_Chi_Minh, to the minute
    assert re.search(r'id="rv-waiting" data-since="[^"]+">waiting \d+ d \d+ h<', page)
    bar = re.search(r'class="rv-bar rv-fail" data-key="face" data-score="0.788" data-threshold="0.933" '
                    r'data-source="device"', page)
    assert bar, page
    assert "threshold 0.933" in page
    # no threshold in the record: the back office's configured one, said so
    other = _post(world, "t2", scores={"face_similarity": 0.41})
    page = c.get(f"/ui/exceptions/{other}").text
    configured = world.ctx.config.face_matching.threshold
    assert f'data-threshold="{configured}" data-source="config"' in page
    assert "from the back office&#39;s configuration" in page or "from the back office's configuration" in page


def test_ui_timezone_is_configurable(tmp_path):
    import pytest

    from backoffice import ConfigError
    from tests.backoffice.conftest import build_world, make_config

    with pytest.raises(ConfigError):
        make_config(ui_timezone="Mars/Olympus_Mons")
    w = build_world(make_config(db_path=tmp_path / "bo.db", ui_timezone="Europe/Paris"))
    exc = _post(w, "tz", occurred_at="2026-11-22T01:00:00+00:00")
    c = _session(w)
    assert "2026-11-22 02:00" in c.get(f"/ui/exceptions/{exc}").text
    w.client.close()


def test_an_undecodable_live_image_leaves_the_row_without_a_thumbnail(world):
    # magic bytes of a JPEG 2000 codestream, but no image behind them
    broken = base64.b64encode(b"\xffO\xffQ" + b"\x00" * 64).decode()
    exc = _post(world, "broken", live_image=broken, chip_image=broken)
    c = _session(world)
    page = c.get("/ui/queue")
    assert page.status_code == 200 and exc in _queue_ids(page.text)
    row = page.text[page.text.index(f'data-id="{exc}"'):]
    row = row[:row.index("</tr>")]
    assert "images/thumb" not in row and "Khuôn mặt không khớp" in row
    assert c.get(f"/ui/exceptions/{exc}/images/chip").status_code == 422
    assert c.get(f"/ui/exceptions/{exc}").status_code == 200


def test_review_names_the_listed_person_and_tells_a_hit_from_a_near_miss(world):
    r = world.client.post("/api/v1/watchlist/persons", json={"id": "wl-zw", "name_hanzi": "张伟", "name": "ZHANG WEI",
                                                              "reason": "Interpol red notice", "source": "A02"},
                          headers=world.h("supervisor"))
    assert r.status_code == 201, r.text
    matches = [{"entry_id": "wl-zw", "kind": "person", "score": 0.97, "reasons": ["name"], "hit": True},
               {"entry_id": "wl-gone", "kind": "person", "score": 0.74, "reasons": ["name"], "hit": False}]
    eid = _post(world, "lm1", reason_codes=["watchlist_hit"], watchlist_matches=matches)
    html = _session(world).get(f"/ui/exceptions/{eid}").text
    table = html[html.index('id="rv-matches"'):]
    table = table[:table.index("</table>")]
    hit_row, near_row = table.split('<tr class="rv-')[1:3]
    assert hit_row.startswith('hit"') and "ZHANG WEI" in hit_row and "张伟" in hit_row
    assert "Interpol red notice" in hit_row and "A02" in hit_row
    assert near_row.startswith('near"') and "wl-gone" in near_row  # no longer listed: its id only


def test_a_cached_thumbnail_is_served_only_to_the_officer_whose_read_was_ledgered(world):
    eid = _post(world, "th1", reason_codes=["face_mismatch"])
    world.ctx.auth.create_user("guard-b", "correct horse battery", "border_guard", display_name="B")
    a, b = _session(world), _session(world, "guard-b")
    assert a.get("/ui/queue").status_code == 200
    assert a.get(f"/ui/exceptions/{eid}/images/thumb").status_code == 200

    def reads(actor):
        return [e for e in world.ctx.privacy.ledger.entries(limit=10_000)
                if e.actor == actor and e.action.startswith("read:") and e.action != "read:queue"]

    before = len(reads("user:guard-b"))
    assert b.get(f"/ui/exceptions/{eid}/images/thumb").status_code == 200  # not from A's cached copy
    assert len(reads("user:guard-b")) == before + 1


def test_erasure_and_purge_leave_no_photo_in_memory(world):
    from backoffice._review_images import app_cache

    eid = _post(world, "er1", reason_codes=["face_mismatch"], chip_image=jp2_b64())
    c = _session(world)
    assert c.get(f"/ui/exceptions/{eid}/images/chip").status_code == 200
    assert c.get(f"/ui/exceptions/{eid}/images/thumb").status_code == 200
    assert len(app_cache(world.app)) == 2
    r = world.client.post("/api/v1/privacy/subjects/erase", json={
        "document_number": "C1234567", "issuing_state": "VNM", "purpose": "erasure request"},
        headers=world.h("privacy_officer"))
    assert r.status_code == 200, r.text
    assert len(app_cache(world.app)) == 0
    eid2 = _post(world, "er2", reason_codes=["face_mismatch"], chip_image=jp2_b64())
    assert c.get(f"/ui/exceptions/{eid2}/images/chip").status_code == 200 and len(app_cache(world.app)) >= 1
    r = world.client.post("/api/v1/privacy/purge?dry_run=false", headers=world.h("privacy_officer"))
    assert r.status_code == 200 and len(app_cache(world.app)) == 0


def test_admitting_a_watchlist_hit_takes_a_confirming_second_press(world):
    hit = _post(world, "cf1", reason_codes=["watchlist_hit"])
    face = _post(world, "cf2", reason_codes=["face_mismatch"])
    c = _session(world)
    page = c.get(f"/ui/exceptions/{hit}").text
    r = c.post(f"/ui/exceptions/{hit}/decision", data={"decision": "admit", "csrf_token": _csrf(page)})
    assert r.status_code == 303 and r.headers["location"] == f"/ui/exceptions/{hit}?confirm_admit=1"
    assert world.ctx.store.one("SELECT status FROM exceptions WHERE id = ?", (hit,))["status"] == "open"  # not yet
    page = c.get(r.headers["location"]).text
    assert 'id="rv-confirm-admit"' in page and 'name="confirm_admit" value="yes"' in page
    r = c.post(f"/ui/exceptions/{hit}/decision", data={"decision": "admit", "confirm_admit": "yes",
                                                       "csrf_token": _csrf(page)})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/ui/exceptions/{face}")
    # a face mismatch (identity doubt, not fraud) is admitted with one press
    page = c.get(f"/ui/exceptions/{face}").text
    r = c.post(f"/ui/exceptions/{face}/decision", data={"decision": "admit", "csrf_token": _csrf(page)})
    assert r.status_code == 303 and "confirm_admit" not in r.headers["location"]
