"""The fingerprint screen's words for a scanner that gave no image: the traveller's to fix (place the finger
again), said as a warning with no attempt counted, versus a device fault that calls an officer."""

from __future__ import annotations

import pytest

from devices.ports import (
    FingerprintCaptureCancelled,
    FingerprintCaptureRetry,
    FingerprintCaptureTimeout,
    FingerprintScannerError,
    FingerprintScannerOpenError,
    NoFingerprintScanner,
)
from kiosk import Catalogues
from kiosk._scanner import RETRY_KEYS, scanner_message
from kiosk._widgets import message_kind


@pytest.mark.parametrize("reason", ["center_finger", "too_short", "remove_finger", "retry", "something_new"])
def test_a_retry_is_an_instruction_to_the_traveller(reason):
    key = scanner_message(FingerprintCaptureRetry("sensor asked for a retry", reason))
    assert key and key in Catalogues().texts["en"]
    assert key == RETRY_KEYS.get(reason, "finger.retry")
    assert message_kind(key) == "warning"


def test_no_finger_in_time_asks_for_the_finger_and_a_cancel_says_nothing():
    key = scanner_message(FingerprintCaptureTimeout("no finger within 20 s"))
    assert key == "finger.blank" and message_kind(key) == "warning"
    assert scanner_message(FingerprintCaptureCancelled("cancelled")) == ""


@pytest.mark.parametrize("exc", [FingerprintScannerError("malformed image"), FingerprintScannerOpenError("busy"),
                                 NoFingerprintScanner("unplugged"), RuntimeError("driver crashed")])
def test_anything_else_is_a_device_fault(exc):
    assert scanner_message(exc) is None  # the kiosk calls an officer
