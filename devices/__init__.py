"""Ports and adapters for cameras, chip readers, fingerprint scanners (image files; libfprint) and doors.

The workflows (``enrollment``, ``gate``) only see the ports (:mod:`devices.ports`: ``Camera``,
``ChipReader``, ``FingerprintScanner``, ``Door``, ``MrzSource`` and the device errors); entry points
construct the adapters exported here. The simulators are in :mod:`devices.sim`, which this package
never imports.
"""

from devices._camera import IMAGE_SUFFIXES, OpenCvCamera, load_rgb
from devices._door import GpioDoor, SerialDoor
from devices._finger import ImageFingerprintScanner, load_gray
from devices._libfprint import (
    FingerprintScannerInfo,
    LibfprintScanner,
    libfprint_version,
    list_fingerprint_scanners,
)
from devices._mrz import CallableMrzSource
from devices._reader import PcscReader
from devices.ports import (
    CLOSED,
    OPEN,
    Camera,
    CameraError,
    CardRemovedError,
    ChipReader,
    DeviceError,
    Door,
    DoorError,
    FingerCapture,
    FingerprintCaptureCancelled,
    FingerprintCaptureRetry,
    FingerprintCaptureTimeout,
    FingerprintLibraryMissing,
    FingerprintScanner,
    FingerprintScannerCannotCapture,
    FingerprintScannerError,
    FingerprintScannerOpenError,
    MrzSource,
    MrzSourceError,
    NoCardError,
    NoFingerprintScanner,
    ReaderError,
)

__all__ = [
    "CLOSED",
    "IMAGE_SUFFIXES",
    "OPEN",
    "CallableMrzSource",
    "Camera",
    "CameraError",
    "CardRemovedError",
    "ChipReader",
    "DeviceError",
    "Door",
    "DoorError",
    "FingerCapture",
    "FingerprintCaptureCancelled",
    "FingerprintCaptureRetry",
    "FingerprintCaptureTimeout",
    "FingerprintLibraryMissing",
    "FingerprintScanner",
    "FingerprintScannerCannotCapture",
    "FingerprintScannerError",
    "FingerprintScannerInfo",
    "FingerprintScannerOpenError",
    "GpioDoor",
    "ImageFingerprintScanner",
    "LibfprintScanner",
    "MrzSource",
    "MrzSourceError",
    "NoCardError",
    "NoFingerprintScanner",
    "OpenCvCamera",
    "PcscReader",
    "ReaderError",
    "SerialDoor",
    "libfprint_version",
    "list_fingerprint_scanners",
    "load_gray",
    "load_rgb",
]
