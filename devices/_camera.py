"""Cameras: the ``Camera`` port (``frames()`` yields RGB ``uint8`` arrays, ``close()``).

- :class:`OpenCvCamera`: a real camera through OpenCV's ``VideoCapture`` (V4L2 on the kiosk PC), or
  a video file played as a camera (tests, replays).
- :class:`ImageSequenceCamera`: a simulator playing still images (files or a directory) at a fixed
  frame rate, looping; a face that "arrives" is modelled by listing images in order.

The frame clock: every adapter here has ``frame_time`` (float seconds, None before the first frame),
the capture time of the frame ``frames()`` yielded last. Only differences between two values of
the same camera mean anything (the origin differs by adapter): a live device stamps
``time.monotonic()`` when the frame is grabbed, a video file its position in the stream, an image
sequence its frame index over the frame rate. Timing measures (liveness: how long a blink took)
use these instead of the wall clock, so a replay faster or slower than real time measures the same.
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
    """The camera port. The adapters in this package also expose ``frame_time`` (see the module
    docstring); it is not part of the protocol, so other cameras need not have it: read it with
    ``getattr(camera, "frame_time", None)`` and fall back to the wall clock when it is None."""

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

    ``frame_time`` is ``i / fps`` for the i-th frame yielded (counted from 0 over the camera's life,
    across loops and calls to ``frames()``), and ``i / 15.0`` when ``fps`` is 0 (frames as fast as
    asked are taken to stand for a nominal 15 fps camera), so the clock is the same however fast
    the frames are consumed.
    """

    NOMINAL_FPS = 15.0

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
        self.frame_time: float | None = None
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
        self.frame_time = k / (self.fps if self.fps > 0 else self.NOMINAL_FPS)
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
    """A camera through ``cv2.VideoCapture(source)``; frames converted BGR -> RGB.

    ``source`` is a device index (``0``), a device path (``/dev/video0``), a stream URL, or a video
    file: an existing regular file is played as a camera, frame by frame, as fast as ``frames()``
    is consumed (``realtime=True`` paces it at its frame rate) and ``frames()`` ends at the end of
    the file. ``width``/``height``/``fps`` are requests to a live device (ignored for files).
    After :meth:`open`, ``fps`` is what OpenCV reports (``CAP_PROP_FPS``), None when unknown.
    ``frame_time``: ``time.monotonic()`` at grab for a live device, the stream position
    (``CAP_PROP_POS_MSEC`` / 1000) for a file.
    """

    def __init__(self, source: int | str | Path = 0, *, width: int | None = None, height: int | None = None,
                 fps: float | None = None, read_failures: int = 10, realtime: bool = False) -> None:
        self.source = source
        self.width, self.height = width, height
        self.requested_fps = fps
        self.fps: float | None = None
        self.read_failures = read_failures
        self.realtime = realtime
        self.frame_time: float | None = None
        self.is_file = not isinstance(source, int) and Path(source).is_file()
        self._cap = None

    @property
    def index(self) -> int | str | Path:  # the former name of ``source``
        return self.source

    def open(self) -> OpenCvCamera:
        import cv2

        what = f"video file {self.source}" if self.is_file else f"camera {self.source}"
        source = str(self.source) if isinstance(self.source, Path) else self.source
        try:
            cap = cv2.VideoCapture(source)
        except cv2.error as e:
            raise CameraError(f"cannot open {what}: {e}") from e
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"cannot open {what}")
        if not self.is_file:
            for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, self.width), (cv2.CAP_PROP_FRAME_HEIGHT, self.height),
                                (cv2.CAP_PROP_FPS, self.requested_fps)):
                if value:
                    cap.set(prop, value)
        reported = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(reported) if reported and np.isfinite(reported) and reported > 0 else None
        self._cap = cap
        return self

    def _stamp(self, cap) -> float:
        import cv2

        if not self.is_file:
            return time.monotonic()
        msec = cap.get(cv2.CAP_PROP_POS_MSEC)
        if msec and np.isfinite(msec) and msec > 0:
            return msec / 1000.0
        index = cap.get(cv2.CAP_PROP_POS_FRAMES) - 1  # a backend without timestamps: frame index / fps
        return max(0.0, index) / self.fps if self.fps else max(0.0, index) / ImageSequenceCamera.NOMINAL_FPS

    def frames(self) -> Iterator[np.ndarray]:
        import cv2

        if self._cap is None:
            self.open()
        failures = 0
        start: tuple[float, float] | None = None  # (wall, stream) time of the first frame, for realtime files
        while self._cap is not None:
            cap = self._cap
            ok = cap.grab()
            stamp = self._stamp(cap) if ok else None
            frame = cap.retrieve()[1] if ok else None
            if frame is None:
                if self.is_file:
                    return  # the end of the file
                failures += 1
                if failures >= self.read_failures:
                    raise CameraError(f"camera {self.source} stopped delivering frames")
                continue
            failures = 0
            if self.realtime and self.is_file:
                start = start or (time.monotonic(), stamp)
                delay = start[0] + (stamp - start[1]) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            self.frame_time = stamp
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
