"""The joint lane's workflow (issue #26 item 1) through the simulated devices: one gate, the chip read once by the
real reader code, the face captured once, two administrations (Vietnam exit, China entry) each with its own trust
store (two separate test PKIs), watchlist copy, fingerprint step and store/outbox. The door opens only if both
open; each side's store holds its own record and, of the partner, only that it referred."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

import emrtd
from devices.sim import FixedMrzSource, LoggingDoor, SimulatedReader
from emrtd.sim import issue_document
from gate import (
    PARTNER_REFERRED,
    Administration,
    ChipStep,
    DocumentStep,
    FaceStep,
    FingerOutcome,
    GateStore,
    JointGateWorkflow,
    JointLaneError,
    JointSide,
    JointSteps,
    LocalWatchlist,
    StepTimeouts,
)
from tests.gate.conftest import NUMBER  # pkis, vn_doc: fixtures of tests/gate/conftest.py
from tests.gate.test_gate_emrtd import ENGINE, EXPIRY, STANDIN, Cam, photo_png, td3


def trust_of(*pkis) -> emrtd.TrustStore:
    store = emrtd.TrustStore([p.csca_cert.public_bytes(Encoding.DER) for p in pkis])
    for p in pkis:
        store.add_crl(p.crl([], dt.datetime.now(dt.UTC)))
    return store


def store_with(*entries) -> GateStore:
    """A side's own store: its watchlist copy (fresh) and its outbox, sealed under its own ephemeral vault."""
    store = GateStore()
    store.apply_watchlist_changes([{"version": 1, "op": "upsert", **e} for e in entries], 1)
    return store


def listed(entry_id: str, reason: str, number: str = NUMBER) -> dict:
    return {"id": entry_id, "kind": "document", "data": {"document_number": number, "issuing_state": "VNM",
                                                         "reason": reason}}


def not_enrolled(p):
    return FingerOutcome(enrolled=False)


def side(code, direction, *, store=None, trust=None, finger=not_enrolled, watchlist=None):
    store = store or store_with()
    return JointSide(Administration(code, direction, STANDIN), store, watchlist or LocalWatchlist(store), trust,
                     finger)


def serve(doc, vn: JointSide, cn: JointSide):
    reader, mrz = SimulatedReader(), FixedMrzSource()
    reader.present(doc)
    mrz.place(doc.mrz)
    steps = JointSteps(document=DocumentStep(mrz_source=mrz), chip=ChipStep(reader, None, card_wait_s=0.2),
                       face=FaceStep(Cam(True), ENGINE))
    door = LoggingDoor()
    wf = JointGateWorkflow(steps, door, [cn, vn], gate_id="bac-luan-joint-1", timeouts=StepTimeouts(chip=20, face=20))
    try:
        return wf.process(), door
    finally:
        wf.close()


def opened(door) -> int:
    return sum(1 for _, what in door.events if what == "open")


def everything_in(store: GateStore) -> str:
    """Every row of every table of a side's database, and its outbox items unsealed: what that side can see."""
    tables = [r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    rows = [repr(row) for t in tables for row in store.db.execute(f"SELECT * FROM {t}")]  # noqa: S608
    items = [json.dumps({"kind": i.kind, "payload": i.payload}) for i in store.outbox.pending()]
    return "\n".join(rows + items)


def items(store: GateStore, kind: str) -> list[dict]:
    return [i.payload for i in store.outbox.pending(kind)]


def test_both_sides_admit_the_door_opens_once_and_each_store_holds_one_record(pkis, vn_doc):
    both = trust_of(pkis["VNM"], pkis["CHN"])
    vn, cn = side("VNM", "exit", trust=both), side("CHN", "entry", trust=both)
    r, door = serve(vn_doc, vn, cn)
    assert r.opened and r.decision.referred_by == (), [d.explain() for _, _, d in r.decision.sides]
    assert opened(door) == 1
    assert r.states[:3] == ("document", "chip", "face")  # read and captured once for both
    for s in (vn, cn):
        rows = s.store.transactions()
        assert len(rows) == 1 and rows[0]["id"] == r.transaction_id and rows[0]["outcome"] == "open"
        assert rows[0]["decision"]["administration"] == s.code and rows[0]["decision"]["lane_outcome"] == "open"
        assert [e["outcome"] for e in items(s.store, "event")] == ["admitted"] and not items(s.store, "exception")
        assert rows[0]["decision"]["decision"]["checks"]["passive_authentication"] == "passed"
        assert len(r.outbox_ids[s.code]) == 1


@pytest.mark.parametrize("hit_side", ["VNM", "CHN"])
def test_a_traveller_watchlisted_on_one_side_is_referred_to_that_side_only(pkis, vn_doc, hit_side):
    """Each side has a watchlist entry of its own; the traveller is on one side's list only. That side refers
    with its own reason and entry; the other side's store shows only that the partner referred, and nothing of
    either side's watchlist content (rows, events, sealed bodies unsealed)."""
    both = trust_of(pkis["VNM"], pkis["CHN"])
    secret = {"VNM": listed("vn-wl-4410", "VN-ONLY-REASON exit ban", NUMBER if hit_side == "VNM" else "B0000001"),
              "CHN": listed("cn-wl-7731", "CN-ONLY-REASON entry ban", NUMBER if hit_side == "CHN" else "B0000002")}
    vn = side("VNM", "exit", trust=both, store=store_with(secret["VNM"]))
    cn = side("CHN", "entry", trust=both, store=store_with(secret["CHN"]))
    r, door = serve(vn_doc, vn, cn)
    other = "CHN" if hit_side == "VNM" else "VNM"
    by_code = {"VNM": vn, "CHN": cn}
    assert not r.opened and opened(door) == 0 and r.decision.referred_by == (hit_side,)
    assert [str(x) for x in r.decision.decision(hit_side).reasons] == ["watchlist_hit"]

    hit_store, other_store = by_code[hit_side].store, by_code[other].store
    (exc,) = items(hit_store, "exception")
    assert exc["reason_codes"] == ["watchlist_hit"] and exc["direction"] == by_code[hit_side].admin.direction
    assert [m["entry_id"] for m in exc["watchlist_matches"]] == [secret[hit_side]["id"]]
    assert hit_store.transactions()[0]["outcome"] == "refer"

    row = other_store.transactions()[0]
    assert row["outcome"] == PARTNER_REFERRED and row["decision"]["decision"]["outcome"] == "open"
    assert row["decision"]["partners"] == {hit_side: {"direction": by_code[hit_side].admin.direction,
                                                      "referred": True}}
    assert not items(other_store, "exception")
    (event,) = items(other_store, "event")
    assert event["outcome"] == PARTNER_REFERRED and event["reason_codes"] == []
    from backoffice.schemas import EventCreate  # each side's event as its own back office takes it

    for store in (hit_store, other_store):
        for e in items(store, "event"):
            EventCreate.model_validate(e)
    seen = everything_in(other_store)
    hit_data = secret[hit_side]
    for leak in (hit_data["id"], hit_data["data"]["reason"].split()[0], "watchlist_hit", "watchlist:" + hit_side):
        assert leak not in seen, leak
    # the partner's own list stays its own, and the hit side's store holds nothing of it either
    assert secret[other]["id"] not in everything_in(hit_store)
    assert secret[other]["data"]["reason"].split()[0] not in everything_in(hit_store)


@pytest.mark.parametrize(("cn_trust", "reason", "status"), [
    ("own csca only", "chip_pa_failed", "failed"),  # China's store lacks Vietnam's CSCA
    (None, "evidence_missing", "missing"),  # China has no trust store at all
])
def test_a_chain_only_one_side_trusts_refers_that_side_not_the_other(pkis, vn_doc, cn_trust, reason, status):
    vn = side("VNM", "exit", trust=trust_of(pkis["VNM"]))
    cn = side("CHN", "entry", trust=trust_of(pkis["CHN"]) if cn_trust else None)
    r, door = serve(vn_doc, vn, cn)
    assert r.decision.referred_by == ("CHN",) and opened(door) == 0
    cn_decision, vn_decision = r.decision.decision("CHN"), r.decision.decision("VNM")
    assert reason in [str(x) for x in cn_decision.reasons] and cn_decision.status("passive_authentication") == status
    assert vn_decision.status("passive_authentication") == "passed" and vn_decision.reasons == ()
    assert "chip_pa_failed" not in everything_in(vn.store) and "passive_authentication:" not in everything_in(vn.store)


def test_a_document_of_the_partners_issuer_is_verified_against_each_sides_store(pkis):
    """The reverse: a Chinese passport that only China's store can verify refers on Vietnam's side."""
    doc = issue_document(td3("E7654321", "880101", EXPIRY, state="CHN"), photo_png(), pki=pkis["CHN"])
    vn = side("VNM", "exit", trust=trust_of(pkis["VNM"]))
    cn = side("CHN", "entry", trust=trust_of(pkis["CHN"], pkis["VNM"]))
    r, _ = serve(doc, vn, cn)
    assert r.decision.referred_by == ("VNM",)
    assert r.decision.decision("CHN").status("passive_authentication") == "passed"
    assert r.decision.decision("VNM").status("passive_authentication") == "failed"


def test_a_sides_stale_copy_or_failing_steps_refer_that_side_by_name(pkis, vn_doc):
    both = trust_of(pkis["VNM"], pkis["CHN"])

    def broken_watchlist(p):
        raise OSError("index corrupt")

    def broken_finger(p):
        raise ConnectionResetError("scanner gone")

    cases = [
        (dict(store=GateStore()), "watchlist_stale"),  # never synced: no copy
        (dict(watchlist=broken_watchlist), "hardware_fault"),
        (dict(finger=broken_finger), "hardware_fault"),
        (dict(finger=None), "evidence_missing"),
    ]
    for changes, reason in cases:
        vn, cn = side("VNM", "exit", trust=both), side("CHN", "entry", trust=both, **changes)
        r, door = serve(vn_doc, vn, cn)
        assert r.decision.referred_by == ("CHN",) and opened(door) == 0, changes
        assert reason in [str(x) for x in r.decision.decision("CHN").reasons], (changes, r.decision.decision("CHN"))
        assert r.decision.decision("VNM").reasons == ()
        # Vietnam's store: no reason of its own, the event partner_referred without codes, nothing of China's finding
        assert vn.store.transactions()[0]["decision"]["reasons"] == []
        assert [(e["outcome"], e["reason_codes"]) for e in items(vn.store, "event")] == [(PARTNER_REFERRED, [])]
        for finding in r.decision.decision("CHN").findings:
            assert finding.detail not in everything_in(vn.store), finding


def test_each_sides_fingerprint_check_is_its_own(pkis, vn_doc):
    both = trust_of(pkis["VNM"], pkis["CHN"])
    asked = []

    def cn_finger(p):
        asked.append(p.document_number)
        return FingerOutcome(enrolled=True, score=0.05, threshold=0.4, source="backoffice")

    vn, cn = side("VNM", "exit", trust=both), side("CHN", "entry", trust=both, finger=cn_finger)
    r, _ = serve(vn_doc, vn, cn)
    assert asked == [NUMBER] and r.decision.referred_by == ("CHN",)
    assert [str(x) for x in r.decision.decision("CHN").reasons] == ["fingerprint_mismatch"]
    (exc,) = items(cn.store, "exception")
    assert exc["scores"]["finger"] == pytest.approx(0.05)
    assert "fingerprint" not in everything_in(vn.store).replace("fingerprint_match", "")


def test_a_lane_of_one_store_or_two_controls_of_one_direction_is_refused():
    shared = GateStore()
    steps = JointSteps(document=lambda: None, chip=lambda p: None, face=lambda c: None)
    for sides in ([side("VNM", "exit", store=shared), side("CHN", "entry", store=shared)],
                  [side("VNM", "exit"), side("CHN", "exit")],
                  [side("VNM", "exit"), side("VNM", "entry")],
                  [side("VNM", "exit")]):
        with pytest.raises(JointLaneError):
            JointGateWorkflow(steps, LoggingDoor(), sides, gate_id="g")


def test_pa_against_another_store_gives_what_the_reader_gives_with_that_store(pkis, vn_doc):
    """The chain verdict evaluated again from the files kept (no chip access) equals the reader's own with the
    same store: trusted, partner's CSCA only, no store; and a chip step keeping nothing leaves the chain unknown."""
    from gate import presentation_from_mrz
    from gate._chip_pa import PA_FIELDS, pa_against

    p = presentation_from_mrz(vn_doc.mrz)
    for trust in (trust_of(pkis["VNM"]), trust_of(pkis["CHN"]), None):
        reader = SimulatedReader()
        reader.present(vn_doc)
        chip = ChipStep(reader, trust, card_wait_s=0.2, keep_pa_files=True)(p)
        assert chip.read and chip.pa_files and "EF.SOD" in dict(chip.pa_files)
        assert pa_against(chip.pa_files, trust) == {f: getattr(chip, f) for f in PA_FIELDS}, trust
    assert pa_against((), trust_of(pkis["VNM"]))["pa_passed"] is False  # no EF.SOD: fails whatever the store


def test_a_shared_chain_verdict_beside_a_sides_own_is_refused():
    """decide_joint: once a side brings its own trust store's verdict (SideChain), the shared record may carry none
    (it would be one store's, shown to both); a side's own unknown chain refers that side only."""
    from gate import SideChain, SideFinger, SideWatchlist, decide_joint
    from tests.gate.test_joint import shared as shared_evidence

    vn, cn = Administration("VNM", "exit"), Administration("CHN", "entry")
    clear, none = SideWatchlist(checked=True, age_s=60.0), SideFinger(enrolled=False)
    ok = SideChain(pa_passed=True, csca_chain=True, dsc_revocation=True)
    with pytest.raises(JointLaneError):
        decide_joint(shared_evidence(), {"VNM": (vn, clear, none, ok), "CHN": (cn, clear, none, ok)})
    with pytest.raises(JointLaneError):  # one part of a kind per side
        decide_joint(shared_evidence(), {"VNM": (vn, clear, none, none), "CHN": (cn, clear, none)})
    blank = shared_evidence(pa_passed=None, csca_chain=None, dsc_revocation=None)
    j = decide_joint(blank, {"VNM": (vn, clear, none, ok), "CHN": (cn, clear, none, SideChain(pa_passed=None))})
    assert j.referred_by == ("CHN",) and j.decision("VNM").status("passive_authentication") == "passed"


def test_only_the_side_that_referred_calls_its_officers(pkis, vn_doc):
    both = trust_of(pkis["VNM"], pkis["CHN"])
    calls = {"VNM": [], "CHN": []}
    vn = side("VNM", "exit", trust=both)
    cn = side("CHN", "entry", trust=both, store=store_with(listed("cn-wl-1", "entry ban")))
    vn.call_officer = lambda state, reason: calls["VNM"].append((state, reason)) or "vn-call"
    cn.call_officer = lambda state, reason: calls["CHN"].append((state, reason)) or "cn-call"
    reader, mrz = SimulatedReader(), FixedMrzSource()
    reader.present(vn_doc)
    mrz.place(vn_doc.mrz)
    steps = JointSteps(document=DocumentStep(mrz_source=mrz), chip=ChipStep(reader, None, card_wait_s=0.2),
                       face=FaceStep(Cam(True), ENGINE))
    wf = JointGateWorkflow(steps, LoggingDoor(), [vn, cn], gate_id="g", timeouts=StepTimeouts(chip=20, face=20))
    try:
        r = wf.process()
        assert set(wf.last_calls) == {"CHN"} and wf.last_calls["CHN"].result(timeout=5) == "cn-call"
    finally:
        wf.close()
    assert r.decision.referred_by == ("CHN",)
    assert calls == {"VNM": [], "CHN": [("refer", "referral")]}
