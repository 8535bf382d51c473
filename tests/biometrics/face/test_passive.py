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


# ---------------------------------------------------------------- the shipped texture model and the bands
@pytest.fixture(scope="module")
def renderer(still):
    with FaceMesher() as m:
        return FaceRenderer(still, m.process(still)[0])


@pytest.mark.parametrize("kind", ["print", "screen", "replay"])
def test_simulated_attacks_are_not_live(still, renderer, kind):
    from biometrics.face.evaluation._pad_passive import presentation_frames

    for seed in (11, 12):
        frames = presentation_frames(kind, still, renderer, np.random.default_rng(seed))
        res = assess_passive_liveness(frames, t=[i / 15 for i in range(len(frames))])
        assert res.decision != "live", (kind, seed, res)
        assert res.reasons, res
        if res.decision == "attack":
            assert res.score < PASSIVE_THRESHOLDS["attack_below"]


def test_simulated_bona_fide_scores_far_above_attacks_and_is_never_an_attack(still, renderer):
    """This still is not from lfw-dev (the model's training faces): its renders score 0.5-0.98, in the live
    band or the doubt band (the challenge then decides), never as an attack, and far above its attack renders."""
    from biometrics.face.evaluation._pad_passive import presentation_frames

    bona, attacks = [], []
    for seed in (11, 12, 13):
        for kind in ("bona_fide", "print", "replay"):
            res = assess_passive_liveness(presentation_frames(kind, still, renderer, np.random.default_rng(seed)))
            (bona if kind == "bona_fide" else attacks).append(res)
    assert all(r.decision in ("live", "doubt") and r.cues["texture"] is not None for r in bona), bona
    assert min(r.score for r in bona) > 100 * max(r.score for r in attacks)


def test_scores_in_the_live_band_are_live_and_below_it_doubt_or_attack():
    from biometrics.face._passive import verdict

    live = PASSIVE_THRESHOLDS["live_at_or_above"]
    cues = {"texture": live, "moire": 3.1, "parallax": None, "foreshortening": None}
    assert verdict(cues, 15, 15).decision == "live"
    assert verdict({**cues, "texture": live * 0.99}, 15, 15).decision == "doubt"
    assert verdict({**cues, "texture": PASSIVE_THRESHOLDS["attack_below"] / 2}, 15, 15).decision == "attack"
    # a screen's moire keeps a live-looking texture out of the live band; a flat print's geometry too
    assert verdict({**cues, "moire": 9.0}, 15, 15).reasons == ("moire",)
    assert verdict({**cues, "parallax": 0.02}, 15, 15).decision != "live"
    # no texture: moire alone never says live
    assert verdict({**cues, "texture": None, "moire": 2.0}, 15, 15).decision == "doubt"


def test_feed_decides_only_after_enough_face_frames(standing):
    from biometrics.face import MIN_FACE_FRAMES

    with PassiveLivenessSession() as s:
        decisions = [s.feed(f, i / 15).decision for i, f in enumerate(standing)]
    assert set(decisions[:MIN_FACE_FRAMES - 1]) == {"unknown"}
    assert decisions[-1] != "unknown"


def test_texture_model_file_is_in_the_manifest_and_its_sha256_checked(monkeypatch):
    import models
    from biometrics.face import _pad_texture

    spec = models.manifest()[_pad_texture.MODEL_NAME]
    path = models.model_path(_pad_texture.MODEL_NAME)
    assert models.sha256_file(path) == spec.sha256 and spec.licence and spec.module == "models"
    # an altered file is refused by name, not used
    monkeypatch.setattr(models, "_verified", {})
    monkeypatch.setattr(models, "sha256_file", lambda p: "0" * 64)
    monkeypatch.setattr(_pad_texture, "_model", None)
    with pytest.raises(_pad_texture.TextureModelError, match="sha256"):
        _pad_texture.load_texture_model()
    with pytest.raises(_pad_texture.TextureModelError):
        PassiveLivenessSession()


def test_a_corrupt_or_foreign_model_file_is_a_named_error(tmp_path):
    from biometrics.face._pad_texture import N_FEATURES, TextureModel, TextureModelError

    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(TextureModelError):
        TextureModel.load(bad)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, mean=np.zeros(3), scale=np.ones(3), weights=np.zeros(3), bias=np.zeros(1))
    with pytest.raises(TextureModelError, match=str(N_FEATURES)):
        TextureModel.load(wrong)
