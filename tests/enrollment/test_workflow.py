"""The enrolment state machine: happy path, consent before the chip, abandonment, time-outs, quality retries,
reader errors."""

import base64
import threading

import pytest

from enrollment import FLAT_PLAN, SLAP_PLAN, InvalidTransition, Outcome, Policy, Step
from tests.enrollment.conftest import FRAME, Capture, Script, client_for, make_rig, slap, td3


def _to_consent(rig, lang="vi"):
    wf = rig.workflow
    wf.start(lang)
    fb = wf.read_document()
    assert fb.ok and fb.message == "document.read_ok", fb
    assert wf.step is Step.CONSENT


def _to_face(rig, lang="vi"):
    _to_consent(rig, lang)
    wf = rig.workflow
    wf.consent(True)
    assert wf.step is Step.CHIP
    fb = wf.read_chip()
    assert fb.ok and fb.message == "chip.read_ok", fb
    assert wf.step is Step.FACE


def _capture_face(rig, frames=10):
    wf = rig.workflow
    for _ in range(frames):
        fb = wf.process_frame(FRAME)
        if fb.done or wf.step is not Step.FACE:
            return fb
    return fb


def _to_review(rig):
    _to_face(rig)
    assert _capture_face(rig).done
    wf = rig.workflow
    while wf.step is Step.FINGERPRINTS:
        wf.capture_fingers(slap())
    assert wf.step is Step.REVIEW


def test_happy_path_enrols_and_leaves_nothing_biometric(tmp_path, backoffice):
    steps = []
    rig = make_rig(tmp_path, client_for(backoffice))
    rig.workflow.on_change = steps.append
    _to_review(rig)
    record = rig.workflow.record()
    assert record["document"]["document_number"] == "C1234567"
    assert base64.b64decode(record["face_template"]) == rig.script.template  # the engine's whole template
    assert [f["position"] for f in record["finger_templates"]] == [2, 3, 4, 5, 7, 8, 9, 10]
    assert record["consent"]["given"] and record["consent"]["language"] == "vi"
    session = rig.workflow.session
    assert rig.workflow.confirm() is Outcome.ACCEPTED
    assert rig.workflow.answer.status == "accepted" and rig.workflow.step is Step.DONE
    assert steps == [Step.DOCUMENT, Step.CONSENT, Step.CHIP, Step.FACE, Step.FINGERPRINTS, Step.REVIEW, Step.SUBMITTING,
                     Step.DONE]
    # nothing biometric stays: no session, wiped arrays, empty outbox (the delivered item is shredded)
    assert rig.workflow.session is None and not session.has_biometrics
    assert rig.outbox.pending_count("enrolment") == 0
    rows = backoffice[2].state.ctx.store.query("SELECT status FROM enrolments")
    assert [r["status"] for r in rows] == ["accepted"]
    # the session's outcome waits as an event without personal data, delivered by the next flush
    [item] = rig.outbox.pending("event")
    event = item.payload
    assert set(event) == {"occurred_at", "kind", "outcome", "reason_codes", "duration_ms"} and event["outcome"] == "ok"
    assert rig.workflow.flush().count("event") == 1 and rig.outbox.pending_count() == 0


def test_abandonment_and_refused_consent_wipe_the_session(tmp_path):
    rig = make_rig(tmp_path)
    _to_face(rig)
    rig.workflow.process_frame(FRAME)
    session = rig.workflow.session
    rig.workflow.abandon()
    assert rig.workflow.step is Step.ABANDONED and rig.workflow.outcome is Outcome.ABANDONED
    assert rig.workflow.session is None and session.document is None and not session.has_biometrics
    with pytest.raises(InvalidTransition):
        rig.workflow.process_frame(FRAME)
    rig.reader.present(rig.document)
    rig.workflow.start("zh")
    rig.workflow.read_document()
    session = rig.workflow.session
    rig.workflow.consent(False)
    assert rig.workflow.outcome is Outcome.ABANDONED and rig.workflow.reason_code == "consent_refused"
    assert session.printed_mrz is None and session.document is None
    assert rig.outbox.pending_count("enrolment") == 0
    events = [i.payload for i in rig.outbox.pending("event")]
    assert [(e["outcome"], e["reason_codes"]) for e in events] == [("aborted", []), ("aborted", [])]


def test_idle_timeout_wipes_the_session(tmp_path):
    rig = make_rig(tmp_path, policy=Policy(idle_timeout_s=30, card_timeout_s=0.05))
    _to_face(rig)
    rig.script.face = [False]  # nobody in front of a camera that sees no face either
    rig.clock.t += 20
    assert rig.workflow.tick() is None and rig.workflow.idle_left() == 10
    rig.workflow.touch()
    rig.clock.t += 25
    assert rig.workflow.tick() is None  # the touch reset the idle timer
    rig.clock.t += 31
    assert rig.workflow.tick() is Outcome.TIMED_OUT
    assert rig.workflow.step is Step.ABANDONED and rig.workflow.session is None


def test_face_step_timeouts_count_as_attempts_then_refer(tmp_path):
    rig = make_rig(tmp_path, script=Script(face=[False]),
                   policy=Policy(idle_timeout_s=1000, card_timeout_s=0.05, max_face_attempts=2,
                                 step_timeout_s={"face": 10.0}))
    _to_face(rig)
    for attempt in range(2):
        if attempt:
            # the attempt that timed out between two frames is told with the next frame, once
            fb = rig.workflow.process_frame(FRAME)
            assert fb.phase == "retry" and fb.messages == ("face.retry",) and fb.attempts_left == 1
        fb = rig.workflow.process_frame(FRAME)
        assert fb.phase == "quality" and fb.messages == ("face.move_closer",)
        rig.clock.t += 11
        rig.workflow.tick()
    assert rig.workflow.step is Step.REFERRED and rig.workflow.reason_code == "failure_to_acquire"
    with pytest.raises(InvalidTransition):  # no retry left over for a step that has ended
        rig.workflow.process_frame(FRAME)


def test_face_quality_retries_and_liveness(tmp_path):
    script = Script(face=[False, False, True, True, True, True], liveness=[None, None, False, None, True])
    rig = make_rig(tmp_path, script=script)
    _to_face(rig)
    phases = []
    while rig.workflow.step is Step.FACE and len(phases) < 12:
        phases.append(rig.workflow.process_frame(FRAME))
    names = [p.phase for p in phases]
    assert names[:2] == ["quality", "quality"]
    assert "retry" in names and phases[names.index("retry")].messages[0] == "face.liveness_failed"
    assert "liveness" in names and names[-1] == "captured" and rig.workflow.step is Step.FINGERPRINTS
    assert rig.workflow.session.attempts["face"] == 1 and rig.workflow.session.liveness_passed
    assert bytes(rig.workflow.session.face_template) == rig.script.template


def test_face_template_failure_is_a_failed_attempt(tmp_path):
    rig = make_rig(tmp_path, policy=Policy(card_timeout_s=0.05, max_face_attempts=1))

    def broken(_img):
        raise ValueError("no face")

    rig.workflow.engines.face_template = broken
    _to_face(rig)
    fb = _capture_face(rig)
    assert fb.phase == "referred" and rig.workflow.reason_code == "failure_to_acquire"


def _until_outcome(rig, frames=10):
    """Frames until the attempt ends: retry, referred or captured."""
    for _ in range(frames):
        fb = rig.workflow.process_frame(FRAME)
        if fb.phase in ("retry", "referred", "captured"):
            return fb
    return fb


def test_a_face_that_does_not_match_the_chip_photo_is_retried_then_referred(tmp_path):
    """A look-alike holding another's passport: the live face is compared 1:1 with the chip's photo."""
    rig = make_rig(tmp_path, script=Script(chip_match=[False]), policy=Policy(card_timeout_s=0.05, max_face_attempts=2))
    _to_face(rig)
    fb = _until_outcome(rig)
    assert fb.phase == "retry" and rig.workflow.last_failure.startswith("face_mismatch:score 0.100")
    fb = _until_outcome(rig)
    assert fb.phase == "referred" and rig.workflow.reason_code == "face_mismatch"
    assert rig.workflow.session is None or rig.workflow.session.face_template is None  # nothing kept


def test_a_missing_chip_photo_is_referred_with_its_reason(tmp_path):
    rig = make_rig(tmp_path, policy=Policy(card_timeout_s=0.05, max_face_attempts=2))
    _to_face(rig)
    document = rig.workflow.session.document
    document.chip_face, document.chip_photo_error = None, "DG2: no face"
    fb = _until_outcome(rig)
    assert fb.phase == "retry" and rig.workflow.last_failure == "face_mismatch:no chip photo (DG2: no face)"


def test_a_pass_of_the_liveness_challenge_is_not_carried_over_a_failed_attempt(tmp_path):
    script = Script(liveness=[True, None, None, True], chip_match=[False, True])
    rig = make_rig(tmp_path, script=script)
    _to_face(rig)
    first = _until_outcome(rig)
    assert first.phase == "retry" and not rig.workflow.session.liveness_passed
    phases = []
    while rig.workflow.step is Step.FACE and len(phases) < 6:
        phases.append(rig.workflow.process_frame(FRAME).phase)
    assert phases[:2] == ["liveness", "liveness"] and phases[-1] == "captured"  # challenged again, then captured
    assert rig.workflow.step is Step.FINGERPRINTS


def test_without_a_face_matcher_the_kiosk_refers_unless_relaxed(tmp_path):
    rig = make_rig(tmp_path, policy=Policy(card_timeout_s=0.05, max_face_attempts=1))
    rig.workflow.engines.face_verify = None
    _to_face(rig)
    assert _capture_face(rig).phase == "referred" and rig.workflow.reason_code == "face_mismatch"
    relaxed = make_rig(tmp_path / "relaxed", policy=Policy(card_timeout_s=0.05, require_chip_face_match=False))
    relaxed.workflow.engines.face_verify = None
    _to_face(relaxed)
    assert _capture_face(relaxed).done


def test_finger_retries_keep_the_best_and_skip_unreadable(tmp_path):
    # first slap: all four fail; then pass; left slap fails three times -> skipped
    script = Script(finger=[False] * 4 + [True] * 4 + [False])
    rig = make_rig(tmp_path, script=script, policy=Policy(card_timeout_s=0.05, max_finger_attempts=3, min_fingers=2))
    _to_face(rig)
    _capture_face(rig)
    fb = rig.workflow.capture_fingers(slap())
    assert not fb.task_done and fb.messages == ("finger.low_contrast",) and fb.attempts_left == 2
    fb = rig.workflow.capture_fingers(slap())
    assert fb.task_done and not fb.all_done and fb.messages == ("finger.ok",)
    for _ in range(3):
        fb = rig.workflow.capture_fingers(slap())
    assert fb.all_done and fb.messages[0] == "finger.skipped"
    s = rig.workflow.session
    assert sorted(s.fingers) == [2, 3, 4, 5] and s.missing_fingers == [7, 8, 9, 10]
    assert rig.workflow.step is Step.REVIEW


def test_too_few_fingers_refers(tmp_path):
    rig = make_rig(tmp_path, script=Script(finger=[False]),
                   policy=Policy(card_timeout_s=0.05, finger_plan=FLAT_PLAN[:2], max_finger_attempts=1, min_fingers=1))
    _to_face(rig)
    _capture_face(rig)
    rig.workflow.capture_fingers(Capture(FRAME[..., 0], kind="flat"))
    fb = rig.workflow.capture_fingers(Capture(FRAME[..., 0], kind="flat"))
    assert fb.messages == ("finger.referred",) and rig.workflow.reason_code == "failure_to_acquire"


def test_slap_segmentation_failure_asks_again(tmp_path):
    rig = make_rig(tmp_path, policy=Policy(card_timeout_s=0.05, finger_plan=SLAP_PLAN[:1]))
    rig.workflow.engines.segment_slap = lambda img, dpi, hand: []
    _to_face(rig)
    _capture_face(rig)
    fb = rig.workflow.capture_fingers(slap())
    assert fb.messages == ("finger.place_all_fingers",) and fb.attempts_left == 2


def test_reader_errors_are_retried_then_referred(tmp_path):
    rig = make_rig(tmp_path, present=False, policy=Policy(card_timeout_s=0.05, max_chip_attempts=3))
    wf = rig.workflow
    _to_consent(rig, "en")  # the printed MRZ needs no card on the reader
    wf.consent(True)
    fb = wf.read_chip()
    assert not fb.ok and fb.message == "document.no_card" and fb.attempts_left == 2 and wf.step is Step.CHIP
    rig.reader.present(rig.document)
    rig.reader.remove_after(4)
    fb = wf.read_chip()
    assert fb.message == "document.card_removed" and fb.attempts_left == 1
    rig.reader.present(rig.document)
    rig.reader.fail_after(0)
    fb = wf.read_chip()
    assert fb.message == "document.reader_fault" and fb.attempts_left == 0
    assert wf.step is Step.REFERRED and wf.reason_code == "hardware_fault" and wf.session is None


def test_unreadable_mrz_and_recovery(tmp_path):
    rig = make_rig(tmp_path)
    rig.mrz.place(None)
    rig.workflow.start("vi")
    fb = rig.workflow.read_document()
    assert fb.message == "document.mrz_unreadable" and fb.attempts_left == 2
    rig.mrz.place(rig.document.mrz)
    assert rig.workflow.read_document().ok and rig.workflow.step is Step.CONSENT
    assert rig.spy.calls == []  # the document step reads the page, never the chip


def test_a_bad_mrz_is_refused_at_the_document_step_without_touching_the_chip(tmp_path):
    rig = make_rig(tmp_path)
    good = rig.document.mrz
    rig.mrz.place(good[:44] + good[44:53] + str((int(good[53]) + 1) % 10) + good[54:])  # wrong check digit
    wf = rig.workflow
    wf.start("en")
    for left in (2, 1, 0):
        fb = wf.read_document()
        assert (fb.ok, fb.message, fb.attempts_left) == (False, "document.mrz_unreadable", left)
    assert wf.step is Step.REFERRED and wf.reason_code == "document_unreadable"
    assert rig.spy.calls == []


def test_the_document_step_waits_for_the_page(tmp_path):
    """Nothing on the page scanner yet: the step waits (up to card_timeout_s) for a document, as it waited for
    the card before; it does not spend an attempt on an empty scanner."""
    rig = make_rig(tmp_path, policy=Policy(card_timeout_s=5.0))
    rig.mrz.place(None)
    threading.Timer(0.3, rig.mrz.place, [rig.document.mrz]).start()
    rig.workflow.start("vi")
    fb = rig.workflow.read_document()
    assert fb.ok and rig.workflow.session.attempts["document"] == 0 and rig.spy.calls == []


def test_expired_document_is_referred(tmp_path):
    import datetime as dt

    rig = make_rig(tmp_path, mrz=td3(number="C5555555", expiry=dt.date.today() - dt.timedelta(days=3)))
    rig.workflow.start("vi")
    fb = rig.workflow.read_document()
    assert fb.message == "document.document_expired"
    assert rig.workflow.step is Step.REFERRED and rig.workflow.reason_code == "document_expired"
    assert rig.spy.calls == []  # refused on the printed page: no consent asked, no chip read


def test_retake_from_review(tmp_path):
    rig = make_rig(tmp_path)
    _to_review(rig)
    rig.workflow.retake(Step.FINGERPRINTS)
    assert rig.workflow.step is Step.FINGERPRINTS and rig.workflow.session.fingers == {}
    while rig.workflow.step is Step.FINGERPRINTS:
        rig.workflow.capture_fingers(slap())
    rig.workflow.retake(Step.FACE)
    assert rig.workflow.session.face_template is None
    assert _capture_face(rig).done
    with pytest.raises(InvalidTransition):
        rig.workflow.retake(Step.CONSENT)


def test_headless_enrolment_runs_to_the_end(tmp_path, backoffice):
    from enrollment import enrol_headless

    class Cam:
        def frames(self):
            while True:
                yield FRAME

    class Scanner:
        def capture(self):
            return slap()

    rig = make_rig(tmp_path, client_for(backoffice))
    result = enrol_headless(rig.workflow, Cam(), Scanner(), language="en")
    assert result.outcome is Outcome.ACCEPTED and result.backoffice_status == "accepted"
    assert result.steps[-1] == "done" and result.captures == 2 and rig.outbox.pending_count("enrolment") == 0
    rig.reader.remove()
    result = enrol_headless(rig.workflow, Cam(), Scanner())  # no passport on the reader
    assert result.outcome is Outcome.REFERRED and result.reason_code == "chip_read_failed"
