"""The face is captured while the chip is read (issue #23 done-when): the capture runs on the workflow's own
thread, is joined before the decision, both results must be present for an open, a chip failure stops
the capture, a camera failure refers with its reason, and nothing leaks threads. Through the composition
(``build_gate``) on simulated devices."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from emrtd.sim import IssuerPki
from gate import ChipOutcome, FaceCapture, FaceStep, StepTimeouts
from tests.gate.test_gate_emrtd import Q
from tests.gate.test_liveness_policy import Cam, Script, lane


@pytest.fixture(scope="module")
def pki():
    return IssuerPki.make("VN")


class SlowCam(Cam):
    """A camera at 100 fps that never runs out; ``fail_at`` raises a device error at that frame."""

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__()
        self.fail_at = fail_at
        self.first = threading.Event()

    def frames(self):
        while True:
            time.sleep(0.01)
            self.served += 1
            self.first.set()
            if self.fail_at is not None and self.served >= self.fail_at:
                raise OSError("camera unplugged")
            yield np.full((120, 100, 3), 200, np.uint8)


def capture_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("gate-capture")]


def gone(threads, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    return threads() == []


def test_the_face_is_captured_while_the_chip_is_read(pki):
    cam = SlowCam()
    gate, _ = lane(pki, Script(passive="live"), camera=cam)
    chip_step = gate.workflow.steps.chip
    during = {}

    def chip(p):
        during["camera_started"] = cam.first.wait(5)  # a sequential gate would never start the camera here
        out = chip_step(p)
        during["frames"] = cam.served
        return out

    gate.workflow.steps.chip = chip
    try:
        r = gate.workflow.process()
    finally:
        gate.close()
    assert r.opened, r.decision.explain()
    assert during["camera_started"] and during["frames"] >= 1
    assert {"chip", "face_capture", "face_wait", "face"} <= set(r.timings_ms)


@pytest.mark.parametrize("failure", ["unreadable", "raises", "no_photo"])
def test_a_chip_failure_while_the_face_is_captured_refers_and_stops_the_capture(pki, failure):
    cam = SlowCam()
    gate, _ = lane(pki, Script(passive="doubt"), camera=cam)  # doubt: the capture would go on to a challenge

    def chip(p):
        cam.first.wait(5)
        time.sleep(0.05)
        if failure == "raises":
            raise RuntimeError("reader fault")
        if failure == "no_photo":
            return ChipOutcome(read=True, dg2_error="DG2 not served by the chip")
        return ChipOutcome(read=False, error="AccessControlError: BAC failed")

    gate.workflow.steps.chip = chip
    earlier = set(capture_threads())
    try:
        r = gate.workflow.process()
        served = cam.served
        time.sleep(0.2)
        assert cam.served <= served + 1  # the capture stopped at its next frame, it does not go on in the background
    finally:
        gate.close()
    assert not r.opened
    reasons = [str(x) for x in r.decision.reasons]
    expected = {"unreadable": "chip_read_failed", "raises": "hardware_fault", "no_photo": "evidence_missing"}[failure]
    assert expected in reasons, r.decision.explain()
    assert r.decision.status("face_match").value == "missing"
    assert gone(lambda: list(set(capture_threads()) - earlier))


def test_a_camera_failure_while_the_chip_is_read_refers_with_its_reason(pki, caplog):
    cam = SlowCam(fail_at=3)
    gate, _ = lane(pki, Script(passive="live"), camera=cam)
    try:
        r = gate.workflow.process()
    finally:
        gate.close()
    assert not r.opened
    assert [str(x) for x in r.decision.reasons] == ["hardware_fault"]
    finding = r.decision.findings[0]
    assert finding.detail == "step face failed (device or engine fault)"
    assert "face failed: OSError" in caplog.text  # the device's error, named in the log
    assert r.decision.status("chip_read").value == "passed"  # the chip's evidence was kept


def test_both_results_must_be_present_for_an_open(pki):
    """A chip read that ends before the capture does waits for it; a capture that never ends times out."""

    class Stuck(Cam):
        def frames(self):
            yield np.full((120, 100, 3), 200, np.uint8)
            time.sleep(1.5)  # the camera hangs (no frame) past the face time-out
            while True:
                yield np.full((120, 100, 3), 200, np.uint8)

    gate, _ = lane(pki, Script(passive="live"), camera=Stuck())
    gate.workflow.timeouts = StepTimeouts(chip=20, face=0.5)
    gate.workflow.capture_stop_grace_s = 0.1
    try:
        r = gate.workflow.process()
    finally:
        gate.close()
    assert not r.opened and [str(x) for x in r.decision.reasons] == ["timeout"]
    assert r.decision.findings[0].detail == "step face timed out"


def test_nothing_leaks_threads(pki):
    gate, _ = lane(pki, Script(passive="live"), number="C7000010")
    counts, earlier = [], set(capture_threads())  # other tests' gates may still be winding down
    try:
        for _ in range(4):  # the same document, left on the reader, served again
            r = gate.workflow.process()
            assert r.opened, r.decision.explain()
            counts.append(threading.active_count())
            assert len(set(capture_threads()) - earlier) <= 1  # one capture thread serves every traveller
    finally:
        gate.close()
    assert counts[-1] <= counts[0], counts  # no thread left behind by a transaction
    assert gone(lambda: list(set(capture_threads()) - earlier))  # closed with the gate


# -- the capture stops once the decision is certain; near the threshold it takes more ---------------------------
class Templates:
    """An engine with per-frame templates whose fused score depends on how many frames were fused."""

    def __init__(self, scores: dict[int, float], threshold: float = 0.9) -> None:
        self.scores, self.threshold, self.fused = scores, threshold, []

    def engine(self):
        from types import SimpleNamespace

        from gate import FaceEngine

        def match(ref, templates):
            self.fused.append(len(templates))
            return SimpleNamespace(score=self.scores.get(len(templates), self.scores[max(self.scores)]),
                                   threshold=self.threshold)

        return FaceEngine(quality=lambda f: Q(), verify=None, reference=lambda img: "ref",
                          probe=lambda frame, face, check_others=True: "t", match=match)


def chip_photo() -> ChipOutcome:
    from tests.gate.test_gate_emrtd import photo_png

    return ChipOutcome(read=True, dg2_image=photo_png())


@pytest.mark.parametrize(("scores", "fused", "frames"), [
    ({3: 0.99}, [3], 3),  # well above the threshold: certain with the first three good frames
    ({3: 0.91, 6: 0.95}, [3, 6], 6),  # within the margin: three more good frames, fused with the first
    ({3: 0.88, 6: 0.86}, [3, 6], 6),  # just below: three more, still below
    ({3: 0.5}, [3], 3),  # far below: certain too
])
def test_capture_stops_when_certain_and_takes_more_frames_near_the_threshold(scores, fused, frames):
    t = Templates(scores)
    cam = Cam()
    step = FaceStep(cam, t.engine(), liveness="off", extra_frames=3)
    cap = step.capture(threading.Event())
    assert isinstance(cap, FaceCapture) and cam.served == 3
    out = step.finish(chip_photo(), cap)
    assert t.fused == fused and cam.served == frames
    assert out.acquired and out.score == scores[max(fused)] and out.extra_frames == frames - 3
    assert out.frames_captured == 3 and out.liveness_path == "off"


@pytest.mark.parametrize(("band", "fused"), [(0.0, [3]), (0.05, [3, 4])])
def test_the_engine_s_calibrated_band_decides_what_is_near(band, fused):
    """The default engine's rule is biometrics.face.near_threshold (band calibrated by cross-validation; 0 today:
    more frames changed no genuine decision); the step's own margin applies only to an engine without one."""
    t = Templates({3: 0.91, 4: 0.95})
    engine = t.engine()
    engine.near = lambda score, threshold: abs(score - threshold) < band
    step = FaceStep(Cam(), engine, liveness="off")
    out = step.finish(chip_photo(), step.capture(threading.Event()))
    assert t.fused == fused and out.extra_frames == len(fused) - 1


def test_the_default_engine_takes_the_face_module_s_rules():
    from biometrics import face
    from gate import FaceEngine

    engine = FaceEngine.default(passive_liveness=True, active_liveness=True)
    assert engine.near is face.near_threshold and engine.passive is face.PassiveLivenessSession
    assert engine.passive_thresholds == face.PASSIVE_THRESHOLDS and engine.session is face.LivenessSession


def test_a_capture_that_outlives_its_stop_grace_never_writes_into_the_transaction_s_timings(pki):
    """Review of #23: a capture thread still running after its stop grace wrote ``face_capture`` into the
    transaction's timings while the record was serialised ("dictionary changed size during iteration").
    Its timings are merged only after a join: the late thread leaves the transaction's dict alone."""

    class Stuck(Cam):
        def frames(self):
            yield np.full((120, 100, 3), 200, np.uint8)
            time.sleep(1.0)  # the camera hangs past the face time-out and the stop grace
            while True:
                yield np.full((120, 100, 3), 200, np.uint8)

    gate, _ = lane(pki, Script(passive="live"), camera=Stuck())
    gate.workflow.timeouts = StepTimeouts(chip=20, face=0.3)
    gate.workflow.capture_stop_grace_s = 0.05
    try:
        r = gate.workflow.process()
        before = dict(r.timings_ms)
        assert gone(capture_threads, within=3.0)  # the late capture thread has now finished
        (stored,) = gate.store.db.execute("SELECT timings FROM gate_transactions").fetchall()
    finally:
        gate.close()
    assert [str(x) for x in r.decision.reasons] == ["timeout"]
    assert "face_capture" not in r.timings_ms  # never joined: its timing is not the transaction's
    assert r.timings_ms == before
    assert json.loads(stored[0]) == before  # the record was written whole
