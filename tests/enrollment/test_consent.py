"""Consent before the chip: until the traveller consents the kiosk holds the printed MRZ only, the chip
reader is not asked for anything (no APDU, not even a wait for the card), and declining, abandoning or
timing out leaves nothing; after consent the chip step runs the same fail-closed checks as before."""

import pytest

from enrollment import InvalidTransition, Outcome, Policy, Step
from tests.enrollment.conftest import FRAME, make_rig, slap, td3


def test_the_reader_is_not_touched_before_consent(tmp_path):
    rig = make_rig(tmp_path)
    wf = rig.workflow
    wf.start("en")
    assert wf.read_document().ok and wf.step is Step.CONSENT
    session = wf.session
    assert session.printed_mrz is not None and session.printed_mrz.document_number == "C1234567"
    assert session.document is None and not session.has_biometrics
    assert rig.spy.calls == [] and rig.spy.transmitted == 0  # no APDU, no wait for the card
    with pytest.raises(InvalidTransition):  # the chip cannot be read before consent
        wf.read_chip()
    assert rig.spy.calls == []
    wf.consent(True, text_version="notice-abc")
    assert wf.step is Step.CHIP and rig.spy.calls == []  # consent alone reads nothing either
    assert wf.read_chip().ok and wf.step is Step.FACE
    assert rig.spy.calls[0] == "wait_for_card" and rig.spy.transmitted > 0
    assert session.printed_mrz is None  # the record is the chip's DG1 from now on
    assert session.document.chip_face and session.document.mrz.document_number == "C1234567"
    assert session.consent_text_version == "notice-abc"


def test_declining_leaves_the_reader_untouched_and_the_session_wiped(tmp_path):
    rig = make_rig(tmp_path)
    wf = rig.workflow
    wf.start("vi")
    wf.read_document()
    session = wf.session
    wf.consent(False)
    assert wf.step is Step.ABANDONED and wf.outcome is Outcome.ABANDONED and wf.reason_code == "consent_refused"
    assert wf.session is None and session.printed_mrz is None and session.document is None
    assert rig.spy.calls == [] and rig.reader.apdu_count == 0
    assert rig.outbox.pending_count("enrolment") == 0
    [event] = [i.payload for i in rig.outbox.pending("event")]  # an outcome, no personal data
    assert set(event) == {"occurred_at", "kind", "outcome", "reason_codes", "duration_ms"}
    assert event["outcome"] == "aborted"


@pytest.mark.parametrize("how", ["abandon", "idle", "consent step time-out"])
def test_walking_away_at_the_consent_screen_wipes_the_mrz(tmp_path, how):
    rig = make_rig(tmp_path, policy=Policy(card_timeout_s=0.05, idle_timeout_s=60,
                                           step_timeout_s={"consent": 30.0}))
    wf = rig.workflow
    wf.start("zh")
    wf.read_document()
    session = wf.session
    if how == "abandon":
        wf.abandon()
    elif how == "idle":
        rig.clock.t += 61
        assert wf.tick() is Outcome.TIMED_OUT
    else:
        rig.clock.t += 20
        wf.touch()
        rig.clock.t += 11
        assert wf.tick() is Outcome.TIMED_OUT
    assert wf.session is None and session.printed_mrz is None
    assert rig.spy.calls == []


@pytest.mark.parametrize(("faults", "reason"), [
    (("tampered_dg",), "chip_pa_failed"),
    (("clone_aa",), "chip_aa_failed|chip_cloned"),
    (("no_dg2",), "chip_pa_failed"),
])
def test_the_chip_step_refuses_as_the_document_step_did(tmp_path, faults, reason):
    rig = make_rig(tmp_path, mrz=td3(number="C4444444"), faults=faults)
    wf = rig.workflow
    wf.start("en")
    assert wf.read_document().ok  # the printed page is fine
    wf.consent(True)
    fb = wf.read_chip()
    assert not fb.ok and wf.step is Step.REFERRED and wf.reason_code in reason.split("|")
    assert fb.message == f"document.{wf.reason_code}" and wf.session is None


def test_the_printed_mrz_must_equal_the_chips_dg1(tmp_path):
    """Names carry no check digit: a page whose names differ from DG1 opens the chip (same key) but is refused."""
    rig = make_rig(tmp_path)
    rig.mrz.place(td3(surname="TRAN"))  # same number, birth and expiry: the same access key
    wf = rig.workflow
    wf.start("en")
    assert wf.read_document().ok
    wf.consent(True)
    wf.read_chip()
    assert wf.step is Step.REFERRED and wf.reason_code == "mrz_mismatch"


def test_the_consent_text_version_shown_is_the_one_recorded(tmp_path):
    rig = make_rig(tmp_path)
    wf = rig.workflow
    wf.start("en")
    wf.read_document()
    wf.consent(True, text_version="2026-11-0123abcd")
    wf.read_chip()
    for _ in range(10):
        if wf.step is not Step.FACE:
            break
        wf.process_frame(FRAME)
    while wf.step is Step.FINGERPRINTS:
        wf.capture_fingers(slap())
    assert wf.record()["consent"]["text_version"] == "2026-11-0123abcd"
