"""Fixtures: the real back office in process (composed as ``backoffice serve`` composes it) with a gate's
and a kiosk's credentials; a deliverer double that dedupes by idempotency key like the back office."""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

import pytest

from devicelink import BackofficeClient, BackofficeUnavailable, RecordRejected

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")


@dataclass
class BackOffice:
    http: Any  # Starlette's TestClient around the app
    app: Any
    tokens: dict[str, str]  # "gate" / "kiosk" -> bearer token

    def client(self, who: str, token: str | None = None) -> BackofficeClient:
        return BackofficeClient(token=token or self.tokens[who], http=self.http)

    def count(self, table: str) -> int:
        return self.app.state.ctx.store.query(f"SELECT count(*) AS n FROM {table}")[0]["n"]


@pytest.fixture()
def backoffice(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from smartborder.compose.backoffice import build_backoffice
    from smartborder.settings import load_settings

    data = tmp_path / "backoffice"
    app = build_backoffice(load_settings(environ={}, data_dir=str(data)), environ={}, db_path=data / "bo.db",
                           argon2_time_cost=1, argon2_memory_kib=1024)
    auth = app.state.ctx.auth
    tokens = {"gate": auth.issue_device("gate-01", "gate", "Gate 1", "Bắc Luân I entry")[1],
              "kiosk": auth.issue_device("kiosk-01", "kiosk", "Kiosk 1", "Hall")[1]}
    http = TestClient(app, raise_server_exceptions=False)
    yield BackOffice(http, app, tokens)
    http.close()


@dataclass
class FakeBackoffice:
    """Keeps the first record of each key like the real one; can be down, drop mid-round, refuse a kind
    or the credential."""

    received: dict[str, tuple[str, dict]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)  # idempotency keys in the order they were sent
    down: bool = False
    fail_after: int | None = None
    reject_kind: str | None = None
    auth_refused: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def deliver(self, kind: str, payload: dict, key: str) -> str:
        with self.lock:
            self.calls.append(key)
            if self.auth_refused:
                from devicelink import BackofficeAuthError

                raise BackofficeAuthError("HTTP 401")
            if self.down or (self.fail_after is not None and len(self.calls) > self.fail_after):
                raise BackofficeUnavailable("connection refused")
            if kind == self.reject_kind:
                raise RecordRejected(422, "about:blank", "schema violation")
            self.received.setdefault(key, (kind, payload))
            return f"stored:{key}"
