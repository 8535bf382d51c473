"""Matching: score bands on real LFW images, named thresholds, multi-frame fusion, named errors."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics.face import (
    THRESHOLDS,
    FaceTemplate,
    FaceVerification,
    MultipleFacesError,
    NoFaceError,
    TemplateFormatError,
    compare,
    extract_template,
    load_image,
    verify,
)
from tests.conftest import shared_path


def _lfw(name: str, n: int) -> np.ndarray:
    return load_image(shared_path("faces", "lfw-dev", name, f"{name}_{n:04d}.jpg"))


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    return {f"{name}_{n}": _lfw(name, n) for name, ns in
            {"Hugo_Chavez": (1, 2, 3), "Tony_Blair": (2, 3), "Jacques_Chirac": (1, 2)}.items() for n in ns}


@pytest.fixture(scope="module")
def templates(images) -> dict[str, FaceTemplate]:
    return {k: extract_template(v) for k, v in images.items()}


def test_thresholds_are_named_and_ordered():
    assert set(THRESHOLDS) == {"fmr_1e-2", "fmr_1e-3", "fmr_5e-4"}
    assert 0.5 < THRESHOLDS["fmr_1e-2"] < THRESHOLDS["fmr_1e-3"] < THRESHOLDS["fmr_5e-4"] < 1.0


def test_score_bands_on_real_images(templates):
    genuine = [("Hugo_Chavez_1", "Hugo_Chavez_2"), ("Hugo_Chavez_1", "Hugo_Chavez_3"),
               ("Tony_Blair_2", "Tony_Blair_3"), ("Jacques_Chirac_1", "Jacques_Chirac_2")]
    impostor = [("Hugo_Chavez_1", "Jacques_Chirac_1"), ("Tony_Blair_2", "Jacques_Chirac_1"),
                ("Hugo_Chavez_2", "Tony_Blair_3")]
    for a, b in genuine:
        score = compare(templates[a], templates[b])
        assert score >= THRESHOLDS["fmr_5e-4"], (a, b, score)
        assert compare(templates[b], templates[a]) == pytest.approx(score)  # symmetric
    for a, b in impostor:
        score = compare(templates[a], templates[b])
        assert score < THRESHOLDS["fmr_1e-2"] - 0.03, (a, b, score)
    same = templates["Hugo_Chavez_1"]
    assert same.sface is not None  # make setup installs SFace: scores are fused
    from biometrics.face._match import fuse

    assert compare(same, same) == pytest.approx(fuse(1.0, 1.0), abs=1e-6)  # the fused scale's maximum
    dlib_only = same.dlib_only()
    assert compare(dlib_only, dlib_only) == pytest.approx(1.0, abs=1e-6)
    assert compare(dlib_only, templates["Hugo_Chavez_2"]) == pytest.approx(
        float(np.dot(dlib_only.vector, templates["Hugo_Chavez_2"].vector)), abs=1e-6)  # one part: cosine


def test_verify_fuses_frames_and_skips_unusable_ones(images, templates):
    blank = np.full((250, 250, 3), 90, dtype=np.uint8)
    frames = [blank, images["Hugo_Chavez_2"], images["Jacques_Chirac_1"], images["Hugo_Chavez_3"]]
    result = verify(templates["Hugo_Chavez_1"], frames, top_k=2, rule="best_k_mean")
    assert isinstance(result, FaceVerification)
    assert result.frames_used == 3
    assert result.per_frame_scores[0] is None and "NoFaceError" in result.frame_errors[0]
    genuine = sorted(s for s in (result.per_frame_scores[1], result.per_frame_scores[3]))
    assert result.score == pytest.approx(np.mean(genuine))  # best-2 mean: the two genuine frames
    assert result.per_frame_scores[2] < genuine[0]
    assert result.matched and result.threshold_name == "fmr_5e-4"
    assert result.threshold == THRESHOLDS["fmr_5e-4"]


def test_verify_rejects_an_impostor_whatever_the_threshold(images, templates):
    frames = [images["Jacques_Chirac_1"], images["Jacques_Chirac_2"]]
    for name in THRESHOLDS:
        result = verify(templates["Hugo_Chavez_1"], frames, threshold=name)
        assert not result.matched and result.frames_used == 2


def test_verify_accepts_image_and_template_bytes_references(images, templates):
    frames = [images["Tony_Blair_3"]]
    by_image = verify(images["Tony_Blair_2"], frames)
    by_bytes = verify(templates["Tony_Blair_2"].to_bytes(), frames)
    assert by_image.matched and by_bytes.matched
    assert by_image.score == pytest.approx(by_bytes.score, abs=1e-6)
    with pytest.raises(TemplateFormatError):
        verify(b"SBFT" + b"\x00" * 20, frames)


def test_verify_errors_when_no_frame_is_usable(images, templates):
    blank = np.full((250, 250, 3), 90, dtype=np.uint8)
    with pytest.raises(NoFaceError):
        verify(templates["Hugo_Chavez_1"], [blank, blank])
    two = np.hstack([images["Hugo_Chavez_2"], images["Jacques_Chirac_1"]])
    with pytest.raises(MultipleFacesError):
        verify(templates["Hugo_Chavez_1"], [blank, two])
    with pytest.raises(NoFaceError):
        verify(templates["Hugo_Chavez_1"], [])
    with pytest.raises(KeyError):
        verify(templates["Hugo_Chavez_1"], [images["Hugo_Chavez_2"]], threshold="fmr_1e-9")


def test_blur_lowers_the_genuine_score(images, templates):
    import cv2

    sharp = compare(templates["Hugo_Chavez_1"], templates["Hugo_Chavez_2"])
    blurred = extract_template(cv2.GaussianBlur(images["Hugo_Chavez_2"], (0, 0), 4))
    assert compare(templates["Hugo_Chavez_1"], blurred) < sharp


def test_verify_aligns_on_the_face_the_quality_check_found(images, templates):
    from biometrics.face import FaceDetection, assess_quality

    q = assess_quality(images["Hugo_Chavez_2"], purpose="verification")
    assert isinstance(q.face, FaceDetection) and q.face.detector == "mesh" and q.faces == 1
    assert len(q.face.landmarks) == 5 and q.face.inter_eye_distance > 24
    assert "face" not in q.to_dict()  # the landmarks are for the matcher, never serialised
    given = verify(templates["Hugo_Chavez_1"], [images["Hugo_Chavez_2"]], detections=[q.face])
    detected = verify(templates["Hugo_Chavez_1"], [images["Hugo_Chavez_2"]])
    assert given.matched and given.score == pytest.approx(detected.score, abs=0.01)
    qi = assess_quality(images["Jacques_Chirac_1"], purpose="verification")
    assert not verify(templates["Hugo_Chavez_1"], [images["Jacques_Chirac_1"]], detections=[qi.face]).matched
    # None entries are detected here; a count that does not fit the frames is a caller's error
    mixed = verify(templates["Hugo_Chavez_1"], [images["Hugo_Chavez_2"], images["Hugo_Chavez_3"]],
                   detections=[q.face, None], top_k=1)
    assert mixed.frames_used == 2
    with pytest.raises(ValueError, match="detections"):
        verify(templates["Hugo_Chavez_1"], [images["Hugo_Chavez_2"]], detections=[q.face, q.face])
    two = np.hstack([images["Hugo_Chavez_2"], images["Jacques_Chirac_1"]])
    assert assess_quality(two, purpose="verification").faces == 2


def test_a_reference_portrait_with_someone_small_behind_uses_the_dominant_face(images, templates):
    import cv2

    from biometrics.face import reference_template

    holder = cv2.resize(images["Hugo_Chavez_1"], (500, 500))
    behind = cv2.resize(images["Jacques_Chirac_1"], (250, 250))
    canvas = np.hstack([holder, np.vstack([behind, np.full((250, 250, 3), 120, np.uint8)])])
    ref = reference_template(canvas)
    assert compare(ref, templates["Hugo_Chavez_1"]) > THRESHOLDS["fmr_5e-4"]
    with pytest.raises(MultipleFacesError):  # two people of the same size: which is the holder?
        reference_template(np.hstack([images["Hugo_Chavez_2"], images["Jacques_Chirac_1"]]))


def _with_someone_behind(images) -> np.ndarray:
    """A traveller (inter-eye distance ~70 px) and a smaller second person (~30 px) at the side."""
    import cv2

    frame = np.full((480, 640, 3), 120, np.uint8)
    frame[40:440, 120:520] = cv2.resize(images["Hugo_Chavez_2"], (400, 400))
    frame[300:470, 460:630] = cv2.resize(images["Jacques_Chirac_1"], (170, 170))
    return frame


def test_a_second_person_is_seen_even_when_the_quality_check_counts_one(images, templates):
    from biometrics.face import assess_quality, probe_template

    frame = _with_someone_behind(images)
    q = assess_quality(frame, purpose="verification")
    assert q.face is not None
    with pytest.raises(MultipleFacesError):
        probe_template(frame, q.face)
    with pytest.raises(MultipleFacesError):
        verify(templates["Hugo_Chavez_1"], [frame], detections=[q.face])
    alone = np.full((480, 640, 3), 120, np.uint8)
    alone[40:440, 120:520] = _with_someone_behind(images)[40:440, 120:520]
    alone[300:440, 460:520] = 120
    qa = assess_quality(alone, purpose="verification")
    assert compare(templates["Hugo_Chavez_1"], probe_template(alone, qa.face)) >= THRESHOLDS["fmr_5e-4"]
