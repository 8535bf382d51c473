"""Face mesh: 478 landmarks (mediapipe 0.10.21 face mesh with refined irises), head pose, eye and mouth openness.

The landmarks come from ``mp.solutions.face_mesh`` with ``refine_landmarks=True`` (the bundled
``face_landmark_with_attention.tflite``, manifest entry ``mediapipe_face_mesh_attention``, and the
short-range BlazeFace detector ``mediapipe_face_detection_short``); both files are sha256-checked
through :mod:`models` before the graph is built. Nothing loads at import time.

Conventions (camera frames are *not* mirrored):

* landmarks are ``(x, y, z)`` in pixels of the input image; ``z`` is mediapipe's relative depth
  scaled like ``x`` (smaller = nearer the camera);
* ``yaw > 0``: the nose points to the image's right, i.e. the person turns to *their* left;
  ``pitch > 0``: the person looks up; ``roll > 0``: the head tilts clockwise in the image.

Head pose is ``cv2.solvePnP`` of 15 mesh landmarks against a 3-D canonical model (below), with a
pinhole camera of focal length = the larger image side (a ~53 degree field of view, typical of
webcams). The canonical model is the landmark-wise median of the mesh of 400 LFW images (eye centres
at (+-0.5, 0, 0), unit = inter-eye distance, roll removed, then made left/right symmetric), so
"pitch 0" is the average pose of those near-frontal press photos.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from biometrics._native_log import native_quiet

__all__ = [
    "FaceMeshResult",
    "FaceMesher",
    "FaceMeshUnavailableError",
    "FrameError",
    "HeadPose",
    "as_rgb",
]

# mediapipe landmark indices (image-left eye = the person's right eye)
IRIS_L, IRIS_R = 468, 473
EYE_L = (33, 160, 158, 133, 153, 144)  # p1 outer corner, p2 p3 upper lid, p4 inner corner, p5 p6 lower lid
EYE_R = (263, 387, 385, 362, 380, 373)
MOUTH_UPPER, MOUTH_LOWER, MOUTH_LEFT, MOUTH_RIGHT = 13, 14, 61, 291
NOSE_TIP, CHIN, FOREHEAD, NOSE_BRIDGE = 1, 152, 10, 168

# 3-D canonical model (unit: inter-eye distance; x right, y down, z away from the camera).
_CANON = {
    1: (0.0, 0.675, -0.579), 2: (0.0, 0.768, -0.334), 152: (0.0, 1.892, 0.041),
    10: (0.0, -0.834, -0.199), 168: (0.0, -0.041, -0.264),
    33: (-0.697, 0.012, 0.080), 263: (0.697, 0.012, 0.080),
    133: (-0.276, 0.037, 0.005), 362: (0.276, 0.037, 0.005),
    61: (-0.419, 1.123, 0.020), 291: (0.419, 1.123, 0.020),
    234: (-1.122, 0.326, 0.926), 454: (1.122, 0.326, 0.926),
    98: (-0.285, 0.725, -0.199), 327: (0.285, 0.725, -0.199),
}
_POSE_IDX = np.array(list(_CANON), dtype=np.int64)
_POSE_MODEL = np.array(list(_CANON.values()), dtype=np.float64) * 63.0  # in mm (adult IED ~63 mm)

MAX_SIDE = 1280  # larger images are downscaled for the mesh; landmarks are mapped back

# mediapipe warns once per process, on the first face it meshes: stderr stays quiet until then
_first_face = threading.Event()


class FrameError(ValueError):
    """The image or frame is not a usable RGB uint8 array (empty, wrong dtype or shape)."""


class FaceMeshUnavailableError(RuntimeError):
    """mediapipe or its bundled face-mesh model is missing or fails its checksum."""


def as_rgb(image: object) -> np.ndarray:
    """Validate an image and return it as a contiguous ``(H, W, 3)`` uint8 RGB array.

    Grayscale ``(H, W)`` or ``(H, W, 1)`` is expanded and RGBA loses its alpha; anything else raises
    :class:`FrameError` (not an ndarray, empty, dtype other than uint8, fewer than 32 pixels a side).
    """
    if not isinstance(image, np.ndarray):
        raise FrameError(f"expected a numpy array, got {type(image).__name__}")
    if image.size == 0:
        raise FrameError("empty image array")
    if image.dtype != np.uint8:
        raise FrameError(f"expected dtype uint8 (RGB 0-255), got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    elif not (image.ndim == 3 and image.shape[2] == 3):
        raise FrameError(f"expected an (H, W, 3) RGB array, got shape {image.shape}")
    if min(image.shape[:2]) < 32:
        raise FrameError(f"image too small: {image.shape[1]}x{image.shape[0]} (at least 32x32)")
    return np.ascontiguousarray(image)


@dataclass(frozen=True)
class HeadPose:
    """Head pose in degrees (see the module docstring for the signs)."""

    yaw: float
    pitch: float
    roll: float


def _eye_ratio(p: np.ndarray, idx: tuple[int, ...]) -> float:
    p1, p2, p3, p4, p5, p6 = (p[i, :2] for i in idx)
    width = float(np.linalg.norm(p1 - p4))
    return float(np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2.0 * width) if width > 0 else 0.0


@dataclass(frozen=True)
class FaceMeshResult:
    """One face's mesh in an image of ``image_size = (width, height)`` pixels."""

    landmarks: np.ndarray  # (478, 3) float64, pixels
    image_size: tuple[int, int]

    @cached_property
    def eye_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Iris centres (image-left eye first), ``(x, y)`` pixels."""
        return self.landmarks[IRIS_L, :2].copy(), self.landmarks[IRIS_R, :2].copy()

    @cached_property
    def inter_eye_distance(self) -> float:
        """Distance between the iris centres, in pixels (ISO/IEC 39794-5 "inter-eye distance")."""
        a, b = self.eye_centres
        return float(np.linalg.norm(b - a))

    @cached_property
    def eye_aspect_ratios(self) -> tuple[float, float]:
        """Eye aspect ratio (Soukupova and Cech 2016) of each eye: lid gap / eye width; open ~0.25-0.35."""
        return _eye_ratio(self.landmarks, EYE_L), _eye_ratio(self.landmarks, EYE_R)

    @cached_property
    def eye_aspect_ratio(self) -> float:
        return float(np.mean(self.eye_aspect_ratios))

    @cached_property
    def eye_opening_face(self) -> float:
        """Mean lid gap / eye-to-mouth distance: unlike the EAR it is unchanged when a *flat* picture is
        tilted (a foreshortening shrinks both), so tilting a photo cannot fake a blink."""
        p = self.landmarks[:, :2]
        gaps = [np.linalg.norm(p[a] - p[b]) for a, b in ((160, 144), (158, 153), (387, 373), (385, 380))]
        eyes = (p[IRIS_L] + p[IRIS_R]) / 2
        mouth = (p[MOUTH_UPPER] + p[MOUTH_LOWER]) / 2
        scale = float(np.linalg.norm(mouth - eyes))
        return float(np.mean(gaps)) / scale if scale > 0 else 0.0

    @cached_property
    def mouth_opening(self) -> float:
        """Inner-lip gap / mouth width (0 closed, ~0.1 lips apart, > 0.3 wide open)."""
        p = self.landmarks[:, :2]
        width = float(np.linalg.norm(p[MOUTH_LEFT] - p[MOUTH_RIGHT]))
        return float(np.linalg.norm(p[MOUTH_UPPER] - p[MOUTH_LOWER])) / width if width > 0 else 0.0

    @cached_property
    def five_points(self) -> tuple[tuple[float, float], ...]:
        """The 5 landmarks the matcher aligns on, in the detectors' order: eye centres (image-left
        first), nose tip, mouth corners (image-left first); pixels."""
        p = self.landmarks[:, :2]
        return tuple((float(p[i, 0]), float(p[i, 1])) for i in (IRIS_L, IRIS_R, NOSE_TIP, MOUTH_LEFT, MOUTH_RIGHT))

    @cached_property
    def box(self) -> tuple[float, float, float, float]:
        """Landmark bounding box ``(x0, y0, x1, y1)`` in pixels (may extend outside the image)."""
        p = self.landmarks[:468, :2]
        return float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())

    @cached_property
    def pose(self) -> HeadPose:
        return head_pose(self.landmarks, self.image_size)


def head_pose(landmarks: np.ndarray, image_size: tuple[int, int]) -> HeadPose:
    """Yaw, pitch, roll in degrees from ``cv2.solvePnP`` against the canonical model."""
    w, h = image_size
    f = float(max(w, h))
    cam = np.array([[f, 0, w / 2.0], [0, f, h / 2.0], [0, 0, 1]], dtype=np.float64)
    img = landmarks[_POSE_IDX, :2].astype(np.float64)
    # initial guess: frontal, at the distance where the model's IED matches the image's
    ied = float(np.linalg.norm(landmarks[IRIS_R, :2] - landmarks[IRIS_L, :2])) or 1.0
    tz = f * 63.0 / ied
    centre = img.mean(axis=0)
    t0 = np.array([[(centre[0] - w / 2) * tz / f], [(centre[1] - h / 2) * tz / f], [tz]], dtype=np.float64)
    ok, rvec, _ = cv2.solvePnP(_POSE_MODEL, img, cam, None, np.zeros((3, 1)), t0, True, cv2.SOLVEPNP_ITERATIVE)
    if not ok:  # pragma: no cover - solvePnP with 15 points and a guess does not fail in practice
        return HeadPose(0.0, 0.0, 0.0)
    rot, _ = cv2.Rodrigues(rvec)
    # R = Ry(yaw) @ Rx(pitch) @ Rz(roll) in the camera frame (x right, y down, z forward)
    pitch = np.degrees(np.arcsin(np.clip(-rot[1, 2], -1.0, 1.0)))
    yaw = np.degrees(np.arctan2(rot[0, 2], rot[2, 2]))
    roll = np.degrees(np.arctan2(rot[1, 0], rot[1, 1]))
    # y points down, so looking up (nose moving to -y) is a negative rotation about x: flip pitch.
    return HeadPose(yaw=float(-yaw), pitch=float(-pitch), roll=float(roll))


class FaceMesher:
    """Thread-safe wrapper of a mediapipe face-mesh graph.

    ``static=True`` treats every image independently (quality checks); ``static=False`` tracks the
    face from frame to frame (liveness at camera rate, ~2x faster). ``max_faces`` > 1 lets the
    quality check count people in the picture.
    """

    def __init__(self, *, static: bool = True, max_faces: int = 1, min_confidence: float = 0.5) -> None:
        self._static = static
        self._max_faces = max_faces
        self._min_confidence = min_confidence
        self._graph = None
        self._detector = None
        self._lock = threading.Lock()

    def _load(self):  # noqa: ANN202 - a mediapipe graph
        try:
            from models import ModelError, model_path

            for name in ("mediapipe_face_mesh_attention", "mediapipe_face_detection_short",
                         "mediapipe_face_detection_full"):
                model_path(name)
            import mediapipe as mp
        except (ImportError, ModelError) as e:
            raise FaceMeshUnavailableError(f"mediapipe face mesh unavailable: {e}") from e
        return mp.solutions.face_mesh.FaceMesh(
            static_image_mode=self._static,
            max_num_faces=self._max_faces,
            refine_landmarks=True,
            min_detection_confidence=self._min_confidence,
            min_tracking_confidence=self._min_confidence,
        )

    def process(self, image: np.ndarray) -> list[FaceMeshResult]:
        """All faces found (at most ``max_faces``), largest inter-eye distance first.

        In static mode, when the mesh's own short-range detector finds nothing (a small face in a
        large photo), the full-range BlazeFace detector proposes faces and the mesh runs on crops.
        """
        rgb = as_rgb(image)
        h, w = rgb.shape[:2]
        with self._lock:
            # a graph logs as it starts (on its first frame) and at the first face: see biometrics._native_log
            starting = self._graph is None or not _first_face.is_set()
            with native_quiet() if starting else contextlib.nullcontext():
                if self._graph is None:
                    self._graph = self._load()
                found = self._mesh_on(rgb, (0, 0, w, h))
                if not found and self._static:
                    for box in self._detect(rgb):
                        found += self._mesh_on(rgb, box)
            if found:
                _first_face.set()
        faces = [FaceMeshResult(landmarks=arr, image_size=(w, h)) for arr in found]
        faces.sort(key=lambda f: -f.inter_eye_distance)
        return faces[: self._max_faces]

    def _mesh_on(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> list[np.ndarray]:
        x0, y0, x1, y1 = box
        crop = rgb[y0:y1, x0:x1]
        scale = min(1.0, MAX_SIDE / max(crop.shape[:2]))
        if scale < 1.0:
            crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                              interpolation=cv2.INTER_AREA)
        if not crop.flags["C_CONTIGUOUS"]:
            crop = np.ascontiguousarray(crop)
        sh, sw = crop.shape[:2]
        out = self._graph.process(crop)
        found = []
        for lms in out.multi_face_landmarks or ():
            arr = np.array([(p.x * sw, p.y * sh, p.z * sw) for p in lms.landmark], dtype=np.float64) / scale
            arr[:, 0] += x0
            arr[:, 1] += y0
            found.append(arr)
        return found

    def _detect(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Square crops (twice the face box) around the full-range detector's faces."""
        h, w = rgb.shape[:2]
        scale = min(1.0, MAX_SIDE / max(h, w))
        small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) \
            if scale < 1.0 else rgb
        starting = self._detector is None
        with native_quiet() if starting else contextlib.nullcontext():  # its start logs to stderr
            if starting:
                import mediapipe as mp

                self._detector = mp.solutions.face_detection.FaceDetection(
                    model_selection=1, min_detection_confidence=self._min_confidence)
            detections = self._detector.process(small).detections or ()
        boxes = []
        for det in detections[: self._max_faces]:
            bb = det.location_data.relative_bounding_box
            cx, cy = (bb.xmin + bb.width / 2) * w, (bb.ymin + bb.height / 2) * h
            half = max(bb.width * w, bb.height * h)
            x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
            x1, y1 = min(w, int(cx + half)), min(h, int(cy + half))
            if x1 - x0 >= 32 and y1 - y0 >= 32:
                boxes.append((x0, y0, x1, y1))
        return boxes

    def close(self) -> None:
        with self._lock:
            for graph in (self._graph, self._detector):
                if graph is not None:
                    graph.close()
            self._graph = self._detector = None

    def __enter__(self) -> FaceMesher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_shared: dict[tuple[bool, int], FaceMesher] = {}
_shared_lock = threading.Lock()


def shared_mesher(*, static: bool = True, max_faces: int = 1) -> FaceMesher:
    """A process-wide mesher per configuration (the graph loads on first use)."""
    with _shared_lock:
        key = (static, max_faces)
        if key not in _shared:
            _shared[key] = FaceMesher(static=static, max_faces=max_faces)
        return _shared[key]
