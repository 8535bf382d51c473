"""The back office's Store and the modules converted to SQLAlchemy ``text()`` on both backends: SQLite (a file)
and a throwaway PostgreSQL server (``postgres_db``; skipped without the server binaries unless
SMARTBORDER_REQUIRE_POSTGRES is set). Issue #24 increment 3."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from backoffice import create_app
from backoffice._auth import Auth, Principal
from backoffice._calls import CallService
from backoffice._enrolments import bump_generation
from backoffice._errors import (
    BadCredentials,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    LoginThrottled,
    NotFound,
)
from backoffice._idempotency import run_idempotent
from backoffice._privacy import forget_subject
from backoffice._records import Records
from backoffice._store import Store, portable
from backoffice._trust_feed import TrustFeed
from backoffice._watchlist import WatchlistService
from backoffice.schemas import CallCreate
from storage import ConstraintError, StorageError
from watchlist import PersonQuery


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    target = tmp_path / "bo.db" if request.param == "sqlite" else request.getfixturevalue("postgres_db")
    s = Store(target)
    yield s
    s.close()


def _auth(store: Store, **kw) -> Auth:
    values = dict(max_failures=3, window_s=900, session_ttl_s=60, token_ttl_s=60, time_cost=1, memory_kib=1024)
    values.update(kw)
    return Auth(store, "k" * 32, **values)


# --- the Store ---

def test_a_transaction_commits_and_an_exception_rolls_it_back(store):
    row = {"id": "gate-01", "kind": "gate", "at": "2026-12-07T08:00:00Z"}
    insert = text("INSERT INTO devices (id, kind, created_at) VALUES (:id, :kind, :at)")
    with store.tx() as db:
        db.execute(insert, row)
        with store.tx() as inner:  # nested: joins, sees the outer's row
            assert inner.scalar(text("SELECT count(*) FROM devices")) == 1
    with pytest.raises(RuntimeError), store.tx() as db:
        db.execute(insert, {**row, "id": "gate-02"})
        raise RuntimeError("boom")
    assert [r["id"] for r in store.query(text("SELECT id FROM devices ORDER BY id"))] == ["gate-01"]
    assert store.one(text("SELECT kind FROM devices WHERE id = :id"), {"id": "gate-01"}) == {"kind": "gate"}
    assert store.one(text("SELECT kind FROM devices WHERE id = :id"), {"id": "nope"}) is None


def test_a_savepoint_rolls_back_its_block_alone(store):
    insert = text("INSERT INTO devices (id, kind, created_at) VALUES (:id, 'gate', 'now')")
    with store.tx() as db:
        db.execute(insert, {"id": "a"})
        with pytest.raises(ConstraintError), db.atomic():
            db.execute(insert, {"id": "b"})
            db.execute(insert, {"id": "a"})  # duplicate key: the savepoint goes, "a" stays
    assert [r["id"] for r in store.query(text("SELECT id FROM devices ORDER BY id"))] == ["a"]


def test_a_broken_constraint_is_a_named_error_and_nothing_is_kept(store):
    insert = text("INSERT INTO devices (id, kind, created_at) VALUES (:id, 'gate', 'now')")
    with store.tx() as db:
        db.execute(insert, {"id": "a"})
    with pytest.raises(ConstraintError), store.tx() as db:
        db.execute(insert, {"id": "b"})
        db.execute(insert, {"id": "a"})
    assert store.query(text("SELECT id FROM devices")) == [{"id": "a"}]


def test_a_sequence_of_parameters_for_a_text_statement_is_refused(store):
    with pytest.raises(StorageError, match="named parameters"), store.tx() as db:
        db.execute(text("SELECT 1"), ["x"])


def test_legacy_statements_of_the_tests_run_on_both_and_sqlite_utils_is_refused_on_postgresql_by_name(store):
    # the tests' plain strings ("?" and a sequence) run on either database; on PostgreSQL as text() (portable)
    assert store.query("SELECT count(*) AS n FROM users WHERE username = ? AND role <> '?'", ("x",)) == [{"n": 0}]
    with store.tx() as db:
        db.execute("INSERT INTO devices (id, kind, created_at) VALUES (?, 'gate', ?)", ("gate-9", "now"))
        assert list(db.query("SELECT kind FROM devices WHERE id = ?", ["gate-9"])) == [{"kind": "gate"}]
    with pytest.raises(StorageError, match="2 placeholders and 1 parameters"):
        store.query("SELECT ? AS a, ? AS b", ("x",)) if store.dialect != "sqlite" else portable("? ?", ("x",))
    if store.dialect != "sqlite":
        with pytest.raises(StorageError, match="not converted"):
            store.db  # noqa: B018


# --- _auth ---

def test_users_login_sessions_and_revocation(store):
    auth = _auth(store)
    created = auth.create_user("Guard-1", "correct horse battery", "border_guard", "Guard One")
    assert created["username"] == "guard-1" and created["active"] is True and isinstance(created["id"], int)
    with pytest.raises(Conflict):
        auth.create_user("guard-1", "another password!", "admin")
    token, principal = auth.login("guard-1", "correct horse battery", "10.0.0.1")
    assert principal.role == "border_guard" and auth.resolve_staff(token, "api") == principal
    assert auth.resolve_staff(token, "web") is None  # another kind of session
    with pytest.raises(BadCredentials):
        auth.login("guard-1", "wrong password!!", "10.0.0.1")
    with pytest.raises(BadCredentials):
        auth.login("nobody", "wrong password!!", "10.0.0.1")
    auth.update_user("guard-1", role="supervisor")  # a role change revokes the sessions
    assert auth.resolve_staff(token, "api") is None
    token, _ = auth.login("guard-1", "correct horse battery", "10.0.0.1")
    auth.logout(auth.resolve_staff(token, "api"))
    assert auth.resolve_staff(token, "api") is None
    auth.update_user("guard-1", active=False)
    with pytest.raises(BadCredentials):
        auth.login("guard-1", "correct horse battery", "10.0.0.1")
    assert [u["username"] for u in auth.list_users()] == ["guard-1"]


def test_login_throttling_counts_in_the_database(store):
    auth = _auth(store)
    auth.create_user("guard-1", "correct horse battery", "border_guard")
    now = [1_000_000.0]
    auth.clock = lambda: now[0]
    for _ in range(3):
        with pytest.raises(BadCredentials):
            auth.login("guard-1", "wrong password!!", "10.0.0.9")
    with pytest.raises(LoginThrottled) as e:
        auth.login("guard-1", "correct horse battery", "10.0.0.9")  # over: refused before the check
    assert int(e.value.headers["Retry-After"]) >= 1
    assert auth.password_checks == 3
    assert store.one(text("SELECT count(*) AS n FROM login_attempts WHERE state = 'failed'"))["n"] == 3
    now[0] += 2  # the back-off (2^0 s) has passed: one more check, and a success clears the pair's failures
    auth.login("guard-1", "correct horse battery", "10.0.0.9")
    assert store.one(text("SELECT count(*) AS n FROM login_attempts"))["n"] == 0
    assert store.one(text("SELECT count(*) AS n FROM login_known"))["n"] == 1


def test_device_credentials(store):
    auth = _auth(store)
    device, token = auth.issue_device("Gate-01", "gate", "Gate 1", "Hall")
    assert device["id"] == "gate-01" and device["active"] is True
    with pytest.raises(Conflict):
        auth.issue_device("gate-01", "gate")
    assert auth.resolve_device(token).role == "device:gate"
    assert auth.get_device("gate-01")["last_seen_at"] is not None
    _, rotated = auth.rotate_device("gate-01")
    assert auth.resolve_device(token) is None and auth.resolve_device(rotated).id == "gate-01"
    assert auth.revoke_device("gate-01")["active"] is False
    assert auth.resolve_device(rotated) is None
    assert [d["id"] for d in auth.list_devices()] == ["gate-01"]


# --- _idempotency ---

def test_an_idempotent_request_runs_once_and_its_answer_is_replayed(store):
    calls = []

    def create(db):
        calls.append(1)
        device = f"d{len(calls)}"
        db.execute(text("INSERT INTO devices (id, kind, created_at) VALUES (:id, 'gate', 'now')"), {"id": device})
        return 201, {"id": device}

    first = run_idempotent(store, "device:gate-01", "k-1", {"a": 1}, create)
    again = run_idempotent(store, "device:gate-01", '"k-1"', {"a": 1}, create)  # the quoted form is the same key
    assert (first.status_code, first.body, first.replayed) == (201, {"id": "d1"}, False)
    assert (again.status_code, again.body, again.replayed) == (201, {"id": "d1"}, True) and len(calls) == 1
    with pytest.raises(IdempotencyKeyReused):
        run_idempotent(store, "device:gate-01", "k-1", {"a": 2}, create)
    other = run_idempotent(store, "device:gate-02", "k-1", {"a": 1}, create)  # keys are per principal
    assert other.body == {"id": "d2"} and not other.replayed


def test_an_answer_that_cannot_be_sent_rolls_the_record_back(store):
    def broken(db):
        db.execute(text("INSERT INTO devices (id, kind, created_at) VALUES ('d9', 'gate', 'now')"))
        return 201, {"score": float("nan")}  # not strict JSON

    with pytest.raises(ValueError):
        run_idempotent(store, "device:gate-01", "k-2", {}, broken)
    assert store.query(text("SELECT id FROM devices")) == []
    assert store.query(text("SELECT key FROM idempotency")) == []


# --- _calls ---

def test_officer_calls_in_the_order_raised_and_their_lifecycle(store):
    auth = _auth(store)
    auth.issue_device("kiosk-01", "kiosk", "Kiosk 1", "Hall A")
    kiosk = Principal("device", "kiosk-01", "device:kiosk")
    guard = Principal("user", "guard-1", "border_guard")
    calls = CallService(store)
    ids = [calls.raise_call(kiosk, CallCreate(state=s), f"c-{i}").body["id"] for i, s in
           enumerate(("review", "face", "document"))]  # most likely within one second: seq decides
    assert calls.raise_call(kiosk, CallCreate(state="review"), "c-0").replayed
    listed, total = calls.list(("open",))
    assert [c["id"] for c in listed] == ids and total == 3
    assert listed[0]["location"] == "Hall A" and listed[0]["device_kind"] == "kiosk"
    assert [c["id"] for c in calls.list(("open",), offset=1, limit=1)[0]] == ids[1:2]
    assert calls.acknowledge(ids[0], guard)["status"] == "acknowledged"
    with pytest.raises(Conflict):
        calls.acknowledge(ids[0], guard)
    assert calls.close(ids[0], guard)["closed_by"] == "guard-1"
    with pytest.raises(Conflict):
        calls.close(ids[0], guard)
    with pytest.raises(NotFound):
        calls.close("call_nope", guard)
    assert [c["id"] for c in calls.open_calls()] == ids[1:]
    assert calls.list(("acknowledged", "closed"))[1] == 1


# --- _watchlist ---

def _watchlist(store: Store) -> WatchlistService:
    return WatchlistService(store, threshold=0.85, dob_window_days=365, page_limit=2)


def test_the_watchlist_feed_versions_and_pages(store):
    wl = _watchlist(store)
    a = wl.upsert("document", {"document_number": "C1234567", "issuing_state": "vnm", "reason": "stolen"}, "u:a",
                  entry_id="doc-1")
    assert a["version"] == 1 and a["issuing_state"] == "VNM" and a["active"]
    wl.upsert("person", {"name": "PHAM VAN BA", "date_of_birth": "1970-01-02"}, "u:a", entry_id="p-1")
    assert wl.delete("doc-1", "u:a", reason="recovered") == 3
    with pytest.raises(NotFound):
        wl.delete("doc-1", "u:a")
    feed = wl.changes(0)
    assert [(c["version"], c["id"], c["op"]) for c in feed["changes"]] == [(1, "doc-1", "upsert"), (2, "p-1", "upsert")]
    assert feed["more"] and feed["latest"] == 3 and not feed["reset"]
    rest = wl.changes(feed["version"])
    assert [(c["version"], c["op"], c["data"]) for c in rest["changes"]] == [(3, "delete", None)] and not rest["more"]
    assert wl.changes(99)["reset"]
    listed, total = wl.list()
    assert [e["id"] for e in listed] == ["p-1"] and total == 1
    assert wl.list(kind="document", inactive=False)[1] == 0
    with pytest.raises(Conflict):  # an entry keeps its kind
        wl.upsert("document", {"document_number": "X1"}, "u:a", entry_id="p-1")
    assert wl.version() == 3  # the refused write left no change behind


def test_a_deactivated_entry_stays_readable_and_an_edit_revives_it(store):
    wl = _watchlist(store)
    wl.upsert("person", {"name": "PHAM VAN BA"}, "u:a", entry_id="p-1")
    user = Principal("user", "sup-1", "supervisor")
    wl.change("deactivate", user, None, entry_id="p-1", reason="cleared")
    got = wl.get("p-1")
    assert not got["active"] and got["deactivated"]["reason"] == "cleared"
    assert wl.changes(0)["changes"][-1]["op"] == "delete"
    wl.change("edit", user, None, entry_id="p-1", data={"name": "PHAM VAN BA", "reason": "again"})
    assert wl.get("p-1")["active"] and wl.get("p-1")["deactivated"] is None


def test_four_eyes_pending_changes(store):
    wl = _watchlist(store)
    asker, second = Principal("user", "sup-1", "supervisor"), Principal("user", "sup-2", "supervisor")
    pending = wl.change("upsert", asker, None, kind="document", entry_id="doc-9",
                        data={"document_number": "B7654321"}, reason="interpol", four_eyes=True)["pending"]
    assert pending["status"] == "pending" and wl.version() == 0
    assert [p["id"] for p in wl.pending()] == [pending["id"]]
    with pytest.raises(Forbidden):
        wl.decide(pending["id"], True, asker, None)
    decided = wl.decide(pending["id"], True, second, None)
    assert decided["status"] == "approved" and decided["decided_by"] == "user:sup-2"
    assert wl.get("doc-9")["document_number"] == "B7654321" and wl.version() == 1
    with pytest.raises(Conflict):
        wl.decide(pending["id"], False, second, None)


def test_csv_import_and_matching_follow_another_connection(store):
    wl = _watchlist(store)
    report = wl.import_csv("person", "id,name,date_of_birth\np-1,PHAM VAN BA,1970-01-02\np-2,,\n", "u:a")
    assert (report["accepted"], report["rejected"], report["version"]) == (1, 1, 1)
    assert store.one(text("SELECT rows, accepted FROM watchlist_imports")) == {"rows": 2, "accepted": 1}
    query = PersonQuery("PHAM VAN BA", date_of_birth="1970-01-02")
    matches, version = wl.check(query, None, None)
    assert [m.entry_id for m in matches] == ["p-1"] and version == 1
    assert wl.describe(matches)[0]["name"] == "PHAM VAN BA"
    other = Store(store.path)  # another worker on the same database
    try:
        _watchlist(other).delete("p-1", "u:b")
        wl.upsert("document", {"document_number": "C1234567"}, "u:a", entry_id="doc-1")  # not contiguous: v3
        matches, version = wl.check(query, "C1234567", None)  # the other's delete is replayed
        assert [m.entry_id for m in matches] == ["doc-1"] and version == 3
    finally:
        other.close()


# --- _enrolments (the galleries' generation; the enrolment flow itself needs the privacy package: SQLite only
# until issue #24 increment 4) and the erasure's record update (backoffice._privacy.forget_subject) ---

def _enrolment(db, enr_id: str, subject: str, status: str) -> None:
    db.execute(text("INSERT INTO enrolments (id, device_id, received_at, subject_id, status, checks, duplicates, "
                    "consent, face_ref) VALUES (:id, 'kiosk-01', 'now', :subject, :status, '{}', '[]', '{}', 'ref')"),
               {"id": enr_id, "subject": subject, "status": status})


def test_the_galleries_generation_moves_with_every_change_and_only_on_commit(store):
    other = Store(store.path)  # another worker
    try:
        with store.tx() as db:
            assert bump_generation(db) == 1
        with other.tx() as db:
            assert bump_generation(db) == 2
        with pytest.raises(RuntimeError), store.tx() as db:
            bump_generation(db)
            raise RuntimeError("rolled back")
        assert store.one(text("SELECT generation FROM galleries_generation"))["generation"] == 2
        with store.tx() as db:
            db.execute(text("DELETE FROM galleries_generation"))
        with pytest.raises(StorageError, match="galleries_generation has no row"), store.tx() as db:
            bump_generation(db)
    finally:
        other.close()


def test_an_erasure_drops_the_subjects_references_and_bumps_the_generation(store):
    with store.tx() as db:
        _enrolment(db, "enr_1", "subj-a", "accepted")
        _enrolment(db, "enr_2", "subj-a", "duplicate_suspected")
        _enrolment(db, "enr_3", "subj-b", "accepted")
    assert forget_subject(store, "subj-a") == {"exceptions": 0, "enrolments": 2}
    rows = store.query(text("SELECT id, subject_id, status, face_ref FROM enrolments ORDER BY id"))
    assert rows == [{"id": "enr_1", "subject_id": "erased", "status": "rejected", "face_ref": None},
                    {"id": "enr_2", "subject_id": "erased", "status": "duplicate_suspected", "face_ref": None},
                    {"id": "enr_3", "subject_id": "subj-b", "status": "accepted", "face_ref": "ref"}]
    assert store.one(text("SELECT generation FROM galleries_generation"))["generation"] == 1
    assert forget_subject(store, "nobody") == {"exceptions": 0, "enrolments": 0}
    assert store.one(text("SELECT generation FROM galleries_generation"))["generation"] == 1


def test_an_enrolment_by_another_worker_reaches_the_running_duplicate_check(tmp_path):
    """SQLite (the privacy package is not on the engine yet): two apps on one database file, as two workers."""
    from tests.backoffice.conftest import build_world, make_config
    from tests.backoffice.test_enrolments import _post, enrolment, face

    config = make_config(db_path=tmp_path / "bo.db")
    a = build_world(config)
    first = _post(a, enrolment("C1000001", face_bytes=face(1)), "e1").json()
    assert first["status"] == "accepted"  # a's galleries are loaded now
    b = create_app(config)  # the second worker: its own Store, connection and galleries
    try:
        with TestClient(b, raise_server_exceptions=False) as client:
            token = b.state.ctx.auth.issue_device("kiosk-02", "kiosk")[1]
            r = client.post("/api/v1/enrolments", json=enrolment("B2000002", "CHN", face_bytes=face(2)),
                            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "b1"})
            assert r.json()["status"] == "accepted", r.text
        # the same face under a third passport, at a: a duplicate of b's enrolment, which a never made itself
        again = _post(a, enrolment("D3000003", "LAO", face_bytes=face(2, noise=0.01)), "e2").json()
        assert again["status"] == "duplicate_suspected", again
        assert {d["enrolment_id"] for d in again["duplicates"]} == {r.json()["id"]}
    finally:
        a.client.close()


# --- _records: the queries that read no sealed data (creating and deciding ledger through the privacy package:
# SQLite only until issue #24 increment 4; the composition there is the app's, in test_exceptions.py) ---

def _records(store: Store) -> Records:
    config = SimpleNamespace(secret_key="test-secret-key-0123456789abcdef")
    return Records(SimpleNamespace(store=store, privacy=None, config=config))


def _exception(db, exc_id: str, status: str, reasons: list[str], received: str, subject: str = "subj-a") -> None:
    db.insert("exceptions", {"id": exc_id, "device_id": "gate-01", "occurred_at": received, "received_at": received,
                             "direction": "entry", "reason_codes": json.dumps(reasons), "scores": "{}",
                             "subject_id": subject, "status": status, "passive_score": 0.25})


def test_the_exception_queue_and_the_event_log(store):
    records = _records(store)
    with store.tx() as db:
        _exception(db, "exc_1", "open", ["face_mismatch"], "2026-12-07T08:00:00Z")
        _exception(db, "exc_2", "open", ["watchlist_hit"], "2026-12-07T08:05:00Z")
        _exception(db, "exc_3", "referred", ["face_mismatch"], "2026-12-07T07:00:00Z", subject="subj-b")
        _exception(db, "exc_4", "resolved", ["face_mismatch"], "2026-12-07T06:00:00Z")
        db.insert("events", {"id": "evt_1", "device_id": "gate-01", "occurred_at": "t", "received_at": "2026-12-07T08:00:00Z",
                             "kind": "transaction", "outcome": "admitted", "reason_codes": "[]", "duration_ms": 812.5})
        db.insert("events", {"id": "evt_2", "device_id": "gate-02", "occurred_at": "t", "received_at": "2026-12-07T08:01:00Z",
                             "kind": "door", "outcome": "ok", "reason_codes": '["x"]', "duration_ms": None})
    assert records.count_open() == 2
    listed, total = records.list_exceptions(["open", "referred"], 0, 2)
    assert [e["id"] for e in listed] == ["exc_3", "exc_1"] and total == 3
    assert listed[0]["passive_score"] == 0.25
    assert [e["id"] for e in records.queue_order(["open", "referred"])] == ["exc_2", "exc_3", "exc_1"]  # severity
    assert records.next_in_queue(["open", "referred"], after="exc_3") == "exc_1"
    count, digest = records.queue_version(["open", "referred"])
    with store.tx() as db:
        db.execute(text("UPDATE exceptions SET status = 'resolved' WHERE id = 'exc_1'"))
    assert records.queue_version(["open", "referred"])[0] == count - 1
    assert records.queue_version(["open", "referred"])[1] != digest
    assert records.severity("exc_2") == 0
    with pytest.raises(NotFound):
        records.severity("exc_nope")
    assert [e["id"] for e in records.list_events(None, 0, 10)] == ["evt_2", "evt_1"]
    only = records.list_events("gate-01", 0, 10)
    assert [(e["id"], e["duration_ms"], e["reason_codes"]) for e in only] == [("evt_1", 812.5, [])]
    assert records.subject_records("subj-a") == {"exceptions": ["exc_4", "exc_1", "exc_2"], "enrolments": []}


def test_an_insert_takes_plain_identifiers_only(store):
    with pytest.raises(StorageError, match="identifier"), store.tx() as db:
        db.insert("devices", {"id": "x", "kind) VALUES ('a'); --": "gate"})


# --- _trust_feed: what each device reports ---

def test_each_device_keeps_its_last_trust_store_report(store):
    feed = TrustFeed(None, store, signing_key=None)  # no trust store configured: nothing is "current"
    feed.report("gate-02", 3, "sha256:aa")
    feed.report("gate-01", 4, "sha256:bb")
    feed.report("gate-02", 5)  # replaces its earlier report
    assert [(d["device_id"], d["version"], d["digest"], d["current"]) for d in feed.devices()] == [
        ("gate-01", 4, "sha256:bb", False), ("gate-02", 5, "", False)]


# --- SQLite: the sqlite_utils bridge the privacy package runs on, and reads that do not lock writers out ---

def test_the_privacy_packages_writes_join_the_stores_transaction(store):
    """The ledger and the retention registry run on the Store: their writes commit and roll back with the record."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    import privacy

    ledger = privacy.Ledger(store, Ed25519PrivateKey.generate())
    retention = privacy.RetentionStore(store, ledger=ledger)
    before = len(ledger)
    insert = text("INSERT INTO devices (id, kind, created_at) VALUES (:id, 'gate', 'now')")
    with pytest.raises(RuntimeError), store.tx() as db:
        db.execute(insert, {"id": "a"})
        retention.register("exception", "exc-1", "subj-1")
        ledger.append("user:a", "border_guard", "read", "exc-1", "border_exception_review", "law")
        raise RuntimeError("all three roll back")
    assert store.query(text("SELECT id FROM devices")) == [] and retention.items_of_record("exc-1") == []
    assert len(ledger) == before and ledger.verify().ok
    with store.tx() as db:
        db.execute(insert, {"id": "b"})
        retention.register("exception", "exc-2", "subj-2")
        ledger.append("user:a", "border_guard", "read", "exc-2", "border_exception_review", "law")
    assert len(retention.items_of_record("exc-2")) == 1 and len(ledger) == before + 1 and ledger.verify().ok


def test_a_read_does_not_hold_the_write_lock(tmp_path):
    import time

    reader, writer = Store(tmp_path / "bo.db"), Store(tmp_path / "bo.db")
    try:
        with reader.read() as db:
            assert db.scalar(text("SELECT count(*) FROM devices")) == 0
            started = time.monotonic()
            with writer.tx() as w:  # BEGIN IMMEDIATE in the other connection: no wait for the reader (WAL)
                w.execute(text("INSERT INTO devices (id, kind, created_at) VALUES ('a', 'gate', 'now')"))
            assert time.monotonic() - started < 1.0
            assert db.scalar(text("SELECT count(*) FROM devices")) == 0  # one snapshot for the whole read
        assert reader.one(text("SELECT count(*) AS n FROM devices")) == {"n": 1}
    finally:
        reader.close()
        writer.close()


def test_a_snapshot_sees_one_state_and_holds_up_no_writer_of_the_process(store):
    """Store.snapshot() (a ledger's verification, an export): one committed state for the whole block, and another
    thread of the same process writes meanwhile without waiting (SQLite: a connection of its own)."""
    import threading
    import time

    insert = text("INSERT INTO devices (id, kind, created_at) VALUES (:id, 'gate', 'now')")
    with store.tx() as db:
        db.execute(insert, {"id": "a"})
    took = []

    def write() -> None:
        started = time.monotonic()
        with store.tx() as db:
            db.execute(insert, {"id": "b"})
        took.append(time.monotonic() - started)

    with store.snapshot() as db:
        assert db.scalar(text("SELECT count(*) FROM devices")) == 1
        t = threading.Thread(target=write)
        t.start()
        t.join(10)
        assert took and took[0] < 1.0  # the writer did not wait for the snapshot
        assert db.scalar(text("SELECT count(*) FROM devices")) == 1  # nor does the snapshot see it
        assert store.one(text("SELECT count(*) AS n FROM devices")) == {"n": 1}  # reads of this thread join it
    assert store.one(text("SELECT count(*) AS n FROM devices")) == {"n": 2}


def test_a_write_never_joins_a_read(store):
    with pytest.raises(StorageError, match="inside a read transaction"), store.read(), store.tx():
        pass
    with store.tx(), store.read() as db:  # a read inside a write joins it
        db.execute(text("INSERT INTO devices (id, kind, created_at) VALUES ('a', 'gate', 'now')"))
    with store.tx() as db:  # the refused write left nothing behind it
        assert db.scalar(text("SELECT count(*) FROM devices")) == 1


@pytest.fixture()
def keys_db(store, tmp_path, request):
    """The vault's key store beside ``store``: a private SQLite file outside the data, or (PostgreSQL) a second
    database and role of their own."""
    if store.dialect == "sqlite":
        return tmp_path / "keys" / "bo-keys.db"
    return request.getfixturevalue("postgres_keys_db")


def test_the_privacy_gateway_seals_opens_erases_and_purges_on_both_backends(store, keys_db):
    """The gateway on the Store (and its key store apart): seal, open (ledgered), erasure (crypto-shredded: a copy
    of the envelope no longer opens) and the retention purge with the records it takes along."""
    import datetime as dt

    from backoffice._privacy import PrivacyGateway
    from privacy import RawKek, SubjectShreddedError

    kek = RawKek(bytes(range(32)))
    gw = PrivacyGateway(store, kek, keys_db, next_kek=lambda: RawKek(__import__("os").urandom(32)))
    who = dict(actor="user:a", role="border_guard", purpose="border_exception_review")
    ref = gw.seal("subj-a", "exception_record", b'{"name": "NGUYEN"}', record="exc-1", **who)
    assert gw.open(ref, record="exc-1", **who) == b'{"name": "NGUYEN"}'
    envelope = gw.retention.get(ref).payload
    result = gw.erase_subject("subj-a", actor="user:p", role="privacy_officer", purpose="erasure_request")
    assert result["key_shredded"] and result["items_removed"] == 1 and result["wal_truncated"] is True
    with pytest.raises(SubjectShreddedError):  # the envelope from a backup of the data: its key is gone
        gw.vault.open("subj-a", "exception_record", "exc-1", envelope)
    with store.tx() as db:
        db.execute(text("INSERT INTO exceptions (id, device_id, occurred_at, received_at, direction, reason_codes, "
                        "scores, subject_id, status) VALUES ('exc-2', 'gate-01', 'now', 'now', 'entry', '[]', '{}', "
                        "'subj-b', 'resolved')"))
    gw.seal("subj-b", "exception_record", b"{}", record="exc-2", **who)
    gw.resolved("subj-b", "exc-2")
    gw.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    report = gw.purge(dry_run=False, actor="system:retention", role="system")
    assert report["purged"] == 1 and report["keys_shredded"] == 1 and report["wal_truncated"] is True
    assert store.query(text("SELECT id FROM exceptions")) == []  # the record went with its item
    assert gw.verify_ledger()["ok"]
