"""HTTP client for the back office's device API (backoffice/API.md), over httpx.

``Authorization: Bearer <device token>``; every POST carries ``Idempotency-Key`` (the outbox id).
Errors are RFC 9457 problem documents, mapped to: :class:`BackofficeUnavailable` (network, 5xx,
429: retry later), :class:`BackofficeAuthError` (401/403: re-provision the kiosk),
:class:`RecordRejected` (any other 4xx, incl. 413 and a reused idempotency key: never retried).
"""

from __future__ import annotations

from typing import Any

import httpx

from enrollment._errors import BackofficeAuthError, BackofficeUnavailable, RecordRejected
from enrollment._outbox import EnrolmentAnswer

__all__ = ["BackofficeHttpClient"]


class BackofficeHttpClient:
    """``BackofficeHttpClient(base_url, token)`` or ``BackofficeHttpClient(token=..., http=<httpx.Client>)``
    (an injected client, e.g. Starlette's TestClient around the app, already has its base URL)."""

    def __init__(self, base_url: str | None = None, token: str = "", *, timeout: float = 5.0,
                 http: httpx.Client | None = None) -> None:
        if http is None and not base_url:
            raise ValueError("a base_url or an http client is needed")
        self.token = token
        self._own = http is None
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self.timeout = timeout

    def close(self) -> None:
        if self._own:
            self.http.close()

    def _headers(self, key: str | None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if key is not None:
            h["Idempotency-Key"] = key
        return h

    def _request(self, method: str, path: str, *, json: Any = None, key: str | None = None) -> httpx.Response:
        try:
            r = self.http.request(method, path, json=json, headers=self._headers(key))
        except httpx.HTTPError as e:
            raise BackofficeUnavailable(f"back office unreachable: {type(e).__name__}") from e
        if r.status_code >= 500 or r.status_code == 429:
            raise BackofficeUnavailable(f"back office answered {r.status_code}")
        if r.status_code in (401, 403):
            raise BackofficeAuthError(f"back office refused the kiosk credential ({r.status_code})")
        if r.status_code >= 400:
            try:
                problem = r.json()
            except ValueError:
                problem = {}
            raise RecordRejected(r.status_code, str(problem.get("type", "about:blank")),
                                 str(problem.get("detail", r.reason_phrase)))
        return r

    def submit_enrolment(self, payload: dict[str, Any], idempotency_key: str) -> EnrolmentAnswer:
        r = self._request("POST", "/api/v1/enrolments", json=payload, key=idempotency_key)
        body = r.json()
        return EnrolmentAnswer(str(body["id"]), str(body["status"]), tuple(body.get("duplicates", ())),
                               tuple(body.get("checks", ())), r.headers.get("Idempotent-Replayed") == "true")

    def post_event(self, event: dict[str, Any], idempotency_key: str) -> dict:
        """``POST /api/v1/events`` (no personal data: kind, outcome, reason codes, duration)."""
        return self._request("POST", "/api/v1/events", json=event, key=idempotency_key).json()

    def post_exception(self, record: dict[str, Any], idempotency_key: str) -> dict:
        return self._request("POST", "/api/v1/exceptions", json=record, key=idempotency_key).json()
