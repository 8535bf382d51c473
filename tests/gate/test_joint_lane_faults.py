"""The joint lane's fail-closed branches (review of issue #26 item 1): a side's store write that fails, per-side
durations, TA/DG3 per administration, the trust store that cannot decide, the door only after the records."""

from __future__ import annotations

import pytest

from devices.sim import FixedMrzSource, LoggingDoor, SimulatedReader
from emrtd.sim import IssuerPki, issue_document
from gate import LANE_FAULT, ChipStep, DocumentStep, FaceStep, JointGateWorkflow, JointSteps, StepTimeouts
from tests.gate.test_gate_emrtd import ENGINE, EXPIRY, Cam, photo_png, td3
from tests.gate.test_joint_lane import NUMBER, items, listed, opened, side, store_with, trust_of


@pytest.fixture(scope="module")
def pkis():
    return {"VNM": IssuerPki.make("VN"), "CHN": IssuerPki.make("CN")}


@pytest.fixture(scope="module")
def vn_doc(pkis):
    return issue_document(td3(NUMBER, "900315", EXPIRY), photo_png(), pki=pkis["VNM"])


class DiskFull(Exception):
    pass


def lane(doc, vn, cn, *, door=None, chip=None, timeouts=None) -> tuple[JointGateWorkflow, LoggingDoor]:
    reader, mrz = SimulatedReader(), FixedMrzSource()
    reader.present(doc)
    mrz.place(doc.mrz)
    steps = JointSteps(document=DocumentStep(mrz_source=mrz), chip=chip or ChipStep(reader, None, card_wait_s=0.2),
                       face=FaceStep(Cam(True), ENGINE))
    door = door or LoggingDoor()
    return JointGateWorkflow(steps, door, [cn, vn], gate_id="g", timeouts=timeouts or StepTimeouts(chip=20, face=20)), door


def failing(store):
    def boom(*a, **k):
        raise DiskFull("disk full")
    store.record_transaction = boom


def calls_of(side_, log):
    side_.call_officer = lambda state, reason: log.setdefault(side_.code, []).append((state, reason)) or "id"


@pytest.mark.parametrize("broken", ["VNM", "CHN"])  # the first side written (exit control) or the second
def test_a_failed_store_write_keeps_the_door_shut_and_corrects_the_side_that_said_open(pkis, vn_doc, broken):
    both = trust_of(pkis["VNM"], pkis["CHN"])
    vn, cn = side("VNM", "exit", trust=both), side("CHN", "entry", trust=both)
    calls: dict = {}
    calls_of(vn, calls)
    calls_of(cn, calls)
    by = {"VNM": vn, "CHN": cn}
    failing(by[broken].store)
    wf, door = lane(vn_doc, vn, cn)
    try:
        with pytest.raises(DiskFull):
            wf.process()
        wf._calls.shutdown(wait=True)
    finally:
        wf.close()
    assert opened(door) == 0
    (ok,) = [s for c, s in by.items() if c != broken]
    (row,) = ok.store.transactions()
    assert row["outcome"] == LANE_FAULT and row["decision"]["amended"]["door_opened"] is False
    events = items(ok.store, "event")
    assert [e["outcome"] for e in events] == ["admitted", "fault"]
    assert events[1]["kind"] == "error" and events[1]["reason_codes"] == ["hardware_fault"]
    assert calls == {"VNM": [("decide", "device_fault")], "CHN": [("decide", "device_fault")]}


def test_a_failed_partner_write_still_calls_the_officers_of_the_side_that_referred(pkis, vn_doc):
    both = trust_of(pkis["VNM"], pkis["CHN"])
    vn = side("VNM", "exit", trust=both, store=store_with(listed("vn-1", "exit ban")))
    cn = side("CHN", "entry", trust=both)
    calls: dict = {}
    calls_of(vn, calls)
    calls_of(cn, calls)
    failing(cn.store)
    wf, door = lane(vn_doc, vn, cn)
    try:
        with pytest.raises(DiskFull):
            wf.process()
        wf._calls.shutdown(wait=True)
    finally:
        wf.close()
    assert opened(door) == 0
    assert vn.store.transactions()[0]["outcome"] == "refer"  # what it decided stands: the door never opened
    assert [e["outcome"] for e in items(vn.store, "event")] == ["referred"]
    assert calls["VNM"] == [("refer", "referral"), ("decide", "device_fault")]
    assert calls["CHN"] == [("decide", "device_fault")]
