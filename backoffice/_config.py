"""The back office's own configuration: a plain dataclass the entry point fills in.

The CLI (``smartborder backoffice serve``) builds it from :class:`smartborder.settings.Settings`;
tests build it directly. The back office never reads the environment itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from backoffice._matching import FaceMatching, FingerprintMatching

__all__ = ["BackofficeConfig", "ConfigError"]


class ConfigError(ValueError):
    """The back-office configuration is unusable (short secret, bad limit)."""


@dataclass(frozen=True)
class BackofficeConfig:
    """Everything :func:`backoffice.create_app` needs.

    ``db_path=None`` gives an in-memory database (tests). ``kek`` is the privacy vault's
    key-encryption key (32 bytes, or base64/hex text); ``kek_file`` a file holding it.
    ``face_matching`` / ``fingerprint_matching`` are the biometric engines with their calibrated
    thresholds (``backoffice._matching``); the composition (``smartborder.compose.backoffice``)
    always configures both. Without them the back office fails closed: no enrolment is accepted
    (503 ``duplicate-check-unavailable``) and ``/enrolments/verify`` answers ``not_configured``.
    """

    secret_key: str = field(repr=False)
    #: the SQLite file, or a ``postgresql://`` URL (which may hold a password: never in a repr)
    db_path: Path | str | None = field(default=None, repr=False)
    #: the vault's key store (data keys, the ledger's signing key): outside the data database's directory,
    #: default ``<data dir>-keys/<db stem>-keys.db`` (``var/backoffice.db`` -> ``var-keys/backoffice-keys.db``)
    keys_db_path: Path | None = None
    #: PostgreSQL (a ``postgresql://`` data database): the key store's URL, a database and role of their own
    keys_db_url: str | None = field(default=None, repr=False)  # may hold a password
    kek: bytes | str | None = field(default=None, repr=False)
    kek_file: Path | None = None
    dev: bool = False
    max_body_bytes: int = 8 * 1024 * 1024
    max_image_bytes: int = 2 * 1024 * 1024
    max_import_bytes: int = 256 * 1024 * 1024  # watchlist CSV imports (a million rows is ~60 MB)
    login_max_failures: int = 5
    login_window_s: int = 900
    session_ttl_s: int = 8 * 3600
    token_ttl_s: int = 12 * 3600
    secure_cookies: bool = False
    default_language: str = "vi"
    #: the IANA time zone the web UI shows times in (to the minute), e.g. the border post's
    ui_timezone: str = "Asia/Ho_Chi_Minh"
    face_matching: FaceMatching | None = None
    fingerprint_matching: FingerprintMatching | None = None
    watchlist_threshold: float = 0.85
    watchlist_dob_window_days: int = 365
    #: four-eyes: a supervisor's single-entry watchlist change waits until a second supervisor approves it
    watchlist_four_eyes: bool = False
    changes_page_limit: int = 5000
    #: the versioned trust store (``smartborder trust import``) served, signed, to gates at
    #: ``GET /api/v1/trust-store``; None: no trust store is distributed (404)
    trust_store_dir: Path | None = None
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19 * 1024

    def __post_init__(self) -> None:
        if not self.secret_key or len(self.secret_key) < 16:
            raise ConfigError("secret_key must be at least 16 characters")
        if self.face_matching is not None and not isinstance(self.face_matching, FaceMatching):
            raise ConfigError("face_matching must be a backoffice FaceMatching (FaceMatching.from_engine)")
        if self.fingerprint_matching is not None and not isinstance(self.fingerprint_matching, FingerprintMatching):
            raise ConfigError("fingerprint_matching must be a backoffice FingerprintMatching "
                              "(FingerprintMatching.from_engine)")
        if self.default_language not in ("vi", "en"):
            raise ConfigError("default_language must be vi or en")
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(self.ui_timezone)
        except (ValueError, LookupError) as e:  # ZoneInfoNotFoundError is a KeyError
            raise ConfigError(f"ui_timezone {self.ui_timezone!r} is not a known IANA time zone") from e
        for name in ("max_body_bytes", "max_image_bytes", "max_import_bytes", "login_max_failures", "login_window_s",
                     "session_ttl_s", "token_ttl_s", "changes_page_limit"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
