"""Detection: one face found with sane landmarks; no face, several faces, tiny faces and bad bytes are named."""

from __future__ import annotations

import io

import numpy as np
import pytest

from biometrics.face import (
    FaceDetection,
    FaceError,
    FaceTooSmallError,
    ImageDecodeError,
    MultipleFacesError,
    NoFaceError,
    detect_faces,
    detect_single_face,
    extract_template,
    load_image,
)
from tests.conftest import shared_path


def _lfw(name: str, n: int = 1) -> np.ndarray:
    return load_image(shared_path("faces", "lfw-dev", name, f"{name}_{n:04d}.jpg"))


@pytest.fixture(scope="module")
def blair() -> np.ndarray:
    return _lfw("Tony_Blair")


@pytest.fixture(scope="module")
def chavez() -> np.ndarray:
    return _lfw("Hugo_Chavez")


def test_one_face_with_five_landmarks(blair):
    face = detect_single_face(blair)
    assert isinstance(face, FaceDetection) and face.detector == "mtcnn"
    assert face.score > 0.95
    cx, cy = face.center
    assert abs(cx - 125) < 25 and abs(cy - 125) < 30  # LFW centres the labelled face
    eye_l, eye_r, nose, mouth_l, mouth_r = face.landmarks
    assert eye_l[0] < nose[0] < eye_r[0]
    assert max(eye_l[1], eye_r[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
    assert 25 < face.inter_eye_distance < 60


@pytest.mark.parametrize("detector", ["hog", "mediapipe"])
def test_other_detectors_find_the_same_face(blair, detector):
    faces = detect_faces(blair, detector=detector)
    assert faces
    ref = detect_single_face(blair)
    best = min(faces, key=lambda f: np.hypot(f.center[0] - ref.center[0], f.center[1] - ref.center[1]))
    assert np.hypot(best.center[0] - ref.center[0], best.center[1] - ref.center[1]) < 0.3 * ref.width


def test_two_composed_faces_are_multiple(blair, chavez):
    pair = np.hstack([blair, chavez])
    assert len(detect_faces(pair)) >= 2
    with pytest.raises(MultipleFacesError) as e:
        detect_single_face(pair)
    assert e.value.count >= 2
    with pytest.raises(MultipleFacesError):
        extract_template(pair)


@pytest.mark.parametrize("make", [
    lambda: np.full((250, 250, 3), 128, dtype=np.uint8),
    lambda: np.random.default_rng(0).integers(0, 256, (250, 250, 3), dtype=np.uint8),
], ids=["flat", "noise"])
def test_no_face(make):
    assert detect_faces(make()) == []
    with pytest.raises(NoFaceError):
        extract_template(make())


def test_strongly_blurred_face_is_no_face(blair):
    import cv2

    with pytest.raises(NoFaceError):
        detect_single_face(cv2.GaussianBlur(blair, (0, 0), 15))


def test_tiny_face_is_too_small(blair, chavez):
    import cv2

    canvas = np.full((480, 640, 3), 120, dtype=np.uint8)
    canvas[200:260, 400:460] = cv2.resize(blair, (60, 60), interpolation=cv2.INTER_AREA)
    with pytest.raises(FaceTooSmallError) as e:
        detect_single_face(canvas)
    assert 0 < e.value.inter_eye_distance < 24
    # a small background face next to a usable one is ignored, not "multiple"
    canvas[100:350, 20:270] = chavez
    assert detect_single_face(canvas).inter_eye_distance > 24


def test_large_image_boxes_are_in_original_pixels(blair):
    import cv2

    big = cv2.resize(blair, (2000, 2000), interpolation=cv2.INTER_CUBIC)
    face = detect_single_face(big)
    assert abs(face.center[0] - 1000) < 200 and 200 < face.inter_eye_distance < 480


def test_errors_are_face_errors():
    for cls in (NoFaceError, MultipleFacesError, FaceTooSmallError, ImageDecodeError):
        assert issubclass(cls, FaceError)


# -- bad input ----------------------------------------------------------------------------------

def _jpeg_bytes(image: np.ndarray, **kw) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=kw.pop("format", "JPEG"), **kw)
    return buf.getvalue()


def test_corrupt_and_truncated_bytes(blair):
    with pytest.raises(ImageDecodeError):
        load_image(b"")
    with pytest.raises(ImageDecodeError):
        load_image(b"\xff\xd8\xff\xe0 definitely not a jpeg" * 10)
    data = _jpeg_bytes(blair)
    with pytest.raises(ImageDecodeError):
        load_image(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError):
        detect_faces(np.zeros((3, 3), dtype=np.uint8))


def test_grey_cmyk_webp_and_exif_rotation(blair):
    from PIL import Image

    grey = load_image(_jpeg_bytes(blair[:, :, 0]))
    assert grey.shape == (250, 250, 3)
    detect_single_face(grey)

    buf = io.BytesIO()
    Image.fromarray(blair).convert("CMYK").save(buf, format="JPEG")
    assert load_image(buf.getvalue()).shape == (250, 250, 3)

    webp = _jpeg_bytes(blair, format="WEBP")  # "photo.jpg" that is really WebP
    detect_single_face(load_image(webp))

    buf = io.BytesIO()
    rotated = Image.fromarray(np.ascontiguousarray(np.rot90(blair)))  # stored sideways ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... with the EXIF orientation that tells viewers to turn it 90 degrees clockwise
    rotated.save(buf, format="JPEG", exif=exif)
    upright = load_image(buf.getvalue())
    eye_l, eye_r = detect_single_face(upright).landmarks[:2]
    assert abs(eye_l[1] - eye_r[1]) < 10  # eyes level: the orientation was applied
