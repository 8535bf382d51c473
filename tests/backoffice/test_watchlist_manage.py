"""Single-entry watchlist management (issue #19 item 4): add, edit, deactivate with reason, source and expiry;
ledgered; four-eyes; Hanzi -> pinyin matching in the back office; the index follows other writers; the check
result names the listed person and tells a hit from a near miss."""

from __future__ import annotations

import json

import pytest

from backoffice._watchlist import WatchlistService
from tests.backoffice.conftest import PASSWORD, build_world, make_config

API = "/api/v1/watchlist"


def _check(world, who="border_guard", **body):
    r = world.client.post(f"{API}/check", json=body, headers=world.h(who))
    assert r.status_code == 200, r.text
    return r.json()


def _ledger(world, record):
    return [e for e in world.ctx.privacy.ledger.entries(limit=10_000) if e.record == record]


def test_hanzi_only_entry_matches_the_mrz_pinyin_name(world):
    r = world.client.post(f"{API}/persons", json={"id": "cn-zw", "name_hanzi": "张伟", "reason": "court order",
                                                  "source": "Bộ Công an", "expires_on": "2099-12-31"},
                          headers=world.h("supervisor"))
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "Bộ Công an" and r.json()["expires_on"] == "2099-12-31" and r.json()["active"]
    for name in ("ZHANG<<WEI", "ZHANG WEI", "WEI ZHANG"):
        out = _check(world, name=name, nationality="CHN")
        m = out["matches"][0]
        assert out["hit"] and m["entry_id"] == "cn-zw" and m["hit"] and m["band"] == "hit", name
        assert m["name_hanzi"] == "张伟" and m["listed_reason"] == "court order" and m["source"] == "Bộ Công an"
        assert "pinyin_match" in m["reasons"] and m["near_miss"] is False
    # a guard typing the Hanzi finds it too
    assert _check(world, name_hanzi="张伟")["matches"][0]["entry_id"] == "cn-zw"


def test_near_miss_is_told_apart_from_a_hit(world):
    world.client.post(f"{API}/persons", json={"id": "p1", "name": "NGUYEN VAN DUC", "date_of_birth": "1980-05-17",
                                              "nationality": "VNM", "reason": "red notice"},
                      headers=world.h("supervisor"))
    out = _check(world, name="NGUYEN VAN DUC", nationality="USA")
    m = out["matches"][0]
    assert not out["hit"] and m["band"] == "near_miss" and m["near_miss"] and not m["hit"]
    assert m["name"] == "NGUYEN VAN DUC" and m["listed_reason"] == "red notice"
    assert set(m) >= {"entry_id", "kind", "score", "reasons", "hit"}  # the keys clients already read


def test_edit_deactivate_and_reactivate_are_ledgered(world):
    sup = world.h("supervisor")
    world.client.post(f"{API}/persons", json={"id": "p1", "name": "TRAN VAN AN", "reason": "listed"}, headers=sup)
    r = world.client.put(f"{API}/persons/p1", json={"name": "TRAN VAN AN", "name_hanzi": "陈文安",
                                                    "reason": "alias added", "source": "Interpol"}, headers=sup)
    assert r.status_code == 200, r.text
    assert r.json()["name_hanzi"] == "陈文安" and r.json()["source"] == "Interpol"
    assert world.client.put(f"{API}/documents/p1", json={"document_number": "C1"}, headers=sup).status_code == 409
    assert world.client.put(f"{API}/persons/nope", json={"name": "A B"}, headers=sup).status_code == 404
    r = world.client.post(f"{API}/entries/p1/deactivate", json={"reason": "notice withdrawn"}, headers=sup)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["active"] is False and body["deactivated"]["reason"] == "notice withdrawn"
    assert body["deactivated"]["by"] == "user:supervisor"
    assert not _check(world, name="TRAN VAN AN")["matches"]
    assert world.client.get(f"{API}/entries/p1", headers=world.h("border_guard")).json()["active"] is False
    feed = world.client.get(f"{API}/changes?since=0", headers=sup).json()["changes"]
    assert [c["op"] for c in feed] == ["upsert", "upsert", "delete"]  # gates drop a deactivated entry
    assert world.client.post(f"{API}/entries/p1/deactivate", json={"reason": "again"}, headers=sup).status_code == 404
    assert world.client.post(f"{API}/entries/p1/deactivate", json={"reason": "  "}, headers=sup).status_code == 422
    r = world.client.put(f"{API}/persons/p1", json={"name": "TRAN VAN AN", "reason": "relisted"}, headers=sup)
    assert r.json()["active"] is True and _check(world, name="TRAN VAN AN")["hit"]
    entries = _ledger(world, "p1")
    assert [(e.action, e.actor) for e in entries] == [
        ("watchlist_upsert", "user:supervisor"), ("watchlist_edit", "user:supervisor"),
        ("watchlist_deactivate", "user:supervisor"), ("watchlist_edit", "user:supervisor")]
    # why: the reason is free text about a listed person, so the hash-chained ledger (which nothing may erase)
    # names the change by its version; the reason stays with the change, where an erasure can reach it
    details = [json.loads(e.details or "{}") for e in entries]
    assert all("reason" not in d and "source" not in d for d in details)
    reasons = {r["version"]: r["reason"] for r in world.ctx.store.query(
        "SELECT version, reason FROM watchlist_changes WHERE entry_id = 'p1'")}
    assert [reasons[d["version"]] for d in details] == ["listed", "alias added", "notice withdrawn", "relisted"]


def test_guards_read_only(world):
    g = world.h("border_guard")
    assert world.client.post(f"{API}/persons", json={"name": "A B"}, headers=g).status_code == 403
    assert world.client.put(f"{API}/persons/x", json={"name": "A B"}, headers=g).status_code == 403
    assert world.client.post(f"{API}/entries/x/deactivate", json={"reason": "r"}, headers=g).status_code == 403
    assert world.client.post(f"{API}/pending/x/approve", headers=g).status_code == 403
    assert world.client.get(f"{API}/pending", headers=g).status_code == 200


def test_an_expired_entry_no_longer_matches(world):
    sup = world.h("supervisor")
    world.client.post(f"{API}/persons", json={"id": "old", "name": "LE VAN TAM", "expires_on": "2020-01-31"}, headers=sup)
    world.client.post(f"{API}/documents", json={"id": "d1", "document_number": "C7654321", "issuing_state": "VNM",
                                                "expires_on": "2020-01-31"}, headers=sup)
    assert world.client.get(f"{API}/entries/old", headers=sup).json()["expired"] is True
    assert _check(world, name="LE VAN TAM", document_number="C7654321", issuing_state="VNM")["matches"] == []


@pytest.fixture()
def four_eyes(tmp_path):
    w = build_world(make_config(db_path=tmp_path / "bo.db", watchlist_four_eyes=True))
    w.ctx.auth.create_user("supervisor-2", PASSWORD, "supervisor", display_name="second")
    r = w.client.post("/api/v1/auth/token", json={"username": "supervisor-2", "password": PASSWORD})
    w.tokens["supervisor2"] = r.json()["access_token"]
    yield w
    w.client.close()


def test_four_eyes_a_change_waits_for_a_second_supervisor(four_eyes):
    w = four_eyes
    r = w.client.post(f"{API}/persons", json={"id": "cn1", "name_hanzi": "张伟", "reason": "court order"},
                      headers=w.h("supervisor"))
    assert r.status_code == 202, r.text
    pending = r.json()
    assert pending["status"] == "pending" and pending["entry_id"] == "cn1" and pending["requested_by"] == "user:supervisor"
    assert not _check(w, name="ZHANG WEI")["matches"]  # not applied yet
    assert [p["id"] for p in w.client.get(f"{API}/pending", headers=w.h("border_guard")).json()] == [pending["id"]]
    assert w.client.post(f"{API}/pending/{pending['id']}/approve", headers=w.h("supervisor")).status_code == 403
    r = w.client.post(f"{API}/pending/{pending['id']}/approve", json={"reason": "checked"}, headers=w.h("supervisor2"))
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["decided_by"] == "user:supervisor-2"
    assert _check(w, name="ZHANG WEI")["hit"]
    assert w.client.post(f"{API}/pending/{pending['id']}/reject", headers=w.h("supervisor2")).status_code == 409
    # a deactivation waits too; the asker may withdraw it
    r = w.client.post(f"{API}/entries/cn1/deactivate", json={"reason": "lifted"}, headers=w.h("supervisor2"))
    assert r.status_code == 202
    assert w.client.post(f"{API}/pending/{r.json()['id']}/reject", headers=w.h("supervisor2")).json()["status"] == "rejected"
    assert _check(w, name="ZHANG WEI")["hit"]
    actions = [(e.action, e.actor) for e in _ledger(w, "cn1")]
    assert actions == [("watchlist_request:upsert", "user:supervisor"), ("watchlist_approve:upsert", "user:supervisor-2"),
                       ("watchlist_request:deactivate", "user:supervisor-2"),
                       ("watchlist_reject:deactivate", "user:supervisor-2")]


def test_the_server_index_follows_another_writer_on_the_same_file(tmp_path):
    """The CLI (``backoffice import-watchlist``) or a second app writes the database while the server runs."""
    a = build_world(make_config(db_path=tmp_path / "bo.db"))
    try:
        sup = a.h("supervisor")
        a.client.post(f"{API}/persons", json={"id": "p0", "name": "PHAM VAN BA"}, headers=sup)
        assert _check(a, name="PHAM VAN BA")["hit"]  # the index is built now
        from backoffice._store import Store

        other = Store(tmp_path / "bo.db")  # another connection, as another process has
        cli = WatchlistService(other, threshold=0.85, dob_window_days=365, page_limit=100)
        rep = cli.import_csv("person", "id,name_hanzi,reason\ncn9,张伟,imported\n", "cli:import")
        assert rep["accepted"] == 1
        cli.delete("p0", "cli:import")
        out = _check(a, name="ZHANG<<WEI")
        assert out["hit"] and out["matches"][0]["entry_id"] == "cn9" and out["version"] == rep["version"] + 1
        assert not _check(a, name="PHAM VAN BA")["matches"]
        assert a.ctx.watchlist.refresh() is False  # nothing new: one PRAGMA, no replay
        other.close()
    finally:
        a.client.close()


def test_imports_are_ledgered(world):
    r = world.client.post(f"{API}/import?kind=person", content=b"id,name\np1,A B C\n",
                          headers=world.h("supervisor", **{"Content-Type": "text/csv"}))
    entries = _ledger(world, r.json()["id"])
    assert [e.action for e in entries] == ["watchlist_import"]
    assert json.loads(entries[0].details)["accepted"] == "1"


# -- the web UI ---------------------------------------------------------------------------------
def _ui(world, username):
    from fastapi.testclient import TestClient

    from tests.backoffice.conftest import ui_login

    c = TestClient(world.app, raise_server_exceptions=False, follow_redirects=False)
    assert ui_login(c, username).status_code == 303
    return c


def _csrf(html: str) -> str:
    import re

    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)


def test_ui_supervisor_adds_a_hanzi_only_entry_and_a_check_shows_the_hit(world):
    c = _ui(world, "supervisor")
    page = c.get("/ui/watchlist")
    assert 'id="person-form"' in page.text and 'id="p-name_hanzi"' in page.text
    r = c.post("/ui/watchlist/entries", data={"csrf_token": _csrf(page.text), "kind": "person", "name_hanzi": "张伟",
                                              "reason": "lệnh của toà án", "source": "Bộ Công an",
                                              "expires_on": "2099-12-31"})
    assert r.status_code == 303 and "flash_key=wl_saved" in r.headers["location"]
    r = c.get("/ui/watchlist", params={"name": "ZHANG WEI"})
    assert 'data-band="hit"' in r.text and "张伟" in r.text and "lệnh của toà án" in r.text and "TRÙNG KHỚP" in r.text
    r = c.get("/ui/watchlist", params={"name": "张伟"})  # typed in Hanzi: checked as name_hanzi, no bare 422
    assert r.status_code == 200 and 'data-band="hit"' in r.text and "hanzi_exact" in r.text
    entry_id = world.client.get(f"{API}/entries", headers=world.h("supervisor")).json()["items"][0]["id"]
    assert [e.action for e in _ledger(world, entry_id)] == ["watchlist_upsert"]
    # edit, then deactivate with a reason
    page = c.get(f"/ui/watchlist/entries/{entry_id}")
    assert 'value="张伟"' in page.text and 'value="Bộ Công an"' in page.text
    r = c.post(f"/ui/watchlist/entries/{entry_id}", data={"csrf_token": _csrf(page.text), "kind": "person",
                                                          "name_hanzi": "张伟", "name": "ZHANG WEI", "reason": "x"})
    assert r.status_code == 303
    r = c.post(f"/ui/watchlist/entries/{entry_id}/deactivate", data={"csrf_token": _csrf(page.text), "reason": "hết hạn"})
    assert r.status_code == 303
    assert "no-matches" in c.get("/ui/watchlist", params={"name": "ZHANG WEI"}).text
    assert world.client.get(f"{API}/entries/{entry_id}", headers=world.h("supervisor")).json()["deactivated"]["reason"] == "hết hạn"


def test_ui_errors_are_in_the_ui_language(world):
    c = _ui(world, "supervisor")
    r = c.get("/ui/watchlist", params={"name": "123"})
    assert r.status_code == 422 and "Họ tên không có chữ cái nào" in r.text and "422" not in r.text.split("<main>")[1][:200]
    r = c.get("/ui/watchlist", params={"name": "ZHANG WEI", "dob": "1980-13"})
    assert r.status_code == 422 and "Ngày sinh phải có dạng" in r.text and 'value="ZHANG WEI"' in r.text
    page = c.get("/ui/watchlist")
    r = c.post("/ui/watchlist/entries", data={"csrf_token": _csrf(page.text), "kind": "person", "name": "A B",
                                              "nationality": "VIETNAM", "reason": "r"})
    assert r.status_code == 422 and "Vui lòng sửa: Quốc tịch (3 chữ cái)" in r.text and 'value="VIETNAM"' in r.text
    c.get("/ui/lang/en")
    r = c.get("/ui/watchlist", params={"name": "123"})
    assert "The name has no letter to match on" in r.text


def test_ui_guards_read_only(world):
    c = _ui(world, "border-guard")
    page = c.get("/ui/watchlist")
    assert page.status_code == 200 and 'id="person-form"' not in page.text and "wl-deactivate" not in page.text
    r = c.post("/ui/watchlist/entries", data={"csrf_token": _csrf(page.text), "kind": "person", "name": "A B"})
    assert r.status_code == 403


def test_ui_four_eyes_pending_list_and_approval(four_eyes):
    w = four_eyes
    c1 = _ui(w, "supervisor")
    page = c1.get("/ui/watchlist")
    r = c1.post("/ui/watchlist/entries", data={"csrf_token": _csrf(page.text), "kind": "person", "name_hanzi": "张伟",
                                               "reason": "court order"})
    assert "flash_key=wl_pending_saved" in r.headers["location"]
    page = c1.get("/ui/watchlist")
    assert 'id="pending"' in page.text and "wl-approve" not in page.text  # not for the asker
    pid = w.ctx.watchlist.pending()[0]["id"]
    c2 = _ui(w, "supervisor-2")
    page2 = c2.get("/ui/watchlist")
    assert "wl-approve" in page2.text and "张伟" in page2.text
    r = c1.post(f"/ui/watchlist/pending/{pid}/approve", data={"csrf_token": _csrf(page.text)})
    assert r.status_code == 403 and "Nguyên tắc hai người" in r.text
    r = c2.post(f"/ui/watchlist/pending/{pid}/approve", data={"csrf_token": _csrf(page2.text)})
    assert r.status_code == 303
    assert 'data-band="hit"' in c2.get("/ui/watchlist", params={"name": "ZHANG<<WEI"}).text


def test_a_gate_reports_its_matches_in_the_strict_schema():
    """The gate sends ``Match.to_dict()`` with an exception; the new near-miss band does not leak into it."""
    from backoffice.schemas import MatchCreate
    from watchlist import PersonEntry, PersonQuery, match_person

    m = match_person(PersonQuery("ZHANG WEI"), PersonEntry("cn1", (), name_hanzi="张伟"))
    assert m.hit and MatchCreate(**m.to_dict()).entry_id == "cn1"


def test_four_eyes_refuses_a_csv_import_but_not_a_dry_run(four_eyes):
    """An import replaces the entries whose id it names: under four-eyes it would pass the second supervisor by."""
    w = four_eyes
    sup = w.h("supervisor")
    csv_text = "id,name_hanzi,date_of_birth\ncn1,张伟,2000-01-01\n"
    r = w.client.post(f"{API}/import?kind=person", content=csv_text.encode(),
                      headers={**sup, "Content-Type": "text/csv"})
    assert r.status_code == 403 and "four-eyes" in r.json()["detail"], r.text
    r = w.client.post(f"{API}/import?kind=person&dry_run=true", content=csv_text.encode(),
                      headers={**sup, "Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert w.client.get(f"{API}/entries", headers=sup).json()["total"] == 0


def test_a_change_that_rolls_back_does_not_stay_in_the_index(world, monkeypatch):
    """The index takes this process's writes inside their transaction: a failure later in it (here the
    ledger) must not leave the entry deactivated in memory while the database still has it active."""
    sup = world.h("supervisor")
    world.client.post(f"{API}/persons", json={"id": "rb1", "name": "LE VAN BINH", "reason": "listed"}, headers=sup)
    assert _check(world, name="LE VAN BINH")["hit"]
    ledger = world.ctx.privacy.ledger

    def broken(*a, **k):
        raise RuntimeError("ledger unavailable")

    monkeypatch.setattr(ledger, "append", broken)
    r = world.client.post(f"{API}/entries/rb1/deactivate", json={"reason": "test"}, headers=sup)
    assert r.status_code == 500
    monkeypatch.undo()
    assert world.client.get(f"{API}/entries/rb1", headers=sup).json()["active"] is True
    assert _check(world, name="LE VAN BINH")["hit"]  # still matches: the index was rebuilt from the database
