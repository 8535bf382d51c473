"""The ports the workflows see, and their errors: one class per failure, all under :class:`DeviceError`.

``enrollment`` and ``gate`` import only this module of ``devices`` (an import-linter contract in
pyproject.toml): never an adapter (``devices._*``: PC/SC reader, OpenCV camera, serial/GPIO door, ...)
nor a simulator (:mod:`devices.sim`). The entry point builds the devices and hands them in.

- ``Camera``: ``frames()`` yields RGB ``uint8`` arrays, ``close()``.
- ``ChipReader``: ``wait_for_card()``, ``transmit(apdu) -> bytes``, ``wait_for_removal()``, ``close()``.
- ``FingerprintScanner``: ``capture() -> FingerCapture``.
- ``Door``: ``open()``, ``close()``, ``state`` (:data:`OPEN` / :data:`CLOSED`).
- ``MrzSource``: ``read_mrz() -> str``. The page readers (serial, keyboard wedge) raise the named
  :class:`MrzSourceError` subclasses below and never return a partial MRZ or one whose check digits fail; they
  also have ``discard()`` (drop documents placed before now: a new traveller) and ``cancel()``, not protocol
  members (read them with ``getattr``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Camera",
    "ChipReader",
    "FingerCapture",
    "FingerprintScanner",
    "Door",
    "OPEN",
    "CLOSED",
    "MrzSource",
    "DeviceError",
    "CameraError",
    "ReaderError",
    "NoCardError",
    "CardRemovedError",
    "FingerprintScannerError",
    "FingerprintLibraryMissing",
    "NoFingerprintScanner",
    "FingerprintScannerOpenError",
    "FingerprintScannerCannotCapture",
    "FingerprintCaptureTimeout",
    "FingerprintCaptureCancelled",
    "FingerprintCaptureRetry",
    "DoorError",
    "MrzSourceError",
    "MrzReaderUnavailable",
    "MrzReadTimeout",
    "MrzReadCancelled",
    "MrzDataError",
    "MrzGarbled",
    "MrzWrongLength",
    "MrzIncomplete",
    "MrzCheckDigitFailed",
]

OPEN, CLOSED = "open", "closed"


@runtime_checkable
class Camera(Protocol):
    """The camera port. The adapters in this package also expose ``frame_time`` (see
    :mod:`devices._camera`); it is not part of the protocol, so other cameras need not have it: read it
    with ``getattr(camera, "frame_time", None)`` and fall back to the wall clock when it is None."""

    def frames(self) -> Iterator[np.ndarray]:
        """Yield RGB frames (H x W x 3, uint8) until closed."""

    def close(self) -> None: ...


@runtime_checkable
class ChipReader(Protocol):
    def wait_for_card(self, timeout: float = 30.0) -> None:
        """Block until a card is in the field; NoCardError after ``timeout`` seconds."""

    def transmit(self, apdu: bytes) -> bytes:
        """Send a command APDU, return the response APDU (data + SW1 SW2)."""

    def wait_for_removal(self, timeout: float) -> bool:
        """True once no card is in the field (at once if none is), False after ``timeout`` seconds."""

    def close(self) -> None: ...

    # Both adapters also have ``card_present`` (a property: True while a card is in the field). It
    # is not a protocol member: Python 3.11's isinstance() would evaluate it, asking the reader.


@dataclass(frozen=True)
class FingerCapture:
    """One scanner image: grayscale uint8 (ridges dark), its resolution, and what it holds.

    ``kind`` is ``"flat"`` (one finger) or ``"slap"`` (four fingers); ``position`` is the ISO/IEC
    19794-2 finger position of a flat capture when the scanner knows it (0 = unknown).
    """

    image: np.ndarray
    dpi: int
    kind: str = "flat"
    position: int = 0

    def __repr__(self) -> str:  # never print the image
        return f"FingerCapture(kind={self.kind!r}, dpi={self.dpi}, shape={self.image.shape}, position={self.position})"


@runtime_checkable
class FingerprintScanner(Protocol):
    def capture(self) -> FingerCapture: ...


@runtime_checkable
class Door(Protocol):
    def open(self) -> None: ...

    def close(self) -> None: ...

    @property
    def state(self) -> str: ...


@runtime_checkable
class MrzSource(Protocol):
    def read_mrz(self) -> str:
        """The MRZ text (TD3 2x44 or TD1 3x30 characters, lines concatenated)."""


class DeviceError(Exception):
    """A device failed or is unavailable."""


class CameraError(DeviceError):
    """The camera cannot be opened or stopped delivering frames."""


class ReaderError(DeviceError):
    """The chip reader is unavailable or an APDU could not be carried."""


class NoCardError(ReaderError):
    """No card was presented before the time-out."""


class CardRemovedError(ReaderError):
    """The card left the reader's field during a read."""


class FingerprintScannerError(DeviceError):
    """The fingerprint scanner could not capture an image."""


class FingerprintLibraryMissing(FingerprintScannerError):
    """The scanner's driver library cannot be loaded here (libfprint's binding: PyGObject, or the FPrint
    typelib); the message names the package and ``make setup``."""


class NoFingerprintScanner(FingerprintScannerError):
    """No fingerprint scanner is connected (or none by the configured name)."""


class FingerprintScannerOpenError(FingerprintScannerError):
    """The scanner is there but could not be opened: in use by another process (fprintd), no permission on
    its USB device, or a device fault."""


class FingerprintScannerCannotCapture(FingerprintScannerError):
    """The scanner never gives an image: a match-on-chip sensor that keeps and matches prints itself."""


class FingerprintCaptureTimeout(FingerprintScannerError):
    """No finger was placed on the scanner before the time-out."""


class FingerprintCaptureCancelled(FingerprintScannerError):
    """The capture was cancelled (``cancel()``) before a finger was placed."""


class FingerprintCaptureRetry(FingerprintScannerError):
    """The sensor saw a finger but not a usable impression; placing it again may work. ``reason``: "retry",
    "too_short" (a swipe too short or too fast), "center_finger" or "remove_finger" (libfprint's
    ``FpDeviceRetry``)."""

    def __init__(self, message: str, reason: str = "retry") -> None:
        super().__init__(message)
        self.reason = reason


class DoorError(DeviceError):
    """The door controller did not accept a command."""


class MrzSourceError(DeviceError):
    """No machine-readable zone could be obtained from the document page."""


class MrzReaderUnavailable(MrzSourceError):
    """The page reader cannot be opened or went away: unplugged, the port closed, held by another program, no
    permission on its device, or its library (pyserial, evdev) missing."""


class MrzReadTimeout(MrzSourceError):
    """Nothing was read before the time-out: no document on the page reader."""


class MrzReadCancelled(MrzSourceError):
    """The read was cancelled (``cancel()``) before a document was read."""


class MrzDataError(MrzSourceError):
    """What the page reader sent is not a whole, valid MRZ (a field that cannot be, e.g. a month 13): nothing of
    it is returned; the traveller presents the document again."""


class MrzGarbled(MrzDataError):
    """Characters outside the MRZ alphabet (0-9, A-Z, <), keys a keyboard wedge should not type, or input events
    the kernel dropped."""


class MrzWrongLength(MrzDataError):
    """A line of no MRZ layout's length (30, 36 or 44 characters), lines of different lengths, or more lines than
    the layout has."""


class MrzIncomplete(MrzDataError):
    """The reader stopped before the layout's last line (a partial swipe, a cut frame)."""


class MrzCheckDigitFailed(MrzDataError):
    """A whole MRZ whose check digits do not match (a misread character): never returned, read it again."""
