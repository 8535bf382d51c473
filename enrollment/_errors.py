"""Named enrolment errors (one per failure); the kiosk turns them into screen text."""

from __future__ import annotations

__all__ = [
    "EnrolmentError",
    "InvalidTransition",
    "MrzError",
    "DocumentError",
    "DocumentRejected",
    "OutboxError",
    "OutboxCorrupted",
    "BackofficeUnavailable",
    "BackofficeAuthError",
    "RecordRejected",
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


class OutboxError(EnrolmentError):
    """The outbox cannot store or open an item."""


class OutboxCorrupted(OutboxError):
    """An outbox item failed authentication (wrong device key or tampered file)."""


class BackofficeUnavailable(EnrolmentError):
    """The back office could not be reached or answered 5xx/429: the record waits."""


class BackofficeAuthError(EnrolmentError):
    """The back office refused the kiosk's credential (401/403): the record waits for re-provisioning."""


class RecordRejected(EnrolmentError):
    """The back office refused the record for good (4xx): it is parked for an officer, never retried."""

    def __init__(self, status: int, problem_type: str, detail: str) -> None:
        self.status = status
        self.problem_type = problem_type
        super().__init__(f"{status} {problem_type}: {detail}")
