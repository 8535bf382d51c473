"""Named errors of the back office and their RFC 9457 problem-details rendering.

Services raise these; only the app's exception handlers turn them into HTTP responses
(``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``, ``instance``).
"""

from __future__ import annotations

__all__ = [
    "BackofficeError",
    "BadCredentials",
    "BadRequest",
    "Conflict",
    "DuplicateCheckUnavailable",
    "Forbidden",
    "IdempotencyKeyMissing",
    "IdempotencyKeyReused",
    "Invalid",
    "KeyStoreRotated",
    "LoginThrottled",
    "NotFound",
    "PayloadTooLarge",
    "SealedItemUnreadable",
    "Shredded",
    "Unauthorized",
    "problem",
]

PROBLEM_BASE = "https://smartborder.invalid/problems/"


class BackofficeError(Exception):
    """Base class: ``status``, ``slug`` (the problem type) and ``title`` feed the response."""

    status = 400
    slug = "bad-request"
    title = "Bad request"
    headers: dict[str, str] = {}

    def __init__(self, detail: str = "", **extra: object) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class BadRequest(BackofficeError):
    pass


class Unauthorized(BackofficeError):
    status, slug, title = 401, "unauthorized", "Authentication required"
    headers = {"WWW-Authenticate": 'Bearer realm="smartborder"'}


class BadCredentials(Unauthorized):
    slug, title = "bad-credentials", "Invalid credentials"


class Forbidden(BackofficeError):
    status, slug, title = 403, "forbidden", "Not allowed for this role"


class CsrfRefused(Forbidden):
    """A web UI form without its CSRF token (or with a wrong one)."""

    slug = "csrf-refused"


class PageForbidden(Forbidden):
    """A web UI page the user's role may not open."""

    slug = "page-forbidden"


class NotFound(BackofficeError):
    status, slug, title = 404, "not-found", "Not found"


class Shredded(BackofficeError):
    """The item's data key was destroyed (retention purge or erasure): no copy of it can be read, also not
    one restored from a backup."""

    status, slug, title = 410, "shredded", "Crypto-shredded"


class SealedItemUnreadable(BackofficeError):
    """A sealed item failed authentication (tampered, or moved from another record) or its data key is unknown
    to this key store: never read as "purged"; logged as a tamper event."""

    status, slug, title = 409, "sealed-item-unreadable", "Sealed item unreadable"


class KeyStoreRotated(BackofficeError):
    """The vault's key store was rewrapped under another KEK by another process: nothing can be sealed or
    opened until the service restarts with the new key file (devices retry: their records wait, sealed)."""

    status, slug, title = 503, "key-store-rotated", "Key store rotated: restart with the new KEK"


class Conflict(BackofficeError):
    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(BackofficeError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class Invalid(BackofficeError):
    status, slug, title = 422, "invalid", "Invalid value"


class DuplicateCheckUnavailable(BackofficeError):
    """No biometric matcher is configured: an enrolment cannot be checked, so it is not accepted."""

    status, slug, title = 503, "duplicate-check-unavailable", "Enrolment duplicate check unavailable"


class IdempotencyKeyMissing(BackofficeError):
    status, slug, title = 400, "idempotency-key-missing", "Idempotency-Key header required"


class IdempotencyKeyReused(BackofficeError):
    status, slug, title = 422, "idempotency-key-reused", "Idempotency-Key reused with a different request"


class LoginThrottled(BackofficeError):
    status, slug, title = 429, "login-throttled", "Too many failed logins"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; retry after {retry_after} s")
        self.headers = {"Retry-After": str(retry_after)}


def problem(status: int, title: str, detail: str, *, slug: str | None = None, instance: str | None = None,
            **extra: object) -> dict:
    body: dict = {"type": PROBLEM_BASE + (slug or f"http-{status}"), "title": title, "status": status,
                  "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body
