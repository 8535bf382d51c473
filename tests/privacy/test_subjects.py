import base64
import json
import shutil
import sqlite3

import pytest

from privacy import PrivacyError, SubjectShreddedError
from tests.privacy.conftest import T0, raw

NAME = "NGUYỄN VĂN AN"
JPEG = b"\xff\xd8\xff\xe0" + b"face-pixels-" * 500
TEMPLATE = bytes(range(256)) * 2


def _enrol(p, doc="C1234567", state="VNM", record="enr-1"):
    subject = p.vault.pseudonym(doc, state)
    refs = [
        p.seal_item(subject, "enrolment_record", record,
                    json.dumps({"surname": NAME, "document_number": doc}).encode(), created=T0),
        p.seal_item(subject, "template", record, TEMPLATE, created=T0),
        p.seal_item(subject, "live_image", "tx-1", JPEG, created=T0, held_by="exc-1"),
    ]
    p.subjects.record_consent(doc, "enrolment", True, text_version="notice-vi-2026.1", actor="device:kiosk-01",
                              issuing_state=state)
    p.ledger.append("user:guard", "border_guard", "read", "exc-1", "border_exception_review",
                    "Law on Exit and Entry 2019", subject_id=subject)
    return subject, refs


def test_export_everything_held(stack):
    p = stack.p
    subject, refs = _enrol(p)
    _enrol(p, doc="E7654321", state="CHN", record="enr-2")
    out = p.subjects.export_subject("C1234567", issuing_state="VNM", actor="user:po", role="privacy_officer")
    assert out["subject_id"] == subject and [i["ref"] for i in out["items"]] == refs
    record, template, image = out["items"]
    assert record["data"] == {"surname": NAME, "document_number": "C1234567"}
    assert base64.b64decode(template["data_base64"]) == TEMPLATE
    assert image["media_type"] == "image/jpeg" and base64.b64decode(image["data_base64"]) == JPEG
    assert image["held_by"] == "exc-1" and image["due"] is None
    assert out["consents"][0]["purpose"] == "enrolment" and out["consents"][0]["granted"] is True
    assert [a["action"] for a in out["access_log"]] == ["consent_given", "read"]
    assert p.ledger.tail(1)[0].action == "subject_export" and p.ledger.tail(1)[0].subject_id == subject
    assert p.subjects.has_consent(subject, "enrolment")


def test_export_to_a_directory(stack, tmp_path):
    _enrol(stack.p)
    path = stack.p.subjects.export_subject_to("C1234567", tmp_path / "sar", issuing_state="VNM")
    data = json.loads(path.read_text())
    image = data["items"][2]
    assert (tmp_path / "sar" / image["file"]).read_bytes() == JPEG and "data_base64" not in image


def test_erasure_leaves_nothing_readable(stack, tmp_path):
    p = stack.p
    subject, refs = _enrol(p)
    other, other_refs = _enrol(p, doc="E7654321", state="CHN", record="enr-2")
    envelopes = {r: p.retention.get(r).payload for r in refs}
    for path in (stack.data_path, stack.keys_path):
        sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    backup = tmp_path / "backup.db"
    shutil.copyfile(stack.data_path, backup)

    result = p.subjects.erase_subject("C1234567", issuing_state="VNM", actor="user:po", role="privacy_officer",
                                      purpose="erasure request 2026-118")
    assert result == {"subject_id": subject, "key_shredded": True, "items_removed": 3, "consents_removed": 1}
    assert p.open_item(refs[0]) is None  # gone from the registry
    # the envelopes of the backup copy can no longer be opened
    conn = sqlite3.connect(backup)
    rows = conn.execute("SELECT ref, category, record_id, subject_id, payload FROM retention_items").fetchall()
    conn.close()
    assert {r[0] for r in rows} >= set(refs)
    for ref, category, record, subj, payload in rows:
        if subj == subject:
            assert payload == envelopes[ref]
            with pytest.raises(SubjectShreddedError):
                p.vault.open(subj, category, record, payload)
        else:
            assert p.vault.open(subj, category, record, payload)
    # no plaintext name, template or image bytes in any file, live or backup
    for path in (stack.data_path, stack.keys_path, backup):
        sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
        raw = path.read_bytes()
        for needle in (NAME.encode(), b"C1234567", b"E7654321", JPEG[:40], TEMPLATE[:64]):
            assert needle not in raw, (path.name, needle[:12])
    again = p.subjects.export_subject("C1234567", issuing_state="VNM")
    assert again["items"] == [] and again["consents"] == []
    assert [a["action"] for a in again["access_log"]][-1] == "subject_erasure"
    assert p.open_item(other_refs[2]) == JPEG
    assert p.ledger.verify().ok


def test_consent_withdrawal(stack):
    p = stack.p
    subject, _ = _enrol(p)
    p.subjects.record_consent("C1234567", "enrolment", False, text_version="notice-vi-2026.1", actor="user:po",
                              role="privacy_officer", issuing_state="VNM")
    assert not p.subjects.has_consent(subject, "enrolment")
    with pytest.raises(PrivacyError):
        p.subjects.record_consent("C1234567", "", True, text_version="v", actor="a")


def test_tampered_payload_is_reported_not_fatal(stack):
    p = stack.p
    subject, refs = _enrol(p)
    raw(p.retention.db, "UPDATE retention_items SET payload = ? WHERE ref = ?",
                           [p.retention.get(refs[1]).payload, refs[0]])
    out = p.subjects.export_subject("C1234567", issuing_state="VNM")
    assert out["items"][0]["unreadable"] == "IntegrityError" and "data" not in out["items"][0]
    assert "data_base64" in out["items"][2]
