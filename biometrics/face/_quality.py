"""Face image quality, modelled on ISO/IEC 29794-5 and BSI OFIQ (measures, 0-100 scores, guidance).

Every measure yields a native ``value``, a purpose-independent ``score`` 0-100 (a logistic mapping
of the value whose midpoint and width are given per measure below, as OFIQ maps its native values)
and ``passed`` against a threshold on the *value* that depends on the purpose: ``"enrolment"``
(a kiosk capture that becomes a reference; ICAO/ISO/IEC 39794-5 photo rules) is stricter than
``"verification"`` (a live gate frame compared against a reference). The overall score is the lowest
score among the measures the purpose requires: the weakest property limits the comparison.

Pixel measures (sharpness, exposure, illumination) are taken on a *normalised face image*: a
similarity warp putting the iris centres 48 px apart at fixed positions of a 192x192 canvas
(like OFIQ's aligned image), masked by the convex hull of the face mesh. Calibration notes: the
thresholds were set on 200 random LFW images (250x250 JPEG press photos; IED median 41 px, most
near-frontal) and the 34 photos of ``faces/misc`` so that ordinary photos pass verification, and
checked to flag blurred (Gaussian sigma >= 3 at 250 px), darkened (x0.2), over-exposed (x2.5),
rotated (30 degrees), cropped, eye-edited and heavily compressed (JPEG q <= 10) versions of them,
and (enrolment) a face lit from one side (brightness ramp 0.3 -> 1 across the face).

Limits: no occlusion measure (sunglasses, masks, hair over the eyes) and no expression measure
beyond the open mouth; pose uses a generic head model, so |pitch| has a few degrees of bias on
photos taken from an unusual distance; the sharpness and exposure scales are for 8-bit sRGB
camera images, not infrared.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from biometrics.face._detect import FaceDetection
from biometrics.face._mesh import FaceMeshResult, as_rgb, shared_mesher

__all__ = ["GUIDANCE", "PURPOSES", "QualityMeasure", "QualityReport", "UnknownPurposeError", "assess_quality"]

PURPOSES = ("verification", "enrolment")

#: guidance key -> English text, most important first (the order of QualityReport.guidance).
GUIDANCE: dict[str, str] = {
    "face_not_found": "look at the camera",
    "one_person_only": "only one person in front of the camera",
    "move_closer": "move closer",
    "move_back": "move back a little",
    "center_face": "centre your face in the frame",
    "look_straight": "look straight at the camera",
    "keep_head_level": "keep your head level",
    "open_eyes": "open your eyes",
    "close_mouth": "close your mouth",
    "face_the_light": "face the light",
    "avoid_bright_light": "move out of the bright light",
    "hold_still": "hold still",
    "plain_background": "stand in front of a plain background",
    "use_original_photo": "use an uncompressed photo",
}
_PRIORITY = {k: i for i, k in enumerate(GUIDANCE)}

NORM_SIZE, NORM_IED = 192, 48.0
_NORM_LEFT_EYE = (NORM_SIZE / 2 - NORM_IED / 2, 72.0)


class UnknownPurposeError(ValueError):
    """``purpose`` is neither "verification" nor "enrolment"."""


@dataclass(frozen=True)
class QualityMeasure:
    name: str
    value: float
    score: int
    passed: bool
    guidance_key: str | None = None
    required: bool = True

    @property
    def guidance(self) -> str | None:
        """English text of the guidance when the measure failed, else None."""
        return GUIDANCE[self.guidance_key] if (self.guidance_key and not self.passed) else None

    def to_dict(self) -> dict:
        return {**asdict(self), "guidance": self.guidance}


@dataclass(frozen=True)
class QualityReport:
    purpose: str
    passed: bool
    score: int
    measures: list[QualityMeasure] = field(default_factory=list)
    #: the assessed face as a detection (mesh box, 5 landmarks) for the matcher to align on, so a
    #: verification does not detect the face a second time; never serialised
    face: FaceDetection | None = field(default=None, repr=False, compare=False)
    #: faces of comparable size in the image (several = someone next to or behind the traveller)
    faces: int = 0

    @property
    def failed(self) -> list[QualityMeasure]:
        return [m for m in self.measures if m.required and not m.passed]

    @property
    def guidance_keys(self) -> list[str]:
        """Keys of the failing required measures' guidance, most important first, without repeats."""
        keys = {m.guidance_key for m in self.failed if m.guidance_key}
        return sorted(keys, key=_PRIORITY.__getitem__)

    @property
    def guidance(self) -> list[str]:
        return [GUIDANCE[k] for k in self.guidance_keys]

    def measure(self, name: str) -> QualityMeasure:
        for m in self.measures:
            if m.name == name:
                return m
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {
            "purpose": self.purpose,
            "passed": self.passed,
            "score": self.score,
            "guidance": self.guidance,
            "guidance_keys": self.guidance_keys,
            "measures": [m.to_dict() for m in self.measures],
        }


def _logistic(value: float, mid: float, width: float) -> int:
    """100 / (1 + exp(-(value - mid) / width)), rounded; width < 0 means lower is better."""
    z = max(-60.0, min(60.0, (value - mid) / width))
    return round(100.0 / (1.0 + math.exp(-z)))


# ---------------------------------------------------------------- measure definitions
# Each: value -> score mapping (mid, width) and pass thresholds per purpose.
# name: (mid, width, {purpose: (low, high)}, guidance when too low, guidance when too high)
_SPEC: dict[str, tuple[float, float, dict[str, tuple[float, float]], str | None, str | None]] = {}


def _spec(name: str, mid: float, width: float, verification: tuple[float, float],
          enrolment: tuple[float, float], low_key: str | None, high_key: str | None) -> None:
    _SPEC[name] = (mid, width, {"verification": verification, "enrolment": enrolment}, low_key, high_key)


INF = float("inf")
#: single_face: number of faces with an IED >= 40 % of the main face's; pass = exactly 1.
#: inter_eye_distance: pixels between iris centres; score 50 at 40 px (width 8 px); pass >= 30 px
#:   (verification) or >= 90 px (enrolment: ISO/IEC 39794-5 / ICAO recommendation for references).
_spec("inter_eye_distance", 40.0, 8.0, (30.0, INF), (90.0, INF), "move_closer", None)
#: head_size: estimated chin-to-crown height / image height; the crown is the mesh's forehead point
#:   raised by 30 % of the forehead-to-chin distance. Score 50 at 0.25 (width 0.05), pass in
#:   [0.12, 0.95] (verification) or [0.35, 0.90] (enrolment).
_spec("head_size", 0.25, 0.05, (0.12, 0.95), (0.35, 0.90), "move_closer", "move_back")
#: head_in_frame: smallest margin between the head (mesh box, estimated crown) and the image
#:   border, in IEDs (negative = cut off). Score 50 at 0 (width 0.1); pass >= 0 (verification),
#:   >= 0.25 (enrolment: ICAO wants the whole head and some shoulders).
_spec("head_in_frame", 0.0, 0.1, (0.0, INF), (0.25, INF), "center_face", None)
#: head_pose_yaw / _pitch / _roll: |angle| in degrees; score 50 at 20/20/15 degrees (width -4/-4/-3);
#:   pass <= 25/25/20 (verification) or <= 10/15/8 (enrolment; ICAO asks for a frontal pose).
_spec("head_pose_yaw", 20.0, -4.0, (-INF, 25.0), (-INF, 10.0), None, "look_straight")
_spec("head_pose_pitch", 20.0, -4.0, (-INF, 25.0), (-INF, 15.0), None, "look_straight")
_spec("head_pose_roll", 15.0, -3.0, (-INF, 20.0), (-INF, 8.0), None, "keep_head_level")
#: eyes_open: mean eye aspect ratio of the mesh (open 0.25-0.35, closed < 0.1); score 50 at 0.15
#:   (width 0.03); pass >= 0.14 (verification) or >= 0.17 (enrolment).
_spec("eyes_open", 0.15, 0.03, (0.14, INF), (0.17, INF), "open_eyes", None)
#: mouth_closed: inner-lip gap / mouth width (closed < 0.05, talking 0.1-0.3); score 50 at 0.2
#:   (width -0.05); pass <= 0.4 (verification) or <= 0.15 (enrolment; neutral expression).
_spec("mouth_closed", 0.2, -0.05, (-INF, 0.4), (-INF, 0.15), None, "close_mouth")
#: sharpness: variance of the 3x3 Laplacian inside the face of the normalised image (gray
#:   levels^2; LFW 5th-95th percentile 320-2100, Gaussian blur sigma 3 at 250 px gives 15-75);
#:   score = logistic of ln(value) with midpoint ln(100), width 0.4; pass >= 100 (verification) or
#:   >= 200 (enrolment).
_spec("sharpness", 100.0, 0.0, (100.0, INF), (200.0, INF), "hold_still", None)
#: under_exposure: mean face luminance (BT.601 Y, 0-255); score 50 at 50 (width 10); pass >= 45
#:   (verification) or >= 60 (enrolment).
_spec("under_exposure", 50.0, 10.0, (45.0, INF), (60.0, INF), "face_the_light", None)
#: over_exposure: fraction of face pixels with Y >= 250 (clipped highlights); score 50 at 0.1
#:   (width -0.03); pass <= 0.15 (verification) or <= 0.05 (enrolment).
_spec("over_exposure", 0.1, -0.03, (-INF, 0.15), (-INF, 0.05), None, "avoid_bright_light")
#: illumination_uniformity: intersection of the 32-bin luminance histograms of the left and right
#:   face halves (1 = identical, OFIQ's measure); score 50 at 0.4 (width 0.08); pass >= 0.25
#:   (verification) or >= 0.45 (enrolment).
_spec("illumination_uniformity", 0.4, 0.08, (0.25, INF), (0.45, INF), "face_the_light", None)
#: background_uniformity: mean Sobel gradient magnitude of the background (image outside the
#:   head, scaled so IED = 24 px), gray levels/px; score 50 at 25 (width -6); pass <= 20 at
#:   enrolment, not required for verification (a gate's background is the hall).
_spec("background_uniformity", 25.0, -6.0, (-INF, INF), (-INF, 20.0), None, "plain_background")
#: compression: JPEG blockiness around the face: with ``e`` the mean luminance step across the
#:   image's 8x8 grid lines and ``i`` the mean step elsewhere, value = (e - i) * (1 - i / e) gray
#:   levels (the excess step, discounted where the picture itself is busy). Uncompressed or good
#:   JPEGs give < 1.1; JPEG q=30 ~1 (LFW size); q=10 1.8-5. Score 50 at 1.5 (width -0.3); pass
#:   <= 1.5 (verification) or <= 1.2 (enrolment).
_spec("compression", 1.5, -0.3, (-INF, 1.5), (-INF, 1.2), None, "use_original_photo")


def _measure(name: str, value: float, purpose: str, score: int | None = None,
             required: bool = True) -> QualityMeasure:
    mid, width, thresholds, low_key, high_key = _SPEC[name]
    low, high = thresholds[purpose]
    if score is None:
        score = _logistic(value, mid, width)
    if not math.isfinite(value):
        passed, key = False, low_key or high_key
    elif value < low:
        passed, key = False, low_key
    elif value > high:
        passed, key = False, high_key
    else:
        passed, key = True, (low_key or high_key)
    if purpose == "verification" and name == "background_uniformity":
        required = False
    return QualityMeasure(name, round(float(value), 4), int(score), passed, key, required)


# ---------------------------------------------------------------- pixel helpers
def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _normalised(rgb: np.ndarray, face: FaceMeshResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(luma crop, face mask, 2x3 warp) of the normalised face image."""
    left, right = face.eye_centres
    ied = face.inter_eye_distance
    scale = NORM_IED / ied
    src = rgb
    pre = 1.0
    if scale < 0.5:  # shrink with area averaging first so the warp does not alias
        pre = min(1.0, 2.0 * scale)
        src = cv2.resize(rgb, None, fx=pre, fy=pre, interpolation=cv2.INTER_AREA)
        left, right, ied, scale = left * pre, right * pre, ied * pre, NORM_IED / (ied * pre)
    angle = math.atan2(right[1] - left[1], right[0] - left[0])
    c, s = scale * math.cos(-angle), scale * math.sin(-angle)
    m = np.array([[c, -s, 0.0], [s, c, 0.0]])
    m[:, 2] = np.array(_NORM_LEFT_EYE) - m[:, :2] @ left
    gray = _luma(cv2.warpAffine(src, m, (NORM_SIZE, NORM_SIZE), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE))
    pts = face.landmarks[:468, :2] * pre @ m[:, :2].T + m[:, 2]
    mask = np.zeros((NORM_SIZE, NORM_SIZE), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(pts.astype(np.int32)), 1)
    full = np.hstack([m[:, :2] * pre, m[:, 2:]])  # original image coordinates -> normalised image
    return gray, mask, full


def _sharpness(gray: np.ndarray, mask: np.ndarray) -> float:
    inner = cv2.erode(mask, np.ones((7, 7), np.uint8))
    lap = cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F, ksize=3)
    vals = lap[inner > 0]
    return float(vals.var()) if vals.size > 50 else 0.0


def _score_sharpness(v: float) -> int:
    return _logistic(math.log(max(v, 1e-3)), math.log(100.0), 0.4)


def _uniformity(gray: np.ndarray, mask: np.ndarray, warp: np.ndarray, face: FaceMeshResult) -> float:
    pts = face.landmarks[:, :2] @ warp[:, :2].T + warp[:, 2]
    a, b = pts[168], pts[152]  # nose bridge and chin define the face's midline
    yy, xx = np.mgrid[0:NORM_SIZE, 0:NORM_SIZE]
    side = (b[0] - a[0]) * (yy - a[1]) - (b[1] - a[1]) * (xx - a[0])
    halves = [gray[(mask > 0) & (side > 0)], gray[(mask > 0) & (side < 0)]]
    if min(h.size for h in halves) < 100:
        return 0.0
    hists = [np.histogram(h, bins=32, range=(0, 256))[0] / h.size for h in halves]
    return float(np.minimum(*hists).sum())


def _head_extent(face: FaceMeshResult) -> tuple[float, float, float, float]:
    """(x0, crown_y, x1, chin_y): the mesh box with the crown estimated above the forehead."""
    p = face.landmarks[:, :2]
    x0, y0, x1, y1 = face.box
    crown = p[10, 1] - 0.3 * (p[152, 1] - p[10, 1])
    return x0, min(y0, crown), x1, y1


def _background(rgb: np.ndarray, face: FaceMeshResult) -> float:
    x0, y0, x1, y1 = _head_extent(face)
    scale = min(1.0, 24.0 / face.inter_eye_distance)
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    gray = cv2.GaussianBlur(_luma(small).astype(np.float32), (0, 0), 1.0)
    mag = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    mask = np.ones(gray.shape, np.uint8)
    cx, w = (x0 + x1) / 2 * scale, (x1 - x0) * scale
    # head and shoulders: an ellipse around the head plus everything below the chin
    cv2.ellipse(mask, (int(cx), int((y0 + y1) / 2 * scale)), (int(w * 0.75), int((y1 - y0) * scale * 0.65)),
                0, 0, 360, 0, -1)
    mask[int(y1 * scale):, :] = 0
    vals = mag[mask > 0]
    return float(vals.mean()) / 4.0 if vals.size > 200 else 0.0  # Sobel 3x3 gain is 4


def _blockiness(rgb: np.ndarray, face: FaceMeshResult) -> float:
    """JPEG blockiness around the face on the image's own 8x8 grid (see the ``compression`` spec)."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = _head_extent(face)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = min(256.0, max(32.0, (x1 - x0) * 0.6))  # at most 512x512 around the face centre
    xa = max(0, int(cx - half) // 8 * 8)
    ya = max(0, int(cy - half) // 8 * 8)
    g = _luma(rgb[ya:min(h, int(cy + half)), xa:min(w, int(cx + half))]).astype(np.float32)
    if min(g.shape) < 24:
        return 0.0
    edge, inside = [], []
    for d in (np.abs(np.diff(g, axis=1)), np.abs(np.diff(g, axis=0).T)):
        at_edge = (np.arange(d.shape[1]) % 8) == 7  # the step between pixel 8k+7 and 8k+8
        edge.append(float(d[:, at_edge].mean()))
        inside.append(float(d[:, ~at_edge].mean()))
    e, i = float(np.mean(edge)), float(np.mean(inside))
    return max(0.0, e - i) * max(0.0, 1.0 - i / e) if e > 0 else 0.0


# ---------------------------------------------------------------- the assessment
def assess_quality(image: np.ndarray, *, purpose: str = "verification") -> QualityReport:
    """Quality of an RGB uint8 face image for ``purpose`` ("verification" or "enrolment").

    Raises :class:`~biometrics.face.FrameError` for arrays that are not images (empty, wrong dtype
    or shape), :class:`UnknownPurposeError` for another purpose. A picture without a face is a
    failed report (``face_not_found``), not an error.
    """
    if purpose == "enrollment":
        purpose = "enrolment"
    if purpose not in PURPOSES:
        raise UnknownPurposeError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
    rgb = as_rgb(image)
    faces = shared_mesher(static=True, max_faces=4).process(rgb)
    if not faces:
        m = QualityMeasure("single_face", 0.0, 0, False, "face_not_found")
        return QualityReport(purpose, False, 0, [m])
    face = faces[0]
    n = sum(1 for f in faces if f.inter_eye_distance >= 0.4 * face.inter_eye_distance)
    measures = [QualityMeasure("single_face", float(n), 100 if n == 1 else 0, n == 1,
                               "one_person_only")]
    h, w = rgb.shape[:2]
    ied = face.inter_eye_distance
    x0, y0, x1, y1 = _head_extent(face)
    pose = face.pose
    gray, mask, warp = _normalised(rgb, face)
    inside = gray[mask > 0].astype(np.float32)
    builders: list[tuple[str, Callable[[], float], Callable[[float], int] | None]] = [
        ("inter_eye_distance", lambda: ied, None),
        ("head_size", lambda: (y1 - y0) / h, None),
        ("head_in_frame", lambda: min(x0, y0, w - x1, h - y1) / ied, None),
        ("head_pose_yaw", lambda: abs(pose.yaw), None),
        ("head_pose_pitch", lambda: abs(pose.pitch), None),
        ("head_pose_roll", lambda: abs(pose.roll), None),
        ("eyes_open", lambda: face.eye_aspect_ratio, None),
        ("mouth_closed", lambda: face.mouth_opening, None),
        ("sharpness", lambda: _sharpness(gray, mask), _score_sharpness),
        ("under_exposure", lambda: float(inside.mean()) if inside.size else 0.0, None),
        ("over_exposure", lambda: float((inside >= 250).mean()) if inside.size else 0.0, None),
        ("illumination_uniformity", lambda: _uniformity(gray, mask, warp, face), None),
        ("background_uniformity", lambda: _background(rgb, face), None),
        ("compression", lambda: _blockiness(rgb, face), None),
    ]
    for name, value_fn, score_fn in builders:
        value = value_fn()
        # the head-size score is about being large enough; too large is a pass/fail matter only
        score = score_fn(value) if score_fn else None
        measures.append(_measure(name, value, purpose, score))
    required = [m for m in measures if m.required]
    passed = all(m.passed for m in required)
    detection = FaceDetection(box=face.box, score=1.0, landmarks=face.five_points, detector="mesh")
    return QualityReport(purpose, passed, min(m.score for m in required), measures, face=detection, faces=n)
