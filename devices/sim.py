"""Simulated devices, plugged in at the ports of :mod:`devices.ports` for tests, benches, the demo and
the ``--sim`` runs: nothing a deployed gate or kiosk imports may import this module (an import-linter
contract in pyproject.toml).

- :class:`SimulatedReader`: an in-process reader; a virtual chip (``emrtd.sim.VirtualChip`` or an
  ``emrtd.sim.IssuedDocument``) is placed on it and removed, optionally in the middle of a read.
- :class:`ImageSequenceCamera`: plays still images (files or a directory) at a fixed frame rate,
  looping; a face that "arrives" is modelled by listing images in order. Its frame clock is the frame
  index over the frame rate (see :mod:`devices._camera`).
- :class:`FixedMrzSource`: the MRZ of the document placed on the page scanner.
- :class:`LoggingDoor`: records each command with its time.

The fingerprint scanner that serves image files, :class:`devices.ImageFingerprintScanner`, is not
here: development kiosks and gates use it too, as a named stand-in (``scanner = "images"``); the real
scanner is :class:`devices.LibfprintScanner`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from devices._camera import IMAGE_SUFFIXES, NOMINAL_FPS, load_rgb
from devices.ports import (
    CLOSED,
    OPEN,
    CameraError,
    CardRemovedError,
    MrzSourceError,
    NoCardError,
    ReaderError,
)
from emrtd.sim import InProcessTransport, IssuedDocument

__all__ = ["SimulatedReader", "ImageSequenceCamera", "FixedMrzSource", "LoggingDoor"]

log = logging.getLogger("devices.door")


class SimulatedReader:
    """An in-process reader. ``present(card)`` places a chip (VirtualChip, IssuedDocument or any
    object with ``transmit``); ``remove()`` takes it away; ``remove_after(n)`` makes the card leave
    after ``n`` more APDUs (a traveller pulling the passport too early); ``fail_after(n)`` makes the
    reader itself fail (a hardware fault)."""

    def __init__(self, card=None, *, keep_log: bool = False) -> None:
        self.keep_log = keep_log
        self._cond = threading.Condition()
        self._transport: InProcessTransport | None = None
        self._remove_after: int | None = None
        self._fail_after: int | None = None
        self.presentations = 0
        if card is not None:
            self.present(card)

    def present(self, card) -> None:
        chip = card.chip() if isinstance(card, IssuedDocument) else card
        if hasattr(chip, "reset"):
            chip.reset()
        with self._cond:
            self._transport = InProcessTransport(chip, keep_log=self.keep_log)
            self.presentations += 1
            self._cond.notify_all()

    def remove(self) -> None:
        with self._cond:
            self._transport = None
            self._remove_after = None
            self._cond.notify_all()

    def remove_after(self, apdus: int) -> None:
        self._remove_after = apdus

    def fail_after(self, apdus: int) -> None:
        self._fail_after = apdus

    @property
    def card_present(self) -> bool:
        return self._transport is not None

    @property
    def apdu_count(self) -> int:
        return self._transport.apdu_count if self._transport else 0

    def wait_for_card(self, timeout: float = 30.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._transport is not None, timeout=timeout):
                raise NoCardError(f"no card presented within {timeout:.1f} s")

    def wait_for_removal(self, timeout: float) -> bool:
        """True once no card is in the field (at once when none is), False after ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: self._transport is None, timeout=max(0.0, timeout))

    def transmit(self, apdu: bytes) -> bytes:
        if self._fail_after is not None:
            if self._fail_after <= 0:
                raise ReaderError("simulated reader fault")
            self._fail_after -= 1
        if self._remove_after is not None:
            if self._remove_after <= 0:
                self.remove()
                raise CardRemovedError("the card was removed during the read")
            self._remove_after -= 1
        transport = self._transport
        if transport is None:
            raise CardRemovedError("no card in the field")
        return transport.transmit(apdu)

    def close(self) -> None:
        self.remove()


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

    NOMINAL_FPS = NOMINAL_FPS

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


class FixedMrzSource:
    def __init__(self, mrz: str | None = None) -> None:
        self.mrz = mrz

    def place(self, mrz: str | None) -> None:
        self.mrz = mrz

    def read_mrz(self) -> str:
        if not self.mrz:
            raise MrzSourceError("no document on the page scanner")
        return "".join(self.mrz.split()).upper()


class LoggingDoor:
    """A simulated door: ``events`` holds (monotonic time, "open"/"close")."""

    def __init__(self, name: str = "door") -> None:
        self.name = name
        self._state = CLOSED
        self.events: list[tuple[float, str]] = []

    def open(self) -> None:
        self._state = OPEN
        self.events.append((time.monotonic(), "open"))
        log.info("door %s opened", self.name)

    def close(self) -> None:
        self._state = CLOSED
        self.events.append((time.monotonic(), "close"))
        log.info("door %s closed", self.name)

    @property
    def state(self) -> str:
        return self._state
