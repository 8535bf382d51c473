import datetime as dt

import pytest

from gate import RULES, Evidence, Outcome, PolicyConfig, ReasonCode, decide

TODAY = dt.date(2026, 11, 22)


def good(**changes) -> Evidence:
    base = dict(today=TODAY, document_type="P", issuing_state="VNM", date_of_birth=dt.date(1990, 1, 1),
                date_of_expiry=dt.date(2030, 1, 1), chip_read=True, pa_passed=True, aa_passed=True,
                ca_passed=None, mrz_matches_dg1=True, face_acquired=True, liveness_passed=True,
                face_score=0.9, face_threshold=0.6, watchlist_age_s=60.0)
    base.update(changes)
    return Evidence(**base)


def test_genuine_traveller_opens_and_explains():
    d = decide(good())
    assert d.outcome is Outcome.OPEN
    assert d.findings == ()
    assert d.explain() == f"open: all {len(RULES)} rules passed"


@pytest.mark.parametrize("changes, reason", [
    ({"date_of_expiry": TODAY - dt.timedelta(days=1)}, ReasonCode.DOCUMENT_EXPIRED),
    ({"date_of_birth": dt.date(2010, 1, 1)}, ReasonCode.MINOR),
    ({"pa_passed": False, "pa_failures": ("sod_signature",)}, ReasonCode.CHIP_PA_FAILED),
    ({"aa_passed": False}, ReasonCode.CHIP_CLONED),
    ({"ca_passed": False}, ReasonCode.CHIP_CLONED),
    ({"chip_read": False, "chip_error": "BAC refused"}, ReasonCode.CHIP_READ_FAILED),
    ({"mrz_matches_dg1": False}, ReasonCode.MRZ_MISMATCH),
    ({"face_acquired": False, "face_score": None}, ReasonCode.FAILURE_TO_ACQUIRE),
    ({"liveness_passed": False}, ReasonCode.LIVENESS_FAILED),
    ({"face_score": 0.3}, ReasonCode.FACE_MISMATCH),
    ({"finger_enrolled": True, "finger_score": 10.0, "finger_threshold": 40.0}, ReasonCode.FINGERPRINT_MISMATCH),
    ({"finger_enrolled": True}, ReasonCode.FINGERPRINT_MISMATCH),
    ({"watchlist_hits": ("document number on SLTD list",)}, ReasonCode.WATCHLIST_HIT),
    ({"watchlist_age_s": 7 * 3600.0}, ReasonCode.WATCHLIST_STALE),
    ({"watchlist_age_s": None}, ReasonCode.WATCHLIST_STALE),
    ({"persons_in_lane": 2}, ReasonCode.TAILGATING),
    ({"document_type": "AC"}, ReasonCode.NOT_ELIGIBLE),
    ({"timed_out_step": "chip"}, ReasonCode.TIMEOUT),
])
def test_each_rule_refers_with_its_reason(changes, reason):
    d = decide(good(**changes))
    assert d.outcome is Outcome.REFER
    assert reason in d.reasons
    assert str(reason) in d.explain()


def test_expiry_day_itself_is_still_valid_and_birthday_counts():
    assert decide(good(date_of_expiry=TODAY)).outcome is Outcome.OPEN
    eighteen_today = dt.date(TODAY.year - 18, TODAY.month, TODAY.day)
    assert decide(good(date_of_birth=eighteen_today)).outcome is Outcome.OPEN
    assert ReasonCode.MINOR in decide(good(date_of_birth=eighteen_today + dt.timedelta(days=1))).reasons


def test_rules_are_configurable():
    cfg = PolicyConfig(disabled_rules=frozenset({"minor"}), max_watchlist_age_s=10 * 3600)
    assert decide(good(date_of_birth=dt.date(2012, 5, 5), watchlist_age_s=8 * 3600.0), cfg).outcome is Outcome.OPEN
    with pytest.raises(ValueError, match="unknown rules"):
        decide(good(), PolicyConfig(disabled_rules=frozenset({"no_such_rule"})))


def test_several_reasons_all_listed():
    d = decide(good(date_of_expiry=dt.date(2020, 1, 1), face_score=0.1, persons_in_lane=3))
    assert set(d.reasons) == {ReasonCode.DOCUMENT_EXPIRED, ReasonCode.FACE_MISMATCH, ReasonCode.TAILGATING}
    assert d.to_dict()["outcome"] == "refer"


def test_fingerprint_check_unavailable_offline_is_a_configured_choice():
    offline = good(finger_unavailable=True)
    assert decide(offline).outcome is Outcome.OPEN  # offline first: chip and face decide
    strict = PolicyConfig(refer_when_fingerprint_unavailable=True)
    d = decide(offline, strict)
    assert d.reasons == (ReasonCode.FINGERPRINT_UNAVAILABLE,) and "unreachable" in d.explain()
    assert decide(good(), strict).outcome is Outcome.OPEN


def test_every_gate_reason_code_is_accepted_by_the_back_office():
    from backoffice.schemas import ReasonCode as BackofficeReason

    assert {str(r) for r in ReasonCode} <= {str(r) for r in BackofficeReason}
