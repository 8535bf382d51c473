"""Face detection on live frames and chip photos, with named errors for the cases a gate must tell apart.

Detectors (chosen by measurement, see ``bench/face.py``): ``"mtcnn"`` (default: the MTCNN
.onnx models on onnxruntime; finds faces in small, compressed chip photos and gives 5 landmarks),
``"hog"`` (dlib's HOG + linear SVM, no landmarks of its own), ``"cnn"`` (dlib's MMOD CNN, slow on CPU),
``"mediapipe"`` (BlazeFace full range). Every model loads lazily on first use.

Landmarks are 5 points in image coordinates: eye on the image left, eye on the image right, nose tip,
mouth corner on the image left, mouth corner on the image right (``NaN`` where a detector has none).
"""

from __future__ import annotations

import contextlib
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from biometrics._native_log import native_quiet
from models import model_path

__all__ = [
    "DETECTORS",
    "DEFAULT_DETECTOR",
    "MIN_INTER_EYE_DISTANCE",
    "FaceDetection",
    "FaceError",
    "NoFaceError",
    "MultipleFacesError",
    "FaceTooSmallError",
    "ImageDecodeError",
    "detect_faces",
    "detect_single_face",
    "as_rgb",
    "load_image",
]

DETECTORS = ("mtcnn", "hog", "cnn", "mediapipe")
DEFAULT_DETECTOR = "mtcnn"
#: Below this inter-eye distance (pixels) the ResNet template is unreliable. ISO/IEC 19794-5 asks
#: 90 px for an enrolment photo; a verification probe can go lower, 24 px is where LFW accuracy drops.
MIN_INTER_EYE_DISTANCE = 24.0
#: Images larger than this (longest side, pixels) are reduced before detection; boxes are mapped back.
MAX_DETECT_SIDE = 1280
MAX_IMAGE_PIXELS = 8000 * 8000


class FaceError(ValueError):
    """Base of the face engine's input errors (no face, several faces, tiny face, undecodable image)."""


class NoFaceError(FaceError):
    """No face was found in the image."""


class MultipleFacesError(FaceError):
    """More than one usable face: a 1:1 decision needs exactly one person in front of the camera."""

    def __init__(self, message: str, count: int = 2):
        super().__init__(message)
        self.count = count


class FaceTooSmallError(FaceError):
    """A face was found but its inter-eye distance is below the minimum for a reliable template."""

    def __init__(self, message: str, inter_eye_distance: float = 0.0):
        super().__init__(message)
        self.inter_eye_distance = inter_eye_distance


class ImageDecodeError(FaceError):
    """The bytes or array are not a decodable colour/grey image (corrupt, truncated, unsupported)."""


@dataclass(frozen=True)
class FaceDetection:
    """One face: ``box`` = (left, top, right, bottom) pixels, ``score`` in [0, 1], 5 ``landmarks``."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: tuple[tuple[float, float], ...] = field(default=())
    detector: str = ""

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    @property
    def inter_eye_distance(self) -> float:
        """Distance between the eye centres in pixels (estimated from the box when no landmarks)."""
        if len(self.landmarks) >= 2 and not np.isnan(self.landmarks[0][0]):
            (ax, ay), (bx, by) = self.landmarks[0], self.landmarks[1]
            return float(np.hypot(bx - ax, by - ay))
        return 0.40 * self.width  # dlib HOG boxes: eye distance ~0.40 of the box width (measured on LFW)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A C-contiguous RGB uint8 (H, W, 3) view of an array: grey is expanded, alpha dropped."""
    if not isinstance(image, np.ndarray):
        raise ImageDecodeError(f"expected a numpy image array, got {type(image).__name__}")
    arr = image
    if arr.dtype != np.uint8:
        if arr.dtype.kind == "f" and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 8 or arr.shape[1] < 8:
        raise ImageDecodeError(f"not an RGB image: shape {image.shape}")
    return np.ascontiguousarray(arr)


def load_image(source: bytes | str | Path) -> np.ndarray:
    """Decode an image file or bytes to RGB uint8, applying its EXIF orientation.

    Any format Pillow reads (JPEG, PNG, JPEG 2000, WebP whatever the file name says, CMYK, grey).
    Raises :class:`ImageDecodeError` for corrupt, truncated, empty or absurdly large images.
    """
    from PIL import Image, ImageOps

    try:
        data = Path(source).read_bytes() if isinstance(source, str | Path) else bytes(source)
    except OSError as e:
        raise ImageDecodeError(f"cannot read image: {e}") from e
    if not data:
        raise ImageDecodeError("empty image")
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise ImageDecodeError(f"image too large: {im.width}x{im.height}")
            im.load()
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"))
    except ImageDecodeError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError) as e:
        raise ImageDecodeError(f"cannot decode image: {e}") from e


# -- backends -----------------------------------------------------------------------------------

_lock = threading.Lock()
_cache: dict[str, object] = {}


def _get(name: str, factory):
    with _lock:
        if name not in _cache:
            _cache[name] = factory()
        return _cache[name]


_NAN5 = tuple((float("nan"), float("nan")) for _ in range(5))


def _detect_mtcnn(rgb: np.ndarray, min_face: int) -> list[FaceDetection]:
    from ._mtcnn import mtcnn

    raw = mtcnn().detect(rgb, min_face=min_face)
    out = []
    for box, pts in zip(raw.boxes, raw.points, strict=True):
        out.append(FaceDetection(box=tuple(float(v) for v in box[:4]), score=float(box[4]),
                                 landmarks=tuple((float(x), float(y)) for x, y in pts), detector="mtcnn"))
    return out


def _detect_hog(rgb: np.ndarray, min_face: int) -> list[FaceDetection]:
    import dlib

    det = _get("hog", dlib.get_frontal_face_detector)
    # HOG's window is 80 px; upsample once when faces may be smaller than that.
    upsample = 1 if min_face < 80 and max(rgb.shape[:2]) <= 800 else 0
    rects, scores, _ = det.run(rgb, upsample, -0.2)
    out = []
    for r, s in zip(rects, scores, strict=True):
        score = float(1 / (1 + np.exp(-3 * s)))  # SVM margin -> (0, 1)
        out.append(FaceDetection(box=(float(r.left()), float(r.top()), float(r.right()), float(r.bottom())),
                                 score=score, landmarks=_NAN5, detector="hog"))
    return out


def _detect_cnn(rgb: np.ndarray, min_face: int) -> list[FaceDetection]:
    import dlib

    det = _get("cnn", lambda: dlib.cnn_face_detection_model_v1(str(model_path("dlib_mmod_face_detector"))))
    upsample = 1 if min_face < 80 and max(rgb.shape[:2]) <= 640 else 0
    out = []
    for d in det(rgb, upsample):
        r = d.rect
        out.append(FaceDetection(box=(float(r.left()), float(r.top()), float(r.right()), float(r.bottom())),
                                 score=float(min(1.0, max(0.0, d.confidence))), landmarks=_NAN5, detector="cnn"))
    return out


def _detect_mediapipe(rgb: np.ndarray, min_face: int) -> list[FaceDetection]:
    def factory():
        model_path("mediapipe_face_detection_full")  # verify the bundled model before use
        import mediapipe as mp

        return mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)

    starting = "mediapipe" not in _cache  # the graph logs to stderr as it starts (biometrics._native_log)
    with native_quiet() if starting else contextlib.nullcontext():
        det = _get("mediapipe", factory)
        with _lock:  # a mediapipe graph is not re-entrant
            result = det.process(rgb)
    h, w = rgb.shape[:2]
    out = []
    for d in result.detections or []:
        bb = d.location_data.relative_bounding_box
        kp = [(p.x * w, p.y * h) for p in d.location_data.relative_keypoints]
        # keypoints: subject's right eye (image left), left eye, nose tip, mouth centre, ear tragions.
        eye_l, eye_r, nose, mouth = kp[0], kp[1], kp[2], kp[3]
        half = 0.35 * (eye_r[0] - eye_l[0])
        landmarks = (eye_l, eye_r, nose, (mouth[0] - half, mouth[1]), (mouth[0] + half, mouth[1]))
        out.append(FaceDetection(box=(bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h),
                                 score=float(d.score[0]), landmarks=landmarks, detector="mediapipe"))
    return out


_BACKENDS = {"mtcnn": _detect_mtcnn, "hog": _detect_hog, "cnn": _detect_cnn, "mediapipe": _detect_mediapipe}


def detect_faces(image: np.ndarray, *, detector: str = DEFAULT_DETECTOR, min_face: int = 20,
                 min_score: float = 0.0) -> list[FaceDetection]:
    """All faces in an RGB uint8 image, best score first (an empty list when there is none).

    ``min_face`` is the smallest face side (pixels) searched for. Large images are reduced to
    ``MAX_DETECT_SIDE`` for detection; boxes and landmarks are in the original image's pixels.
    """
    if detector not in _BACKENDS:
        raise ValueError(f"unknown detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    rgb = as_rgb(image)
    scale = 1.0
    if max(rgb.shape[:2]) > MAX_DETECT_SIDE:
        import cv2

        scale = MAX_DETECT_SIDE / max(rgb.shape[:2])
        rgb = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)),
                         interpolation=cv2.INTER_AREA)
    found = _BACKENDS[detector](rgb, max(12, int(min_face * scale)))
    if scale != 1.0:
        found = [FaceDetection(box=tuple(v / scale for v in d.box), score=d.score,
                               landmarks=tuple((x / scale, y / scale) for x, y in d.landmarks),
                               detector=d.detector) for d in found]
    return sorted((d for d in found if d.score >= min_score), key=lambda d: -d.score)


def detect_single_face(image: np.ndarray, *, detector: str = DEFAULT_DETECTOR,
                       min_inter_eye_distance: float = MIN_INTER_EYE_DISTANCE) -> FaceDetection:
    """The one face of a 1:1 capture.

    Faces much smaller than the minimum (people far behind in the queue) are ignored. Raises
    :class:`NoFaceError`, :class:`MultipleFacesError` (two or more usable faces) or
    :class:`FaceTooSmallError` (the only face is below ``min_inter_eye_distance``).
    """
    faces = detect_faces(image, detector=detector)
    if not faces:
        raise NoFaceError("no face found")
    usable = [f for f in faces if f.inter_eye_distance >= min_inter_eye_distance]
    if len(usable) > 1:
        raise MultipleFacesError(f"{len(usable)} faces found; exactly one person must face the camera",
                                 count=len(usable))
    if not usable:
        biggest = max(faces, key=lambda f: f.inter_eye_distance)
        raise FaceTooSmallError(
            f"face too small: inter-eye distance {biggest.inter_eye_distance:.0f} px < {min_inter_eye_distance:.0f} px",
            inter_eye_distance=biggest.inter_eye_distance)
    return usable[0]
