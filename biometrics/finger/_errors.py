"""Named errors of the fingerprint engine (one class per failure)."""

from __future__ import annotations


class FingerprintError(ValueError):
    """Base class of every fingerprint engine error."""


class FingerImageError(FingerprintError):
    """The image cannot be processed: wrong type/shape, too small, blank, saturated or
    without any ridge structure. ``reason`` is a short machine-readable code."""

    def __init__(self, message: str, reason: str = "bad_image") -> None:
        super().__init__(message)
        self.reason = reason


class TemplateFormatError(FingerprintError):
    """Template bytes are not a valid ISO/IEC 19794-2:2005 or ANSI INCITS 378-2004 record."""


class SlapSegmentationError(FingerprintError):
    """A slap image does not contain the expected number of fingers."""


class FingerImageFormatError(FingerprintError):
    """Finger image bytes are not a valid WSQ image or ISO/IEC 19794-4:2005 finger image record (or use a
    compression this engine does not decode)."""
