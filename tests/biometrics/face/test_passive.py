"""Passive liveness (biometrics.face._passive): fail-closed verdicts, bad input, and the decision bands."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from biometrics.face import (
    PASSIVE_THRESHOLDS,
    PassiveLiveness,
    PassiveLivenessError,
    PassiveLivenessSession,
    assess_passive_liveness,
)
from biometrics.face._mesh import FaceMesher
from biometrics.face._passive import DECISIONS, decide
from biometrics.face.sim import FaceRenderer, camera_noise, prepare_still
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def still() -> np.ndarray:
    img = cv2.imread(str(shared_path("faces", "misc", "openface", "carell.jpg")))
    return prepare_still(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


@pytest.fixture(scope="module")
def standing(still) -> list[np.ndarray]:
    """A simulated traveller standing at the reader: small sway, camera noise, 1 s at 15 fps."""
    rng = np.random.default_rng(0)
    with FaceMesher() as m:
        r = FaceRenderer(still, m.process(still)[0])
    return [camera_noise(r.render(1.5 * math.sin(i / 5), 1.0 * math.sin(i / 7)), rng) for i in range(15)]


def test_thresholds_are_ordered_bands():
    assert 0.0 < PASSIVE_THRESHOLDS["attack_below"] < PASSIVE_THRESHOLDS["live_at_or_above"] <= 1.0
    assert decide(None) == "unknown" and decide(float("nan")) == "unknown"
    assert decide(PASSIVE_THRESHOLDS["live_at_or_above"]) == "live"
    assert decide(PASSIVE_THRESHOLDS["attack_below"]) == "doubt"
    assert decide(PASSIVE_THRESHOLDS["attack_below"] - 1e-6) == "attack"


def test_no_frames_is_unknown():
    res = assess_passive_liveness([])
    assert res.decision == "unknown" and res.reasons == ("no_face",) and res.score is None


def test_frames_without_a_face_are_unknown():
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (480, 640, 3), dtype=np.uint8) for _ in range(8)]
    res = assess_passive_liveness(frames)
    assert isinstance(res, PassiveLiveness)
    assert res.decision == "unknown" and "no_face" in res.reasons and res.n_frames == 8 and res.n_face_frames == 0


def test_too_few_face_frames_is_unknown(standing):
    res = assess_passive_liveness(standing[:3])
    assert res.decision == "unknown" and res.reasons == ("too_few_frames",) and res.n_face_frames == 3


def test_a_decision_is_always_one_of_the_named_ones(standing):
    with PassiveLivenessSession() as s:
        for i, frame in enumerate(standing):
            res = s.feed(frame, i / 15)
            assert res.decision in DECISIONS
            assert res.decision != "live" or not res.reasons


@pytest.mark.parametrize("bad", [None, "frame", np.zeros((480, 640, 3), np.float32), np.zeros((8, 8, 3), np.uint8),
                                 np.zeros((480, 640, 5), np.uint8), np.zeros((0, 0, 3), np.uint8)])
def test_corrupt_frame_is_a_named_error(bad):
    with pytest.raises(PassiveLivenessError):
        assess_passive_liveness([bad])


def test_bad_timestamps_are_a_named_error(standing):
    with pytest.raises(PassiveLivenessError, match="timestamps"):
        assess_passive_liveness(standing[:3], t=[0.0, 0.1])
    with pytest.raises(PassiveLivenessError, match="non-decreasing"):
        assess_passive_liveness(standing[:3], t=[0.0, 0.2, 0.1])
    with pytest.raises(PassiveLivenessError, match="non-decreasing"):
        assess_passive_liveness(standing[:2], t=[0.0, float("nan")])
    with pytest.raises(PassiveLivenessError, match="not a number"):
        assess_passive_liveness(standing[:1], t=["soon"])
