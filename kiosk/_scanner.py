"""What the fingerprint screen says when the scanner gives no image (no Kivy here).

A sensor that saw a finger but no usable impression (libfprint's retry: finger off centre, swipe too short,
"remove the finger"), or no finger placed before the scanner's time-out, is the traveller's to fix: the screen
says what to do and the Scan button is pressed again; the workflow counts no attempt, because no image
reached it. A capture the kiosk cancelled itself (the traveller abandoned, the session timed out) says nothing.
Any other scanner error is a device fault: the kiosk calls an officer (``KioskApp.device_failed``).
"""

from __future__ import annotations

from devices.ports import FingerprintCaptureCancelled, FingerprintCaptureRetry, FingerprintCaptureTimeout

__all__ = ["RETRY_KEYS", "scanner_message"]

#: libfprint's retry reasons (``FingerprintCaptureRetry.reason``) -> the catalogue's instruction
RETRY_KEYS = {"center_finger": "finger.place_finger", "too_short": "finger.smudged",
              "remove_finger": "finger.smudged", "retry": "finger.retry"}


def scanner_message(exc: BaseException) -> str | None:
    """The catalogue key to show for a capture that gave no image and may simply be tried again; "" for a
    capture the kiosk cancelled (nothing to say); None for a device fault."""
    if isinstance(exc, FingerprintCaptureRetry):
        return RETRY_KEYS.get(exc.reason, "finger.retry")
    if isinstance(exc, FingerprintCaptureTimeout):
        return "finger.blank"
    if isinstance(exc, FingerprintCaptureCancelled):
        return ""
    return None
