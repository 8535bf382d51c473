"""One error vocabulary for every device that talks to the back office (backoffice/API.md).

- :class:`BackofficeUnavailable`: the question or the record could not get an answer now (network
  error, time-out, 5xx, 408, 429): keep it and retry later.
- :class:`BackofficeAuthError`: the back office refused the device's credential (401/403). A subclass of
  :class:`BackofficeUnavailable`, so whatever waits for the back office keeps waiting (a gate); whoever
  can ask a person to act catches it first (a kiosk tells the officer to re-provision it).
- :class:`RecordRejected`: the back office refused a record for good (any other 4xx, 413 and a reused
  idempotency key included): never retried, parked for an operator.
"""

from __future__ import annotations

__all__ = [
    "BackofficeError",
    "BackofficeUnavailable",
    "BackofficeAuthError",
    "RecordRejected",
    "OutboxError",
    "OutboxCorrupted",
]


class BackofficeError(Exception):
    """Base of the back-office link's errors."""


class BackofficeUnavailable(BackofficeError):
    """The back office could not be reached or could not answer (network, 5xx, 408, 429): retry later."""


class BackofficeAuthError(BackofficeUnavailable):
    """The back office refused the device's credential (401/403): it waits for re-provisioning."""


class RecordRejected(BackofficeError):
    """The back office refused a record for good (a 4xx other than 401/403/408/429): parked, never retried.

    ``status`` is the HTTP status (None when the record never left the device, e.g. an unknown kind),
    ``problem_type`` the RFC 9457 problem type."""

    def __init__(self, status: int | None, problem_type: str, detail: str) -> None:
        self.status = status
        self.problem_type = problem_type
        self.detail = detail
        super().__init__(f"{status if status is not None else 'not sent'} {problem_type}: {detail}")


class OutboxError(Exception):
    """The outbox cannot store, find or open an item."""


class OutboxCorrupted(OutboxError):
    """An outbox item failed authentication (another key, a shredded key or a tampered payload)."""
