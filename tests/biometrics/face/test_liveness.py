"""Liveness: active challenges and passive cues on sequences simulated from a real still (see _pad_eval)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from biometrics.face import (
    ActiveChallenge,
    FrameError,
    LivenessError,
    LivenessSession,
    check_liveness,
)
from biometrics.face._liveness import random_challenges
from biometrics.face._mesh import FaceMesher
from biometrics.face.evaluation._pad_eval import bona_fide_sequence, print_attack_sequence, replay_sequence
from biometrics.face.sim import FaceRenderer, prepare_still, room_background
from tests.conftest import shared_path

CHALLENGES = [ActiveChallenge("turn_left"), ActiveChallenge("blink")]


@pytest.fixture(scope="module")
def still() -> np.ndarray:
    img = cv2.imread(str(shared_path("faces", "misc", "openface", "carell.jpg")))
    return prepare_still(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


@pytest.fixture(scope="module")
def bona(still):
    with FaceMesher() as m:
        renderer = FaceRenderer(still, m.process(still)[0])
    return bona_fide_sequence(still, renderer, CHALLENGES, np.random.default_rng(0))


def test_simulated_bona_fide_blink_and_turn_passes(bona):
    res = check_liveness(bona.frames, bona.timestamps, CHALLENGES)
    assert res.passed, res.to_dict()
    assert [c.kind for c in res.per_challenge] == ["turn_left", "blink"]
    assert all(c.passed for c in res.per_challenge)
    assert res.passive_score is not None and res.passive_score > 0.5
    assert res.cues["parallax"] > 0.065 and res.cues["foreshortening"] > 0.8


def test_rigid_print_attack_is_rejected(still):
    rng = np.random.default_rng(5)
    seq = print_attack_sequence(still, room_background(rng), CHALLENGES, rng)
    res = check_liveness(seq.frames, seq.timestamps, seq.challenges)
    assert not res.passed and res.reason
    # the print obeys a homography: no 3-D parallax, and turning it foreshortens the face
    if res.cues["parallax"] is not None:
        assert res.cues["parallax"] < 0.065 or (res.cues["foreshortening"] or 1.0) < 0.8


def test_replay_in_the_asked_order_is_caught_by_moire(bona):
    rng = np.random.default_rng(7)
    seq = replay_sequence(bona, room_background(rng), rng, same_order=True)
    res = check_liveness(seq.frames, seq.timestamps, seq.challenges)
    assert not res.passed
    assert res.reason.startswith("passive"), res.cues
    assert "moire" in res.reason, res.cues
    assert all(c.passed for c in res.per_challenge)  # the clip itself does the right actions
    assert res.cues["moire"] > 6


def test_replay_against_another_order_fails_the_challenges(bona):
    res = check_liveness(bona.frames, bona.timestamps, ["blink", "turn_left"], require_passive=False)
    assert not res.passed and res.reason.startswith(("wrong_action", "timeout", "incomplete"))


def test_session_state_drives_the_screen(bona):
    session = LivenessSession(CHALLENGES)
    try:
        blank = np.full((480, 640, 3), 100, np.uint8)
        st = session.feed(blank, 0.0)
        assert st.instruction_key == "look_at_camera" and not st.done and st.passed is None
        st = session.feed(bona.frames[0], 0.1)
        assert st.instruction_key == "turn_left" and st.instruction.startswith("turn your head")
        assert st.progress == 0.0
        st = session.feed(blank, 7.0)
        assert st.done and st.passed is False and st.reason == "timeout:turn_left"
        assert session.result().per_challenge[0].reason == "timeout"
    finally:
        session.close()


def test_random_challenges_are_a_blink_and_a_turn():
    kinds = {tuple(c.kind for c in random_challenges(seed)) for seed in range(20)}
    assert all(sorted(k)[0] == "blink" and len(k) == 2 for k in kinds)
    assert len(kinds) == 4  # both orders, both turns
    a = LivenessSession(rng=3)
    b = LivenessSession(rng=3)
    assert [c.kind for c in a.challenges] == [c.kind for c in b.challenges]


def test_bad_input():
    with pytest.raises(LivenessError):
        ActiveChallenge("smile")
    with pytest.raises(LivenessError):
        check_liveness([np.zeros((480, 640, 3), np.uint8)], [0.0, 0.1], ["blink"])
    with pytest.raises(LivenessError):
        check_liveness([], [], ["blink"])
    with pytest.raises(LivenessError):
        LivenessSession([])
    session = LivenessSession(["blink"])
    try:
        with pytest.raises(FrameError):
            session.feed(np.zeros((0, 0, 3), np.uint8), 0.0)
        with pytest.raises(FrameError):
            session.feed(np.zeros((480, 640, 3), np.float32), 0.0)
        session.feed(np.zeros((480, 640, 3), np.uint8), 1.0)
        with pytest.raises(LivenessError):
            session.feed(np.zeros((480, 640, 3), np.uint8), 0.5)
    finally:
        session.close()


def test_pad_summary_uses_iso_30107_3_rates():
    from biometrics.face.evaluation._pad_eval import clopper_pearson, summarise

    rows = [{"kind": "bona_fide", "accepted": ok, "active_ok": ok, "reason": None if ok else "timeout:blink"}
            for ok in (True, True, True, False)]
    rows += [{"kind": "print_rigid", "accepted": ok, "active_ok": ok, "reason": None if ok else "incomplete"}
             for ok in (False, False, True, False)]
    s = summarise(rows)
    assert s["bpcer"] == 0.25 and s["bpcer_reasons"] == {"timeout": 1}
    assert s["apcer"] == {"print_rigid": 0.25} and s["n_attacks"] == {"print_rigid": 4}
    assert clopper_pearson(0, 20) == [0.0, 0.1684]  # the exact 95 % upper bound for 0/20
