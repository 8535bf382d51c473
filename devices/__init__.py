"""Ports and adapters for cameras, chip readers, fingerprint scanners and doors; real and simulated.

The workflows (``enrollment``, ``gate``) only see the ports (``Camera``, ``ChipReader``,
``FingerprintScanner``, ``Door``, ``MrzSource``); entry points construct the adapters.
"""

from devices._camera import IMAGE_SUFFIXES, Camera, ImageSequenceCamera, OpenCvCamera, load_rgb
from devices._door import CLOSED, OPEN, Door, GpioDoor, LoggingDoor, SerialDoor
from devices._errors import (
    CameraError,
    CardRemovedError,
    DeviceError,
    DoorError,
    FingerprintScannerError,
    MrzSourceError,
    NoCardError,
    ReaderError,
)
from devices._finger import FingerCapture, FingerprintScanner, ImageFingerprintScanner, load_gray
from devices._mrz import CallableMrzSource, FixedMrzSource, MrzSource
from devices._reader import ChipReader, PcscReader, SimulatedReader

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
    "FixedMrzSource",
    "GpioDoor",
    "ImageFingerprintScanner",
    "ImageSequenceCamera",
    "LoggingDoor",
    "MrzSource",
    "MrzSourceError",
    "NoCardError",
    "OpenCvCamera",
    "PcscReader",
    "ReaderError",
    "SerialDoor",
    "SimulatedReader",
    "load_gray",
    "load_rgb",
]
