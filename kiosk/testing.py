"""Test doubles of the kiosk's engines, and the simulator's explicit relaxations. Runtime code never
imports this module (tests/kiosk checks it); only tests, benches and ``kiosk run --sim`` do.

These are plain algorithms, good enough to exercise the workflow and the screens without the
biometric models; none of them is a biometric check a real kiosk could rely on:

- Face quality: OpenCV Viola-Jones detector on a 320-px frame; size, centring, exposure and
  sharpness (variance of the Laplacian) of the face box (ISO/IEC 29794-5 style measures).
- Face template: dlib's ResNet embedding through ``face_recognition`` on the detected box, as the face
  engine's version 1 template bytes (dlib part only).
- Liveness: a head-movement check; the face centre must move by >= 10 % of the face width and
  consecutive face crops must differ (a still photograph held up gives identical frames). Not a
  presentation-attack check: a replayed video passes it.
- Fingerprint quality: block orientation coherence of the gradient structure tensor over the
  foreground (Hong, Wan & Jain 1998), scaled 0-100, with area and contrast checks.
- Slap segmentation: column profile of the ink, the four widest runs.
- Fingerprint "template": the smoothed orientation field on a 16 x 16 grid (format ``sb_orientation_v1``),
  which the back office refuses (only ISO/IEC 19794-2 records are accepted).

:func:`with_head_movement_liveness` gives the simulator's camera that plays still photographs (and so
cannot perform the real challenges) the head-movement check instead, visibly: the engines' name and
``sources["liveness"]`` say ``simulated_head_movement`` and a warning is logged.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

import cv2
import numpy as np

from enrollment import Engines, FaceCheck, FingerCheck

__all__ = ["FaceDetector", "HaarFaceQuality", "DlibFaceTemplate", "MotionLiveness",
           "finger_quality", "segment_slap", "orientation_template", "with_head_movement_liveness",
           "SIMULATED_LIVENESS"]

log = logging.getLogger("kiosk")
SIMULATED_LIVENESS = "simulated_head_movement"

_CASCADE = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"


class FaceDetector:
    """Largest faces first, as (x, y, w, h) in the frame's own pixels."""

    _local = threading.local()

    def __init__(self, work_width: int = 320) -> None:
        self.work_width = work_width

    @property
    def _cascade(self):
        c = getattr(self._local, "cascade", None)
        if c is None:
            c = self._local.cascade = cv2.CascadeClassifier(_CASCADE)
        return c

    def detect(self, rgb: np.ndarray) -> tuple[list[tuple[int, int, int, int]], np.ndarray, float]:
        key = (rgb.__array_interface__["data"][0], rgb.shape, rgb[::37, ::41].tobytes())
        last = getattr(self._local, "last", None)
        if last is not None and last[0] == key:  # quality and liveness look at the same frame
            return last[1]
        result = self._detect(rgb)
        self._local.last = (key, result)
        return result

    def _detect(self, rgb: np.ndarray) -> tuple[list[tuple[int, int, int, int]], np.ndarray, float]:
        h, w = rgb.shape[:2]
        scale = min(1.0, self.work_width / w)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        small = cv2.resize(gray, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else gray
        found = self._cascade.detectMultiScale(small, scaleFactor=1.15, minNeighbors=5,
                                               minSize=(max(24, int(small.shape[1] * 0.18)),) * 2)
        boxes = sorted(((int(x / scale), int(y / scale), int(bw / scale), int(bh / scale)) for x, y, bw, bh in found),
                       key=lambda b: -b[2] * b[3])
        return boxes, gray, scale


class HaarFaceQuality:
    """``__call__(rgb) -> FaceCheck``; thresholds for an enrolment photo."""

    def __init__(self, detector: FaceDetector | None = None, *, min_width: float = 0.22, max_width: float = 0.75,
                 max_offset: float = 0.18, dark: float = 60.0, bright: float = 200.0, sharp: float = 15.0) -> None:
        self.detector = detector or FaceDetector()
        self.min_width, self.max_width, self.max_offset = min_width, max_width, max_offset
        self.dark, self.bright, self.sharp = dark, bright, sharp

    def __call__(self, rgb: np.ndarray) -> FaceCheck:
        boxes, gray, _ = self.detector.detect(rgb)
        if not boxes:
            return FaceCheck(False, ("face.face_not_found",), {"faces": 0.0}, face_found=False)
        H, W = gray.shape
        x, y, w, h = boxes[0]
        roi = cv2.resize(gray[y:y + h, x:x + w], (96, 96), interpolation=cv2.INTER_AREA)
        ratio = w / W
        dx, dy = (x + w / 2) / W - 0.5, (y + h / 2) / H - 0.5
        brightness = float(roi.mean())
        sharpness = float(cv2.Laplacian(roi, cv2.CV_64F).var())
        guidance = []
        if len(boxes) > 1 and boxes[1][2] * boxes[1][3] > 0.4 * w * h:
            guidance.append("face.one_person_only")
        if ratio < self.min_width:
            guidance.append("face.move_closer")
        elif ratio > self.max_width:
            guidance.append("face.move_back")
        if max(abs(dx), abs(dy)) > self.max_offset:
            guidance.append("face.center_face")
        if brightness < self.dark:
            guidance.append("face.face_the_light")
        elif brightness > self.bright:
            guidance.append("face.avoid_bright_light")
        if sharpness < self.sharp:
            guidance.append("face.hold_still")
        centring = 1 - min(1.0, max(abs(dx), abs(dy)) / 0.5)
        score = 100 * (0.4 * min(1.0, sharpness / (4 * self.sharp)) + 0.3 * centring
                       + 0.3 * (1 - abs(brightness - 128) / 128))
        measures = {"faces": float(len(boxes)), "face_width_ratio": round(ratio, 3), "offset_x": round(dx, 3),
                    "offset_y": round(dy, 3), "brightness": round(brightness, 1), "sharpness": round(sharpness, 1),
                    "score": round(score, 1)}
        return FaceCheck(not guidance, tuple(guidance), measures, face_found=True)


class DlibFaceTemplate:
    """``__call__(rgb) -> bytes``: the face engine's version 1 template of face_recognition's dlib ResNet
    embedding; ValueError when no face."""

    def __init__(self, detector: FaceDetector | None = None) -> None:
        self.detector = detector or FaceDetector()

    def __call__(self, rgb: np.ndarray) -> bytes:
        import face_recognition  # dlib: heavy, imported on first use

        from biometrics.face import FaceTemplate

        boxes, _, _ = self.detector.detect(rgb)
        if not boxes:
            raise ValueError("no face in the frame")
        x, y, w, h = boxes[0]
        enc = face_recognition.face_encodings(np.ascontiguousarray(rgb), known_face_locations=[(y, x + w, y + h, x)])
        if not enc:
            raise ValueError("no face encoding")
        return FaceTemplate(vector=enc[0]).to_bytes()


class MotionLiveness:
    """Head-movement challenge (see the module docstring). ``observe`` -> None / True / False."""

    challenge = "liveness.turn_head"

    def __init__(self, detector: FaceDetector | None = None, *, min_shift: float = 0.10, max_frames: int = 60,
                 min_change: float = 2.0) -> None:
        self.detector = detector or FaceDetector()
        self.min_shift, self.max_frames, self.min_change = min_shift, max_frames, min_change
        self._origin: tuple[float, float] | None = None
        self._prev: np.ndarray | None = None
        self._moved = self._changed = False
        self.frames = 0

    def observe(self, frame: np.ndarray, t: float | None = None) -> bool | None:
        boxes, gray, _ = self.detector.detect(frame)
        if not boxes:
            return None
        self.frames += 1
        x, y, w, h = boxes[0]
        crop = cv2.resize(gray[y:y + h, x:x + w], (48, 48), interpolation=cv2.INTER_AREA).astype(np.float32)
        cx = (x + w / 2) / w
        if self._origin is None:
            self._origin = (cx, float(w))
        elif abs(cx - self._origin[0]) >= self.min_shift:
            self._moved = True
        if self._prev is not None and float(np.abs(crop - self._prev).mean()) >= self.min_change:
            self._changed = True
        self._prev = crop
        if self._moved and self._changed:
            return True
        if self.frames >= self.max_frames:
            return False
        return None


def _orientation(gray: np.ndarray, block: int):
    g = gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    gxx, gyy, gxy = gx * gx, gy * gy, gx * gy
    hb, wb = g.shape[0] // block, g.shape[1] // block
    crop = (slice(0, hb * block), slice(0, wb * block))

    def pool(a):
        return a[crop].reshape(hb, block, wb, block).sum(axis=(1, 3))

    sxx, syy, sxy = pool(gxx), pool(gyy), pool(gxy)
    coherence = np.sqrt((sxx - syy) ** 2 + 4 * sxy ** 2) / (sxx + syy + 1e-6)
    angle = 0.5 * np.arctan2(2 * sxy, sxx - syy)
    blocks = g[crop].reshape(hb, block, wb, block)
    return coherence, angle, blocks.std(axis=(1, 3)), blocks.mean(axis=(1, 3))


def finger_quality(gray: np.ndarray, dpi: int = 500, *, threshold: float = 40.0) -> FingerCheck:
    """Orientation-coherence quality 0-100 over the foreground blocks (see the module docstring)."""
    gray = np.asarray(gray, dtype=np.uint8)
    if dpi != 500:
        f = 500.0 / dpi
        gray = cv2.resize(gray, (int(gray.shape[1] * f), int(gray.shape[0] * f)))
    coherence, _, std, means = _orientation(gray, 16)
    fg = std > 12.0
    area = float(fg.mean()) if fg.size else 0.0
    reasons = []
    if area < 0.2:
        reasons.append("finger.small_area")
        score = 100 * area
    else:
        score = float(100 * np.clip(coherence[fg].mean() * 1.6, 0, 1) * min(1.0, area / 0.35))
        mean = float(means[fg].mean())
        if mean > 225:
            reasons.append("finger.too_light")
        elif mean < 50:
            reasons.append("finger.too_dark")
        if score < threshold and not reasons:
            reasons.append("finger.low_quality")
    return FingerCheck(score >= threshold and not reasons, round(score, 1), tuple(reasons))


def segment_slap(gray: np.ndarray, dpi: int = 500, hand: str = "right", *, fingers: int = 4) -> list[np.ndarray]:
    """Split a slap image into ``fingers`` crops, index finger first, from the column profile of the ink
    (a right hand lies index to little from left to right on the platen, a left hand the other way)."""
    gray = np.asarray(gray, dtype=np.uint8)
    blur = cv2.GaussianBlur(gray, (0, 0), 6)
    std = cv2.GaussianBlur((gray.astype(np.float32) - blur) ** 2, (0, 0), 6) ** 0.5
    ink = std > 10
    cols = ink.mean(axis=0)
    on = cols > 0.05
    runs, start = [], None
    for i, v in enumerate(np.append(on, False)):
        if v and start is None:
            start = i
        elif not v and start is not None:
            runs.append((start, i))
            start = None
    min_w = int(0.15 * dpi)  # a finger is at least ~7.5 mm wide
    runs = [r for r in runs if r[1] - r[0] >= min_w]
    if len(runs) < fingers:
        return []
    runs = sorted(sorted(runs, key=lambda r: r[0] - r[1])[:fingers])
    out = []
    for a, b in runs:
        rows = np.nonzero(ink[:, a:b].mean(axis=1) > 0.05)[0]
        top, bottom = (rows[0], rows[-1] + 1) if rows.size else (0, gray.shape[0])
        out.append(gray[top:bottom, a:b].copy())
    return out[::-1] if hand == "left" else out


def orientation_template(gray: np.ndarray, dpi: int = 500, position: int = 0) -> tuple[str, bytes]:
    """16 x 16 grid of (orientation, coherence) bytes; format ``sb_orientation_v1``."""
    gray = cv2.resize(np.asarray(gray, dtype=np.uint8), (256, 256), interpolation=cv2.INTER_AREA)
    coherence, angle, _, _ = _orientation(gray, 16)
    a = np.round((angle + np.pi / 2) / np.pi * 255).astype(np.uint8)
    c = np.round(np.clip(coherence, 0, 1) * 255).astype(np.uint8)
    return "sb_orientation_v1", b"SBO1" + np.stack([a, c], axis=-1).tobytes()


def with_head_movement_liveness(engines: Engines) -> Engines:
    """``engines`` with the head-movement check as liveness: for the simulator's camera playing still
    photographs, which cannot follow the real challenges. Visible: name, sources and a warning."""
    detector = FaceDetector()
    log.warning("enrolment engines: liveness is the SIMULATOR's head-movement check, not a presentation-attack "
                "check (the simulated camera cannot follow the liveness instructions)")
    return replace(engines, liveness=lambda: MotionLiveness(detector), name=f"{engines.name}+{SIMULATED_LIVENESS}",
                   sources={**engines.sources, "liveness": SIMULATED_LIVENESS})

