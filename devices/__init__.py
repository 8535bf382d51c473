"""Ports and adapters for cameras, chip readers, fingerprint scanners and doors.

The workflows (``enrollment``, ``gate``) only see the ports (:mod:`devices.ports`: ``Camera``,
``ChipReader``, ``FingerprintScanner``, ``Door``, ``MrzSource`` and the device errors); entry points
construct the adapters exported here. The simulators are in :mod:`devices.sim`, which this package
never imports.
"""

from devices._camera import IMAGE_SUFFIXES, OpenCvCamera, load_rgb
from devices._door import GpioDoor, SerialDoor
from devices._finger import ImageFingerprintScanner, load_gray
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
    FingerprintScanner,
    FingerprintScannerError,
    MrzSource,
    MrzSourceError,
    NoCardError,
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
    "FingerprintScanner",
    "FingerprintScannerError",
    "GpioDoor",
    "ImageFingerprintScanner",
    "MrzSource",
    "MrzSourceError",
    "NoCardError",
    "OpenCvCamera",
    "PcscReader",
    "ReaderError",
    "SerialDoor",
    "load_gray",
    "load_rgb",
]
