"""Multi-frame fusion: the frame rules, the near-threshold band, the FrameFusion accumulator's decisions
(on templates with known scores), and score bands on real images with simulated live frames."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics.face import (
    THRESHOLDS,
    FaceTemplate,
    FrameFusion,
    NoFaceError,
    compare,
    extract_template,
    load_image,
    near_threshold,
    probe_template,
    verify_templates,
)
from biometrics.face._fusion import FRAME_RULES, fuse_frame_scores, mean_template
from tests.conftest import shared_path


def _at(cosine: float) -> FaceTemplate:
    """A dlib-only template whose cosine with :data:`REF` is ``cosine``."""
    v = np.zeros(128)
    v[0], v[1] = cosine, np.sqrt(1 - cosine ** 2)
    return FaceTemplate(vector=v)


REF = _at(1.0)


def test_frame_rules_on_known_scores():
    scores = [0.5, None, 0.9, 0.7, 0.6]
    assert fuse_frame_scores(scores, rule="best_k_mean") == pytest.approx((0.9 + 0.7 + 0.6) / 3)
    assert fuse_frame_scores(scores, rule="best_k_mean", k=1) == pytest.approx(0.9)
    assert fuse_frame_scores(scores, rule="max") == pytest.approx(0.9)
    assert fuse_frame_scores(scores, rule="mean") == pytest.approx(0.675)
    q = [1.0, 5.0, 3.0, 1.0, None]  # the unusable frame's quality is ignored; a missing one weighs as the mean
    assert fuse_frame_scores(scores, q, rule="quality_mean") == pytest.approx(
        (0.5 * 1 + 0.9 * 3 + 0.7 * 1 + 0.6 * (5 / 3)) / (1 + 3 + 1 + 5 / 3))
    assert fuse_frame_scores(scores, rule="quality_mean") == pytest.approx(0.675)  # no qualities: the mean
    with pytest.raises(ValueError, match="no usable"):
        fuse_frame_scores([None, None], rule="mean")
    with pytest.raises(ValueError, match="unknown frame rule"):
        fuse_frame_scores([0.5], rule="median")
    with pytest.raises(ValueError, match="templates"):
        fuse_frame_scores([0.5], rule="template_mean")


def test_near_threshold_band():
    assert near_threshold(0.93, 0.94, 0.02) and near_threshold(0.955, 0.94, 0.02)
    assert not near_threshold(0.96, 0.94, 0.02) and not near_threshold(0.91, 0.94, 0.02)
    assert not near_threshold(0.94, 0.94, 0.0)  # band 0: never near


def test_accumulator_decides_far_scores_on_the_first_frame():
    high = FrameFusion(REF, threshold=0.8, band=0.05, max_frames=4, rule="mean")
    d = high.add(_at(0.9))
    assert d.decided and d.state == "match" and d.frames_used == 1
    assert high.add(_at(0.0)).state == "match"  # frames after the decision are ignored
    assert high.verification().matched and high.verification().frames_used == 1
    low = FrameFusion(REF, threshold=0.8, band=0.05, max_frames=4, rule="mean")
    d = low.add(_at(0.5))
    assert d.decided and d.state == "no_match"


def test_accumulator_asks_for_more_frames_near_the_threshold():
    f = FrameFusion(REF, threshold=0.8, band=0.05, max_frames=3, rule="mean")
    assert f.add(None).state == "undecided"  # an unusable frame decides nothing (fail closed)
    with pytest.raises(NoFaceError):
        f.verification()
    d = f.add(_at(0.79))
    assert d.state == "undecided" and d.frames_used == 1 and d.frames_seen == 2
    d = f.add(_at(0.95))  # mean 0.87: out of the band above the threshold
    assert d.state == "match" and d.score == pytest.approx(0.87) and d.frames_used == 2
    g = FrameFusion(REF, threshold=0.8, band=0.05, max_frames=3, rule="mean")
    for s in (0.79, 0.80, 0.78):
        d = g.add(_at(s))
    assert d.decided and d.state == "no_match" and d.frames_used == 3  # max_frames: the threshold decides
    assert d.score == pytest.approx(0.79)
    h = FrameFusion(REF, threshold=0.8, band=0.0, max_frames=3, rule="mean")
    assert h.add(_at(0.8001)).state == "match"  # band 0: the first usable frame decides


def test_accumulator_rejects_bad_settings():
    with pytest.raises(ValueError):
        FrameFusion(REF, threshold=0.8, rule="median")
    with pytest.raises(ValueError):
        FrameFusion(REF, threshold=0.8, max_frames=0)
    with pytest.raises(KeyError):
        FrameFusion(REF, threshold="fmr_1e-9")


def test_mean_template_averages_each_part():
    a, b = _at(1.0), _at(0.0)
    m = mean_template([a, None, b])
    assert compare(REF, m) == pytest.approx(np.sqrt(0.5), abs=1e-6)
    with pytest.raises(ValueError):
        mean_template([None])


@pytest.fixture(scope="module")
def real():
    def lfw(name: str, n: int) -> np.ndarray:
        return load_image(shared_path("faces", "lfw-dev", name, f"{name}_{n:04d}.jpg"))

    from biometrics.face import decode_reference_dg2_image, detect_single_face, encode_reference_dg2_image
    from biometrics.face.evaluation._frames import simulated_frames

    hugo = lfw("Hugo_Chavez", 1)
    chip = decode_reference_dg2_image(encode_reference_dg2_image(hugo, detect_single_face(hugo)))
    ref = extract_template(chip)
    frames = {name: [probe_template(f) for f in [img, *simulated_frames(img, 3, seed=1)]]
              for name, img in (("genuine", lfw("Hugo_Chavez", 2)), ("impostor", lfw("Jacques_Chirac", 1)))}
    return ref, frames


@pytest.mark.parametrize("rule", FRAME_RULES)
def test_frame_rules_on_real_images_stay_in_their_bands(real, rule):
    ref, frames = real
    t = THRESHOLDS["fmr_5e-4"]
    genuine = verify_templates(ref, frames["genuine"], rule=rule)
    impostor = verify_templates(ref, frames["impostor"], rule=rule)
    assert genuine.matched and genuine.score >= t and genuine.frames_used == 4
    assert not impostor.matched and impostor.score < THRESHOLDS["fmr_1e-2"] - 0.03
    singles = [s for s in genuine.per_frame_scores if s is not None]
    assert min(singles) - 1e-6 <= genuine.score <= max(singles) + 1e-6 or rule == "template_mean"
    spread = max(singles) - min(singles)
    assert spread < 0.05  # simulated frames of one photo score alike (measured ~0.01-0.02)


def test_frame_fusion_on_real_images(real):
    ref, frames = real
    for kind, expected in (("genuine", "match"), ("impostor", "no_match")):
        f = FrameFusion(ref, threshold="fmr_5e-4", band=0.02, max_frames=4)
        for probe in frames[kind]:
            d = f.add(probe)
            if d.decided:
                break
        assert d.state == expected and d.frames_used == 1  # both far from the threshold: one frame decides
