"""Cameras: adapters of the ``Camera`` port (:mod:`devices.ports`: ``frames()`` yields RGB ``uint8``
arrays, ``close()``).

- :class:`OpenCvCamera`: a real camera through OpenCV's ``VideoCapture`` (V4L2 on the kiosk PC), or
  a video file played as a camera (tests, replays).
- The simulator playing still images, ``ImageSequenceCamera``, is in :mod:`devices.sim`.

The frame clock: every adapter here has ``frame_time`` (float seconds, None before the first frame),
the capture time of the frame ``frames()`` yielded last. Only differences between two values of
the same camera mean anything (the origin differs by adapter): a live device stamps
``time.monotonic()`` when the frame is grabbed, a video file its position in the stream, an image
sequence its frame index over the frame rate. Timing measures (liveness: how long a blink took)
use these instead of the wall clock, so a replay faster or slower than real time measures the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from devices.ports import CameraError

__all__ = ["OpenCvCamera", "IMAGE_SUFFIXES", "NOMINAL_FPS", "load_rgb"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".webp")
# the frame rate a frame clock assumes when the source has none (an image sequence played as fast as
# asked, a video file without timestamps or frame rate)
NOMINAL_FPS = 15.0


def load_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as an RGB uint8 array (CameraError when unreadable)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError) as e:
        raise CameraError(f"cannot read image {path}: {e}") from e


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
        return max(0.0, index) / self.fps if self.fps else max(0.0, index) / NOMINAL_FPS

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
