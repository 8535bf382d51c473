"""Cameras: the ``Camera`` port (``frames()`` yields RGB ``uint8`` arrays, ``close()``).

- :class:`OpenCvCamera`: a real camera through OpenCV's ``VideoCapture`` (V4L2 on the kiosk PC).
- :class:`ImageSequenceCamera`: a simulator playing still images (files or a directory) at a fixed
  frame rate, looping; a face that "arrives" is modelled by listing images in order.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from devices._errors import CameraError

__all__ = ["Camera", "OpenCvCamera", "ImageSequenceCamera", "IMAGE_SUFFIXES", "load_rgb"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp")


@runtime_checkable
class Camera(Protocol):
    def frames(self) -> Iterator[np.ndarray]:
        """Yield RGB frames (H x W x 3, uint8) until closed."""

    def close(self) -> None: ...


def load_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as an RGB uint8 array (CameraError when unreadable)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError) as e:
        raise CameraError(f"cannot read image {path}: {e}") from e


def _expand(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, str | Path):
        p = Path(paths)
        if p.is_dir():
            out = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not out:
                raise CameraError(f"no images in {p}")
            return out
        paths = [p]
    out = [Path(p) for p in paths]
    if not out:
        raise CameraError("an image sequence needs at least one image")
    missing = [str(p) for p in out if not p.is_file()]
    if missing:
        raise CameraError(f"missing image(s): {', '.join(missing[:3])}")
    return out


class ImageSequenceCamera:
    """Plays images as camera frames at ``fps`` (0 = as fast as asked), looping when ``loop``.

    Images are decoded once and kept (a preview loop must not hit the disk). ``size`` (w, h)
    resizes every frame, like a camera's fixed resolution. ``sway`` (a fraction of the width)
    pans the picture sideways and back over ``sway_period`` frames: a traveller turning the head
    for a liveness challenge. ``crop`` keeps the centre fraction of each image (a camera framed
    closer); ``hold`` repeats each image for that many frames (a traveller standing still).
    """

    def __init__(self, paths: str | Path | Iterable[str | Path], fps: float = 15.0, *, loop: bool = True,
                 size: tuple[int, int] | None = None, sway: float = 0.0, sway_period: int = 24,
                 crop: float = 1.0, hold: int = 1) -> None:
        if not 0.1 <= crop <= 1.0:
            raise CameraError("crop must be between 0.1 and 1")
        self.paths = _expand(paths)
        self.fps = float(fps)
        self.loop = loop
        self.size = size
        self.sway, self.sway_period = sway, max(2, sway_period)
        self.crop, self.hold = crop, max(1, int(hold))
        self.frame_count = 0
        self._cache: list[np.ndarray] | None = None
        self._closed = False

    def _images(self) -> list[np.ndarray]:
        if self._cache is None:
            imgs = [load_rgb(p) for p in self.paths]
            if self.crop < 1.0:
                imgs = [self._centre(i) for i in imgs]
            if self.size is not None:
                from PIL import Image

                imgs = [np.asarray(Image.fromarray(i).resize(self.size)) for i in imgs]
            self._cache = imgs
        return self._cache

    def frames(self) -> Iterator[np.ndarray]:
        if self._closed:
            raise CameraError("camera is closed")
        images = self._images()
        period = 1.0 / self.fps if self.fps > 0 else 0.0
        next_t = time.monotonic()
        while not self._closed:
            for img in (i for i in images for _ in range(self.hold)):
                if self._closed:
                    return
                if period:
                    delay = next_t - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    next_t = max(next_t + period, time.monotonic() - period)
                yield self._shifted(img)
            if not self.loop:
                return

    def _centre(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        ch, cw = max(1, int(h * self.crop)), max(1, int(w * self.crop))
        y, x = (h - ch) // 2, (w - cw) // 2
        return np.ascontiguousarray(img[y:y + ch, x:x + cw])

    def _shifted(self, img: np.ndarray) -> np.ndarray:
        k = self.frame_count
        self.frame_count += 1
        dx = int(round(self.sway * img.shape[1] * np.sin(2 * np.pi * k / self.sway_period))) if self.sway else 0
        if dx == 0:
            return img.copy()
        out = np.roll(img, dx, axis=1)
        if dx > 0:
            out[:, :dx] = img[:, :1]
        else:
            out[:, dx:] = img[:, -1:]
        return out

    def close(self) -> None:
        self._closed = True
        self._cache = None


class OpenCvCamera:
    """A camera through ``cv2.VideoCapture(index)``; frames converted BGR -> RGB."""

    def __init__(self, index: int = 0, *, width: int | None = None, height: int | None = None,
                 fps: float | None = None, read_failures: int = 10) -> None:
        self.index = index
        self.width, self.height, self.fps = width, height, fps
        self.read_failures = read_failures
        self._cap = None

    def open(self) -> OpenCvCamera:
        import cv2

        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"cannot open camera {self.index}")
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, self.width), (cv2.CAP_PROP_FRAME_HEIGHT, self.height),
                            (cv2.CAP_PROP_FPS, self.fps)):
            if value:
                cap.set(prop, value)
        self._cap = cap
        return self

    def frames(self) -> Iterator[np.ndarray]:
        import cv2

        if self._cap is None:
            self.open()
        failures = 0
        while self._cap is not None:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                failures += 1
                if failures >= self.read_failures:
                    raise CameraError(f"camera {self.index} stopped delivering frames")
                continue
            failures = 0
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
