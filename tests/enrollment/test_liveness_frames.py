"""Liveness sees every camera frame (``process_frame(..., skipped=...)``) with its capture time, and the face
feedback carries the liveness challenge's countdown when the engine has one (issue #20 item 5)."""

from __future__ import annotations

import numpy as np

from enrollment import Step
from tests.enrollment.conftest import FRAME, Script, make_rig


def _to_face(rig):
    wf = rig.workflow
    wf.start("en")
    assert wf.read_document().ok
    wf.consent(True)
    assert wf.read_chip().ok and wf.step is Step.FACE


class _Recorder:
    """A liveness double: records what it observed; passes on the frame whose first pixel is 7."""

    challenge = "liveness.blink"

    def __init__(self, countdown: bool) -> None:
        self.seen: list[tuple[int, float | None]] = []
        if countdown:
            self.time_left_s, self.timeout_s = 4.5, 6.0

    def observe(self, frame, t=None):
        self.seen.append((int(frame[0, 0, 0]), t))
        return True if frame[0, 0, 0] == 7 else None


def _rig(tmp_path, countdown=True):
    rig = make_rig(tmp_path, script=Script(liveness=[None]))
    made: list[_Recorder] = []
    rig.workflow.engines.liveness = lambda: made.append(_Recorder(countdown)) or made[-1]
    _to_face(rig)
    return rig, made


def _frame(value: int) -> np.ndarray:
    f = np.array(FRAME, copy=True)
    f[0, 0, 0] = value
    return f


def test_liveness_observes_the_skipped_frames_in_order_with_their_times(tmp_path):
    rig, made = _rig(tmp_path)
    fb = rig.workflow.process_frame(_frame(3), 0.3, skipped=[(_frame(1), 0.1), (_frame(2), 0.2)])
    assert made[0].seen == [(1, 0.1), (2, 0.2), (3, 0.3)]
    assert fb.challenge == "liveness.blink" and not rig.workflow.session.liveness_passed
    # the countdown of the engine's own deadline reaches the screen
    assert (fb.time_left_s, fb.timeout_s) == (4.5, 6.0)


def test_a_verdict_in_a_skipped_frame_counts(tmp_path):
    rig, made = _rig(tmp_path)
    fb = rig.workflow.process_frame(_frame(9), 0.3, skipped=[(_frame(7), 0.1), (_frame(8), 0.2)])
    assert made[0].seen == [(7, 0.1)]  # decided: the rest is not needed
    assert rig.workflow.session.liveness_passed and fb.challenge is None and fb.time_left_s is None


def test_an_engine_without_a_countdown_still_works(tmp_path):
    rig, made = _rig(tmp_path, countdown=False)  # kiosk.testing's doubles and older engines have none
    fb = rig.workflow.process_frame(_frame(1), None)
    assert made[0].seen == [(1, None)]
    assert fb.challenge == "liveness.blink" and fb.time_left_s is None and fb.timeout_s is None


def test_the_screen_reports_when_it_showed_a_challenge(tmp_path):
    rig, made = _rig(tmp_path)
    rig.workflow.challenge_shown("liveness.blink", 1.0)  # no liveness session yet: nothing to tell
    rig.workflow.process_frame(_frame(1), 0.1)
    made[0].shown_calls = []
    made[0].shown = lambda key, t: made[0].shown_calls.append((key, t))
    rig.workflow.challenge_shown("liveness.blink", 0.4)
    assert made[0].shown_calls == [("liveness.blink", 0.4)]
    # an engine that cannot take it (kiosk.testing's doubles) is left alone
    del made[0].shown
    rig.workflow.challenge_shown("liveness.blink", 0.5)
