"""What the purge and an erasure do to the back office's own records, and to a server that another process
(the ``smartborder privacy`` CLI) erased from."""

from __future__ import annotations

import datetime as dt

import pytest

from backoffice import Store
from backoffice._privacy import PrivacyGateway
from tests.backoffice.conftest import exception_body
from tests.backoffice.test_enrolments import _post, enrolment, face


@pytest.mark.sqlite_file
def test_an_erasure_by_another_process_reaches_the_running_duplicate_check(world, tmp_path):
    ctx = world.app.state.ctx
    first = _post(world, enrolment("C1000001", face_bytes=face(1)), "e1").json()
    assert first["status"] == "accepted"  # the galleries are loaded now
    # the CLI's process: its own connection and gateway on the same files
    other = PrivacyGateway.from_config(ctx.config, Store(ctx.config.db_path))
    out = other.erase_subject(ctx.records.subject_id("VNM", "C1000001"), actor="cli:officer", role="privacy_officer",
                              purpose="erasure request 2026-120")
    assert out["key_shredded"] and out["records"]["enrolments"] == 1 and out["wal_truncated"]
    # the same face under another passport is no longer a duplicate of the erased enrolment
    again = _post(world, enrolment("B9999999", "CHN", face_bytes=face(1, noise=0.01)), "e2").json()
    assert again["status"] == "accepted", again
    row = ctx.store.one("SELECT subject_id, status, face_ref FROM enrolments WHERE id = ?", (first["id"],))
    assert row == {"subject_id": "erased", "status": "rejected", "face_ref": None}


def test_the_purge_deletes_the_records_that_point_at_purged_items(world):
    ctx = world.app.state.ctx
    body = exception_body(occurred_at=dt.datetime.now(dt.UTC).isoformat())
    r = world.client.post("/api/v1/exceptions", json=body, headers=world.h("gate", **{"Idempotency-Key": "x1"}))
    exc = r.json()["id"]
    r = world.client.post(f"/api/v1/exceptions/{exc}/decision", json={"decision": "admit"},
                          headers=world.h("border_guard"))
    assert r.status_code == 200, r.text
    enr = _post(world, enrolment("C1000001", face_bytes=face(1)), "e1").json()["id"]
    po = world.h("privacy_officer")

    ctx.privacy.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=45)
    r = world.client.post("/api/v1/privacy/purge", params={"dry_run": "false"}, headers=po)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["by_category"] == {"chip_image": 1, "exception_record": 1, "live_image": 1}
    assert result["keys_shredded"] == 3 and result["wal_truncated"] is True
    # the exception is gone with its items: no row keeps its keyed subject id, reasons and scores
    assert ctx.store.one("SELECT id FROM exceptions WHERE id = ?", (exc,)) is None
    assert world.client.get(f"/api/v1/exceptions/{exc}", headers=world.h("border_guard")).status_code == 404
    assert ctx.store.one("SELECT id FROM enrolments WHERE id = ?", (enr,)) is not None  # not due for years

    ctx.privacy.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=5 * 366 + 1)
    r = world.client.post("/api/v1/privacy/purge", params={"dry_run": "false"}, headers=po)
    assert r.json()["by_category"] == {"enrolment_record": 1, "face_template": 1}
    assert ctx.store.one("SELECT id FROM enrolments WHERE id = ?", (enr,)) is None
    # and the duplicate check no longer knows the face
    ctx.privacy.clock = lambda: dt.datetime.now(dt.UTC)
    assert _post(world, enrolment("B9999999", "CHN", face_bytes=face(1, noise=0.01)), "e2").json()["status"] == \
        "accepted"


@pytest.mark.sqlite_file
def test_a_tampered_image_is_named_not_read_as_purged(world):
    import sqlite3

    ctx = world.app.state.ctx
    r = world.client.post("/api/v1/exceptions", json=exception_body(), headers=world.h("gate", **{"Idempotency-Key": "t"}))
    exc = r.json()["id"]
    ref = ctx.store.one("SELECT live_image_ref FROM exceptions WHERE id = ?", (exc,))["live_image_ref"]
    with sqlite3.connect(ctx.config.db_path) as conn:
        (payload,) = conn.execute("SELECT payload FROM retention_items WHERE ref = ?", [ref]).fetchone()
        flipped = bytes(payload[:-1]) + bytes([payload[-1] ^ 1])
        conn.execute("UPDATE retention_items SET payload = ? WHERE ref = ?", [flipped, ref])
    r = world.client.get(f"/api/v1/exceptions/{exc}/images/live", headers=world.h("border_guard"))
    assert r.status_code == 409 and r.json()["type"].endswith("/sealed-item-unreadable"), r.text


def test_a_purged_finger_template_is_never_read_as_no_fingerprints(world):
    """A template purged in an earlier batch than its enrolment record (or a run interrupted between them):
    the gate's 1:1 answers templates_unreadable (the gate refers), not no_templates (read as not required)."""
    import base64

    import privacy
    from tests.backoffice.test_enrolments import finger

    ctx = world.app.state.ctx
    body = enrolment("C1000001", face_bytes=face(1), fingers=[(2, finger(5))])
    enr = _post(world, body, "e1").json()["id"]
    ref = ctx.store.one("SELECT finger_ref FROM enrolments WHERE id = ?", (enr,))["finger_ref"]
    item = ctx.privacy.retention.get(ref)
    with ctx.store.tx():  # what one purge batch does to that item
        ctx.privacy.drop_records([privacy.PurgedItem(ref, "finger_template", enr, item.subject_id)])
        ctx.privacy.retention.remove([ref])
    probe = {"position": 2, "format": "iso19794_2", "data": base64.b64encode(finger(5, jitter=2)).decode()}
    r = world.client.post("/api/v1/enrolments/verify", headers=world.h("gate"),
                          json={"document_number": "C1000001", "issuing_state": "VNM", "finger_templates": [probe]})
    assert r.status_code == 200, r.text
    assert r.json()["enrolled"] is True and r.json()["fingerprint_check"] == "templates_unreadable"


@pytest.mark.sqlite_file
def test_a_key_store_rotated_under_a_running_service_is_refused_not_corrupted(world, tmp_path):
    """`privacy rotate-kek` run while the service runs: the service must not wrap new data keys under the old
    KEK (they would be unreadable after the restart): it answers 503 key-store-rotated until restarted."""
    import dataclasses

    from privacy import FileKek

    ctx = world.app.state.ctx
    gate = world.h("gate", **{"Idempotency-Key": "k1"})
    exc = world.client.post("/api/v1/exceptions", json=exception_body(), headers=gate).json()["id"]
    new_kek = FileKek.generate(tmp_path.with_name(tmp_path.name + "-keys") / "new.kek")
    other = PrivacyGateway.from_config(ctx.config, Store(ctx.config.db_path))  # the CLI's process
    assert other.vault.rotate_kek(new_kek) > 0

    r = world.client.post("/api/v1/exceptions", json=exception_body(), headers=world.h("gate", **{"Idempotency-Key": "k2"}))
    assert r.status_code == 503 and r.json()["type"].endswith("/key-store-rotated"), r.text
    url = f"/api/v1/exceptions/{exc}/images/live"
    assert world.client.get(url, headers=world.h("border_guard")).status_code == 200  # its data key, still in memory
    ctx.privacy.vault._cache.clear()  # an item the service has not opened since it started
    r = world.client.get(url, headers=world.h("border_guard"))
    assert r.status_code == 503 and r.json()["type"].endswith("/key-store-rotated"), r.text
    # restarted on the new KEK: the earlier item opens, the refused record can be delivered again
    restarted = PrivacyGateway.from_config(dataclasses.replace(ctx.config, kek=None, kek_file=new_kek.path),
                                           Store(ctx.config.db_path))
    ref = ctx.store.one("SELECT live_image_ref FROM exceptions WHERE id = ?", (exc,))["live_image_ref"]
    assert restarted.open(ref, actor="t", role="border_guard", purpose="border_exception_review", record=exc)
    assert restarted.vault.rotate_kek(FileKek.generate(new_kek.path.with_name("third.kek"))) > 0  # rotates again
