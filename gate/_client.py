"""The gate's HTTP client for the back office's device API (backoffice/API.md).

It fills :class:`gate.BackofficeClient`: delivering outbox items (events and exception records)
with their outbox id as the ``Idempotency-Key``, and fetching the watchlist change feed page by
page with ETags. Status codes map onto the sync loop's two errors:

- transport errors, time-outs, 5xx, 429 and 401/403 (a rotated or not yet valid credential: an
  operator fixes it, the items must wait, not be dropped) -> :class:`BackofficeUnavailable`;
- 422/400/413 and other 4xx: the payload itself is refused -> :class:`RejectedByBackoffice`
  (the item is parked for an operator and never blocks the queue).

A 200 with ``Idempotent-Replayed: true`` (the back office already had the item) counts as delivered.
"""

from __future__ import annotations

from typing import Any

import httpx

from gate._sync import BackofficeUnavailable, RejectedByBackoffice, WatchlistDelta

__all__ = ["HttpBackofficeClient"]

_PATHS = {"event": "/api/v1/events", "exception": "/api/v1/exceptions"}


class HttpBackofficeClient:
    """``HttpBackofficeClient("http://127.0.0.1:8400", token)``; ``transport`` lets tests run the
    back office in process (``httpx.ASGITransport``-like or a ``TestClient``)."""

    def __init__(self, base_url: str, token: str, *, timeout_s: float = 5.0, page_limit: int = 1000,
                 client: httpx.Client | None = None) -> None:
        if not token:
            raise ValueError("a device token is required (smartborder backoffice issue-device ...)")
        self._client = client or httpx.Client(base_url=base_url, timeout=timeout_s)
        self._headers = {"Authorization": f"Bearer {token}"}
        self.page_limit = page_limit

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            r = self._client.request(method, path, headers={**self._headers, **kw.pop("headers", {})}, **kw)
        except httpx.HTTPError as e:
            raise BackofficeUnavailable(f"{method} {path}: {type(e).__name__}") from e
        if r.status_code >= 500 or r.status_code in (401, 403, 408, 429):
            raise BackofficeUnavailable(f"{method} {path}: HTTP {r.status_code}")
        return r

    def deliver(self, kind: str, payload: dict[str, Any], idempotency_key: str) -> None:
        try:
            path = _PATHS[kind]
        except KeyError as e:
            raise RejectedByBackoffice(f"unknown outbox item kind {kind!r}") from e
        r = self._request("POST", path, json=payload, headers={"Idempotency-Key": idempotency_key})
        if r.status_code in (200, 201, 409):
            return
        raise RejectedByBackoffice(f"HTTP {r.status_code}: {_problem(r)}")

    def watchlist_changes(self, since: int, etag: str | None) -> WatchlistDelta:
        """All changes after ``since`` (every page), or ``not_modified`` when the ETag matched."""
        changes: list[dict[str, Any]] = []
        version = since
        headers = {"If-None-Match": etag} if etag else {}
        while True:
            r = self._request("GET", "/api/v1/watchlist/changes",
                              params={"since": version, "limit": self.page_limit}, headers=headers)
            if r.status_code == 304:
                return WatchlistDelta([], since, etag, not_modified=True)
            if r.status_code != 200:
                raise BackofficeUnavailable(f"watchlist changes: HTTP {r.status_code}: {_problem(r)}")
            try:
                body = r.json()
                if body.get("reset"):
                    return WatchlistDelta([], 0, None, reset=True)
                changes.extend(body["changes"])
                new_version, more = int(body["version"]), bool(body["more"])
            except (ValueError, KeyError, TypeError) as e:
                raise BackofficeUnavailable(f"watchlist changes: malformed response ({e})") from e
            if new_version == since and not changes:
                # nothing new: keep this ETag so the next poll can be answered with 304
                return WatchlistDelta([], version, r.headers.get("ETag"))
            if not more or new_version <= version:
                return WatchlistDelta(changes, new_version, None)
            version, headers = new_version, {}


    def verify_fingers(self, document_number: str, issuing_state: str,
                       probes: list[tuple[int, bytes]]) -> dict[str, Any]:
        """1:1 against the traveller's enrolment in the back office (``POST /api/v1/enrolments/verify``);
        with no probes, only whether fingerprints are enrolled. Raises BackofficeUnavailable."""
        import base64

        body = {"document_number": document_number, "issuing_state": issuing_state,
                "finger_templates": [{"position": pos, "format": "iso19794_2",
                                      "data": base64.b64encode(data).decode("ascii")} for pos, data in probes]}
        r = self._request("POST", "/api/v1/enrolments/verify", json=body)
        if r.status_code != 200:
            raise BackofficeUnavailable(f"fingerprint verification: HTTP {r.status_code}: {_problem(r)}")
        return r.json()


def _problem(r: httpx.Response) -> str:
    try:
        body = r.json()
        return str(body.get("detail") or body.get("title") or body)[:300]
    except ValueError:
        return r.text[:300]
