"""The encrypted outbox and the HTTP client against the real back office (in-process)."""

import base64

import httpx
import pytest

from enrollment import (
    BackofficeAuthError,
    BackofficeHttpClient,
    BackofficeUnavailable,
    Outbox,
    OutboxCorrupted,
    OutboxError,
    Outcome,
    RecordRejected,
)
from tests.enrollment.conftest import Script, client_for, make_rig, td3
from tests.enrollment.test_workflow import _to_review


def test_backoffice_down_the_record_waits_encrypted_then_delivers_once(tmp_path, backoffice):
    down = BackofficeHttpClient("http://127.0.0.1:9", "sbd_x", timeout=0.5)
    rig = make_rig(tmp_path, down)
    _to_review(rig)
    template = rig.workflow.record()["face_template"]
    assert rig.workflow.confirm() is Outcome.QUEUED
    assert rig.workflow.session is None  # nothing in memory
    [item] = rig.outbox.pending("enrolment")
    blob = (tmp_path / "outbox" / f"{item}.sealed").read_bytes()
    raw = base64.b64decode(template)
    for secret in (b"C1234567", b"NGUYEN", template[:16].encode(), raw[12:28], b"iso19794_2"):
        assert secret not in blob  # encrypted at rest
    assert rig.outbox.load(item)["document"]["document_number"] == "C1234567"
    with pytest.raises(OutboxCorrupted):
        Outbox(tmp_path / "outbox", bytes(32)).load(item)  # another device key
    # the back office comes back: delivered exactly once, even when retried
    client = client_for(backoffice)
    report = rig.outbox.deliver(client)
    assert list(report.delivered) == [item] and report.pending == 0 and report.delivered[item].status == "accepted"
    assert report.events == 1  # the session's outcome, queued beside the record
    assert rig.outbox.deliver(client).delivered == {}
    assert backoffice[2].state.ctx.store.query("SELECT count(*) AS n FROM enrolments")[0]["n"] == 1
    assert list((tmp_path / "outbox").glob("enr-*.sealed")) == []


def test_lost_answer_is_replayed_not_duplicated(tmp_path, backoffice):
    client = client_for(backoffice)
    rig = make_rig(tmp_path)
    _to_review(rig)
    record = rig.workflow.record()
    first = client.submit_enrolment(record, idempotency_key="enr-lost-answer")
    again = client.submit_enrolment(record, idempotency_key="enr-lost-answer")
    assert again.enrolment_id == first.enrolment_id and again.replayed and not first.replayed
    with pytest.raises(RecordRejected) as e:  # same key, another body
        client.submit_enrolment({**record, "captured_at": "2026-01-01T00:00:00+00:00"}, "enr-lost-answer")
    assert e.value.status == 422


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
    assert second.outbox.pending("enrolment") == []


def test_refused_record_is_parked_and_bad_credentials_wait(tmp_path, backoffice):
    client, token, _ = backoffice
    rig = make_rig(tmp_path)
    item = rig.outbox.put({"captured_at": "not a date"})
    report = rig.outbox.deliver(client_for(backoffice))
    assert report.parked and rig.outbox.parked() == [item] and rig.outbox.pending("enrolment") == []
    assert "captured_at" in rig.outbox.load(item, parked=True)
    rig.outbox.put({"x": 1})
    report = rig.outbox.deliver(BackofficeHttpClient(token="sbd_wrong", http=client))
    assert report.error == "BackofficeAuthError" and report.pending == 1
    with pytest.raises(BackofficeAuthError):
        BackofficeHttpClient(token="sbd_wrong", http=client).submit_enrolment({}, "k1")


def test_client_maps_server_errors_and_network_failures():
    def handler(request):
        return httpx.Response(503, json={"type": "about:blank", "title": "down", "status": 503, "detail": ""})

    http = httpx.Client(base_url="http://bo", transport=httpx.MockTransport(handler))
    with pytest.raises(BackofficeUnavailable):
        BackofficeHttpClient(token="t", http=http).submit_enrolment({}, "k")

    def boom(request):
        raise httpx.ConnectError("refused")

    http = httpx.Client(base_url="http://bo", transport=httpx.MockTransport(boom))
    with pytest.raises(BackofficeUnavailable):
        BackofficeHttpClient(token="t", http=http).submit_enrolment({}, "k")
    seen = {}

    def ok(request):
        seen.update(request.headers)
        return httpx.Response(201, json={"id": "enr_1", "status": "accepted", "checks": ["face"], "duplicates": []})

    http = httpx.Client(base_url="http://bo", transport=httpx.MockTransport(ok))
    answer = BackofficeHttpClient(token="sbd_t", http=http).submit_enrolment({}, "enr-1")
    assert answer.status == "accepted" and seen["idempotency-key"] == "enr-1"
    assert seen["authorization"] == "Bearer sbd_t"


def test_outbox_rejects_bad_keys_and_ids(tmp_path):
    with pytest.raises(OutboxError):
        Outbox(tmp_path, b"short")
    box = Outbox(tmp_path, bytes(range(32)))
    with pytest.raises(OutboxError):
        box.put({}, item_id="../escape")
    item = box.put({"a": 1})
    path = tmp_path / f"{item}.sealed"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(OutboxCorrupted):
        box.load(item)


def test_outbox_on_the_privacy_vault_crypto_shreds_delivered_items(tmp_path, backoffice):
    privacy = pytest.importorskip("privacy")
    import os

    vault = privacy.Vault(tmp_path / "keys.db", privacy.RawKek(os.urandom(32)))
    box = Outbox(tmp_path / "outbox", vault=vault)
    rig = make_rig(tmp_path / "rig")
    _to_review(rig)
    item = box.put(rig.workflow.record())
    blob = (tmp_path / "outbox" / f"{item}.sealed").read_bytes()
    assert blob.startswith(b"SBOXV") and b"C1234567" not in blob
    assert box.load(item)["document"]["document_number"] == "C1234567"
    report = box.deliver(client_for(backoffice))
    assert list(report.delivered) == [item]
    with pytest.raises(privacy.SubjectShreddedError):  # even a copy of the file is now unreadable
        vault.open(item, "enrolment_outbox", item, blob[5:])
    with pytest.raises(OutboxError):
        Outbox(tmp_path / "x")  # neither a key nor a vault


def test_concurrent_delivery_rounds_deliver_each_record_once(tmp_path, backoffice):
    import threading

    rig = make_rig(tmp_path)
    _to_review(rig)
    record = rig.workflow.record()
    ids = [rig.outbox.put({**record, "captured_at": f"2026-11-2{i}T09:00:00+07:00"}) for i in range(3)]
    client = client_for(backoffice)
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(rig.outbox.deliver(client))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    delivered = [i for r in reports for i in r.delivered]
    assert sorted(delivered) == sorted(ids) and rig.outbox.pending("enrolment") == []
    assert backoffice[2].state.ctx.store.query("SELECT count(*) AS n FROM enrolments")[0]["n"] == 3
