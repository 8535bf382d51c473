"""Face mesh: landmarks, head pose conventions, eye/mouth openness and bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from biometrics.face import FaceMesher, FrameError
from biometrics.face._mesh import _POSE_IDX, _POSE_MODEL, head_pose
from tests.conftest import shared_path


def _rgb(*parts: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(shared_path("faces", *parts))), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def mesher():
    with FaceMesher(static=True, max_faces=2) as m:
        yield m


def _project(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Landmarks of the canonical model turned by the given angles (person's convention)."""
    a, b, c = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), np.sin(b)], [0, -np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    x = _POSE_MODEL @ (ry @ rx @ rz).T + [0, 0, 600]
    lms = np.zeros((478, 3))
    lms[_POSE_IDX, :2] = x[:, :2] / x[:, 2:] * 640 + [320, 240]
    lms[468, :2], lms[473, :2] = [288.5, 240], [351.5, 240]
    return lms


@pytest.mark.parametrize("angles", [(0, 0, 0), (25, 0, 0), (-30, 10, 5), (0, -15, -10)])
def test_head_pose_recovers_known_rotation(angles):
    pose = head_pose(_project(*angles), (640, 480))
    assert (pose.yaw, pose.pitch, pose.roll) == pytest.approx(angles, abs=0.5)


def test_person_turning_left_moves_nose_right_and_has_positive_yaw():
    lms = _project(20, 0, 0)
    assert lms[1, 0] > 320 and head_pose(lms, (640, 480)).yaw > 15


def test_frontal_portrait(mesher):
    faces = mesher.process(_rgb("misc", "openface", "carell.jpg"))
    assert len(faces) == 1
    f = faces[0]
    assert f.landmarks.shape == (478, 3)
    assert 110 < f.inter_eye_distance < 170
    assert abs(f.pose.yaw) < 12 and abs(f.pose.roll) < 8
    assert 0.22 < f.eye_aspect_ratio < 0.4
    assert f.mouth_opening < 0.05


def test_mirror_flips_yaw(mesher):
    img = _rgb("misc", "face_recognition", "examples__knn_examples__train__kit_harington__john2.jpeg")
    a = mesher.process(img)[0].pose.yaw
    b = mesher.process(np.ascontiguousarray(img[:, ::-1]))[0].pose.yaw
    assert abs(a) > 8 and np.sign(a) == -np.sign(b) and abs(a + b) < 6


def test_face_in_a_large_photo_is_found_via_the_full_range_detector(mesher):
    img = _rgb("misc", "compreface", "003_A.jpg")  # 6988x4664 camera photo, face ~8 % of the width
    assert max(img.shape) > 6000
    faces = mesher.process(img)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    assert 0 < x0 < x1 < img.shape[1] and 0 < y0 < y1 < img.shape[0]
    assert faces[0].inter_eye_distance > 100


def test_no_face(mesher):
    assert mesher.process(np.full((240, 320, 3), 90, np.uint8)) == []


@pytest.mark.parametrize(
    "bad",
    [np.zeros((0, 0, 3), np.uint8), np.zeros((64, 64, 3), np.float32), np.zeros((64, 64, 2), np.uint8),
     np.zeros((8, 8, 3), np.uint8), [[1, 2, 3]]],
)
def test_bad_input_is_a_frame_error(mesher, bad):
    with pytest.raises(FrameError):
        mesher.process(bad)
