PERSONS_CSV = """id,name,aliases,name_hanzi,name_pinyin,date_of_birth,nationality,reason
p-1,Nguyễn Văn Đức,Đức Nguyễn,,,1980-05-17,VNM,interpol red notice
p-2,,,张伟,Zhāng Wěi,1975,CHN,court order
p-3,Trần Thị Mai,,,,1980-13-40,VNM,bad date
p-4,,,,,1990-01-01,VNM,no name
p-5,Lê Văn Tám,,,,1990,VIETNAM,bad nationality
"""

DOCS_CSV = """document_number,issuing_state,document_type,reason
C1234567,VNM,P,stolen
E 0000 0001,CHN,P,lost
,VNM,P,stolen
AB#12,VNM,P,stolen
"""


def _import(world, kind, text, dry_run=False):
    return world.client.post(f"/api/v1/watchlist/import?kind={kind}&dry_run={str(dry_run).lower()}",
                             content=text.encode(), headers=world.h("supervisor", **{"Content-Type": "text/csv"}))


def test_csv_import_reports_row_by_row(world):
    r = _import(world, "person", PERSONS_CSV)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert (rep["accepted"], rep["rejected"], rep["rows"]) == (2, 3, 5)
    by_row = {x["row"]: x for x in rep["report"]}
    assert by_row[2]["status"] == "accepted" and by_row[2]["entry_id"] == "p-1"
    assert by_row[4]["status"] == "rejected" and "date of birth" in by_row[4]["errors"][0]
    assert "no usable name" in by_row[5]["errors"][0]
    assert "nationality" in by_row[6]["errors"][0]
    r = _import(world, "document", DOCS_CSV)
    rep = r.json()
    assert (rep["accepted"], rep["rejected"]) == (2, 2)
    entries = world.client.get("/api/v1/watchlist/entries?kind=document", headers=world.h("border_guard")).json()
    assert sorted(e["document_number"] for e in entries["items"]) == ["C1234567", "E00000001"]


def test_csv_rows_with_control_characters_are_rejected_like_api_names(world):
    csv_text = ("id,name,reason\n"
                "p-ok,NGUYEN VAN AN,ok\n"
                "p-esc,EVIL\x1b[0m NAME,terminal escape\n"
                "p-bidi,ABC\u202eDEF,bidi override\n")
    rep = _import(world, "person", csv_text).json()
    assert (rep["accepted"], rep["rejected"]) == (1, 2), rep
    by_row = {x["row"]: x for x in rep["report"]}
    assert by_row[3]["errors"] == ["control or bidirectional characters in name"]
    assert by_row[4]["errors"] == ["control or bidirectional characters in name"]
    ids = {e["id"] for e in world.client.get("/api/v1/watchlist/entries", headers=world.h("supervisor")).json()["items"]}
    assert ids == {"p-ok"}


def test_dry_run_changes_nothing(world):
    r = _import(world, "person", PERSONS_CSV, dry_run=True)
    assert r.json()["accepted"] == 2 and r.json()["version"] == 0
    assert world.client.get("/api/v1/watchlist/entries", headers=world.h("supervisor")).json()["total"] == 0


def test_csv_header_and_encoding_errors_are_422(world):
    assert _import(world, "person", "foo,bar\n1,2\n").status_code == 422
    r = world.client.post("/api/v1/watchlist/import?kind=person", content=b"\xff\xfe\x00bad",
                          headers=world.h("supervisor", **{"Content-Type": "text/csv"}))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


def test_change_feed_versions_and_etag(world):
    c = world.client
    sup, gate = world.h("supervisor"), world.h("gate")
    a = c.post("/api/v1/watchlist/persons", json={"name": "Nguyễn Văn Đức", "date_of_birth": "1980-05-17"},
               headers=sup).json()
    b = c.post("/api/v1/watchlist/documents", json={"document_number": "c1234567", "issuing_state": "VNM"},
               headers=sup).json()
    assert (a["version"], b["version"], b["document_number"]) == (1, 2, "C1234567")
    assert c.delete(f"/api/v1/watchlist/entries/{a['id']}", headers=sup).status_code == 204
    r = c.get("/api/v1/watchlist/changes?since=0&limit=2", headers=gate)
    body = r.json()
    assert [ch["version"] for ch in body["changes"]] == [1, 2] and body["more"] and body["latest"] == 3
    r2 = c.get(f"/api/v1/watchlist/changes?since={body['version']}", headers=gate)
    assert [(ch["op"], ch["id"]) for ch in r2.json()["changes"]] == [("delete", a["id"])]
    assert r2.json()["more"] is False
    etag = r2.headers["etag"]
    r3 = c.get("/api/v1/watchlist/changes?since=2", headers={**gate, "If-None-Match": etag})
    assert r3.status_code == 304 and r3.content == b""
    c.post("/api/v1/watchlist/documents", json={"document_number": "X1"}, headers=sup)
    r4 = c.get("/api/v1/watchlist/changes?since=2", headers={**gate, "If-None-Match": etag})
    assert r4.status_code == 200 and r4.headers["etag"] != etag and len(r4.json()["changes"]) == 2
    assert c.get(f"/api/v1/watchlist/entries/{a['id']}", headers=sup).status_code == 404
    ahead = c.get("/api/v1/watchlist/changes?since=99", headers=gate).json()
    assert ahead["reset"] is True and ahead["version"] == 0 and ahead["changes"] == []
    assert c.delete(f"/api/v1/watchlist/entries/{a['id']}", headers=sup).status_code == 404


def test_gate_copy_from_feed_matches_server(world):
    """What the gate does offline: rebuild a WatchlistIndex from the feed and match locally."""
    from watchlist import DocumentEntry, PersonEntry, PersonQuery, WatchlistIndex

    _import(world, "person", PERSONS_CSV)
    _import(world, "document", DOCS_CSV)
    ix = WatchlistIndex()
    changes = world.client.get("/api/v1/watchlist/changes?since=0", headers=world.h("gate")).json()["changes"]
    for ch in changes:
        d = ch["data"]
        if ch["op"] == "delete":
            ix.remove(ch["id"])
        elif ch["kind"] == "document":
            ix.upsert(DocumentEntry(ch["id"], d["document_number"], d.get("issuing_state")))
        else:
            ix.upsert(PersonEntry(ch["id"], tuple(filter(None, [d.get("name"), *d.get("aliases", [])])),
                                  d.get("name_hanzi"), d.get("name_pinyin"), d.get("date_of_birth"), d.get("nationality")))
    local = ix.check(PersonQuery("ZHANG<<WEI", "1975-02-03", "CHN"))
    server = world.client.post("/api/v1/watchlist/check", json={"name": "ZHANG<<WEI", "date_of_birth": "1975-02-03",
                                                                "nationality": "CHN"}, headers=world.h("gate")).json()
    assert local[0].entry_id == server["matches"][0]["entry_id"] == "p-2" and server["hit"]


def test_check_endpoint(world):
    _import(world, "person", PERSONS_CSV)
    _import(world, "document", DOCS_CSV)
    c, h = world.client, world.h("kiosk")
    r = c.post("/api/v1/watchlist/check", json={"document_number": "E00000001", "issuing_state": "CHN"}, headers=h)
    assert r.json()["hit"] and r.json()["matches"][0]["reasons"][0] == "document_number_exact"
    r = c.post("/api/v1/watchlist/check", json={"name": "DUC NGUYEN VAN", "date_of_birth": "1980-05-20"}, headers=h)
    m = r.json()["matches"][0]
    assert m["entry_id"] == "p-1" and m["hit"] and "name_token_order" in m["reasons"]
    r = c.post("/api/v1/watchlist/check", json={"name": "PHAM MINH CHINH", "date_of_birth": "1958-12-10"}, headers=h)
    assert r.json() == {"hit": False, "version": r.json()["version"], "matches": []}
    assert c.post("/api/v1/watchlist/check", json={}, headers=h).status_code == 422
    assert c.post("/api/v1/watchlist/check", json={"name": "<<<"}, headers=h).status_code == 422


def test_person_validation(world):
    c, h = world.client, world.h("supervisor")
    assert c.post("/api/v1/watchlist/persons", json={"name": ""}, headers=h).status_code == 422
    assert c.post("/api/v1/watchlist/persons", json={"name": "A B", "date_of_birth": "1980-02-31"},
                  headers=h).status_code == 422
    assert c.post("/api/v1/watchlist/persons", json={"name": "A B", "extra": 1}, headers=h).status_code == 422
    r = c.post("/api/v1/watchlist/persons", json={"id": "same", "name": "Old Name"}, headers=h)
    r = c.post("/api/v1/watchlist/persons", json={"id": "same", "name": "New Name"}, headers=h)
    assert r.status_code == 201 and r.json()["name"] == "New Name" and r.json()["version"] == 2
    r = c.post("/api/v1/watchlist/documents", json={"id": "same", "document_number": "X9"}, headers=h)
    assert r.status_code == 409 and "is a person" in r.json()["detail"], r.text  # the state, not the body
    for body in ({}, {"name": "0000"}, {"name": "<<<"}, {"name_hanzi": "abc"}, {"name": "A", "nationality": "<<<"}):
        r = c.post("/api/v1/watchlist/persons", json=body, headers=h)
        assert r.status_code == 422 and r.json()["type"].endswith("/validation"), (body, r.text)
    for body in ({"name": "Søren Ærø"}, {"name_hanzi": "张伟"}, {"name": "Müller", "nationality": "D<<"}):
        r = c.post("/api/v1/watchlist/persons", json=body, headers=h)
        assert r.status_code == 201, (body, r.text)
    assert r.json()["nationality"] == "D"
    r = c.post("/api/v1/watchlist/check", json={}, headers=h)
    assert r.status_code == 422 and r.json()["type"].endswith("/validation")
    r = c.post("/api/v1/watchlist/check", json={"name": "SOEREN AEROE"}, headers=h)
    assert r.status_code == 200 and r.json()["hit"] is True, r.text  # Doc 9303's MRZ spelling of Søren Ærø


def test_index_build_replays_changes_made_meanwhile(world):
    svc = world.ctx.watchlist
    svc.upsert("document", {"document_number": "A1"}, "t", "d-a")
    svc._index = None
    real_apply = svc._apply
    state = {"done": False}

    def apply_and_write(ix, *args):
        real_apply(ix, *args)
        if not state["done"]:  # a supervisor deletes and adds while the index is being built
            state["done"] = True
            svc.delete("d-a", "t")
            svc.upsert("document", {"document_number": "B2"}, "t", "d-b")

    svc._apply = apply_and_write
    try:
        ix = svc.index()
    finally:
        svc._apply = real_apply
    assert ix.check_document("A1") == [] and [m.entry_id for m in ix.check_document("B2")] == ["d-b"]


def test_import_has_its_own_size_limit(tmp_path):
    from tests.backoffice.conftest import build_world, make_config

    w = build_world(make_config(db_path=tmp_path / "l.db", max_body_bytes=2000, max_import_bytes=100_000))
    rows = "".join(f"D{i:07d},VNM,P,stolen\n" for i in range(1000))  # ~21 kB: over the API limit, under the import one
    r = w.client.post("/api/v1/watchlist/import?kind=document", content=("document_number,issuing_state,document_type,"
                      "reason\n" + rows).encode(), headers=w.h("supervisor", **{"Content-Type": "text/csv"}))
    assert r.status_code == 200 and r.json()["accepted"] == 1000
    r = w.client.post("/api/v1/watchlist/persons", json={"name": "x" * 150, "aliases": ["y" * 150] * 15},
                      headers=w.h("supervisor"))
    assert r.status_code == 413
