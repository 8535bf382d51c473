"""Alignment: from a detection to the 150x150 chip dlib's ResNet expects, and to an ICAO portrait crop.

The ResNet was trained on chips cut by ``dlib.get_face_chip`` from dlib's 5-point shape predictor run
on a dlib HOG box. Whatever detector found the face, we rebuild a HOG-like box from its landmarks
(geometry fitted on LFW: centre at the eye-mouth midpoint, side 2.26x the eye-to-mouth distance and
2.50x the inter-eye distance, averaged) and run the shape predictor on it, so every detector feeds
the network the alignment it was trained on.
"""

from __future__ import annotations

import threading

import numpy as np

from models import model_path

from ._detect import FaceDetection, as_rgb

__all__ = ["CHIP_SIZE", "CHIP_PADDING", "face_chip", "face_chips", "five_points", "icao_crop"]

CHIP_SIZE = 150
CHIP_PADDING = 0.25
_lock = threading.Lock()
_predictor = None


def _shape_predictor():
    global _predictor
    with _lock:
        if _predictor is None:
            import dlib

            _predictor = dlib.shape_predictor(str(model_path("dlib_shape_predictor_5")))
        return _predictor


def _dlib_box(detection: FaceDetection):
    """The HOG-like dlib.rectangle for a detection (landmark-based when the detector gave landmarks)."""
    import dlib

    pts = np.asarray(detection.landmarks, dtype=float) if detection.landmarks else np.full((5, 2), np.nan)
    if pts.shape == (5, 2) and not np.isnan(pts).any():
        eye = (pts[0] + pts[1]) / 2
        mouth = (pts[3] + pts[4]) / 2
        eye_mouth = float(np.linalg.norm(mouth - eye))
        inter_eye = float(np.linalg.norm(pts[1] - pts[0]))
        side = 0.5 * (2.26 * eye_mouth + 2.50 * inter_eye)
        cx, cy = (eye + mouth) / 2
        cy -= 0.04 * eye_mouth
    else:
        left, top, right, bottom = detection.box
        side = max(right - left, bottom - top)
        cx, cy = (left + right) / 2, (top + bottom) / 2
    half = side / 2
    return dlib.rectangle(int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half)))


def five_points(image: np.ndarray, detection: FaceDetection):
    """dlib's 5-point shape (eye corners and nose base) for a detection, as a full_object_detection."""
    rgb = as_rgb(image)
    return _shape_predictor()(rgb, _dlib_box(detection))


def face_chip(image: np.ndarray, detection: FaceDetection, *, size: int = CHIP_SIZE,
              padding: float = CHIP_PADDING) -> np.ndarray:
    """The aligned RGB chip (size x size) of one face, cut the way the ResNet was trained."""
    import dlib

    rgb = as_rgb(image)
    return dlib.get_face_chip(rgb, _shape_predictor()(rgb, _dlib_box(detection)), size=size, padding=padding)


def face_chips(image: np.ndarray, detections: list[FaceDetection]) -> list[np.ndarray]:
    return [face_chip(image, d) for d in detections]


def icao_crop(image: np.ndarray, detection: FaceDetection, *, width: int = 480, height: int = 600) -> np.ndarray:
    """A full-frontal portrait in the ICAO Doc 9303 / ISO/IEC 19794-5 geometry, ``width`` x ``height``.

    The eyes are levelled, their midpoint is centred horizontally at 46 % of the height from the top,
    and the inter-eye distance is a quarter of the width (120 px at 480 wide: the head, crown to chin,
    then fills about 75 % of the height as Doc 9303 Part 3 asks). Outside the source the crop is
    filled by edge replication, as a photographer's plain background would be.
    """
    import cv2

    rgb = as_rgb(image)
    pts = np.asarray(detection.landmarks, dtype=float) if detection.landmarks else np.full((5, 2), np.nan)
    if pts.shape != (5, 2) or np.isnan(pts[:2]).any():
        shape = five_points(rgb, detection)
        p = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], dtype=float)
        # dlib 5-point: 0,1 = corners of the eye on the image right, 2,3 = of the eye on the image left
        pts = np.array([(p[2] + p[3]) / 2, (p[0] + p[1]) / 2])
    left_eye, right_eye = pts[0], pts[1]
    dx, dy = right_eye - left_eye
    angle = np.degrees(np.arctan2(dy, dx))
    scale = (0.25 * width) / max(1e-6, float(np.hypot(dx, dy)))
    mid = (left_eye + right_eye) / 2
    m = cv2.getRotationMatrix2D((float(mid[0]), float(mid[1])), float(angle), float(scale))
    m[0, 2] += width / 2 - mid[0]
    m[1, 2] += 0.46 * height - mid[1]
    return cv2.warpAffine(rgb, m, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
