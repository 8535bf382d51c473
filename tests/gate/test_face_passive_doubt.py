"""Issue #23: a passive "doubt" is not certain while the chip is still being read. On the
passive+challenge-on-doubt lane the gate feeds the PAD more frames, up to ``FaceStep.passive_max_frames``, and
goes to the challenge only if the verdict is still not "live" there; "attack" at any frame refers at once; a
doubt seen once still counts on a retry; the challenge-all lane is unaffected. Built through the composition a
deployment uses (``tests.gate.test_liveness_policy``'s lane), with a PAD engine whose verdict is scripted frame
by frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from biometrics.face.evaluation._pad_passive import GATE_PASSIVE_FRAMES, GATE_PASSIVE_MAX_FRAMES
from biometrics.face.evaluation._pad_passive import N_FRAMES as EVALUATED_FRAMES
from gate import FaceEngine, FaceStep
from tests.gate.test_gate_emrtd import Q, V
from tests.gate.test_liveness_policy import liveness_record, pki, serve  # noqa: F401 - pki is a fixture

SCORES = {"live": 0.93, "doubt": 0.35, "attack": 0.05, "unknown": None}


@dataclass
class FrameScript:
    """The PAD verdict after each frame (``verdicts[i]`` after frame i + 1, the last one repeated), per PAD
    session (attempt); the challenge's outcome; what was asked of them. ``good``: which frames pass quality."""

    verdicts: list[list[str]]
    challenge_passes: bool = True
    score: float = 0.9
    good: object = None  # callable frame number -> bool; None: every frame is good
    pad_sessions: int = 0
    fed: list[int] = field(default_factory=list)  # frames fed per PAD session
    challenges: int = 0
    frame_no: int = 0

    def engine(self) -> FaceEngine:
        script = self

        class Passive:
            def __init__(self):
                self.seq = script.verdicts[min(script.pad_sessions, len(script.verdicts) - 1)]
                script.pad_sessions += 1
                script.fed.append(0)

            def feed(self, frame, t):
                script.fed[-1] += 1
                d = self.seq[min(script.fed[-1], len(self.seq)) - 1]
                return SimpleNamespace(score=SCORES[d], decision=d, reasons=() if d == "live" else ("texture",))

            def close(self):
                pass

        class Challenge:
            def __init__(self):
                self.n = 0
                script.challenges += 1

            def feed(self, frame, t):
                self.n += 1
                done = self.n >= 4
                return SimpleNamespace(instruction_key=None if done else "blink", done=done,
                                       passed=done and script.challenge_passes,
                                       reason=None if script.challenge_passes else "timeout: blink")

        def quality(frame):
            script.frame_no += 1
            if script.good is None or script.good(script.frame_no):
                return Q()
            return SimpleNamespace(passed=False, score=0.0, guidance=["look_at_camera"], faces=1)

        return FaceEngine(quality=quality, verify=lambda ref, frames: V(self.score), session=Challenge,
                          passive=Passive, passive_thresholds={"attack_below": 0.2, "live_at_or_above": 0.5})


def run(pki, script: FrameScript, liveness: str = "passive+challenge-on-doubt"):  # noqa: F811
    r, _ = serve(pki, script, liveness)
    return r


def test_the_limit_stays_within_the_evaluated_prefixes():
    """A "live" is taken at any frame up to the limit: the PAD evaluation replays every prefix of its
    presentations, so the limit must not pass their length."""
    step = FaceStep(camera=None, engine=FaceEngine(quality=lambda f: Q(), verify=lambda ref, frames: V(0.9)))
    assert step.passive_frames < step.passive_max_frames <= EVALUATED_FRAMES
    # and the evaluation's replay of the gate's rule is of this rule
    assert (step.passive_frames, step.passive_max_frames) == (GATE_PASSIVE_FRAMES, GATE_PASSIVE_MAX_FRAMES)


@pytest.mark.parametrize("live_from", [7, 9, 12])
def test_a_doubt_that_becomes_live_within_the_limit_opens_without_the_challenge(pki, live_from):  # noqa: F811
    script = FrameScript([["doubt"] * (live_from - 1) + ["live"]])
    r = run(pki, script)
    assert r.opened, r.decision.explain()
    assert script.challenges == 0 and script.fed == [live_from]  # stopped at the first certain verdict
    rec = liveness_record(r)
    assert rec == {"liveness_path": "passive", "passive_decision": "live", "passive_score": 0.93}


def test_a_doubt_still_doubt_at_the_limit_goes_to_the_challenge(pki):  # noqa: F811
    script = FrameScript([["doubt"]], challenge_passes=False)
    r = run(pki, script)
    assert not r.opened and [str(x) for x in r.decision.reasons] == ["liveness_failed"]
    # attempt 1: 12 frames, still doubt, the challenge fails; the retry owes the challenge: 6 frames, no more
    assert script.fed == [12, 6] and script.challenges == 2
    assert liveness_record(r)["liveness_path"] == "passive+challenge"
    assert liveness_record(r)["passive_decision"] == "doubt"


def test_live_one_frame_after_the_limit_is_too_late(pki):  # noqa: F811
    script = FrameScript([["doubt"] * 12 + ["live"]])
    r = run(pki, script)
    assert r.opened and script.challenges == 1 and script.fed == [12]  # the challenge opened it, not the PAD
    assert liveness_record(r)["liveness_path"] == "passive+challenge"


@pytest.mark.parametrize("attack_at", [6, 8, 12])
def test_an_attack_after_a_doubt_refers_at_once(pki, attack_at):  # noqa: F811
    script = FrameScript([["doubt"] * (attack_at - 1) + ["attack"] + ["live"] * 10], score=0.99)
    r = run(pki, script)
    assert not r.opened and [str(x) for x in r.decision.reasons] == ["liveness_failed"]
    assert script.challenges == 0 and script.fed == [attack_at]  # never fed into a later "live"
    assert liveness_record(r)["passive_decision"] == "attack"


def test_a_live_verdict_still_needs_the_face_to_match(pki):  # noqa: F811
    script = FrameScript([["doubt"] * 8 + ["live"]], score=0.1)
    r = run(pki, script)
    assert not r.opened and [str(x) for x in r.decision.reasons] == ["face_mismatch"]


def test_challenge_all_is_unaffected(pki):  # noqa: F811
    script = FrameScript([["doubt"] * 8 + ["live"]])
    r = run(pki, script, "challenge-all")
    assert r.opened and script.challenges == 1
    assert script.fed == [6]  # the challenge is owed anyway: no frame more for the PAD
    assert liveness_record(r)["liveness_path"] == "passive+challenge"


def test_a_live_at_the_sixth_frame_still_stops_there(pki):  # noqa: F811
    script = FrameScript([["live"]])
    r = run(pki, script)
    assert r.opened and script.fed == [6] and script.challenges == 0


def test_a_doubt_made_live_by_more_frames_still_owes_the_challenge_on_a_retry(pki):  # noqa: F811
    """Attempt 1: doubt at frame 6, live at 9, but too few good frames (the traveller looked away): a retry.
    Attempt 2: the PAD says live at once; the doubt of attempt 1 carries over: the challenge must pass."""
    script = FrameScript([["doubt"] * 8 + ["live"], ["live"]], challenge_passes=False,
                         good=lambda n: n > 12)  # attempt 1's 12 frames are all bad
    r = run(pki, script)
    assert script.pad_sessions == 2 and script.challenges == 1
    assert not r.opened and [str(x) for x in r.decision.reasons] == ["liveness_failed"]
    assert liveness_record(r)["liveness_path"] == "passive+challenge"
