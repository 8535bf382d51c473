"""Four-finger slap segmentation: find the four fingertips in a slap image, put them in ISO
finger-position order, straighten each one and grade it.

The slap is viewed as an impression (as on a card): for the right hand the index finger is
the leftmost of the four and the little finger the rightmost; for the left hand the order is
reversed. ISO/IEC 19794-2 finger positions: right index 2 ... right little 5, left index 7 ...
left little 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ._errors import FingerImageError, SlapSegmentationError
from ._image import check_image
from ._quality import FingerQuality, assess

POSITIONS = {"right": (2, 3, 4, 5), "left": (10, 9, 8, 7)}


@dataclass(frozen=True)
class FingerImage:
    """One finger cut from a slap: ISO position code, upright image (uint8), bounding box
    (x, y, width, height) of the fingertip in the slap, and its quality."""

    position: int
    image: np.ndarray
    box: tuple[int, int, int, int]
    quality: FingerQuality


def _foreground(img: np.ndarray, dpi: int) -> tuple[np.ndarray, float]:
    """Ridge-area mask at a working scale of about 125 dpi (one ridge is under 3 pixels there)."""
    s = 125.0 / dpi
    small = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA).astype(np.float32)
    big = cv2.resize(img, None, fx=s * 2, fy=s * 2, interpolation=cv2.INTER_AREA).astype(np.float32)
    mean = cv2.GaussianBlur(big, (0, 0), 3)
    std = np.sqrt(np.maximum(cv2.GaussianBlur((big - mean) ** 2, (0, 0), 3), 0))
    std = cv2.resize(std, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    ref = float(np.percentile(std, 99))
    if ref < 5:
        raise SlapSegmentationError("slap image has no ridge contrast")
    mask = (std > 0.3 * ref).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    return mask, s


def segment_slap(image: np.ndarray, *, hand: str = "right", dpi: int = 500) -> list[FingerImage]:
    """Split a four-finger slap into its fingers, ordered by ISO position (index first).
    Raises SlapSegmentationError when four fingers are not found, FingerImageError on bad input."""
    if hand not in POSITIONS:
        raise ValueError(f"hand must be 'right' or 'left', not {hand!r}")
    image = check_image(image, dpi)
    mask, s = _foreground(image, dpi)
    n, labels, stats, cents = cv2.connectedComponentsWithStats(mask, connectivity=8)
    min_area = (6.0 / 25.4 * 125) ** 2  # a fingertip is well above 6 x 6 mm
    comps = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area]
    comps.sort(key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    comps = comps[:4]
    if len(comps) < 4:
        raise SlapSegmentationError(f"found {len(comps)} finger areas, expected 4")
    comps.sort(key=lambda i: cents[i][0])  # left to right in the image
    out = []
    for pos, i in zip(POSITIONS[hand], comps, strict=True):
        ys, xs = np.nonzero(labels == i)
        pts = np.stack([xs, ys], 1).astype(np.float32)
        # principal axis of the finger (the long axis), pointing up
        mu = pts.mean(0)
        cov = np.cov((pts - mu).T)
        evals, evecs = np.linalg.eigh(cov)
        ax = evecs[:, 1]
        if ax[1] > 0:
            ax = -ax
        angle = math.degrees(math.atan2(ax[0], -ax[1]))  # tilt from vertical, clockwise positive
        width_px = 2.0 * math.sqrt(max(evals[0], 1e-6)) * 2.0  # ~ full width (4 sigma)
        # keep the top of the finger: along the axis, up to 1.6 finger widths from its tip
        proj = (pts - mu) @ ax
        tip = proj.max()
        keep = proj >= tip - 1.6 * width_px
        sel = pts[keep]
        x0, y0 = sel.min(0)
        x1, y1 = sel.max(0) + 1
        box = (int(x0 / s), int(y0 / s), int((x1 - x0) / s), int((y1 - y0) / s))
        # straighten: rotate the slap about the fingertip centre, then crop
        cx, cy = (sel.mean(0) / s).tolist()
        rot = cv2.getRotationMatrix2D((cx, cy), -angle, 1.0)
        upright = cv2.warpAffine(image, rot, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR, borderValue=255)
        half_w = (width_px / s) * 0.6
        half_h = (1.6 * width_px / s) * 0.55
        ux0, ux1 = int(max(0, cx - half_w)), int(min(image.shape[1], cx + half_w))
        uy0, uy1 = int(max(0, cy - half_h)), int(min(image.shape[0], cy + half_h))
        crop = np.ascontiguousarray(upright[uy0:uy1, ux0:ux1])
        try:
            q = assess(crop, dpi=dpi)
        except FingerImageError as e:  # pragma: no cover - assess reports, never raises
            q = FingerQuality(0, False, [e.reason])
        out.append(FingerImage(pos, crop, box, q))
    out.sort(key=lambda f: f.position)  # index, middle, ring, little
    return out
