"""devicelink against the real back office (in process, composed as ``backoffice serve`` composes it):
the kiosk and the gate deliver through the one outbox class and the one client, exactly once."""

from __future__ import annotations

import os

import pytest

from devicelink import (
    BackofficeAuthError,
    BackofficeClient,
    BackofficeUnavailable,
    EnrolmentAnswer,
    Outbox,
    RecordRejected,
    VaultSealer,
)
from gate import GateStore
from privacy import RawKek, Vault
from tests.devicelink.test_gate_host import refer


def jpeg(color) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (48, 60), color).save(buf, format="JPEG")
    return buf.getvalue()


def kiosk_record(tmp_path) -> dict:
    """An enrolment record as the kiosk's workflow makes it (real template formats, a virtual passport)."""
    from tests.enrollment.conftest import make_rig
    from tests.enrollment.test_workflow import _to_review

    rig = make_rig(tmp_path / "rig")
    _to_review(rig)
    return rig.workflow.record()


def kiosk_outbox(tmp_path) -> Outbox:
    """The kiosk's outbox as its composition builds it: its own database, its vault in the key directory."""
    from smartborder.compose.kiosk import KioskConfig, _outbox

    config = KioskConfig(trust_path=None, env="dev", data_dir=tmp_path / "data", key_dir=tmp_path / "keys")
    box = _outbox(config)
    assert (tmp_path / "data" / "kiosk" / "outbox.db").is_file()
    assert (tmp_path / "keys" / "kiosk-outbox-vault.db").is_file()
    return box


def gate_store(tmp_path) -> GateStore:
    vault = Vault(tmp_path / "gate.db.vault", RawKek(os.urandom(32)))
    store = GateStore(tmp_path / "gate.db", sealer=VaultSealer(vault))
    store.apply_watchlist_changes([], 1)
    return store


def test_kiosk_and_gate_deliver_through_the_same_outbox_class(tmp_path, backoffice):
    gate = gate_store(tmp_path)
    refer(gate, live=jpeg((170, 130, 110)), chip=jpeg((180, 140, 120)))  # an impostor: an event, an exception
    kiosk = kiosk_outbox(tmp_path)
    enrolment = kiosk.put("enrolment", kiosk_record(tmp_path))
    kiosk.put("event", {"occurred_at": "2026-11-22T08:00:00+07:00", "kind": "transaction", "outcome": "ok",
                        "reason_codes": [], "duration_ms": 61000.0})
    assert type(gate.outbox) is type(kiosk) is Outbox

    clients = {"gate": backoffice.client("gate"), "kiosk": backoffice.client("kiosk")}
    boxes = {"gate": gate.outbox, "kiosk": kiosk}
    for who, box in boxes.items():  # a first round whose acknowledgements were lost
        for item in box.pending():
            clients[who].deliver(item.kind, item.payload, item.id)
    reports = {who: box.deliver(clients[who]) for who, box in boxes.items()}
    assert (reports["gate"].count("event"), reports["gate"].count("exception")) == (1, 1)
    assert (reports["kiosk"].count("event"), reports["kiosk"].count("enrolment")) == (1, 1)
    answer = reports["kiosk"].delivered[enrolment]
    assert isinstance(answer, EnrolmentAnswer) and answer.status == "accepted" and answer.replayed
    assert all(r.pending == 0 and r.reachable and not r.parked for r in reports.values())
    # exactly once at the back office, each record under the device that sent it
    assert (backoffice.count("events"), backoffice.count("exceptions"), backoffice.count("enrolments")) == (2, 1, 1)
    records = backoffice.app.state.ctx.records
    assert [e["outcome"] for e in records.list_events("gate-01", 0, 10)] == ["referred"]
    assert [e["outcome"] for e in records.list_events("kiosk-01", 0, 10)] == ["ok"]
    # and nothing personal left on either device
    for box in boxes.values():
        assert box.db.execute("SELECT MAX(length(payload)) FROM devicelink_outbox").fetchone()[0] == 0
        assert box.deliver(clients["gate"]).delivered == {}


def test_back_office_down_then_back(tmp_path, backoffice):
    kiosk = kiosk_outbox(tmp_path)
    item = kiosk.put("enrolment", kiosk_record(tmp_path))
    dead = BackofficeClient("http://127.0.0.1:9", "sbd_x", timeout_s=0.2)
    report = kiosk.deliver(dead)
    assert not report.reachable and report.error == "BackofficeUnavailable" and report.pending == 1
    assert kiosk.pending()[0].attempts == 1
    report = kiosk.deliver(backoffice.client("kiosk"))
    assert list(report.delivered) == [item] and report.pending == 0 and backoffice.count("enrolments") == 1


def test_lost_answer_is_replayed_not_duplicated(tmp_path, backoffice):
    client = backoffice.client("kiosk")
    record = kiosk_record(tmp_path)
    first = client.submit_enrolment(record, idempotency_key="enr-lost-answer")
    again = client.submit_enrolment(record, idempotency_key="enr-lost-answer")
    assert again.enrolment_id == first.enrolment_id and again.replayed and not first.replayed
    with pytest.raises(RecordRejected) as e:  # same key, another body
        client.submit_enrolment({**record, "captured_at": "2026-01-01T00:00:00+00:00"}, "enr-lost-answer")
    assert e.value.status == 422 and "idempotency" in e.value.problem_type
    assert backoffice.count("enrolments") == 1


def test_refused_records_are_parked_and_a_refused_credential_waits(tmp_path, backoffice):
    kiosk = kiosk_outbox(tmp_path)
    refused = kiosk.put("enrolment", {"captured_at": "not a date"})
    report = kiosk.deliver(backoffice.client("kiosk"))
    assert list(report.parked) == [refused] and kiosk.pending_count() == 0
    assert [p.id for p in kiosk.parked()] == [refused] and "422" in kiosk.parked()[0].error
    assert kiosk.load(refused) == {"captured_at": "not a date"}  # kept for an officer
    waiting = kiosk.put("event", {"kind": "transaction"})
    report = kiosk.deliver(backoffice.client("kiosk", token="sbd_wrong"))
    assert report.error == "BackofficeAuthError" and report.reachable and report.pending == 1
    with pytest.raises(BackofficeAuthError):
        backoffice.client("gate", token="sbd_not-a-token").post_event({}, "k1")
    with pytest.raises(BackofficeUnavailable):  # a gate waits on a refused credential like on a dead link
        backoffice.client("gate", token="sbd_not-a-token").watchlist_changes(0, None)
    report = kiosk.deliver(backoffice.client("kiosk"))  # re-provisioned: a bad payload is parked in turn
    assert list(report.parked) == [waiting] and kiosk.pending_count() == 0
