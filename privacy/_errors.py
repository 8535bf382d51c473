"""The privacy package's errors: one class per failure, all under :class:`PrivacyError`."""

from __future__ import annotations

__all__ = [
    "IntegrityError",
    "KekError",
    "KeyFileError",
    "KeyNotFoundError",
    "LedgerError",
    "PrivacyError",
    "PrivacySchemaError",
    "RetentionError",
    "SubjectShreddedError",
    "UnknownCategoryError",
]


class PrivacyError(Exception):
    """Base class of every error raised by :mod:`privacy`."""


class PrivacySchemaError(PrivacyError):
    """The database's recorded migrations do not include the privacy tables and cannot be extended."""


class KekError(PrivacyError):
    """The key-encryption key is missing, malformed, or cannot unwrap a stored key."""


class KeyFileError(KekError):
    """A key file is unsafe to use: not a regular file, a symlink, open to group or others, owned by
    another user, or kept inside the data directory (so data backups would carry it)."""


class IntegrityError(PrivacyError):
    """An envelope failed authentication: tampered, truncated, or opened for another record."""


class SubjectShreddedError(PrivacyError):
    """The data subject's data key was destroyed (crypto-shredded): the data is gone for good."""


class KeyNotFoundError(PrivacyError):
    """The envelope names a data key this vault never held."""


class RetentionError(PrivacyError):
    """A retention registration or purge request is invalid."""


class UnknownCategoryError(RetentionError):
    """The data category has no retention policy."""


class LedgerError(PrivacyError):
    """The ledger cannot be appended to, checkpointed, exported or read."""
