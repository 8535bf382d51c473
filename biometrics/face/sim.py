"""Simulated capture sequences for presentation-attack evaluation (no real video exists here), and the
renderer the simulators' travellers are made of (``kiosk.sim.TravellerCamera``).

Not runtime code: nothing a deployed gate or kiosk imports may import this module (an import-linter
contract in pyproject.toml); the PAD evaluation (:mod:`biometrics.face.evaluation`), the simulators,
the benches and the tests do.

Everything in this module is *simulated* from single real still photos:

* **bona fide**: the still is re-rendered under a 3-D head rotation and eyelid closure by a
  piecewise-affine warp driven by its own mediapipe face mesh (478 points with depth). Points are
  rotated about an axis one inter-eye distance behind the eyes and projected orthographically;
  triangles are painted far-to-near so the near side occludes the far side. Hair, ears and neck are
  not modelled (they stretch between the face outline and a fixed ring), the far cheek is
  compressed rather than revealed, and a closed eye is the upper-lid skin stretched down. Camera
  noise, small head sway and brightness flicker are added per frame.
* **print attack**: the still, printed (lower contrast, paper tint, slight blur, white margin), held
  in front of another background and moved as a rigid plane (perspective projection of a 3-D
  rotation: every frame is a homography of the print), or bent around a vertical cylinder.
* **replay attack**: a bona fide sequence re-displayed on a screen and re-captured: display gamma
  and colour-gamut compression, a sub-pixel grid moire, black bezel, hand-held screen pose.

For the passive PAD (``biometrics.face._passive``) the materials are drawn from wider ranges so that a
texture model cannot learn one fixed rendering: :func:`print_photo` (contrast, black level, paper tint,
blur, grain, an optional halftone screen and a glossy highlight), :func:`screen_profile` /
:func:`screen_frame` (display gamma, gamut, white point, backlight, moire depth/period/angle, RGB
sub-pixel stripes, a reflection), and :func:`camera_profile`: the *same* camera model (white balance,
exposure, gamma, blur, noise, JPEG) applied to bona fide and attack frames alike. None of it is a
measured printer, screen or camera: these are plausible effects, not real presentation attack instruments.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy.spatial import Delaunay

from biometrics.face._mesh import FaceMeshResult

__all__ = ["FRAME_SIZE", "CameraProfile", "FaceRenderer", "camera_noise", "camera_profile", "moire_pattern",
           "prepare_still", "print_attack_frame", "print_photo", "printed", "room_background", "replay_frame",
           "screen_frame", "screen_profile", "warp_points"]

FRAME_SIZE = (640, 480)  # (width, height), the kiosk preview

UPPER_LIDS = ((246, 161, 160, 159, 158, 157, 173), (466, 388, 387, 386, 385, 384, 398))
LOWER_LIDS = ((7, 163, 144, 145, 153, 154, 155), (249, 390, 373, 374, 380, 381, 382))
IRISES = (tuple(range(468, 473)), tuple(range(473, 478)))
LID_CREASES = ((247, 30, 29, 27, 28, 56, 190), (467, 260, 259, 257, 258, 286, 414))


def prepare_still(image: np.ndarray, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """Scale a still so its height fills the frame and pad the sides by edge replication."""
    w, h = size
    s = h / image.shape[0]
    img = cv2.resize(image, (max(1, round(image.shape[1] * s)), h), interpolation=cv2.INTER_CUBIC)
    if img.shape[1] >= w:
        x0 = (img.shape[1] - w) // 2
        return np.ascontiguousarray(img[:, x0:x0 + w])
    left = (w - img.shape[1]) // 2
    return cv2.copyMakeBorder(img, 0, 0, left, w - img.shape[1] - left, cv2.BORDER_REPLICATE)


def warp_points(image: np.ndarray, src: np.ndarray, dst: np.ndarray, depth: np.ndarray | None = None,
                tri: np.ndarray | None = None, out_size: tuple[int, int] | None = None,
                background: np.ndarray | None = None) -> np.ndarray:
    """Piecewise-affine warp moving ``src`` points to ``dst`` (triangulated on ``src``).

    Triangles are painted in order of decreasing ``depth`` (far first) and back-facing ones are
    skipped; pixels covered by no triangle come from ``background`` (default: ``image`` itself).
    """
    w, h = out_size or (image.shape[1], image.shape[0])
    if tri is None:
        tri = Delaunay(src).simplices
    if depth is not None:
        tri = tri[np.argsort(-depth[tri].mean(axis=1), kind="stable")]
    s, d = src[tri], dst[tri]  # (T, 3, 2)
    area = (d[:, 1, 0] - d[:, 0, 0]) * (d[:, 2, 1] - d[:, 0, 1]) - (d[:, 2, 0] - d[:, 0, 0]) * (d[:, 1, 1] - d[:, 0, 1])
    moving = np.abs(s - d).max(axis=(1, 2)) > 1e-6
    keep = (np.abs(area) > 1e-3) & (moving if background is None else True)
    tri, s, d = tri[keep], s[keep], d[keep]
    bg = image if background is None else background
    if bg.shape[:2] != (h, w):
        bg = cv2.resize(bg, (w, h))
    if len(tri) == 0:
        return bg.copy()
    # affine maps dst -> src per triangle: [x_s, y_s] = [x_d, y_d, 1] @ coef
    dh = np.concatenate([d, np.ones((len(tri), 3, 1))], axis=2)
    coef = np.linalg.solve(dh, s).astype(np.float32)  # (T, 3, 2)
    x0, y0 = (max(0, int(v)) for v in np.floor(d.reshape(-1, 2).min(axis=0)))
    x1 = min(w, int(np.ceil(d[..., 0].max())) + 1)
    y1 = min(h, int(np.ceil(d[..., 1].max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return bg.copy()
    ids = np.full((y1 - y0, x1 - x0), -1, np.int32)
    for k, poly in enumerate(np.round(d - [x0, y0]).astype(np.int32)):
        cv2.fillConvexPoly(ids, poly, int(k))  # later (nearer) triangles overwrite earlier ones
    valid = ids >= 0
    idx = np.where(valid, ids, 0)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    mx = xx * coef[:, 0, 0][idx] + yy * coef[:, 1, 0][idx] + coef[:, 2, 0][idx]
    my = xx * coef[:, 0, 1][idx] + yy * coef[:, 1, 1][idx] + coef[:, 2, 1][idx]
    out = bg.copy()
    patch = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    region = out[y0:y1, x0:x1]
    region[valid] = patch[valid]
    return out


class FaceRenderer:
    """Re-renders one still under head rotation and blinks (the bona fide simulation)."""

    def __init__(self, frame: np.ndarray, face: FaceMeshResult) -> None:
        self.frame = frame
        h, w = frame.shape[:2]
        lm = face.landmarks.copy()
        ied = face.inter_eye_distance
        self.ied = ied
        eyes = (lm[468] + lm[473]) / 2
        self.pivot = np.array([eyes[0], eyes[1] + 0.6 * ied, lm[:468, 2].mean() + 1.0 * ied])
        x0, y0, x1, y1 = face.box
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        ring = np.stack([cx + 0.85 * (x1 - x0) * np.cos(ang), cy - 0.1 * (y1 - y0) + 0.85 * (y1 - y0) * np.sin(ang)], 1)
        border = np.array([(x, y) for x in np.linspace(0, w - 1, 9) for y in (0, h - 1)]
                          + [(x, y) for y in np.linspace(0, h - 1, 7)[1:-1] for x in (0, w - 1)])
        self.fixed = np.concatenate([ring, border])
        self.lm = lm
        self.src = np.concatenate([lm[:, :2], self.fixed])
        self.tri = Delaunay(self.src).simplices

    def landmarks(self, yaw: float, pitch: float = 0.0, closure: float = 0.0) -> np.ndarray:
        """Moved mesh: ``yaw``/``pitch`` in degrees (person's convention), ``closure`` 0 open .. 1 shut."""
        p = self.lm.copy()
        for upper, lower, iris, crease in zip(UPPER_LIDS, LOWER_LIDS, IRISES, LID_CREASES, strict=True):
            target = p[list(lower)] + 0.05 * (p[list(upper)] - p[list(lower)])
            step = closure * (target - p[list(upper)])
            p[list(upper)] += step
            p[list(crease)] += 0.4 * step  # the lid's skin above follows part of the way
            lo = p[list(lower), :].mean(axis=0)
            p[list(iris)] += closure * (lo - p[list(iris)]) * 0.9
        q = p - self.pivot
        a, b = math.radians(yaw), math.radians(pitch)
        x = q[:, 0] * math.cos(a) - q[:, 2] * math.sin(a)
        z = q[:, 0] * math.sin(a) + q[:, 2] * math.cos(a)
        y = q[:, 1] * math.cos(b) + z * math.sin(b)
        z2 = -q[:, 1] * math.sin(b) + z * math.cos(b)
        return np.stack([x, y, z2], 1) + self.pivot

    def render(self, yaw: float, pitch: float = 0.0, closure: float = 0.0,
               shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        moved = self.landmarks(yaw, pitch, closure)
        dst = np.concatenate([moved[:, :2] + np.asarray(shift), self.fixed])
        depth = np.concatenate([moved[:, 2], np.full(len(self.fixed), 1e9)])
        return warp_points(self.frame, self.src, dst, depth=depth, tri=self.tri)


def room_background(rng: np.random.Generator, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """A face-free, out-of-focus indoor scene: a colour gradient with a few blurred blocks."""
    w, h = size
    c0, c1 = rng.uniform(60, 220, size=3), rng.uniform(60, 220, size=3)
    ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = (c0 * (1 - ramp) + c1 * ramp) * np.ones((h, w, 3), np.float32)
    for _ in range(int(rng.integers(3, 7))):
        x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        x1, y1 = x0 + int(rng.integers(40, w // 2)), y0 + int(rng.integers(40, h // 2))
        img[y0:y1, x0:x1] = rng.uniform(30, 240, size=3)
    return cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.uint8), (0, 0), 6)


def camera_noise(frame: np.ndarray, rng: np.random.Generator, sigma: float = 2.0, gain: float = 1.0) -> np.ndarray:
    noisy = frame.astype(np.float32) * gain + rng.normal(0.0, sigma, frame.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _plane_homography(size: tuple[int, int], photo_size: tuple[int, int], yaw: float, pitch: float,
                      roll: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    """Homography photo -> camera of a rigid rectangle rotated in 3-D and seen by a pinhole camera."""
    w, h = size
    pw, ph = photo_size
    f = float(w)
    corners = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float64)
    obj = np.concatenate([(corners - [pw / 2, ph / 2]) * scale * h / ph, np.zeros((4, 1))], axis=1)
    a, b, c = (math.radians(v) for v in (yaw, pitch, roll))
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    cam = obj @ (ry @ rx @ rz).T + [shift[0], shift[1], f]
    img = cam[:, :2] / cam[:, 2:] * f + [w / 2, h / 2]
    return cv2.getPerspectiveTransform(corners.astype(np.float32), img.astype(np.float32))


def printed(still: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The still as a photo print: lower contrast, paper tint and grain, slight blur, white margin."""
    p = still.astype(np.float32) * 0.82 + 28.0
    p *= np.array([1.0, 0.98, 0.93], np.float32)
    p += rng.normal(0, 3.0, p.shape[:2])[..., None]
    p = cv2.GaussianBlur(np.clip(p, 0, 255).astype(np.uint8), (0, 0), 0.8)
    m = max(4, still.shape[0] // 25)
    return cv2.copyMakeBorder(p, m, m, m, m, cv2.BORDER_CONSTANT, value=(240, 238, 230))


def print_attack_frame(photo: np.ndarray, background: np.ndarray, *, yaw: float = 0.0, pitch: float = 0.0,
                       roll: float = 0.0, scale: float = 1.0, shift: tuple[float, float] = (0.0, 0.0),
                       bend: float = 0.0) -> np.ndarray:
    """The print held in front of ``background``: rigid (a homography) or bent about a vertical axis.

    ``bend`` is the curvature of the print as the angle (degrees) its half-width subtends on the
    cylinder; 0 = flat.
    """
    w, h = FRAME_SIZE
    ph, pw = photo.shape[:2]
    if bend <= 0.0:
        hmat = _plane_homography(FRAME_SIZE, (pw, ph), yaw, pitch, roll, scale, shift)
        mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), hmat, (w, h))
        out = cv2.warpPerspective(photo, hmat, (w, h), flags=cv2.INTER_LINEAR)
        return np.where(mask[..., None] > 127, out, background)
    # bent print: a grid on the photo, each node placed on a cylinder, then rotated and projected
    gx, gy = np.meshgrid(np.linspace(0, pw - 1, 13), np.linspace(0, ph - 1, 11))
    src = np.stack([gx.ravel(), gy.ravel()], 1)
    k = scale * h / ph
    half = pw / 2 * k
    theta = math.radians(bend)
    radius = half / theta
    u = (src[:, 0] - pw / 2) * k
    obj = np.stack([radius * np.sin(u / radius), (src[:, 1] - ph / 2) * k, radius * (1 - np.cos(u / radius))], 1)
    a, b, c = (math.radians(v) for v in (yaw, pitch, roll))
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    cam = obj @ (ry @ rx @ rz).T + [shift[0], shift[1], float(w)]
    dst = cam[:, :2] / cam[:, 2:] * w + [w / 2, h / 2]
    black = np.zeros((h, w, 3), np.uint8)
    warped = warp_points(photo, src, dst, depth=cam[:, 2], out_size=(w, h), background=black)
    mask = warp_points(np.full_like(photo, 255), src, dst, depth=cam[:, 2], out_size=(w, h), background=black)
    return np.where(mask > 127, warped, background)


def moire_pattern(shape: tuple[int, int], period: float, angle: float, depth: float = 0.10) -> np.ndarray:
    """Multiplicative grating ``1 + depth * cos(...)``: the beat of a screen's pixel grid with the sensor's."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = math.radians(angle)
    return (1.0 + depth * np.cos(2 * math.pi * (xx * math.cos(a) + yy * math.sin(a)) / period))[..., None]


def replay_frame(frame: np.ndarray, background: np.ndarray, *, moire_period: float, moire_angle: float,
                 jitter: tuple[float, float, float] = (0.0, 0.0, 0.0), pattern: np.ndarray | None = None) -> np.ndarray:
    """A bona fide frame shown on a screen (gamma, gamut, moire, bezel) held in front of the camera."""
    x = frame.astype(np.float32) / 255.0
    x = x ** 1.25  # display / re-capture gamma mismatch
    grey = x.mean(axis=2, keepdims=True)
    x = grey + 0.8 * (x - grey)  # narrower colour gamut
    x = x * np.array([0.96, 0.98, 1.05], np.float32)  # cool white point
    h, w = x.shape[:2]
    x = x * (pattern if pattern is not None else moire_pattern((h, w), moire_period, moire_angle))
    screen = np.clip(x * 235.0 + 6.0, 0, 255).astype(np.uint8)
    bezel = max(6, h // 30)
    screen = cv2.copyMakeBorder(screen, bezel, bezel, bezel, bezel, cv2.BORDER_CONSTANT, value=(12, 12, 14))
    sh, sw = screen.shape[:2]
    hmat = _plane_homography(FRAME_SIZE, (sw, sh), jitter[0], jitter[1], jitter[2], 1.0, (0.0, 0.0))
    mask = cv2.warpPerspective(np.full((sh, sw), 255, np.uint8), hmat, FRAME_SIZE)
    out = cv2.warpPerspective(screen, hmat, FRAME_SIZE, flags=cv2.INTER_LINEAR)
    return np.where(mask[..., None] > 127, out, background)


class CameraProfile:
    """One capture chain: white balance, exposure, gamma, optical blur, sensor noise, JPEG quality (or none)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.wb = rng.uniform(0.92, 1.08, size=3).astype(np.float32)
        self.gain = float(rng.uniform(0.85, 1.15))
        self.gamma = float(rng.uniform(0.9, 1.1))
        self.blur = float(rng.uniform(0.0, 0.9))
        self.sigma = float(rng.uniform(1.0, 3.5))
        self.jpeg = int(rng.integers(70, 96)) if rng.random() < 0.5 else 0

    def __call__(self, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        levels = np.arange(256, dtype=np.float32)[:, None] / 255.0
        lut = np.clip(levels ** self.gamma * self.wb * self.gain * 255.0, 0, 255).astype(np.uint8)  # (256, 3)
        out = cv2.merge([cv2.LUT(np.ascontiguousarray(frame[..., c]), lut[:, c]) for c in range(3)])
        if self.blur > 0.3:
            out = cv2.GaussianBlur(out, (0, 0), self.blur)
        noise = np.empty(out.shape, np.float32)
        cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
        cv2.randn(noise, 0.0, self.sigma)
        out = cv2.add(out.astype(np.float32), noise)
        out = np.clip(out, 0, 255).astype(np.uint8)
        if self.jpeg:
            ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg])
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else out
        return out


def camera_profile(rng: np.random.Generator) -> CameraProfile:
    return CameraProfile(rng)


def _glare(shape: tuple[int, int], rng: np.random.Generator, strength: float) -> np.ndarray:
    """A soft elliptical highlight (a lamp's reflection on gloss paper or glass), additive, 0-1 scale."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    sx, sy = rng.uniform(0.08, 0.3) * w, rng.uniform(0.05, 0.25) * h
    return (strength * np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2)))[..., None]


def print_photo(still: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The still as a print, drawn from wide ranges: contrast, black level, paper tint, blur, grain, an
    optional halftone screen (laser/inkjet) and glossy highlight, and a white margin."""
    x = still.astype(np.float32) / 255.0
    contrast, black = rng.uniform(0.65, 0.92), rng.uniform(0.03, 0.14)
    x = black + contrast * x
    grey = x.mean(axis=2, keepdims=True)
    x = grey + rng.uniform(0.75, 1.0) * (x - grey)  # ink gamut
    x *= np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.86, 0.97)], np.float32)  # paper tint
    if rng.random() < 0.5:  # halftone screen: a fine dot grid at a screen angle
        h, w = x.shape[:2]
        period, a = rng.uniform(2.0, 4.0), math.radians(rng.uniform(15, 75))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        u, v = xx * math.cos(a) + yy * math.sin(a), -xx * math.sin(a) + yy * math.cos(a)
        dots = np.cos(2 * math.pi * u / period) * np.cos(2 * math.pi * v / period)
        x *= (1.0 + rng.uniform(0.03, 0.1) * dots)[..., None]
    x += rng.normal(0, rng.uniform(0.005, 0.02), x.shape[:2]).astype(np.float32)[..., None]  # paper grain
    if rng.random() < 0.4:
        x += _glare(x.shape[:2], rng, rng.uniform(0.15, 0.45))
    p = np.clip(x * 255.0, 0, 255).astype(np.uint8)
    p = cv2.GaussianBlur(p, (0, 0), rng.uniform(0.5, 1.4))
    m = max(4, still.shape[0] // 25)
    paper = tuple(int(v) for v in rng.uniform(225, 250, size=3))
    return cv2.copyMakeBorder(p, m, m, m, m, cv2.BORDER_CONSTANT, value=paper)


def screen_profile(rng: np.random.Generator, shape: tuple[int, int]) -> dict:
    """One display held to the camera: gamma, gamut, white point, backlight, moire, sub-pixel stripes, glare."""
    period, angle = rng.uniform(2.2, 6.0), rng.uniform(0, 45)
    return {
        "gamma": rng.uniform(1.05, 1.5), "gamut": rng.uniform(0.7, 0.92),
        "white": np.array([rng.uniform(0.9, 1.0), rng.uniform(0.95, 1.0), rng.uniform(1.0, 1.1)], np.float32),
        "level": rng.uniform(0.8, 1.0), "black": rng.uniform(0.01, 0.06),
        "pattern": moire_pattern(shape, period, angle, depth=rng.uniform(0.03, 0.12)),
        "stripes": rng.uniform(0.0, 0.08), "pitch": int(rng.integers(3, 6)),
        "glare": _glare(shape, rng, rng.uniform(0.1, 0.35)) if rng.random() < 0.5 else None,
        "pose": rng.uniform(-6, 6, size=3),
    }


def screen_frame(image: np.ndarray, background: np.ndarray, profile: dict, i: int = 0) -> np.ndarray:
    """``image`` (a still or a bona fide frame) shown on the display of ``profile`` and held in front of
    ``background`` (hand-held: a small pose wobble with frame index ``i``)."""
    x = image.astype(np.float32) / 255.0
    x = x ** profile["gamma"]
    grey = x.mean(axis=2, keepdims=True)
    x = grey + profile["gamut"] * (x - grey)
    x = x * profile["white"] * profile["level"] * profile["pattern"] + profile["black"]
    if profile["stripes"] > 0:  # R, G, B sub-pixel columns of the panel, seen just above the sensor's pitch
        col = np.arange(x.shape[1]) % profile["pitch"]
        x = x * (1.0 - profile["stripes"] * (col[None, :, None] != np.arange(3)[None, None, :] % profile["pitch"]))
    if profile["glare"] is not None:
        x = x + profile["glare"]
    screen = np.clip(x * 255.0, 0, 255).astype(np.uint8)
    h = screen.shape[0]
    bezel = max(6, h // 30)
    screen = cv2.copyMakeBorder(screen, bezel, bezel, bezel, bezel, cv2.BORDER_CONSTANT, value=(12, 12, 14))
    sh, sw = screen.shape[:2]
    pose = profile["pose"]
    hmat = _plane_homography(FRAME_SIZE, (sw, sh), pose[0] + math.sin(i / 11), pose[1] + math.cos(i / 13), pose[2],
                             1.0, (0.0, 0.0))
    mask = cv2.warpPerspective(np.full((sh, sw), 255, np.uint8), hmat, FRAME_SIZE)
    out = cv2.warpPerspective(screen, hmat, FRAME_SIZE, flags=cv2.INTER_LINEAR)
    return np.where(mask[..., None] > 127, out, background)
