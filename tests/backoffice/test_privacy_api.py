import base64
import datetime as dt

import pytest

from tests.backoffice.conftest import exception_body


def _post_exception(world, key="p-1", **overrides):
    r = world.client.post("/api/v1/exceptions", json=exception_body(**overrides),
                          headers=world.h("gate", **{"Idempotency-Key": key}))
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.mark.sqlite_file
def test_personal_data_is_encrypted_at_rest(world, tmp_path):
    _post_exception(world)
    world.ctx.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = (tmp_path / "bo.db").read_bytes()
    for needle in (b"C1234567", "NGUYỄN".encode(), b"1980-05-17", base64.b64decode(exception_body()["live_image"])[:64]):
        assert needle not in raw


def test_subject_export_and_erasure(world):
    exc_id = _post_exception(world)
    c, po = world.client, world.h("privacy_officer")
    subject = {"document_number": "C1234567", "issuing_state": "VNM", "purpose": "subject_access_request"}
    r = c.post("/api/v1/privacy/subjects/export", json=subject, headers=po)
    assert r.status_code == 200
    export = r.json()
    assert export["records"]["exceptions"] == [exc_id]
    cats = sorted(i["category"] for i in export["items"])
    assert cats == ["chip_image", "exception_record", "live_image"]
    record = next(i for i in export["items"] if i["category"] == "exception_record")
    assert record["data"]["document"]["surname"] == "NGUYỄN"
    r = c.post("/api/v1/privacy/subjects/erase", json={**subject, "purpose": "erasure request 2026-118"}, headers=po)
    assert r.json()["key_shredded"] and r.json()["records"]["exceptions"] == 1
    # the exception stays in the statistics, but nothing personal can be read any more
    guard = world.h("border_guard")
    detail = c.get(f"/api/v1/exceptions/{exc_id}", headers=guard).json()
    assert detail["document"] is None and detail["has_live_image"] is False
    assert c.get(f"/api/v1/exceptions/{exc_id}/images/live", headers=guard).status_code == 404
    again = c.post("/api/v1/privacy/subjects/export", json=subject, headers=po).json()
    assert again["items"] == [] and again["records"]["exceptions"] == []
    actions = [e["action"] for e in c.get("/api/v1/privacy/ledger", headers=po).json()]
    assert "export_subject" in actions and "erase_subject" in actions


@pytest.mark.sqlite_file
def test_ledger_verification_detects_tampering(world):
    _post_exception(world)
    po = world.h("privacy_officer")
    ok = world.client.get("/api/v1/privacy/ledger/verify", headers=po).json()
    assert ok["ok"] and ok["entries"] >= 3
    db = world.ctx.store.db
    db.execute("UPDATE ledger_entries SET actor = 'user:nobody' WHERE seq = 2")
    bad = world.client.get("/api/v1/privacy/ledger/verify", headers=po).json()
    assert bad["ok"] is False and bad["first_bad"] == 2
    db.execute("UPDATE ledger_entries SET actor = 'device:gate-01' WHERE seq = 2")
    assert world.client.get("/api/v1/privacy/ledger/verify", headers=po).json()["ok"]
    db.execute("DELETE FROM ledger_entries WHERE seq = 2")
    bad = world.client.get("/api/v1/privacy/ledger/verify", headers=po).json()
    assert bad["ok"] is False and bad["first_bad"] == 3


def test_retention_purge_after_resolution(world):
    exc_id = _post_exception(world)
    c, po = world.client, world.h("privacy_officer")
    report = {r["category"]: r for r in c.get("/api/v1/privacy/retention", headers=po).json()}
    assert report["live_image"]["records"] == 1 and report["live_image"]["due"] == 0
    # each category's rule in words and its legal basis, Vietnam's included
    assert report["face_template"]["rule"].startswith("Kept for 3 years")
    assert all(any("Decree 13/2023/ND-CP" in b for b in r["basis"]) for r in report.values())
    # open exceptions hold their images: nothing is due even far in the future
    privacy = world.ctx.privacy
    real_clock = privacy.clock
    privacy.clock = lambda: real_clock() + dt.timedelta(days=400)
    assert privacy.purge(dry_run=True, actor="t", role="t")["purged"] == 0
    privacy.clock = real_clock
    c.post(f"/api/v1/exceptions/{exc_id}/decision", json={"decision": "admit"}, headers=world.h("border_guard"))
    assert c.post("/api/v1/privacy/purge?dry_run=false", headers=po).json()["purged"] == 0
    privacy.clock = lambda: real_clock() + dt.timedelta(days=31)
    dry = c.post("/api/v1/privacy/purge?dry_run=true", headers=po).json()
    assert dry["purged"] == 3 and dry["by_category"] == {"chip_image": 1, "exception_record": 1, "live_image": 1}
    done = c.post("/api/v1/privacy/purge?dry_run=false", headers=po).json()
    assert done["purged"] == 3 and done["ids_sha256"] == dry["ids_sha256"]
    assert c.post("/api/v1/privacy/purge?dry_run=false", headers=po).json()["purged"] == 0  # idempotent
    history = c.get("/api/v1/privacy/purges", headers=po).json()
    assert [h["dry_run"] for h in history][:3] == [False, False, True]
    assert c.get(f"/api/v1/exceptions/{exc_id}/images/live", headers=world.h("supervisor")).status_code == 404


def test_purposes_register(world):
    purposes = world.client.get("/api/v1/privacy/purposes", headers=world.h("privacy_officer")).json()
    names = {p["name"] for p in purposes}
    assert {"border_exception_review", "enrolment", "subject_access_request"} <= names
    assert all(p["legal_basis"] and p["retention"] for p in purposes)


@pytest.mark.sqlite_file
def test_erasure_reaches_backup_copies(world, tmp_path):
    """The vault's key store is a separate file (<data dir>-keys/bo-keys.db): shredding a subject's key leaves the
    envelopes in an earlier copy of bo.db undecryptable."""
    import shutil
    import sqlite3

    import pytest

    import privacy

    _post_exception(world)
    world.ctx.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(tmp_path / "bo.db", tmp_path / "backup.db")
    assert (tmp_path.with_name(tmp_path.name + "-keys") / "bo-keys.db").exists()
    assert not (tmp_path / "bo-keys.db").exists()
    subject = {"document_number": "C1234567", "issuing_state": "VNM", "purpose": "erasure request 2026-119"}
    r = world.client.post("/api/v1/privacy/subjects/erase", json=subject, headers=world.h("privacy_officer"))
    assert r.json()["key_shredded"] and r.json()["items_removed"] == 3
    conn = sqlite3.connect(tmp_path / "backup.db")
    rows = conn.execute("SELECT subject_id, category, record_id, payload FROM retention_items").fetchall()
    conn.close()
    assert len(rows) == 3
    vault = world.ctx.privacy.vault
    for subject_id, category, record_id, payload in rows:
        with pytest.raises(privacy.SubjectShreddedError):
            vault.open(subject_id, category, record_id, payload)
    assert world.client.get("/api/v1/privacy/ledger/verify", headers=world.h("privacy_officer")).json()["ok"]


def test_wrong_kek_is_a_clear_configuration_error(tmp_path):
    import pytest

    from backoffice import ConfigError, Store
    from backoffice._privacy import PrivacyGateway
    from tests.backoffice.conftest import make_config

    config = make_config(db_path=tmp_path / "bo.db")
    PrivacyGateway.from_config(config, Store(config.db_path))
    with pytest.raises(ConfigError, match="KEK does not open"):
        PrivacyGateway.from_config(make_config(db_path=tmp_path / "bo.db", kek=bytes(32)), Store(config.db_path))
