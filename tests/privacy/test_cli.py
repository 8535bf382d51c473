"""``smartborder privacy ...`` on a back-office database filled through the HTTP API."""

import base64
import datetime as dt
import json
import stat

import pytest
from click.testing import CliRunner

from smartborder.cli import main


@pytest.fixture()
def filled(tmp_path, monkeypatch):
    pytest.importorskip("fastapi")
    from smartborder.commands.backoffice import build_config
    from tests.backoffice.conftest import build_world, exception_body

    for var in ("SMARTBORDER_CONFIG", "SMARTBORDER_KEK", "SMARTBORDER_SECRET_KEY", "SMARTBORDER_KEK_FILE",
                "SMARTBORDER_BACKOFFICE_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SMARTBORDER_ENV", "dev")
    monkeypatch.setenv("SMARTBORDER_DATA_DIR", str(tmp_path))
    db = tmp_path / "bo.db"
    world = build_world(build_config(str(db), argon2_time_cost=1, argon2_memory_kib=1024))
    body = exception_body()
    r = world.client.post("/api/v1/exceptions", json=body, headers=world.h("gate", **{"Idempotency-Key": "k1"}))
    assert r.status_code == 201, r.text
    exc_id = r.json()["id"]
    world.client.post(f"/api/v1/exceptions/{exc_id}/decision", json={"decision": "admit"},
                      headers=world.h("border_guard"))
    world.client.close()
    world.ctx.store.close()
    return db, body


def run(*args):
    r = CliRunner().invoke(main, ["privacy", *args])
    return r


def test_report_purge_verify_export(filled, tmp_path):
    db, body = filled
    r = run("report", "--db", str(db), "--json")
    assert r.exit_code == 0, r.output
    rows = {row["category"]: row for row in json.loads(r.output)}
    assert rows["live_image"]["count"] == 1 and rows["live_image"]["overdue"] == 0
    assert rows["audit_entry"]["count"] >= 3 and rows["audit_entry"]["overdue"] == 0  # the ledger entries

    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=31)).isoformat()
    r = run("purge", "--dry-run", "--json", "--db", str(db), "--now", later)
    dry = json.loads(r.output)
    assert dry["purged"] == 3 and dry["dry_run"]

    r = run("export", "C1234567", "--issuing-state", "VNM", "--db", str(db), "--out", str(tmp_path / "sar"), "--json")
    assert r.exit_code == 0, r.output
    export = json.loads(r.output)
    record = next(i for i in export["items"] if i["category"] == "exception_record")
    assert record["data"]["document"]["surname"] == "NGUYỄN"
    live = next(i for i in export["items"] if i["category"] == "live_image")
    assert (tmp_path / "sar" / live["file"]).read_bytes() == base64.b64decode(body["live_image"])
    assert (tmp_path / "sar" / "subject.json").exists()
    # the subject's data in clear: the officer's alone
    assert stat.S_IMODE((tmp_path / "sar").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in (tmp_path / "sar").iterdir())

    r = run("purge", "--json", "--db", str(db), "--now", later)
    done = json.loads(r.output)
    assert done["purged"] == 3 and done["ids_sha256"] == dry["ids_sha256"]
    assert json.loads(run("purge", "--json", "--db", str(db), "--now", later).output)["purged"] == 0

    r = run("verify-ledger", "--json", "--db", str(db))
    assert r.exit_code == 0 and json.loads(r.output)["ok"]
    key = run("public-key", "--db", str(db)).output.strip()
    out = tmp_path / "ledger.jsonl"
    assert run("export-ledger", str(out), "--db", str(db)).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    r = run("verify-export", str(out), "--public-key", key, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["key_pinned"]
    # without a pinned key an export proves only that it is self-consistent: refused unless asked for
    r = run("verify-export", str(out))
    assert r.exit_code == 1 and "--public-key" in r.output
    assert run("verify-export", str(out), "--allow-unpinned").exit_code == 0


def test_report_shows_each_categorys_rule_and_legal_basis(filled):
    db, _ = filled
    r = run("report", "--db", str(db), "--json")
    assert r.exit_code == 0, r.output
    rows = {row["category"]: row for row in json.loads(r.output)}
    assert set(rows) >= {"live_image", "chip_image", "exception_record", "enrolment_record", "face_template",
                         "finger_template", "audit_entry"}
    for category, row in rows.items():
        assert row["rule"] and row["rule"] != "no policy: kept until a policy is set", category
        assert any("Decree 13/2023/ND-CP" in b for b in row["basis"]), category  # Vietnam's law, per category
    # the rule is the policy's own sentence (the one the kiosk shows), not a second wording
    from backoffice._privacy import CATEGORIES

    assert rows["face_template"]["rule"] == CATEGORIES["face_template"].rule_text("en")
    assert "3 years" in rows["face_template"]["rule"] and "5 years" in rows["face_template"]["rule"]
    assert any("2017/2226 Art. 34" in b for b in rows["face_template"]["basis"])
    assert any("sensitive" in b for b in rows["finger_template"]["basis"])
    text = run("report", "--db", str(db)).output
    assert "rule:" in text and "basis: Decree 13/2023/ND-CP" in text


def test_tampering_is_reported_with_exit_status(filled):
    import sqlite3

    db, _ = filled
    conn = sqlite3.connect(db)
    conn.execute("UPDATE ledger_entries SET purpose = 'forged' WHERE seq = 2")
    conn.commit()
    conn.close()
    r = run("verify-ledger", "--db", str(db))
    assert r.exit_code == 1 and "entry 2" in r.output


def test_erase_needs_yes_then_shreds(filled):
    db, _ = filled
    r = run("erase", "C1234567", "--issuing-state", "VNM", "--purpose", "erasure request 7", "--db", str(db))
    assert r.exit_code == 2 and "--yes" in r.output
    r = run("erase", "C1234567", "--issuing-state", "VNM", "--purpose", "erasure request 7", "--yes", "--json",
            "--db", str(db))
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["key_shredded"] is True and json.loads(r.output)["items_removed"] == 3
    r = run("export", "C1234567", "--issuing-state", "VNM", "--db", str(db), "--json")
    assert json.loads(r.output)["items"] == []


def test_missing_database(tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTBORDER_ENV", "dev")
    monkeypatch.setenv("SMARTBORDER_DATA_DIR", str(tmp_path))
    r = run("report", "--db", str(tmp_path / "none.db"))
    assert r.exit_code == 1 and "no back-office database" in r.output


def test_rotate_kek(filled, tmp_path, monkeypatch):
    from privacy import FileKek

    db, _ = filled
    before = json.loads(run("export", "C1234567", "--issuing-state", "VNM", "--db", str(db), "--json").output)
    inside = tmp_path / "inside.kek"  # a KEK in the data directory would ride along in every data backup
    FileKek.generate(inside)
    r = run("rotate-kek", "--new-kek-file", str(inside), "--db", str(db))
    assert r.exit_code == 1 and "inside the data directory" in r.output
    new = tmp_path.with_name(tmp_path.name + "-keys") / "new.kek"
    FileKek.generate(new)
    r = run("rotate-kek", "--new-kek-file", str(new), "--db", str(db))
    assert r.exit_code == 0 and "rewrapped" in r.output, r.output
    r = run("report", "--db", str(db))  # the settings still name the old KEK
    assert r.exit_code == 1 and "KEK does not open" in r.output
    monkeypatch.setenv("SMARTBORDER_KEK_FILE", str(new))
    after = json.loads(run("export", "C1234567", "--issuing-state", "VNM", "--db", str(db), "--json").output)
    assert [i.get("data") or i.get("data_base64") for i in after["items"]] == \
           [i.get("data") or i.get("data_base64") for i in before["items"]]
    assert run("verify-ledger", "--db", str(db)).exit_code == 0
