"""The device side of the back office's HTTP API (backoffice/API.md), over httpx: one client for
gates and kiosks.

``Authorization: Bearer <device token>`` on every request; every POST of a record carries the outbox
item id as ``Idempotency-Key``, so a retry after a lost answer never stores the record twice (a
``200`` with ``Idempotent-Replayed: true`` is the first answer again). Status codes map onto one
vocabulary (:mod:`devicelink._errors`):

- transport errors, time-outs, 5xx, 408, 429 -> :class:`BackofficeUnavailable` (retry later);
- 401/403 -> :class:`BackofficeAuthError` (a :class:`BackofficeUnavailable`: the credential is refused);
- other 4xx on a record (``events``, ``exceptions``, ``enrolments``) -> :class:`RecordRejected` (parked); but
  a 422 naming only fields of :data:`LATER_FIELDS` as unknown (a back office of an older release) resends the
  record once without exactly those fields, with a warning naming them;
  on an officer call (``raise_call``) -> :class:`RecordRejected` too (the call was not stored).

The watchlist feed and the fingerprint verification store nothing: a refusal there means "no answer
now", so any non-auth 4xx is :class:`BackofficeUnavailable` too (the gate's policy decides what an
unanswered question means).

Every answer to a device carries the audit ledger's signed head (``X-Ledger-Head``, a
:class:`privacy.Checkpoint` as base64url JSON). The client parses it on every response, holds the last
one received (:attr:`BackofficeClient.ledger_head`) and hands each one that differs from the one before
to ``on_ledger_head`` (the device's outbox adds it to its witness history:
:meth:`devicelink.Outbox.keep_ledger_head`), a lower seq too: a head that goes back is evidence of a
rolled-back ledger, and a forged head with a huge seq must not hide the genuine ones after it. With
``ledger_public_key`` (the ledger's Ed25519 public key, base64) a head whose signature does not verify
under it is dropped, logged as an error and counted (:attr:`BackofficeClient.ledger_heads_rejected`);
without it heads are kept unverified (the auditor verifies them). A malformed value, or any failure to
keep one, is logged; it never fails the request.
"""

from __future__ import annotations

import base64
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from devicelink._errors import BackofficeAuthError, BackofficeUnavailable, RecordRejected
from privacy import Checkpoint, LedgerError

__all__ = ["BackofficeClient", "EnrolmentAnswer", "TrustStoreAnswer", "WatchlistDelta", "CALLS_ENDPOINT", "ENDPOINTS", "LATER_FIELDS",
           "LEDGER_HEAD_HEADER", "ledger_key"]

log = logging.getLogger("devicelink")

#: the back office's signed ledger head on every answer to a device (backoffice/API.md)
LEDGER_HEAD_HEADER = "X-Ledger-Head"

#: the outbox item kinds and the endpoint each is delivered to
ENDPOINTS = {"event": "/api/v1/events", "exception": "/api/v1/exceptions", "enrolment": "/api/v1/enrolments"}
#: officer calls (:meth:`BackofficeClient.raise_call`): sent at once, never through the outbox
CALLS_ENDPOINT = "/api/v1/calls"
#: fields added to an endpoint's body after its first release (top-level keys; backoffice/API.md "Older back
#: offices"). A back office of a release before them refuses them (422, ``extra_forbidden``): the record is then
#: resent once without exactly the fields it named, never without any other. Add a field here when it is added to
#: a record's schema; issue #23 added the liveness fields
LATER_FIELDS: dict[str, frozenset[str]] = {
    ENDPOINTS["exception"]: frozenset({"liveness_path", "passive_decision", "passive_score", "liveness_reason"}),
    ENDPOINTS["event"]: frozenset({"liveness_path"}),
}
#: the back office renders at most this many validation errors: a full list may hide others
_MAX_ERRORS = 50


@dataclass(frozen=True)
class EnrolmentAnswer:
    """The back office's answer to an enrolment: ``status`` accepted / duplicate_suspected."""

    enrolment_id: str
    status: str
    duplicates: tuple[dict, ...] = ()
    checks: tuple[str, ...] = ()
    replayed: bool = False  # the back office already had this record (a retry after a lost answer)

    @property
    def duplicate(self) -> bool:
        return self.status == "duplicate_suspected"


@dataclass(frozen=True)
class WatchlistDelta:
    """Changes of the watchlist feed after a version: apply ``changes`` in order, then store ``version``
    (and ``etag``, sent back as ``If-None-Match`` so an unchanged feed answers 304)."""

    changes: list[dict[str, Any]]
    version: int
    etag: str | None = None
    not_modified: bool = False
    #: the back office's history is behind our version (e.g. restored from a backup): drop the
    #: local copy and start again from version 0
    reset: bool = False


@dataclass(frozen=True)
class TrustStoreAnswer:
    """The back office's trust store feed: ``blob`` the signed list as received (verify it before use:
    ``privacy.verify_list``), ``not_modified`` (304: the ETag matched), ``not_configured`` (404: the back office
    distributes none)."""

    blob: bytes | None
    etag: str | None = None
    not_modified: bool = False
    not_configured: bool = False


class BackofficeClient:
    """``BackofficeClient("http://127.0.0.1:8400", token)``, or ``BackofficeClient(token=..., http=client)``
    with an ``httpx.Client`` that already has its base URL (Starlette's TestClient around the app in tests;
    the client given is not closed by :meth:`close`). ``on_ledger_head(head)`` receives every signed
    ledger head that differs from the one received before it (e.g. ``outbox.keep_ledger_head``);
    ``ledger_public_key`` (base64 Ed25519, ``smartborder privacy public-key``) pins the ledger's key: a head
    it did not sign is dropped. A key that is not base64 of 32 bytes raises ValueError."""

    def __init__(self, base_url: str | None = None, token: str = "", *, timeout_s: float = 5.0,
                 page_limit: int = 1000, http: httpx.Client | None = None,
                 on_ledger_head: Callable[[Checkpoint], Any] | None = None, ledger_public_key: str = "") -> None:
        if not token:
            raise ValueError("a device token is required (smartborder backoffice issue-device ...)")
        if http is None and not base_url:
            raise ValueError("a base_url or an http client is needed")
        self._ledger_key = ledger_key(ledger_public_key) if ledger_public_key else None
        self._own = http is None
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout_s)
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.page_limit = page_limit
        self.on_ledger_head = on_ledger_head
        #: the last signed ledger head an answer carried (None: none yet)
        self.ledger_head: Checkpoint | None = None
        #: heads dropped: their signature does not verify under ``ledger_public_key``
        self.ledger_heads_rejected = 0
        self._head_lock = threading.Lock()

    def close(self) -> None:
        if self._own:
            self.http.close()

    def __enter__(self) -> BackofficeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, key: str | None = None, **kw: Any) -> httpx.Response:
        """Send; transport failures, 5xx/408/429 and 401/403 raise, any other answer is returned."""
        headers = {**self._headers, **kw.pop("headers", {})}
        if key is not None:
            headers["Idempotency-Key"] = key
        try:
            r = self.http.request(method, path, headers=headers, **kw)
        except httpx.HTTPError as e:
            raise BackofficeUnavailable(f"{method} {path}: back office unreachable ({type(e).__name__})") from e
        self._witness(r, f"{method} {path}")
        if r.status_code >= 500 or r.status_code in (408, 429):
            raise BackofficeUnavailable(f"{method} {path}: back office answered HTTP {r.status_code}")
        if r.status_code in (401, 403):
            raise BackofficeAuthError(f"{method} {path}: back office refused the device credential "
                                      f"(HTTP {r.status_code})")
        return r

    def _witness(self, r: httpx.Response, what: str) -> None:
        """Hand on the answer's signed ledger head when it differs from the last one; a malformed (or, with
        a pinned key, unsigned) head is logged and dropped. Never raises: a witness never fails a request."""
        try:
            value = r.headers.get(LEDGER_HEAD_HEADER)
            if value is None:
                return
            try:
                head = Checkpoint.from_token(value)
            except LedgerError as e:
                log.warning("%s: ignored a malformed %s header (%s)", what, LEDGER_HEAD_HEADER, e)
                return
            if self._ledger_key is not None and not head.signed_by(self._ledger_key):
                with self._head_lock:
                    self.ledger_heads_rejected += 1
                log.error("%s: dropped a ledger head at seq %d that the pinned ledger key did not sign (key id %s): "
                          "forged, or the ledger's key changed (ledger_public_key)", what, head.seq, head.key_id)
                return
            with self._head_lock:
                if head == self.ledger_head:
                    return
                self.ledger_head = head
            if self.on_ledger_head is not None:
                self.on_ledger_head(head)
        except Exception as e:  # noqa: BLE001 - keeping a witness must never fail the request it came with
            log.warning("%s: the ledger head was not kept: %s: %s", what, type(e).__name__, e)

    def _post_record(self, path: str, body: dict[str, Any], key: str) -> httpx.Response:
        if not key:
            raise ValueError("a record needs its outbox item id as Idempotency-Key")
        r = self._request("POST", path, json=body, key=key)
        later = _later_fields_refused(path, body, r)
        if later:
            # an older back office refused it before storing anything (no idempotency row): the same key again
            log.warning("POST %s: the back office does not know %s (a release before them): resent without them",
                        path, ", ".join(sorted(later)))
            r = self._request("POST", path, json={k: v for k, v in body.items() if k not in later}, key=key)
        if r.status_code >= 400:
            problem = _problem(r)
            raise RecordRejected(r.status_code, str(problem.get("type", "about:blank")),
                                 str(problem.get("detail") or problem.get("title") or r.reason_phrase)[:300])
        return r

    # -- records (idempotent) --------------------------------------------------------------------------
    def deliver(self, kind: str, payload: dict[str, Any], idempotency_key: str) -> Any:
        """Deliver one outbox item to the endpoint of its ``kind`` (:data:`ENDPOINTS`); returns the
        back office's answer (:class:`EnrolmentAnswer` for an enrolment, the stored record otherwise)."""
        if kind == "enrolment":
            return self.submit_enrolment(payload, idempotency_key)
        if kind not in ENDPOINTS:
            raise RecordRejected(None, "unknown-kind", f"no endpoint for outbox item kind {kind!r}")
        return self._post_record(ENDPOINTS[kind], payload, idempotency_key).json()

    def post_event(self, event: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """``POST /api/v1/events`` (no personal data: kind, outcome, reason codes, duration)."""
        return self._post_record(ENDPOINTS["event"], event, idempotency_key).json()

    def post_exception(self, record: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """``POST /api/v1/exceptions``: a referral for an officer (document, scores, images)."""
        return self._post_record(ENDPOINTS["exception"], record, idempotency_key).json()

    def submit_enrolment(self, payload: dict[str, Any], idempotency_key: str) -> EnrolmentAnswer:
        """``POST /api/v1/enrolments``: the back office checks duplicates before it accepts."""
        r = self._post_record(ENDPOINTS["enrolment"], payload, idempotency_key)
        try:
            body = r.json()
            return EnrolmentAnswer(str(body["id"]), str(body["status"]), tuple(body.get("duplicates", ())),
                                   tuple(body.get("checks", ())), r.headers.get("Idempotent-Replayed") == "true")
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise BackofficeUnavailable(f"enrolment: malformed answer ({type(e).__name__})") from e

    # -- officer calls (a person is needed now: never queued in the outbox) ---------------------------
    def raise_call(self, state: str, reason: str = "traveller_request", *, idempotency_key: str | None = None) -> str:
        """``POST /api/v1/calls``: ask for an officer at this device. ``state`` is the screen (kiosk) or
        transaction state (gate) it is in, a lower-case code; ``reason`` one of ``traveller_request``,
        ``referral``, ``device_fault``, ``other``. No personal data: the back office takes the device and its
        location from the credential. Returns the call's id only when the back office stored the call (201,
        or 200 replaying it for the same ``idempotency_key``; a fresh key per call by default).

        Raises :class:`BackofficeUnavailable` (unreachable, 5xx, a malformed answer; :class:`BackofficeAuthError`
        for a refused credential) or :class:`RecordRejected` (the back office refused the call): the caller must
        then not say an officer is coming."""
        key = idempotency_key or f"call-{uuid.uuid4()}"
        r = self._post_record(CALLS_ENDPOINT, {"state": state, "reason": reason}, key)
        try:
            call_id = r.json()["id"]
        except (ValueError, KeyError, TypeError) as e:
            raise BackofficeUnavailable(f"officer call: malformed answer ({type(e).__name__})") from e
        if r.status_code not in (200, 201) or not isinstance(call_id, str) or not call_id:
            raise BackofficeUnavailable(f"officer call: unexpected answer HTTP {r.status_code}")
        return call_id

    # -- questions (nothing stored) ----------------------------------------------------------------
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
                raise BackofficeUnavailable(f"watchlist changes: HTTP {r.status_code}: {_detail(r)}")
            try:
                body = r.json()
                if body.get("reset"):
                    return WatchlistDelta([], 0, None, reset=True)
                changes.extend(body["changes"])
                new_version, more = int(body["version"]), bool(body["more"])
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise BackofficeUnavailable(f"watchlist changes: malformed response ({e})") from e
            if new_version == since and not changes:
                # nothing new: keep this ETag so the next poll can be answered with 304
                return WatchlistDelta([], version, r.headers.get("ETag"))
            if not more or new_version <= version:
                return WatchlistDelta(changes, new_version, None)
            version, headers = new_version, {}

    def trust_store(self, etag: str | None = None, *, version: int | None = None,
                    digest: str | None = None) -> TrustStoreAnswer:
        """``GET /api/v1/trust-store``, saying which version (and digest) this device uses; ``etag`` as
        If-None-Match. The body is returned as received: it is verified by the caller, never here."""
        headers = {"If-None-Match": etag} if etag else {}
        if version is not None:
            headers["X-Trust-Store-Version"] = str(int(version))
            if digest:
                headers["X-Trust-Store-Digest"] = digest
        r = self._request("GET", "/api/v1/trust-store", headers=headers)
        if r.status_code == 304:
            return TrustStoreAnswer(None, r.headers.get("ETag") or etag, not_modified=True)
        if r.status_code == 404 and str(_problem(r).get("type", "")).endswith("trust-store-not-configured"):
            return TrustStoreAnswer(None, None, not_configured=True)
        if r.status_code != 200:
            raise BackofficeUnavailable(f"trust store: HTTP {r.status_code}: {_detail(r)}")
        return TrustStoreAnswer(r.content, r.headers.get("ETag"))

    def verify_fingers(self, document_number: str, issuing_state: str,
                       probes: list[tuple[int, bytes]]) -> dict[str, Any]:
        """1:1 against the traveller's enrolment in the back office (``POST /api/v1/enrolments/verify``);
        with no probes, only whether fingerprints are enrolled. Raises BackofficeUnavailable."""
        body = {"document_number": document_number, "issuing_state": issuing_state,
                "finger_templates": [{"position": pos, "format": "iso19794_2",
                                      "data": base64.b64encode(data).decode("ascii")} for pos, data in probes]}
        r = self._request("POST", "/api/v1/enrolments/verify", json=body)
        if r.status_code != 200:
            raise BackofficeUnavailable(f"fingerprint verification: HTTP {r.status_code}: {_detail(r)}")
        try:
            return r.json()
        except ValueError as e:
            raise BackofficeUnavailable("fingerprint verification: malformed answer") from e


def ledger_key(value: str) -> Ed25519PublicKey:
    """The ledger's Ed25519 public key from its base64 (``smartborder privacy public-key``); ValueError names
    what is wrong."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError, AttributeError) as e:
        raise ValueError("ledger_public_key is not base64 of an Ed25519 public key (32 bytes): see "
                         "`smartborder privacy public-key`") from e


def _later_fields_refused(path: str, body: dict[str, Any], r: httpx.Response) -> frozenset[str]:
    """The fields of :data:`LATER_FIELDS` the back office refused as unknown, when that is all it refused: a 422
    validation problem whose every error is ``extra_forbidden`` at ``["body", field]`` for such a field the body
    holds. Empty (the record is refused as it is) for any other answer, error or shape, and for a full error list."""
    allowed = LATER_FIELDS.get(path)
    if r.status_code != 422 or not allowed:
        return frozenset()
    problem = _problem(r)
    errors = problem.get("errors")
    if not str(problem.get("type", "")).endswith("/validation") or not isinstance(errors, list) \
            or not 0 < len(errors) < _MAX_ERRORS:
        return frozenset()
    named = set()
    for e in errors:
        if not isinstance(e, dict) or e.get("type") != "extra_forbidden":
            return frozenset()
        loc = e.get("loc")
        if not isinstance(loc, list) or len(loc) != 2 or loc[0] != "body" or not isinstance(loc[1], str) \
                or loc[1] not in allowed or loc[1] not in body:
            return frozenset()
        named.add(loc[1])
    return frozenset(named)


def _problem(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {"detail": r.text[:300]}
    return body if isinstance(body, dict) else {"detail": str(body)[:300]}


def _detail(r: httpx.Response) -> str:
    problem = _problem(r)
    return str(problem.get("detail") or problem.get("title") or problem)[:300]
