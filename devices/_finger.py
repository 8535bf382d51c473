"""Fingerprint scanners: adapters of the ``FingerprintScanner`` port (:mod:`devices.ports`:
``capture() -> FingerCapture``).

:class:`ImageFingerprintScanner` returns images from files in turn. With ``slap=True`` each capture
places four consecutive finger images side by side on one platen image, like a four-finger slap
scanner (ISO/IEC 19794-4 "left/right four fingers" impressions).

It stays in the runtime API, not in :mod:`devices.sim`: a development kiosk or gate uses it as an explicitly
named stand-in for the scanner (``scanner = "images"``, ``finger_dir``; refused outside env = "dev"; a deployed
one uses :class:`devices.LibfprintScanner`); tests and simulations use it too.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from devices._camera import IMAGE_SUFFIXES
from devices.ports import FingerCapture, FingerprintScannerError

__all__ = ["ImageFingerprintScanner", "load_gray"]


def load_gray(path: str | Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"), dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError) as e:
        raise FingerprintScannerError(f"cannot read fingerprint image {path}: {e}") from e


class ImageFingerprintScanner:
    """Serves fingerprint images in order (looping). ``paths``: files or one directory.

    A stand-in, not a scanner driver (that is :class:`devices.LibfprintScanner`): development kiosks and
    gates use it, named as such."""

    def __init__(self, paths: str | Path | Iterable[str | Path], dpi: int = 500, *, slap: bool = False,
                 gap_px: int = 48) -> None:
        if isinstance(paths, str | Path) and Path(paths).is_dir():
            files = sorted(p for p in Path(paths).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif isinstance(paths, str | Path):
            files = [Path(paths)]
        else:
            files = [Path(p) for p in paths]
        if not files:
            raise FingerprintScannerError("the simulated scanner has no images")
        self.paths = files
        self.dpi = dpi
        self.slap = slap
        self.gap_px = gap_px
        self._next = 0
        self.captures = 0

    def _take(self) -> np.ndarray:
        path = self.paths[self._next % len(self.paths)]
        self._next += 1
        return load_gray(path)

    def capture(self) -> FingerCapture:
        self.captures += 1
        if not self.slap:
            return FingerCapture(self._take(), self.dpi, "flat")
        fingers = [_fingertip(self._take()) for _ in range(4)]
        h = max(f.shape[0] for f in fingers)
        w = sum(f.shape[1] for f in fingers) + self.gap_px * 5
        platen = np.full((h + 4 * self.gap_px, w), 255, dtype=np.uint8)
        x = self.gap_px
        for i, f in enumerate(fingers):
            # middle and ring fingers reach higher than index and little (the arc of a slap)
            y = self.gap_px + (0 if i in (1, 2) else 2 * self.gap_px) + (h - f.shape[0]) // 2
            region = platen[y:y + f.shape[0], x:x + f.shape[1]]
            np.minimum(region, f, out=region)
            x += f.shape[1] + self.gap_px
        return FingerCapture(platen, self.dpi, "slap")


def _fingertip(img: np.ndarray) -> np.ndarray:
    """The ridge area of a flat impression inside a fingertip-shaped ellipse, on white (a platen's
    background): crops the sensor's own background so fingers stay apart on the slap."""
    from PIL import Image, ImageFilter

    g = img.astype(np.float32)
    blur = np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(8)), dtype=np.float32)
    var = np.asarray(Image.fromarray(np.clip(np.abs(g - blur) * 4, 0, 255).astype(np.uint8))
                     .filter(ImageFilter.GaussianBlur(10)), dtype=np.float32)
    rows, cols = np.nonzero(var > 12)
    if rows.size == 0:
        return img
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    crop = img[y0:y1, x0:x1]
    hh, ww = crop.shape
    yy, xx = np.mgrid[0:hh, 0:ww]
    inside = ((xx - ww / 2) / (ww / 2)) ** 2 + ((yy - hh / 2) / (hh / 2)) ** 2 <= 1.0
    return np.where(inside, crop, 255).astype(np.uint8)
