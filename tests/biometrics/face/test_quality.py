"""Face quality (ISO/IEC 29794-5 / OFIQ-like measures): real photos and their degraded versions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from biometrics.face import GUIDANCE, FrameError, QualityReport, UnknownPurposeError, assess_quality
from tests.conftest import shared_path

EYE_CONTOURS = (
    [33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7],
    [263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249],
)


def _rgb(*parts: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(shared_path("faces", *parts))), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def good() -> np.ndarray:
    """A frontal, evenly lit studio portrait on a plain background (ICAO-like)."""
    return _rgb("misc", "openface", "carell.jpg")


def _jpeg(img: np.ndarray, q: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_good_photo_passes_for_verification_and_enrolment(good):
    for purpose in ("verification", "enrolment"):
        r = assess_quality(good, purpose=purpose)
        assert r.passed, r.to_dict()
        assert r.guidance == [] and r.score >= 80
    names = {m.name for m in r.measures}
    assert names == {
        "single_face", "inter_eye_distance", "head_size", "head_in_frame", "head_pose_yaw", "head_pose_pitch",
        "head_pose_roll", "eyes_open", "mouth_closed", "sharpness", "under_exposure", "over_exposure",
        "illumination_uniformity", "background_uniformity", "compression",
    }
    assert all(0 <= m.score <= 100 for m in r.measures)


def _first_key(img: np.ndarray, purpose: str = "verification") -> tuple[QualityReport, str]:
    r = assess_quality(img, purpose=purpose)
    assert not r.passed
    return r, r.guidance_keys[0]


def test_blurred(good):
    r, key = _first_key(cv2.GaussianBlur(good, (0, 0), 8))
    assert key == "hold_still" and r.guidance[0] == "hold still"
    assert not r.measure("sharpness").passed


def test_dark(good):
    r, key = _first_key((good * 0.2).astype(np.uint8))
    assert key == "face_the_light" and not r.measure("under_exposure").passed


def test_over_exposed(good):
    r, key = _first_key(np.clip(good.astype(np.int32) * 5 // 2, 0, 255).astype(np.uint8))
    assert key == "avoid_bright_light" and not r.measure("over_exposure").passed


def test_rotated(good):
    h, w = good.shape[:2]
    rot = cv2.warpAffine(good, cv2.getRotationMatrix2D((w / 2, h / 2), 30, 1), (w, h), borderMode=cv2.BORDER_REFLECT)
    r, key = _first_key(rot)
    assert key == "keep_head_level" and r.measure("head_pose_roll").value > 20


def test_turned_head_fails_enrolment():
    img = _rgb("misc", "face_recognition", "examples__knn_examples__train__kit_harington__john2.jpeg")
    r = assess_quality(img, purpose="enrolment")
    assert "look_straight" in r.guidance_keys and r.measure("head_pose_yaw").value > 10


def test_cropped(good):
    h, w = good.shape[:2]
    r, key = _first_key(np.ascontiguousarray(good[: int(h * 0.45)]))
    assert "center_face" in r.guidance_keys
    assert r.measure("head_in_frame").value < 0


def test_eyes_painted_over(good):
    from biometrics.face import FaceMesher

    with FaceMesher() as m:
        face = m.process(good)[0]
    edited = good.copy()
    for idx in EYE_CONTOURS:
        pts = face.landmarks[idx, :2]
        c = pts.mean(axis=0)
        skin = np.median(good[int(c[1] + 0.35 * face.inter_eye_distance) + np.arange(-3, 3), int(c[0])], axis=0)
        cv2.fillPoly(edited, [((pts - c) * 1.3 + c).astype(np.int32)], [int(v) for v in skin])
    r, key = _first_key(edited)
    assert key == "open_eyes" and r.measure("eyes_open").value < 0.14


def test_heavy_jpeg(good):
    r, key = _first_key(_jpeg(good, 5))
    assert "use_original_photo" in r.guidance_keys


def test_two_people(good):
    side = np.concatenate([good, good[:, ::-1]], axis=1)
    r, key = _first_key(side)
    assert key == "one_person_only" and r.measure("single_face").value == 2


def test_small_lfw_face_passes_verification_but_not_enrolment():
    img = _rgb("lfw-dev", "Abdullah_Gul", "Abdullah_Gul_0001.jpg")
    v = assess_quality(img)
    e = assess_quality(img, purpose="enrolment")
    assert v.measure("inter_eye_distance").passed and not e.measure("inter_eye_distance").passed
    assert "move_closer" in e.guidance_keys


def test_no_face_is_a_failed_report_not_an_error():
    r = assess_quality(np.full((240, 320, 3), 128, np.uint8))
    assert not r.passed and r.guidance_keys == ["face_not_found"] and r.score == 0


def test_report_serialises(good):
    d = assess_quality(_jpeg(good, 5)).to_dict()
    assert d["guidance"] == [GUIDANCE[k] for k in d["guidance_keys"]]
    assert {"name", "value", "score", "passed", "guidance", "guidance_key", "required"} <= set(d["measures"][0])


@pytest.mark.parametrize("bad", [np.zeros((0, 0, 3), np.uint8), np.zeros((100, 100, 3), np.float64), "img"])
def test_bad_input(bad):
    with pytest.raises(FrameError):
        assess_quality(bad)


def test_unknown_purpose(good):
    with pytest.raises(UnknownPurposeError):
        assess_quality(good, purpose="border")


def test_side_light_fails_enrolment(good):
    from biometrics.face import FaceMesher

    with FaceMesher() as m:
        x0, _, x1, _ = m.process(good)[0].box
    ramp = np.clip(0.3 + 0.7 * (np.arange(good.shape[1]) - x0) / (x1 - x0), 0.3, 1.0)
    lit = np.clip(good * ramp[None, :, None], 0, 255).astype(np.uint8)
    r = assess_quality(lit, purpose="enrolment")
    assert r.guidance_keys == ["face_the_light"]
    assert r.measure("illumination_uniformity").value < 0.45


def test_open_mouth_fails_enrolment():
    img = _rgb("lfw-dev", "Clare_Short", "Clare_Short_0001.jpg")
    r = assess_quality(img, purpose="enrolment")
    assert "close_mouth" in r.guidance_keys and r.measure("mouth_closed").value > 0.3
