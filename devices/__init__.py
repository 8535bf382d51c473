"""Ports and adapters for cameras, chip readers, fingerprint scanners (image files; libfprint), doors and page
readers (the MRZ as text: serial, keyboard wedge).

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
from devices._mrz import CallableMrzSource, PageReaderThenCamera
from devices._mrz_serial import SerialMrzReader
from devices._mrz_wedge import KeyboardWedgeMrzReader, WedgeDecoder
from devices._page_readers import PageReaderInfo, list_keyboards, list_serial_ports, page_reader_present
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
    MrzCheckDigitFailed,
    MrzDataError,
    MrzGarbled,
    MrzIncomplete,
    MrzReadCancelled,
    MrzReaderUnavailable,
    MrzReadTimeout,
    MrzSource,
    MrzSourceError,
    MrzWrongLength,
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
    "KeyboardWedgeMrzReader",
    "MrzCheckDigitFailed",
    "MrzDataError",
    "MrzGarbled",
    "MrzIncomplete",
    "MrzReadCancelled",
    "MrzReadTimeout",
    "MrzReaderUnavailable",
    "MrzSource",
    "MrzSourceError",
    "MrzWrongLength",
    "NoCardError",
    "NoFingerprintScanner",
    "OpenCvCamera",
    "PageReaderInfo",
    "PageReaderThenCamera",
    "PcscReader",
    "ReaderError",
    "SerialDoor",
    "SerialMrzReader",
    "WedgeDecoder",
    "libfprint_version",
    "list_fingerprint_scanners",
    "list_keyboards",
    "list_serial_ports",
    "load_gray",
    "load_rgb",
    "page_reader_present",
]
