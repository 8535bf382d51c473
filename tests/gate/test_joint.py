"""The joint lane's policy (issue #26 item 1): one shared evidence record, two administrations deciding over it
with their own rules and watchlist copies; the gate opens only if both open, a referral belongs to the side
that referred, and neither side's record shows the other's reasons."""

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate import (
    Administration,
    Evidence,
    JointLaneError,
    Outcome,
    PolicyConfig,
    ReasonCode,
    SideFinger,
    SideWatchlist,
    decide,
    decide_joint,
)

TODAY = dt.date(2026, 12, 7)
VN = Administration("VNM", "exit", PolicyConfig())
CN = Administration("CHN", "entry", PolicyConfig())
CLEAR = SideWatchlist(checked=True, age_s=60.0)
NOT_ENROLLED = SideFinger(enrolled=False)  # each back office: no fingerprints enrolled for this traveller


def shared(**changes) -> Evidence:
    """A genuine traveller's document and face, read once; no watchlist outcome (each side has its own)."""
    base = dict(today=TODAY, document_type="P", issuing_state="VNM", date_of_birth=dt.date(1990, 1, 1),
                date_of_expiry=dt.date(2030, 1, 1), chip_read=True, pa_passed=True, csca_chain=True,
                dsc_revocation=True, data_groups=(("DG1", True), ("DG2", True)), aa_offered=True, aa_passed=True,
                ca_offered=False, mrz_matches_dg1=True, face_acquired=True, liveness_passed=True,
                liveness_path="passive+challenge", face_score=0.9, face_threshold=0.6, persons_in_lane=1)
    base.update(changes)
    return Evidence(**base)


def test_both_sides_admit_and_the_lane_opens():
    j = decide_joint(shared(), {"VNM": (VN, CLEAR, NOT_ENROLLED), "CHN": (CN, CLEAR, NOT_ENROLLED)})
    assert j.outcome is Outcome.OPEN and j.referred_by == ()
    assert [(c, d) for c, d, _ in j.sides] == [("VNM", "exit"), ("CHN", "entry")]  # exit control first
    assert j.record_for("CHN")["partners"] == {"VNM": {"direction": "exit", "referred": False}}


def test_a_traveller_watchlisted_on_one_side_is_referred_to_that_side_only():
    hit = SideWatchlist(checked=True, hits=("document on list CN-7731: stolen",), age_s=60.0)
    j = decide_joint(shared(), {"VNM": (VN, CLEAR, NOT_ENROLLED), "CHN": (CN, hit, NOT_ENROLLED)})
    assert j.outcome is Outcome.REFER and j.referred_by == ("CHN",)
    assert j.decision("VNM").outcome is Outcome.OPEN
    assert ReasonCode.WATCHLIST_HIT in j.decision("CHN").reasons
    cn, vn = j.record_for("CHN"), j.record_for("VNM")
    assert cn["decision"]["outcome"] == "refer" and "watchlist_hit" in cn["decision"]["reasons"]
    # Vietnam's record says the lane stayed shut because the partner referred, and nothing of why
    assert vn["lane_outcome"] == "refer" and vn["decision"]["outcome"] == "open"
    assert vn["partners"] == {"CHN": {"direction": "entry", "referred": True}}
    text = json.dumps(vn)
    assert "CN-7731" not in text and "stolen" not in text and "watchlist_hit" not in text
    assert set(vn) == {"administration", "direction", "lane_outcome", "decision", "partners"}
    # Vietnam's record is the same whatever China referred for (a hit, a stale copy, an unchecked watchlist)
    for other in (SideWatchlist(checked=True, age_s=30 * 3600.0), SideWatchlist(checked=None, error="copy incomplete")):
        again = decide_joint(shared(), {"VNM": (VN, CLEAR, NOT_ENROLLED), "CHN": (CN, other, NOT_ENROLLED)})
        assert again.record_for("VNM") == vn


def test_one_sides_fingerprint_evidence_is_not_the_others():
    """China's back office says enrolled and the live fingers do not match; Vietnam's says not enrolled: China
    refers, Vietnam's record shows nothing of it, and a side with no fingerprint evidence at all refers."""
    cn_finger = SideFinger(enrolled=True, score=0.01, threshold=0.2, source="backoffice", error="CHN service note")
    j = decide_joint(shared(), {"VNM": (VN, CLEAR, NOT_ENROLLED), "CHN": (CN, CLEAR, cn_finger)})
    assert j.referred_by == ("CHN",)
    assert "CHN service note" not in json.dumps(j.record_for("VNM"))
    j = decide_joint(shared(), {"VNM": (VN, CLEAR), "CHN": (CN, CLEAR, NOT_ENROLLED)})
    assert j.referred_by == ("VNM",)


def test_each_side_decides_by_its_own_rules():
    """No current CRL for the CSCA: China's lane requires revocation status, Vietnam's relaxes it explicitly."""
    vn = Administration("VNM", "exit", PolicyConfig(require_revocation_status=False))
    j = decide_joint(shared(dsc_revocation=None), {"VNM": (vn, CLEAR, NOT_ENROLLED), "CHN": (CN, CLEAR, NOT_ENROLLED)})
    assert j.referred_by == ("CHN",) and j.outcome is Outcome.REFER
    assert j.decision("VNM").outcome is Outcome.OPEN


def test_an_unchecked_watchlist_refers_that_side_never_passes():
    for unchecked in (SideWatchlist(checked=None), SideWatchlist(checked=False, error="incomplete copy"),
                      SideWatchlist(checked=True, age_s=None), SideWatchlist(checked=True, age_s=30 * 3600.0)):
        j = decide_joint(shared(), {"VNM": (VN, unchecked, NOT_ENROLLED), "CHN": (CN, CLEAR, NOT_ENROLLED)})
        assert j.outcome is Outcome.REFER and j.referred_by == ("VNM",), unchecked


def test_shared_evidence_failing_refers_both():
    j = decide_joint(shared(pa_passed=False, pa_failures=("sod_signature",)), {"VNM": (VN, CLEAR, NOT_ENROLLED), "CHN": (CN, CLEAR, NOT_ENROLLED)})
    assert j.referred_by == ("VNM", "CHN")


@pytest.mark.parametrize("field,value", [
    ("watchlist_checked", True), ("watchlist_hits", ("x",)), ("watchlist_error", "x"), ("watchlist_age_s", 1.0),
    ("attested_checks", ("passive_authentication",)), ("attestation_id", "a3f1"), ("finger_enrolled", False),
    ("finger_score", 0.5), ("finger_error", "x"), ("finger_unavailable", True), ("timed_out_step", "watchlist"),
    ("faulted_step", "watchlist"),
])
def test_the_shared_record_carries_nothing_that_is_one_sides_own(field, value):
    with pytest.raises(JointLaneError):
        decide_joint(shared(**{field: value}), {"VNM": (VN, CLEAR), "CHN": (CN, CLEAR)})


@pytest.mark.parametrize("bad", [
    lambda: decide_joint(shared(), {"VNM": (VN, CLEAR)}),
    lambda: decide_joint(shared(), {"VNM": (VN, CLEAR), "CHN": (Administration("CHN", "exit"), CLEAR)}),
    lambda: decide_joint(shared(), {"VNM": (VN, CLEAR), "CHN": (CN, None)}),
    lambda: decide_joint(shared(), {"VNM": (VN, CLEAR), "LAO": (CN, CLEAR)}),
    lambda: Administration("vn", "exit"),
    lambda: Administration("VNM", "transit"),
])
def test_inconsistent_input_is_a_named_error(bad):
    with pytest.raises(JointLaneError):
        bad()


def test_a_record_for_an_administration_not_in_the_lane_is_refused():
    j = decide_joint(shared(), {"VNM": (VN, CLEAR), "CHN": (CN, CLEAR)})
    with pytest.raises(JointLaneError):
        j.record_for("LAO")


_side = st.builds(SideWatchlist, checked=st.sampled_from([True, False, None]),
                  hits=st.sampled_from([(), ("hit",)]), age_s=st.sampled_from([60.0, None, 1e6]))


@settings(max_examples=150, deadline=None)
@given(vn_watch=_side, cn_watch=_side, pa=st.sampled_from([True, False, None]),
       face=st.sampled_from([0.9, 0.1, None]), crl=st.sampled_from([True, None]),
       vn_relax=st.booleans(), cn_relax=st.booleans())
def test_the_lane_opens_iff_each_side_alone_would(vn_watch, cn_watch, pa, face, crl, vn_relax, cn_relax):
    ev = shared(pa_passed=pa, face_score=face, dsc_revocation=crl)
    vn = Administration("VNM", "exit", PolicyConfig(require_revocation_status=not vn_relax))
    cn = Administration("CHN", "entry", PolicyConfig(require_revocation_status=not cn_relax))
    j = decide_joint(ev, {"CHN": (cn, cn_watch, NOT_ENROLLED), "VNM": (vn, vn_watch, NOT_ENROLLED)})
    alone = {"VNM": decide(NOT_ENROLLED.apply(vn_watch.apply(ev)), vn.config),
             "CHN": decide(NOT_ENROLLED.apply(cn_watch.apply(ev)), cn.config)}
    assert (j.outcome is Outcome.OPEN) == all(d.outcome is Outcome.OPEN for d in alone.values())
    assert j.referred_by == tuple(c for c in ("VNM", "CHN") if alone[c].outcome is not Outcome.OPEN)
    for code in ("VNM", "CHN"):
        assert j.decision(code) == alone[code]
