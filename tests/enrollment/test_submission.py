"""The kiosk's submission: the record sealed into the device outbox (devicelink), delivered to the real
back office (in process) exactly once, duplicates flagged. The outbox and client themselves are tested in
tests/devicelink."""

import base64

import pytest

from devicelink import BackofficeClient, Outbox, OutboxCorrupted, VaultSealer
from enrollment import Outcome
from privacy import RawKek, Vault
from tests.enrollment.conftest import Script, client_for, make_rig, td3
from tests.enrollment.test_workflow import _to_review


def test_backoffice_down_the_record_waits_encrypted_then_delivers_once(tmp_path, backoffice):
    down = BackofficeClient("http://127.0.0.1:9", "sbd_x", timeout_s=0.5)
    rig = make_rig(tmp_path, down)
    _to_review(rig)
    template = rig.workflow.record()["face_template"]
    assert rig.workflow.confirm() is Outcome.QUEUED
    assert rig.workflow.session is None  # nothing in memory
    [item] = rig.outbox.pending_ids("enrolment")
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("outbox.db*"))  # the database and its WAL
    raw = base64.b64decode(template)
    assert item.encode() in on_disk  # the row is there ...
    for secret in (b"C1234567", b"NGUYEN", template[:16].encode(), raw[12:28], b"iso19794_2"):
        assert secret not in on_disk  # ... encrypted at rest
    assert rig.outbox.load(item)["document"]["document_number"] == "C1234567"
    with pytest.raises(OutboxCorrupted):  # the same files under another KEK
        Outbox(tmp_path / "outbox.db", sealer=VaultSealer(Vault(tmp_path / "outbox-vault.db", RawKek(bytes(32))))).load(item)
    # the back office comes back: delivered exactly once, even when retried
    client = client_for(backoffice)
    report = rig.outbox.deliver(client)
    assert report.count("enrolment") == 1 and report.pending == 0 and report.delivered[item].status == "accepted"
    assert report.count("event") == 1  # the session's outcome, queued beside the record
    assert rig.outbox.deliver(client).delivered == {}
    assert backoffice[2].state.ctx.store.query("SELECT count(*) AS n FROM enrolments")[0]["n"] == 1
    assert rig.outbox.pending_count() == 0


def test_duplicate_enrolment_is_flagged(tmp_path, backoffice):
    client = client_for(backoffice)
    first = make_rig(tmp_path / "a", client)
    _to_review(first)
    assert first.workflow.confirm() is Outcome.ACCEPTED
    # the same face under another passport: the back office suspects a duplicate identity
    second = make_rig(tmp_path / "b", client, script=Script(template=first.script.template),
                      mrz=td3(number="B9999999", surname="TRAN", given="VAN AN"))
    _to_review(second)
    assert second.workflow.confirm() is Outcome.DUPLICATE_SUSPECTED
    assert second.workflow.reason_code == "duplicate_enrolment"
    assert second.workflow.answer.duplicates[0]["modality"] == "face"
    assert second.outbox.pending_count("enrolment") == 0


def test_a_refused_record_ends_the_session_as_parked(tmp_path, backoffice):
    rig = make_rig(tmp_path, client_for(backoffice))
    _to_review(rig)
    rig.workflow.record = lambda: {"captured_at": "not a date"}  # a record the back office refuses for good
    assert rig.workflow.confirm() is Outcome.PARKED
    [parked] = rig.outbox.parked()
    assert parked.kind == "enrolment" and "422" in parked.error and rig.outbox.pending_count("enrolment") == 0
