"""Named device errors: one class per failure, all under :class:`DeviceError`."""

from __future__ import annotations

__all__ = [
    "DeviceError",
    "CameraError",
    "ReaderError",
    "NoCardError",
    "CardRemovedError",
    "FingerprintScannerError",
    "DoorError",
    "MrzSourceError",
]


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


class DoorError(DeviceError):
    """The door controller did not accept a command."""


class MrzSourceError(DeviceError):
    """No machine-readable zone could be obtained from the document page."""
