"""The back-office FastAPI service (entry point): watchlists and their change feed, exception
records and their review, kiosk enrolments with a duplicate check, the privacy officer's tools,
a Vietnamese/English web UI, Prometheus metrics.

``create_app(BackofficeConfig(...))`` builds the ASGI app; ``smartborder backoffice serve`` runs it.
"""

from backoffice._app import create_app
from backoffice._auth import DEVICE_KINDS, ROLES, Auth, Principal
from backoffice._config import BackofficeConfig, ConfigError
from backoffice._errors import BackofficeError
from backoffice._matching import FaceMatching, FingerprintMatching, TemplateRefused
from backoffice._observability import configure_json_logging
from backoffice._store import Store

__all__ = [
    "DEVICE_KINDS",
    "ROLES",
    "Auth",
    "BackofficeConfig",
    "BackofficeError",
    "ConfigError",
    "FaceMatching",
    "FingerprintMatching",
    "Principal",
    "Store",
    "TemplateRefused",
    "configure_json_logging",
    "create_app",
]
