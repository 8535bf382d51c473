"""Named enrolment errors (one per failure); the kiosk turns them into screen text. The back-office link's
errors (unavailable, credential refused, record rejected; the outbox's) are :mod:`devicelink`'s."""

from __future__ import annotations

__all__ = [
    "EnrolmentError",
    "InvalidTransition",
    "MrzError",
    "DocumentError",
    "DocumentRejected",
    "CaptureKindMismatch",
]


class EnrolmentError(Exception):
    """Base of the enrolment workflow's errors."""


class InvalidTransition(EnrolmentError):
    """The action is not allowed in the current step."""


class MrzError(EnrolmentError):
    """The machine-readable zone is malformed or a check digit is wrong."""


class DocumentError(EnrolmentError):
    """The chip could not be read; ``reason`` names the cause (retryable)."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class DocumentRejected(EnrolmentError):
    """The document was read but cannot be enrolled; ``reason_code`` is a back-office ReasonCode."""

    def __init__(self, reason_code: str, message: str) -> None:
        self.reason_code = reason_code
        super().__init__(message)


class CaptureKindMismatch(EnrolmentError):
    """The scanner's capture is not of the current finger task's kind (a slap for a flat task, or the reverse):
    the kiosk's finger plan does not fit its scanner. A device fault: nothing from the capture is kept."""
