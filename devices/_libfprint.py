"""A fingerprint scanner over libfprint (the ``FingerprintScanner`` port, :mod:`devices.ports`).

libfprint 1.94 (Debian 12: ``libfprint-2-2``, its GObject typelib ``gir1.2-fprint-2.0``) drives the USB
sensors Linux knows, through PyGObject (``gi``) in the venv. Its sensors take one flat finger at a time,
never a four-finger slap, so :class:`LibfprintScanner` says ``slap = False`` (``kind = "flat"``) and the
kiosk's composition plans flat captures for it (``enrollment.FLAT_PLAN``).

What the library gives: ``FpDevice.capture`` returns an ``FpImage`` of 8-bit grey pixels, already
normalised by libfprint (upright, ridges dark: it runs its minutiae detection on captures for that), with
the sensor's resolution in pixels per millimetre (``ppmm``; 0 when the driver does not know it, then the
``dpi`` given here, 500 by default, is used). Sensors that match on the chip and never give an image
(``FpDevice`` features without ``CAPTURE``) are refused by name.

Everything libfprint does runs on GLib's global default main context, which the blocking ``*_sync``
calls iterate: one lock serialises this module's calls in the process, and a capture's time-out and
:meth:`LibfprintScanner.cancel` are GLib sources on that context, so the library is only ever entered
from the thread that is capturing. Failures are named errors (:mod:`devices.ports`): the library or its
binding missing (:class:`FingerprintLibraryMissing`), no scanner (:class:`NoFingerprintScanner`), one that
cannot be opened (:class:`FingerprintScannerOpenError`) or gives no images
(:class:`FingerprintScannerCannotCapture`), no finger in time (:class:`FingerprintCaptureTimeout`), a
cancelled capture, and an impression to take again (:class:`FingerprintCaptureRetry`, with libfprint's
reason).

libfprint's own test device, ``virtual_image``, appears when ``FP_VIRTUAL_IMAGE`` names a UNIX socket
(read when a context enumerates): once opened, the device listens there for a header of two native ints
(width, height) and that many 8-bit grey pixels, or for a command (width -1: a retry, height its
``FpDeviceRetry`` code; -2: a device error). The tests feed it real fingerprint images.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from devices.ports import (
    FingerCapture,
    FingerprintCaptureCancelled,
    FingerprintCaptureRetry,
    FingerprintCaptureTimeout,
    FingerprintLibraryMissing,
    FingerprintScannerCannotCapture,
    FingerprintScannerError,
    FingerprintScannerOpenError,
    NoFingerprintScanner,
)

__all__ = ["LibfprintScanner", "FingerprintScannerInfo", "list_fingerprint_scanners", "libfprint_version"]

#: libfprint is entered from one thread at a time (its sync calls iterate GLib's global default context)
_LOCK = threading.RLock()

#: FpDeviceRetry codes -> FingerprintCaptureRetry.reason
_RETRY_REASONS = {0: "retry", 1: "too_short", 2: "center_finger", 3: "remove_finger"}

_SETUP = ("run `make setup` (as root it installs the Debian packages libfprint-2-2, gir1.2-fprint-2.0 and "
          "libgirepository1.0-dev, libcairo2-dev, pkg-config, then builds PyGObject into the venv)")


def _library() -> tuple[Any, Any, Any]:
    """(FPrint, GLib, Gio) from PyGObject, or :class:`FingerprintLibraryMissing` saying what to install."""
    try:
        import gi
    except ImportError as e:
        raise FingerprintLibraryMissing(f"PyGObject (the gi module) is not installed in this Python: {_SETUP}") from e
    try:
        gi.require_version("FPrint", "2.0")
        from gi.repository import FPrint, Gio, GLib
    except (ValueError, ImportError) as e:
        raise FingerprintLibraryMissing(f"libfprint's typelib FPrint-2.0 cannot be loaded ({e}): install the Debian "
                                        f"packages libfprint-2-2 and gir1.2-fprint-2.0; {_SETUP}") from e
    return FPrint, GLib, Gio


def libfprint_version() -> str:
    """Which libfprint binding this Python loads: the typelib's path and PyGObject's version (raises
    :class:`FingerprintLibraryMissing`)."""
    _library()
    import gi

    path = gi.Repository.get_default().get_typelib_path("FPrint")
    return f"FPrint 2.0 typelib {path}, PyGObject {gi.__version__}"


@dataclass(frozen=True)
class FingerprintScannerInfo:
    """A scanner libfprint found: its driver's id (``"virtual_image"``, ``"elan"``, ...), the driver's
    full name, the device id, whether it gives images, and how a finger is presented ("press"/"swipe")."""

    driver: str
    name: str
    device_id: str
    can_capture: bool
    scan_type: str

    def describe(self) -> str:
        what = "gives images" if self.can_capture else "match-on-chip: gives no images, cannot enrol here"
        return f"{self.driver} ({self.name}, {self.scan_type}): {what}"


def _info(FPrint, dev) -> FingerprintScannerInfo:
    scan = "swipe" if dev.get_scan_type() == FPrint.ScanType.SWIPE else "press"
    return FingerprintScannerInfo(dev.get_driver(), dev.get_name(), dev.get_device_id() or "",
                                  bool(dev.has_feature(FPrint.DeviceFeature.CAPTURE)), scan)


def _devices(FPrint) -> tuple[Any, list]:
    context = FPrint.Context()
    context.enumerate()
    return context, list(context.get_devices())


def list_fingerprint_scanners() -> list[FingerprintScannerInfo]:
    """Every scanner libfprint finds here (without opening them): for ``smartborder doctor``."""
    FPrint, _GLib, _Gio = _library()
    with _LOCK:
        _context, found = _devices(FPrint)
        return [_info(FPrint, d) for d in found]


def _matches(FPrint, dev, wanted: str) -> bool:
    return wanted in (dev.get_driver(), dev.get_device_id(), dev.get_name())


class LibfprintScanner:
    """The first libfprint scanner that gives images, or the one named by ``device`` (a driver id such
    as ``"elan"``, a device id, or the driver's full name); opened here and held until :meth:`close`.

    ``capture()`` waits up to ``timeout_s`` for a finger and returns a flat :class:`FingerCapture`; with
    ``retries`` it asks the sensor again (within the same time-out) after a retry-able impression
    (libfprint's ``FpDeviceRetry``) before raising :class:`FingerprintCaptureRetry`. ``on_finger_needed``
    is called (on the capturing thread; it must not block) each time the sensor starts waiting for a finger:
    the moment to say "place your finger"."""

    slap = False  #: libfprint sensors take one flat finger, never a four-finger slap
    kind = "flat"

    def __init__(self, device: str | None = None, *, dpi: int = 500, timeout_s: float = 20.0, retries: int = 0,
                 on_finger_needed: Callable[[], None] | None = None) -> None:
        self._FPrint, self._GLib, self._Gio = _library()
        self.dpi = int(dpi)
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.on_finger_needed = on_finger_needed
        self.captures = 0
        self._cancellable = None
        self._cancel_requested = False
        with _LOCK:
            self._context, found = _devices(self._FPrint)
            self._device = self._choose(found, device)
            self.info = _info(self._FPrint, self._device)
            self._open()

    # -- opening -----------------------------------------------------------------------------------
    def _choose(self, found: list, wanted: str | None):
        FPrint = self._FPrint
        if wanted:
            named = [d for d in found if _matches(FPrint, d, wanted)]
            if not named:
                there = ", ".join(_info(FPrint, d).driver for d in found) or "none"
                raise NoFingerprintScanner(f"no fingerprint scanner {wanted!r} (libfprint found: {there})")
            candidates = named
        else:
            if not found:
                raise NoFingerprintScanner("no fingerprint scanner found by libfprint (is it plugged in, and is its "
                                           "sensor one libfprint supports?)")
            candidates = found
        capturing = [d for d in candidates if d.has_feature(FPrint.DeviceFeature.CAPTURE)]
        if not capturing:
            names = "; ".join(_info(FPrint, d).describe() for d in candidates)
            raise FingerprintScannerCannotCapture(
                f"the fingerprint scanner gives no images: {names}. A match-on-chip sensor keeps and matches prints "
                "itself; enrolment needs the image (an ISO/IEC 19794-2 template is made from it): use an imaging "
                "sensor")
        return capturing[0]

    def _open(self) -> None:
        try:
            self._run(lambda c: self._device.open_sync(c), self.timeout_s)
        except FingerprintCaptureTimeout as e:
            raise FingerprintScannerOpenError(f"fingerprint scanner {self.info.driver} did not open within "
                                              f"{self.timeout_s:g} s") from e
        except FingerprintScannerError as e:
            detail = getattr(e.__cause__, "message", None) or str(e)  # libfprint's own words
            raise FingerprintScannerOpenError(f"fingerprint scanner {self.info.driver} cannot be opened: {detail} (in "
                                              "use by another program such as fprintd, or no permission on its USB "
                                              "device?)") from e

    # -- the GLib side -----------------------------------------------------------------------------
    def _run(self, call: Callable[[Any], Any], timeout_s: float, total_s: float | None = None):
        """``call(cancellable)`` (a libfprint ``*_sync`` call), cancelled after ``timeout_s`` or by
        :meth:`cancel`; GLib errors become the port's named errors (a time-out says ``total_s``, the whole
        wait, when given)."""
        GLib, Gio = self._GLib, self._Gio
        cancellable = Gio.Cancellable()
        timed_out = threading.Event()

        def on_timeout() -> bool:
            timed_out.set()
            cancellable.cancel()
            return False

        source = GLib.timeout_add(max(1, int(timeout_s * 1000)), on_timeout)
        self._cancellable = cancellable
        if self._cancel_requested:
            cancellable.cancel()
        try:
            return call(cancellable)
        except GLib.Error as e:
            raise self._error(e, timed_out.is_set(), total_s or timeout_s) from e
        finally:
            self._cancellable = None
            if not timed_out.is_set():
                GLib.source_remove(source)

    def _error(self, e, timed_out: bool, timeout_s: float) -> FingerprintScannerError:
        FPrint, Gio = self._FPrint, self._Gio
        driver = self.info.driver if hasattr(self, "info") else "?"
        if e.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED):
            if timed_out:
                return FingerprintCaptureTimeout(f"no finger on the scanner ({driver}) within {timeout_s:g} s")
            return FingerprintCaptureCancelled(f"fingerprint capture cancelled ({driver})")
        if e.matches(FPrint.device_retry_quark(), e.code):
            reason = _RETRY_REASONS.get(e.code, "retry")
            return FingerprintCaptureRetry(f"place the finger again ({driver}: {e.message})", reason)
        if e.matches(FPrint.device_error_quark(), e.code):
            code = FPrint.DeviceError(e.code)
            if code == FPrint.DeviceError.NOT_SUPPORTED:
                return FingerprintScannerCannotCapture(f"{driver}: {e.message}")
            if code in (FPrint.DeviceError.BUSY, FPrint.DeviceError.ALREADY_OPEN, FPrint.DeviceError.NOT_OPEN):
                return FingerprintScannerOpenError(f"{driver}: {e.message} ({code.value_nick})")
            return FingerprintScannerError(f"fingerprint scanner {driver} failed: {e.message} ({code.value_nick})")
        return FingerprintScannerError(f"fingerprint scanner {driver} failed: {e.message}")

    # -- the port ----------------------------------------------------------------------------------
    def capture(self) -> FingerCapture:
        """One flat impression (grey uint8, ridges dark) at the sensor's resolution."""
        with _LOCK:
            if self._device is None:
                raise FingerprintScannerOpenError("the fingerprint scanner is closed")
            self._cancel_requested = False
            deadline = time.monotonic() + self.timeout_s
            attempt = 0
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FingerprintCaptureTimeout(f"no usable finger on the scanner ({self.info.driver}) within "
                                                    f"{self.timeout_s:g} s")
                try:
                    image = self._capture_once(remaining)
                except FingerprintCaptureRetry:
                    attempt += 1
                    if attempt > self.retries:
                        raise
                    continue
                self.captures += 1
                return image

    def _capture_once(self, timeout_s: float) -> FingerCapture:
        FPrint, dev = self._FPrint, self._device
        handler = None
        if self.on_finger_needed is not None:
            callback, waiting = self.on_finger_needed, [False]

            def on_status(device, _param) -> None:  # once per wait: the status changes more than its NEEDED flag
                needed = bool(device.get_finger_status() & FPrint.FingerStatusFlags.NEEDED)
                if needed and not waiting[0]:
                    callback()
                waiting[0] = needed

            handler = dev.connect("notify::finger-status", on_status)
        try:
            image = self._run(lambda c: dev.capture_sync(True, c), timeout_s, self.timeout_s)
        finally:
            if handler is not None:
                dev.disconnect(handler)
        width, height = int(image.get_width()), int(image.get_height())
        data = np.frombuffer(bytes(image.get_data()), dtype=np.uint8)
        if width <= 0 or height <= 0 or data.size < width * height:
            raise FingerprintScannerError(f"{self.info.driver} returned a malformed image ({width}x{height}, "
                                          f"{data.size} bytes)")
        gray = data[:width * height].reshape(height, width).copy()
        ppmm = float(image.get_ppmm() or 0.0)
        dpi = round(ppmm * 25.4) if ppmm > 0 else self.dpi
        return FingerCapture(gray, dpi, "flat")

    def cancel(self) -> None:
        """Stop a capture in progress (from any thread): it raises :class:`FingerprintCaptureCancelled`."""
        self._cancel_requested = True
        cancellable = self._cancellable
        if cancellable is not None:
            # run on GLib's default context, which the capturing thread iterates: libfprint is entered there only
            self._GLib.idle_add(lambda: (cancellable.cancel(), False)[1])

    def close(self) -> None:
        """Release the scanner (another program may open it then)."""
        self.cancel()  # a capture in progress ends (cancelled), then the lock is free
        with _LOCK:
            self._cancel_requested = False
            device, self._device = self._device, None
            if device is not None:
                try:
                    self._run(lambda c: device.close_sync(c), 5.0)
                except FingerprintScannerError:
                    pass  # closing a scanner that failed: nothing more to release
            self._context = None

    def __enter__(self) -> LibfprintScanner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LibfprintScanner({self.info.driver!r}, flat, timeout_s={self.timeout_s:g})"
