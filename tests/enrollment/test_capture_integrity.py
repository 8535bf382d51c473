"""What the enrolment keeps is what the checks saw: the photo only from frames after the liveness challenges, a
capture only of the kind the finger task asks for; and the time limits a slow but active traveller needs (each
finger task its own time), with the idle pause during consent only where the consent step has a limit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from enrollment import FLAT_PLAN, SLAP_PLAN, CaptureKindMismatch, Outcome, Policy, Step
from tests.enrollment.conftest import Capture, Script, make_rig, slap
from tests.enrollment.test_workflow import _to_face


def _frame(value: int) -> np.ndarray:
    return np.full((120, 120, 3), value, np.uint8)


def test_the_photo_is_taken_only_after_the_liveness_challenges(tmp_path):
    # a good frame (a printed photo of the holder, say) while the challenges run, then the live face passes them
    rig = make_rig(tmp_path, script=Script(face=[True], liveness=[None, None, None, True]))
    _to_face(rig)
    wf = rig.workflow
    quality = wf.engines.face_quality

    def sharper_photo(img):  # the frame shown during the challenges scores best of all
        check = quality(img)
        return dataclasses.replace(check, measures={"score": 99.0 if int(img.min()) == 10 else 80.0})

    wf.engines = dataclasses.replace(wf.engines, face_quality=sharper_photo)
    before = [wf.process_frame(_frame(10)) for _ in range(3)]
    assert [fb.phase for fb in before] == ["liveness"] * 3
    fb = None
    while wf.step is Step.FACE:
        fb = wf.process_frame(_frame(200))
    assert fb.phase == "captured" and wf.session.liveness_passed
    # the photo kept is a frame seen once the challenges were passed, never one from before
    assert int(wf.session.face_image.min()) == 200


def test_a_capture_of_another_kind_than_the_task_is_refused(tmp_path):
    rig = make_rig(tmp_path, policy=Policy(card_timeout_s=0.05, finger_plan=FLAT_PLAN))
    wf = _to_fingers(rig)
    with pytest.raises(CaptureKindMismatch):
        wf.capture_fingers(slap())  # a four-finger slap for a one-finger task
    assert wf.session.fingers == {} and wf.session.attempts["fingerprints"] == 0
    rig2 = make_rig(tmp_path / "slap", policy=Policy(card_timeout_s=0.05, finger_plan=SLAP_PLAN))
    wf2 = _to_fingers(rig2)
    with pytest.raises(CaptureKindMismatch):
        wf2.capture_fingers(Capture(np.full((200, 200), 200, np.uint8), kind="flat"))
    fb = wf.capture_fingers(Capture(np.full((200, 200), 200, np.uint8), kind="flat"))
    assert fb.scores and wf.session.fingers  # the right kind goes through


def _to_fingers(rig):
    _to_face(rig)
    wf = rig.workflow
    while wf.step is Step.FACE:
        wf.process_frame(_frame(128))
    assert wf.step is Step.FINGERPRINTS
    return wf


def test_each_finger_task_has_the_steps_whole_time(tmp_path):
    policy = Policy(card_timeout_s=0.05, finger_plan=FLAT_PLAN, idle_timeout_s=10_000,
                    step_timeout_s={"fingerprints": 60.0, "face": 40.0})
    rig = make_rig(tmp_path, policy=policy)
    wf = _to_fingers(rig)
    for _ in FLAT_PLAN[:-1]:
        rig.clock.t += 50  # a slow traveller: 50 s a finger, 200 s for the four
        assert wf.tick() is None
        wf.capture_fingers(Capture(np.full((200, 200), 200, np.uint8), kind="flat"))
        assert wf.step is Step.FINGERPRINTS
    rig.clock.t += 61  # but one task left untouched past the step's time still ends the session
    assert wf.tick() is Outcome.TIMED_OUT


def test_the_idle_pause_during_consent_needs_a_consent_time_limit(tmp_path):
    rig = make_rig(tmp_path, policy=Policy(card_timeout_s=0.05, idle_timeout_s=30,
                                           step_timeout_s={"face": 40.0, "fingerprints": 60.0}))
    wf = rig.workflow
    wf.start("en")
    assert wf.read_document().ok and wf.step is Step.CONSENT
    assert wf.idle_left() == 30  # no consent limit: the idle time-out is not paused, nothing is held for ever
    rig.clock.t += 31
    assert wf.tick() is Outcome.TIMED_OUT and wf.session is None
