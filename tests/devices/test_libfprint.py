"""The libfprint scanner adapter through the real library: libfprint's ``virtual_image`` device is fed real
FVC fingerprint images over its socket (tests/devices/virtual_sensor.py); every failure is a named error.
Skipped, with the reason, only where libfprint or PyGObject cannot be loaded (``make setup`` installs them)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from devices import (
    FingerCapture,
    FingerprintCaptureCancelled,
    FingerprintCaptureRetry,
    FingerprintCaptureTimeout,
    FingerprintLibraryMissing,
    FingerprintScanner,
    FingerprintScannerCannotCapture,
    FingerprintScannerError,
    FingerprintScannerOpenError,
    LibfprintScanner,
    NoFingerprintScanner,
    list_fingerprint_scanners,
    load_gray,
)
from tests.conftest import shared_path
from tests.devices.virtual_sensor import (
    RETRY_CENTER_FINGER,
    RETRY_TOO_SHORT,
    libfprint_or_skip,
)


def fvc(name: str) -> np.ndarray:
    return load_gray(shared_path("fingerprints", "fvc2002_DB1", name))




@pytest.fixture()
def scanner(sensor):
    s = LibfprintScanner(timeout_s=15, on_finger_needed=sensor.finger_needed)
    yield s
    s.close()


def test_fed_images_come_back_through_the_real_library_as_flat_captures(sensor, scanner):
    first, second = fvc("101_1.tif"), fvc("102_1.tif")
    assert isinstance(scanner, FingerprintScanner) and scanner.slap is False and scanner.kind == "flat"
    assert scanner.info.driver == "virtual_image" and scanner.info.can_capture
    sensor.queue_image(first)
    sensor.queue_image(second)
    a = scanner.capture()
    b = scanner.capture()
    assert isinstance(a, FingerCapture) and a.kind == "flat" and a.image.dtype == np.uint8
    assert np.array_equal(a.image, first) and np.array_equal(b.image, second)  # byte for byte, one per capture
    assert a.dpi == 500  # the virtual sensor reports no ppmm: the adapter's configured resolution
    assert sensor.sent == ["image 388x374", "image 388x374"] and scanner.captures == 2
    assert repr(a) == "FingerCapture(kind='flat', dpi=500, shape=(374, 388), position=0)"  # never the pixels


def test_the_configured_resolution_stands_when_the_driver_reports_none(sensor):
    with LibfprintScanner("virtual_image", dpi=569, on_finger_needed=sensor.finger_needed) as s:
        sensor.queue_image(fvc("103_1.tif"))
        assert s.capture().dpi == 569


def test_a_retry_is_named_with_its_reason_or_taken_again(sensor, scanner):
    sensor.queue_retry(RETRY_CENTER_FINGER)
    with pytest.raises(FingerprintCaptureRetry) as e:
        scanner.capture()
    assert e.value.reason == "center_finger" and isinstance(e.value, FingerprintScannerError)
    scanner.retries = 1  # the kiosk's composition asks again within the same time-out
    image = fvc("101_1.tif")
    sensor.queue_retry(RETRY_TOO_SHORT)
    sensor.queue_image(image)
    assert np.array_equal(scanner.capture().image, image)
    assert sensor.sent[-2:] == ["retry 1", "image 388x374"]


def test_no_finger_is_a_capture_timeout_and_the_scanner_still_works_after(sensor, scanner):
    scanner.timeout_s = 0.4
    t = time.monotonic()
    with pytest.raises(FingerprintCaptureTimeout, match="within 0.4 s"):
        scanner.capture()
    assert time.monotonic() - t < 5
    scanner.timeout_s = 15
    image = fvc("102_1.tif")
    sensor.queue_image(image)
    assert np.array_equal(scanner.capture().image, image)


def test_a_capture_is_cancelled_from_another_thread(sensor, scanner):
    threads: list[threading.Thread] = []

    def cancel_while_waiting() -> None:  # the sensor waits for a finger: another thread (the UI) gives up
        threads.append(threading.Thread(target=scanner.cancel))
        threads[-1].start()

    scanner.on_finger_needed = cancel_while_waiting
    t = time.monotonic()
    with pytest.raises(FingerprintCaptureCancelled):
        scanner.capture()
    assert time.monotonic() - t < 10 and len(threads) == 1
    threads[0].join()


def test_no_scanner_and_an_unknown_name_are_named(sensor):
    with pytest.raises(NoFingerprintScanner, match="'elan'.*virtual_image"):
        LibfprintScanner("elan")


def test_no_scanner_at_all_is_named(monkeypatch):
    libfprint_or_skip()
    monkeypatch.delenv("FP_VIRTUAL_IMAGE", raising=False)
    monkeypatch.delenv("FP_VIRTUAL_DEVICE", raising=False)
    if list_fingerprint_scanners():
        pytest.skip("a real fingerprint scanner is plugged into this machine")
    with pytest.raises(NoFingerprintScanner, match="no fingerprint scanner found"):
        LibfprintScanner()


def test_a_scanner_that_cannot_be_opened_is_named(tmp_path, monkeypatch):
    libfprint_or_skip()
    monkeypatch.setenv("FP_VIRTUAL_IMAGE", str(tmp_path / "no-such-directory" / "virtual-image.sock"))
    with pytest.raises(FingerprintScannerOpenError, match="virtual_image cannot be opened"):
        LibfprintScanner()


def test_a_match_on_chip_sensor_is_refused_by_name(tmp_path, monkeypatch):
    """libfprint's virtual_device stands for a match-on-chip sensor: it verifies, it never gives an image."""
    libfprint_or_skip()
    monkeypatch.delenv("FP_VIRTUAL_IMAGE", raising=False)
    monkeypatch.setenv("FP_VIRTUAL_DEVICE", str(tmp_path / "virtual-device.sock"))
    (info,) = list_fingerprint_scanners()
    assert info.driver == "virtual_device" and not info.can_capture and "match-on-chip" in info.describe()
    with pytest.raises(FingerprintScannerCannotCapture, match="match-on-chip.*virtual_device|virtual_device.*match-on-chip"):
        LibfprintScanner()


def test_a_missing_binding_names_the_packages_and_make_setup(monkeypatch):
    from devices import _libfprint

    monkeypatch.setitem(__import__("sys").modules, "gi", None)  # PyGObject not installed
    with pytest.raises(FingerprintLibraryMissing, match="PyGObject.*make setup"):
        LibfprintScanner()
    monkeypatch.undo()
    libfprint_or_skip()
    import gi

    def no_typelib(namespace, version):
        raise ValueError(f"Namespace {namespace} not available")

    monkeypatch.setattr(gi, "require_version", no_typelib)  # the typelib (gir1.2-fprint-2.0) not installed
    with pytest.raises(FingerprintLibraryMissing, match="gir1.2-fprint-2.0.*make setup"):
        _libfprint._library()


def test_captures_from_a_new_worker_thread_each_time_as_the_kiosk_makes_them(sensor, scanner):
    """The kiosk captures on a fresh worker thread per tap: libfprint runs on GLib's default context, which
    each capturing thread iterates in turn."""
    images = [fvc("101_1.tif"), fvc("102_1.tif"), fvc("103_1.tif")]
    results: list = []
    for image in images:
        sensor.queue_image(image)
        worker = threading.Thread(target=lambda: results.append(scanner.capture()), name="kiosk-worker")
        worker.start()
        worker.join(timeout=30)
    assert [np.array_equal(c.image, i) for c, i in zip(results, images, strict=True)] == [True, True, True]
