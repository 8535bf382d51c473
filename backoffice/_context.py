"""The per-app context: configuration, database, services. Routes reach it through ``deps.Ctx``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backoffice._auth import Auth
from backoffice._config import BackofficeConfig
from backoffice._observability import Metrics
from backoffice._store import Store
from backoffice._watchlist import WatchlistService

__all__ = ["Context"]


@dataclass
class Context:
    config: BackofficeConfig
    store: Store
    auth: Auth
    watchlist: WatchlistService
    metrics: Metrics
    records: Any = None  # backoffice._records.Records (exceptions, events, enrolments)
    privacy: Any = None  # backoffice._privacy.PrivacyGateway
    calls: Any = None  # backoffice._calls.CallService (officer calls)
    trust: Any = None  # backoffice._trust_feed.TrustFeed (the signed trust store for gates)
    extra: dict = field(default_factory=dict)
