"""The joint lane's fail-closed branches (review of issue #26 item 1): a side's store write that fails, per-side
durations, TA/DG3 per administration, the trust store that cannot decide, the door only after the records."""

from __future__ import annotations

import json

import pytest

from devices.sim import FixedMrzSource, LoggingDoor, SimulatedReader
from emrtd.sim import issue_document
from gate import (
    LANE_FAULT,
    ChipStep,
    DocumentStep,
    FaceStep,
    FingerOutcome,
    JointGateWorkflow,
    JointSteps,
    StepTimeouts,
    presentation_from_mrz,
)
from tests.gate.conftest import NUMBER  # pkis, vn_doc: fixtures of tests/gate/conftest.py
from tests.gate.test_gate_emrtd import ENGINE, EXPIRY, Cam, photo_png, td3
from tests.gate.test_joint_lane import items, listed, opened, side, store_with, trust_of


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


def serve_failing(doc, vn, cn) -> LoggingDoor:
    """Serve one traveller on a lane one of whose stores fails its write (DiskFull raised to the caller), then
    wait for the officer calls; the door."""
    wf, door = lane(doc, vn, cn)
    try:
        with pytest.raises(DiskFull):
            wf.process()
        wf._calls.shutdown(wait=True)
    finally:
        wf.close()
    return door


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
    assert opened(serve_failing(vn_doc, vn, cn)) == 0
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
    assert opened(serve_failing(vn_doc, vn, cn)) == 0
    assert vn.store.transactions()[0]["outcome"] == "refer"  # what it decided stands: the door never opened
    assert [e["outcome"] for e in items(vn.store, "event")] == ["referred"]
    assert calls["VNM"] == [("refer", "referral"), ("decide", "device_fault")]
    assert calls["CHN"] == [("decide", "device_fault")]


class Ticks:
    """A deterministic clock: the transaction starts at t0, every later reading is t0 + 2 s (the shared steps)."""

    def __init__(self):
        import datetime as dt
        self.t0, self.n = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC), 0
        self.later = self.t0 + dt.timedelta(seconds=2)

    def __call__(self):
        self.n += 1
        return self.t0 if self.n == 1 else self.later


def test_a_sides_event_duration_is_the_shared_steps_and_its_own_never_the_partners(pkis, vn_doc):
    """China's remote fingerprint check is slow; Vietnam's event duration holds the shared steps and its own steps
    only (a partner's remote check or time-out is not Vietnam's business), China's holds its own slow check."""
    import time

    from gate import FingerOutcome

    def slow_cn(p):
        time.sleep(0.25)
        return FingerOutcome(enrolled=True, score=0.9, threshold=0.4, source="backoffice")

    both = trust_of(pkis["VNM"], pkis["CHN"])
    vn, cn = side("VNM", "exit", trust=both), side("CHN", "entry", trust=both, finger=slow_cn)
    reader, mrz = SimulatedReader(), FixedMrzSource()
    reader.present(vn_doc)
    mrz.place(vn_doc.mrz)
    steps = JointSteps(document=DocumentStep(mrz_source=mrz), chip=ChipStep(reader, None, card_wait_s=0.2),
                       face=FaceStep(Cam(True), ENGINE))
    wf = JointGateWorkflow(steps, LoggingDoor(), [cn, vn], gate_id="g", timeouts=StepTimeouts(chip=20, face=20),
                           clock=Ticks())
    try:
        r = wf.process()
    finally:
        wf.close()
    assert r.opened
    t = r.timings_ms
    assert t["finger:CHN"] >= 250
    (vn_event,) = items(vn.store, "event")
    (cn_event,) = items(cn.store, "event")
    own = {c: 2000 + t[f"watchlist:{c}"] + t[f"finger:{c}"] + t["decide"] for c in ("VNM", "CHN")}
    assert vn_event["duration_ms"] == round(own["VNM"], 1) and vn_event["duration_ms"] < 2000 + t["finger:CHN"]
    assert cn_event["duration_ms"] == round(own["CHN"], 1) and cn_event["duration_ms"] >= 2250


class ChipSpy:
    """A side's fingerprint step that takes the chip's outcome (as gate.FingerStep) and says what it was given."""

    uses_chip = True

    def __init__(self):
        self.chips = []

    def __call__(self, p, chip=None):
        self.chips.append(chip)
        if chip is not None and chip.dg3_records:
            return FingerOutcome(enrolled=True, score=0.9, threshold=0.4, source="chip")
        return FingerOutcome(enrolled=False, source="backoffice")


@pytest.fixture(scope="module")
def eac_doc(pkis):
    from emrtd.sim import EacPki

    eac = EacPki.make("VN")
    doc = issue_document(td3("C7654321", "900315", EXPIRY), photo_png(), eac=eac, dg3=[b"\x00" * 64],
                         pki=pkis["VNM"])
    return doc, eac


@pytest.mark.parametrize("eac_side", ["VNM", None])
def test_terminal_authentication_and_dg3_are_the_administration_whose_credentials_performed_them(pkis, eac_doc,
                                                                                                 eac_side):
    """One chip step with Vietnam's inspection-system credentials: DG3 and TA's outcome are Vietnam's only (the
    composition says so: JointSteps.eac_side). China's fingerprint step gets no DG3, a named dg3_error, and no TA
    of Vietnam's (its own back-office path); China's event carries no TA passed nor a chip fingerprint source.
    Unnamed (the default), the DG3 read is no side's."""
    doc, eac = eac_doc
    both = trust_of(pkis["VNM"], pkis["CHN"])
    spies = {"VNM": ChipSpy(), "CHN": ChipSpy()}
    vn = side("VNM", "exit", trust=both, finger=spies["VNM"])
    cn = side("CHN", "entry", trust=both, finger=spies["CHN"])
    reader, mrz = SimulatedReader(), FixedMrzSource()
    reader.present(doc)
    mrz.place(doc.mrz)
    steps = JointSteps(document=DocumentStep(mrz_source=mrz),
                       chip=ChipStep(reader, None, card_wait_s=0.2, terminal=eac.terminal()),
                       face=FaceStep(Cam(True), ENGINE), eac_side=eac_side)
    wf = JointGateWorkflow(steps, LoggingDoor(), [cn, vn], gate_id="g", timeouts=StepTimeouts(chip=30, face=20))
    try:
        wf.process()
    finally:
        wf.close()
    (vn_chip,), (cn_chip,) = spies["VNM"].chips, spies["CHN"].chips
    others = ("CHN",) if eac_side == "VNM" else ("VNM", "CHN")
    if eac_side == "VNM":
        assert vn_chip.dg3_records and vn_chip.ta_passed is True and vn_chip.ta_by == "VNM"
        (vn_event,) = items(vn.store, "event")
        assert vn_event["terminal_authentication"] == "passed" and vn_event["fingerprint_source"] == "chip"
    for code in others:
        chip = {"VNM": vn_chip, "CHN": cn_chip}[code]
        assert chip.dg3_records == () and chip.ta_passed is None and chip.ta_code == "no_terminal_credentials"
        assert "authorisation" in chip.dg3_error and (eac_side or "no administration") in chip.dg3_error
        (event,) = items({"VNM": vn.store, "CHN": cn.store}[code], "event")
        assert event["terminal_authentication"] == "not_performed" and event["eac_code"] == "no_terminal_credentials"
        assert event.get("fingerprint_source") != "chip" and "authorisation" in event["dg3_error"]
    # the real fingerprint step over the other side's view takes its back-office path (never the chip's DG3)
    from gate import FingerStep
    asked = []
    step = FingerStep(scanner=None, engine=None, remote=lambda *a: asked.append(a) or {"enrolled": False})
    step(presentation_from_mrz(doc.mrz), cn_chip)
    assert asked


def reasons(r, code) -> list[str]:
    return [str(x) for x in r.decision.decision(code).reasons]


def serve_with(doc, vn, cn, *, chip_view=None, door=None, mrz_text=None, timeouts=None):
    """One traveller through the lane; ``chip_view`` rewrites the chip step's outcome (what it kept), ``mrz_text``
    is the printed MRZ shown (else the document's)."""
    from dataclasses import replace as _replace  # noqa: F401 - for chip_view callers

    reader, mrz = SimulatedReader(), FixedMrzSource()
    reader.present(doc)
    mrz.place(mrz_text or doc.mrz)
    chip = ChipStep(reader, None, card_wait_s=0.2, keep_pa_files=chip_view is not None)  # a wrapped step: asked here
    steps = JointSteps(document=DocumentStep(mrz_source=mrz),
                       chip=(lambda p: chip_view(chip(p))) if chip_view else chip, face=FaceStep(Cam(True), ENGINE))
    door = door or LoggingDoor()
    wf = JointGateWorkflow(steps, door, [cn, vn], gate_id="g", timeouts=timeouts or StepTimeouts(chip=20, face=20))
    try:
        return wf.process(), door
    finally:
        wf.close()


def test_a_chip_step_that_kept_nothing_to_verify_or_a_trust_store_that_raises_refers_never_passes(pkis, vn_doc,
                                                                                                   monkeypatch):
    from dataclasses import replace

    both = trust_of(pkis["VNM"], pkis["CHN"])
    vn, cn = side("VNM", "exit", trust=both), side("CHN", "entry", trust=both)
    r, door = serve_with(vn_doc, vn, cn, chip_view=lambda c: replace(c, pa_files=()))
    assert opened(door) == 0 and set(r.decision.referred_by) == {"VNM", "CHN"}
    assert all(r.decision.decision(c).status("passive_authentication") != "passed" for c in ("VNM", "CHN"))

    import gate._joint_lane as joint_lane

    def broken(files, trust):
        if trust is cn.trust:
            raise RuntimeError("trust store unreadable")
        return real(files, trust)

    real = joint_lane.pa_against
    cn.trust = trust_of(pkis["VNM"], pkis["CHN"])  # a store of its own, the one that fails
    monkeypatch.setattr(joint_lane, "pa_against", broken)
    vn, cn2 = side("VNM", "exit", trust=both), side("CHN", "entry", trust=cn.trust)
    r, door = serve_with(vn_doc, vn, cn2)
    assert opened(door) == 0 and r.decision.referred_by == ("CHN",)
    assert r.decision.decision("CHN").status("passive_authentication") == "missing"


def test_the_data_groups_are_kept_for_each_sides_passive_authentication(pkis):
    """A DG15 that differs from the SOD's hash (a clone's own key) fails each side's PA by name through the lane."""
    doc = issue_document(td3(NUMBER, "900315", EXPIRY), photo_png(), pki=pkis["VNM"], aa="ec", ca=True)

    def swapped(chip):
        from dataclasses import replace

        files = dict(chip.pa_files)
        assert "DG15" in files and "DG1" in files and "DG2" in files  # kept_for_pa keeps the data groups
        files["DG15"] = files["DG15"][:-1] + bytes([files["DG15"][-1] ^ 1])
        return replace(chip, pa_files=tuple(files.items()))

    both = trust_of(pkis["VNM"], pkis["CHN"])
    vn, cn = side("VNM", "exit", trust=both), side("CHN", "entry", trust=both)
    r, door = serve_with(doc, vn, cn, chip_view=swapped)
    assert opened(door) == 0 and set(r.decision.referred_by) == {"VNM", "CHN"}
    for s in (vn, cn):
        assert "chip_pa_failed" in reasons(r, s.code)
        assert "dg_hash:DG15" in json.dumps(s.store.transactions()[0]["decision"])


class RecordsFirstDoor:
    """A door that checks, when told to open, that every store already holds the transaction's record."""

    def __init__(self, *stores):
        self.stores, self.opened, self.seen = stores, 0, []

    def open(self):
        self.seen = [len(s.transactions()) for s in self.stores]
        assert all(n == 1 for n in self.seen), self.seen
        self.opened += 1


def test_the_joint_lanes_door_opens_only_after_both_records(pkis, vn_doc):
    both = trust_of(pkis["VNM"], pkis["CHN"])
    vn, cn = side("VNM", "exit", trust=both), side("CHN", "entry", trust=both)
    door = RecordsFirstDoor(vn.store, cn.store)
    r, _ = serve_with(vn_doc, vn, cn, door=door)
    assert r.opened and door.opened == 1 and door.seen == [1, 1]


def test_the_single_lanes_door_opens_only_after_the_record():
    from gate import GateWorkflow
    from tests.gate.test_store_and_workflow import Clock, fresh_store, steps

    store = fresh_store()
    door = RecordsFirstDoor(store)
    wf = GateWorkflow(steps(), door, store, gate_id="g1", clock=Clock())
    try:
        r = wf.process()
    finally:
        wf.close()
    assert r.opened and door.opened == 1 and door.seen == [1]


def test_a_sides_stale_crl_refers_that_side_only(pkis, vn_doc):
    import datetime as dt

    from cryptography.hazmat.primitives.serialization import Encoding

    import emrtd

    vp = pkis["VNM"]
    cn_trust = emrtd.TrustStore([vp.csca_cert.public_bytes(Encoding.DER)])
    cn_trust.add_crl(vp.crl([], dt.datetime.now(dt.UTC) - dt.timedelta(days=400)))
    vn, cn = side("VNM", "exit", trust=trust_of(vp)), side("CHN", "entry", trust=cn_trust)
    r, door = serve_with(vn_doc, vn, cn)
    assert r.decision.referred_by == ("CHN",) and opened(door) == 0
    assert r.decision.decision("CHN").status("passive_authentication") != "passed"
    assert "crl_stale" in reasons(r, "CHN")  # named: China's list is out of date, not a failed chain
    assert r.decision.decision("VNM").reasons == ()
    assert "stale" not in json.dumps(vn.store.transactions()[0]["decision"])


def test_each_sides_watchlist_hears_the_chips_dg1_too(pkis, vn_doc):
    """The printed MRZ's issuing state is altered (no check digit covers it); the chip's DG1 says VNM, under
    which China lists the document: China's copy finds it through the chip, Vietnam's list holds nothing."""
    printed = "P<CHN" + vn_doc.mrz[5:]
    both = trust_of(pkis["VNM"], pkis["CHN"])
    vn = side("VNM", "exit", trust=both)
    cn = side("CHN", "entry", trust=both, store=store_with(listed("cn-dg1", "entry ban")))  # number + VNM
    r, door = serve_with(vn_doc, vn, cn, mrz_text=printed)
    assert opened(door) == 0
    assert "watchlist_hit" in reasons(r, "CHN") and "watchlist_hit" not in reasons(r, "VNM")


def test_a_sides_watchlist_time_out_refers_that_side_only(pkis, vn_doc):
    import time

    from gate import LocalWatchlist

    both = trust_of(pkis["VNM"], pkis["CHN"])
    store = store_with()
    local = LocalWatchlist(store)

    def slow(p):
        time.sleep(1.0)
        return local(p)

    vn, cn = side("VNM", "exit", trust=both), side("CHN", "entry", trust=both, store=store, watchlist=slow)
    r, door = serve_with(vn_doc, vn, cn, timeouts=StepTimeouts(chip=20, face=20, watchlist=0.2))
    assert opened(door) == 0 and r.decision.referred_by == ("CHN",)
    assert "timeout" in reasons(r, "CHN") and r.decision.decision("VNM").reasons == ()


def test_the_files_for_pa_are_kept_only_when_the_joint_lane_asks(pkis, vn_doc):
    reader = SimulatedReader()
    reader.present(vn_doc)
    p = presentation_from_mrz(vn_doc.mrz)
    chip_step = ChipStep(reader, trust_of(pkis["VNM"]), card_wait_s=0.2)
    assert chip_step(p).pa_files == ()  # a single lane keeps nothing it does not need
    steps = JointSteps(document=lambda: p, chip=chip_step, face=lambda c: None)
    JointGateWorkflow(steps, LoggingDoor(), [side("VNM", "exit"), side("CHN", "entry")], gate_id="g").close()
    assert chip_step.keep_pa_files is True
    reader.present(vn_doc)
    assert "EF.SOD" in dict(chip_step(p).pa_files)


def test_two_sides_on_one_database_file_are_refused_and_a_side_checks_its_own_copy_by_default(tmp_path):
    from gate import GateStore, JointLaneError, LocalWatchlist
    from tests.gate.test_store_and_workflow import sealer_for

    path = tmp_path / "gate.db"
    a = GateStore(path, sealer=sealer_for(path))
    b = GateStore(tmp_path / "sub" / ".." / "gate.db", sealer=sealer_for(path))  # another handle, the same file
    steps = JointSteps(document=lambda: None, chip=lambda p: None, face=lambda c: None)
    with pytest.raises(JointLaneError, match="file"):
        JointGateWorkflow(steps, LoggingDoor(), [side("VNM", "exit", store=a), side("CHN", "entry", store=b)],
                          gate_id="g")
    from gate import Administration, JointSide

    own = JointSide(Administration("VNM", "exit"), a)
    assert isinstance(own.watchlist, LocalWatchlist)
