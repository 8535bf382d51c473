"""Liveness guidance a first-time traveller can follow (issue #20 item 5).

* Headless app (Xvfb): during a challenge the face screen shows that challenge's animated pictogram (mirrored: the
  traveller's left is the screen's left) and a countdown that goes down; after a failed attempt, the retry message
  (a warning, with the attempt's number), spoken.
* Through the workflow (no UI): genuine simulated travellers, who act like people (a reaction time, a blink of
  150-360 ms, a head turn and back), pass on the first try, liveness seeing every camera frame with its capture
  time although quality is checked on every other frame only; a face that does nothing asked of it, or a still
  photo, still fails (fail closed).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from kiosk import Catalogues
from tests.conftest import shared_path
from tests.kiosk.test_kiosk import _run_headless


@pytest.fixture(scope="module")
def sim():
    face = pytest.importorskip("biometrics.face")
    if not hasattr(face, "LivenessSession"):
        pytest.skip("biometrics.face has no LivenessSession")
    shared_path("faces", "lfw-dev")
    from kiosk.sim import build_sim

    world = build_sim(fps=0, camera="traveller")  # frames as fast as asked, on the camera's own clock (i / 15)
    yield world
    world.close()


def _face_step(sim, seed: int):
    from devicelink import Outbox
    from enrollment import SLAP_PLAN, EnrolmentWorkflow, Policy, Step
    from kiosk import build_engines

    engines = build_engines(liveness="auto", seed=seed)
    made = []
    factory = engines.liveness
    engines.liveness = lambda: made.append(factory()) or made[-1]
    sim.reader.remove()
    sim.present_document()
    wf = EnrolmentWorkflow(engines, Outbox(), reader=sim.reader, mrz_source=sim.mrz_source, trust=sim.trust,
                           policy=Policy(finger_plan=SLAP_PLAN[:1]))
    wf.start("en")
    assert wf.read_document().ok
    wf.consent(True)
    assert wf.read_chip().ok and wf.step is Step.FACE
    return wf, made


def _run(sim, wf, frames, *, until_failures: int = 1, limit: int = 300):
    """Like the face screen: quality on every other frame, liveness on all of them (the others as ``skipped``),
    each with the camera's capture time; the traveller follows the challenge shown."""
    from enrollment import Step

    shown, skipped, feedback = None, [], []
    for i, frame in zip(range(limit), frames, strict=False):
        if i % 2:
            skipped.append((frame, sim.camera.frame_time))
            continue
        fb = wf.process_frame(frame, sim.camera.frame_time, skipped=skipped)
        skipped = []
        feedback.append(fb)
        if fb.challenge:
            shown = fb.challenge
        elif fb.phase != "quality" or (fb.check is not None and fb.check.face_found):
            shown = None
        sim.camera.follow(shown)
        failures = sum(f.phase in ("retry", "referred") for f in feedback)
        if wf.step is not Step.FACE or wf.session.liveness_passed or failures >= until_failures:
            break
    return feedback


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_genuine_simulated_travellers_pass_on_the_first_try(sim, seed):
    sim.camera.reseed(seed)
    sim.camera.responsive = True
    wf, made = _face_step(sim, seed)
    feedback = _run(sim, wf, sim.camera.frames())
    assert len(made) == 1 and wf.session.liveness_passed, [m.reason for m in made]
    kinds = [c.kind for c in made[0].session.challenges]
    assert "blink" in kinds and {"turn_left", "turn_right"} & set(kinds)
    # the traveller did each thing asked, as a person does (it saw the challenge on the feedback)
    assert {k for _, k in sim.camera.performed} >= set(kinds)
    # the countdown reached the screen with every challenge, from the engine's deadline
    lefts = [f.time_left_s for f in feedback if f.challenge]
    bad = [x for x in lefts if x is None or not 0.0 <= x <= 6.0]
    assert lefts and not bad, bad
    wf.abandon()


def test_a_face_that_does_nothing_fails(sim):
    sim.camera.reseed(5)
    sim.camera.responsive = False  # sways and breathes, never blinks or turns on request
    wf, made = _face_step(sim, 5)
    try:
        feedback = _run(sim, wf, sim.camera.frames())
        assert not wf.session.liveness_passed
        assert feedback[-1].phase == "retry" and "face.liveness_failed" in feedback[-1].messages
        assert made[0].reason.startswith("timeout:"), made[0].reason
        assert not sim.camera.performed
    finally:
        sim.camera.responsive = True
        wf.abandon()


def test_a_still_photo_fails(sim):
    sim.camera.reseed(6)
    first = next(iter(sim.camera.frames()))
    wf, made = _face_step(sim, 6)
    try:
        def still():
            t0 = sim.camera.frame_time
            for i in range(1000):
                sim.camera.frame_time = t0 + i / 15  # the same picture, frame after frame, on the camera's clock
                yield np.array(first, copy=True)
        feedback = _run(sim, wf, still())
        assert not wf.session.liveness_passed
        assert feedback[-1].phase == "retry" and made[0].reason.startswith("timeout:"), made[0].reason
    finally:
        wf.abandon()


def test_face_screen_shows_pictogram_countdown_and_retry_message(tmp_path):
    """The first attempt ignored (a face that does nothing), the second followed."""
    shared_path("faces", "lfw-dev")
    pytest.importorskip("biometrics.face")
    result = tmp_path / "guidance.json"
    r = _run_headless("tests.kiosk.liveness_driver", "--lang", "en", "--guidance", "--result", str(result), timeout=240)
    assert result.exists(), r.stderr[-3000:]
    data = json.loads(result.read_text())
    assert data["ok"], (data.get("error"), data.get("traceback"), r.stderr[-2000:])
    [session] = data["sessions"]
    seen, attempts = session["seen"], session["per_attempt"]
    assert attempts[0]["passed"] is False and attempts[0]["reason"].startswith("timeout:")
    assert session["passed"] and attempts[-1]["passed"] is True  # the retry, followed, passes
    texts = Catalogues()
    first = attempts[0]["challenges"][0]
    # during the first challenge: its words, its pictogram, animated, and a countdown that goes down
    during = [s for s in seen if s["attempt"] == 1 and s["challenge"] == texts.t(f"liveness.{first}", "en")]
    assert during and all(s["pictogram"] == first and s["countdown_visible"] for s in during)
    counts = [s["countdown"] for s in during]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1] and counts[0] <= 6
    moving = {s["eyes"] for s in during} if first == "blink" else {s["yaw"] for s in during}
    assert len(moving) > 2  # animated
    # every challenge of every attempt had its own pictogram; a turn's pictogram turns to the traveller's side
    for n, attempt in enumerate(attempts, 1):
        for kind in attempt["challenges"]:
            shown = [s for s in seen if s["attempt"] == n and s["pictogram"] == kind]
            if n == len(attempts) or kind == first:
                assert shown, (n, kind)
            if shown and kind.startswith("turn_"):
                yaws = [s["yaw"] for s in shown]
                assert (min(yaws) < -0.5) if kind == "turn_left" else (max(yaws) > 0.5), (kind, yaws)
    # after the failed attempt: the retry message, a warning, with the attempt's number
    retry = [s for s in seen if s["retry"]]
    assert retry and all(s["retry_kind"] == "warning" and s["retry_visible"] for s in retry)
    assert texts.t("face.retry", "en") in retry[0]["retry"]
    assert texts.t("face.attempt", "en", n=2, total=3) in retry[0]["retry"]
    assert min(s["attempt"] for s in retry) == 1  # shown as soon as the attempt failed
    # and it is said (when the kiosk has its audio files)
    if data.get("voice_available"):
        assert "en/face.retry" in data["spoken"]
