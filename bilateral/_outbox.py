"""The sending end of the exchange (issue #26 item 3): a store-and-forward outbox over the mutual-TLS link.

:meth:`Outbox.enqueue` keeps a message (SQLite through ``storage``, so it survives a restart) and ledgers it
``queued``; :meth:`Outbox.flush` delivers what is due, oldest first, through a :class:`PartnerLink`:

- the receiver's 200 with ``outcome`` ``received`` or ``duplicate`` (it already held the id, e.g. when the
  answer to an earlier delivery was lost) and this message's ``message_id`` -> ``delivered``, ledgered (by the
  one :class:`Outbox` whose update changed the row, if two share the file);
- one of the exchange's own refusals of the content (the receiver's reason codes: 400 ``message_malformed`` /
  ``unknown_field`` / ``unknown_kind``, 409 ``message_id_reused``, 413 ``too_large``, 422 with a content
  reason) -> ``parked`` with that reason, ledgered; not retried, never dropped (:meth:`Outbox.parked` lists them;
  :meth:`Outbox.requeue` puts one, or all, back, ledgered ``requeued``); so is a stored message this side would
  not send (one too large, say), without contacting the partner;
- anything else is a link failure: a connection error, a timeout, a TLS failure (a server the partner's link CA
  did not issue), a server certificate naming another administration (checked before any request byte is sent:
  :class:`PartnerLink`), a 5xx, 408, 429, a 3xx, any other 4xx (a misdeployed route's 404, a 403
  ``wrong_administration`` / ``no_client_certificate``: the link's certificates, not the message), a 2xx that
  is not a delivery -> still ``pending``, retried after a capped exponential backoff (``base_s *
  2**(attempts-1)``, at most ``cap_s``), the named error kept in ``last_error``; the flush stops at the first
  link failure and the link itself is backed off the same way (no message is tried before that ends, so a down
  link is not hammered once per message, and a misdeployed partner parks nothing; a delivery or a refusal
  resets it).

An answer that cannot be read (content-encoded, more than :data:`MAX_ANSWER_BYTES`, not JSON, nested too deep)
is a link failure; :meth:`Outbox.run` outlives any failing round (logged by the exception's type, backed off).

The receiver keeps each (sender, message id) once, so a retry after a lost answer is harmless: exactly once at
the receiver. A message id is chosen here and kept across retries; an attestation's is its cti by default.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import text

from bilateral import _errors
from bilateral._agreement import Agreement
from bilateral._errors import AgreementError, BilateralError, ExchangeError, MessageIdReused
from bilateral._exchange import (
    MESSAGES_PATH,
    Message,
    PurgeResult,
    check_attestation,
    encode_message,
    finish_purge,
    ledger_entry,
    link_administration,
    open_exchange_db,
)
from storage import Migration

__all__ = ["Outbox", "PartnerLink", "Answer", "LinkUnavailable", "WrongServer", "FlushReport", "OUTBOX_MIGRATIONS",
           "client_tls_context"]

OUTBOX_MIGRATIONS = [
    Migration("bilateral_outbox_001", """
        CREATE TABLE bilateral_outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            message_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            body BLOB,
            state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'parked')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            queued_at INTEGER NOT NULL,
            done_at INTEGER,
            reason TEXT,
            last_error TEXT
        );
        CREATE INDEX bilateral_outbox_due ON bilateral_outbox (state, next_attempt_at);
    """),
]
_ACTOR = "system:partner-link"
#: a delivery: 200 with one of these outcomes and the message's own id
_DELIVERED = frozenset({"received", "duplicate"})
#: the exchange's own refusals of a message's content (status -> the receiver's reason codes): parked. Any other
#: answer, a 403 (wrong_administration, no_client_certificate: the link's certificates) included, is a link failure
_CONTENT_REASONS = frozenset(
    cls.reason for cls in vars(_errors).values()
    if isinstance(cls, type) and issubclass(cls, BilateralError) and isinstance(cls.__dict__.get("reason"), str)
) - {"wrong_administration", "link_certificate_invalid", "agreement_invalid", "never_skippable",
     "check_not_reliable", "field_not_exchangeable"}
_REFUSALS = {400: frozenset({"message_malformed", "unknown_field", "unknown_kind"}),
             409: frozenset({"message_id_reused"}), 413: frozenset({"too_large"}),
             422: _CONTENT_REASONS | {"field_not_agreed"}}
#: the receiver's answer is a short JSON object: more than this is not read
MAX_ANSWER_BYTES = 4096
_log = logging.getLogger(__name__)


class LinkUnavailable(BilateralError):
    """The partner's back office could not be reached or did not answer definitely (retried later)."""

    reason = "link_unavailable"


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str | None
    outcome: str | None
    message_id: str | None = None


def client_tls_context(*, partner_ca: str | Path, client_cert: str | Path, client_key: str | Path) -> ssl.SSLContext:
    """TLS 1.3 only (both ends of the link are ours), the partner's link CA the only trust anchor, hostname
    checked, this side's client certificate presented."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(cafile=str(partner_ca))
    ctx.load_cert_chain(str(client_cert), str(client_key))
    return ctx


class WrongServer(LinkUnavailable):
    """The server's certificate (verified against the partner's link CA) names another administration, or none:
    the connection is dropped before any byte of the request is sent (retried later, like any link failure)."""

    reason = "wrong_server_administration"


class PartnerLink:
    """POSTs envelopes to the partner's back office (``base_url``, https) over mutual TLS; the server's
    certificate must be the partner link CA's and name ``partner`` (:func:`bilateral.link_administration`).

    The name is checked in httpx's ``trace`` extension at ``connection.start_tls.complete``: httpcore hands over
    the TLS stream there, after the handshake and before the request is written, so a server of the partner's CA
    naming another administration (or none) receives no byte of the envelope (:class:`WrongServer`, a
    :class:`LinkUnavailable`: retried). A connection kept alive was checked when it was opened."""

    def __init__(self, base_url: str, *, partner: str, tls: ssl.SSLContext, timeout_s: float = 5.0):
        if not base_url.startswith("https://"):
            raise ValueError("the partner link is https only")
        self.partner = partner
        self._client = httpx.Client(base_url=base_url, verify=tls, timeout=timeout_s, trust_env=False)

    def close(self) -> None:
        self._client.close()

    def _check_server(self, event: str, info: dict) -> None:
        if event != "connection.start_tls.complete":
            return
        stream = info.get("return_value")
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        der = ssl_object.getpeercert(True) if ssl_object is not None else None
        if not der:
            raise WrongServer("the server presented no certificate on a TLS connection")
        try:
            named = link_administration(der)
        except BilateralError as e:
            raise WrongServer(f"the server's certificate: {e}") from e
        if named != self.partner:
            raise WrongServer(f"the server's certificate names {named!r}, not the partner {self.partner!r}")

    def send(self, envelope: bytes) -> Answer:
        try:
            with self._client.stream("POST", MESSAGES_PATH, content=envelope,
                                     headers={"content-type": "application/json", "accept-encoding": "identity"},
                                     extensions={"trace": self._check_server}) as response:
                if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
                    raise LinkUnavailable("the answer is content-encoded (identity was asked for)")
                raw = b""
                for chunk in response.iter_raw():
                    raw += chunk
                    if len(raw) > MAX_ANSWER_BYTES:
                        raise LinkUnavailable(f"the answer is more than {MAX_ANSWER_BYTES} bytes")
                status = response.status_code
        except LinkUnavailable:
            raise
        except httpx.HTTPError as e:  # connect, TLS, timeouts, a connection closed before or during the answer
            raise LinkUnavailable(f"{type(e).__name__}: {e}") from e
        except (ValueError, RecursionError) as e:  # an answer httpx could not parse: by the error's type only
            raise LinkUnavailable(f"the answer could not be read ({type(e).__name__})") from e
        try:
            data = json.loads(raw.decode("utf-8")) if raw else {}
        except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep: an answer without fields
            data = {}
        data = data if isinstance(data, dict) else {}
        fields = [data.get(k) for k in ("reason", "outcome", "message_id")]
        return Answer(status, *(f if isinstance(f, str) else None for f in fields))


@dataclass(frozen=True)
class FlushReport:
    delivered: int
    parked: int
    retrying: int
    pending: int


def _answer_error(answer: Answer, message_id: str) -> str:
    """The named last_error of an answer that is neither a delivery nor a content refusal."""
    if answer.status == 200:
        if answer.outcome not in _DELIVERED:
            return f"HTTP 200 without a delivery: outcome {answer.outcome!r}"
        return f"HTTP 200 {answer.outcome} for another message id {answer.message_id!r}, not {message_id!r}"
    return f"HTTP {answer.status} {answer.reason or ''}".strip()


def _seconds(now: dt.datetime | None) -> float:
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("times are timezone-aware (UTC)")
    return now.timestamp()


class Outbox:
    """``Outbox(path, agreement=..., link=..., ledger_key=...)``: ``agreement`` names this side
    (``administration``), the partner, the exchanged claims and the retention."""

    def __init__(self, path: str | Path | None, *, agreement: Agreement, link: PartnerLink | None, ledger_key,
                 base_s: float = 1.0, cap_s: float = 300.0, clock=None):
        if agreement.administration is None or not agreement.retention_days:
            raise AgreementError("the exchange needs an agreement naming administration and retention_days")
        if not 0 < base_s <= cap_s:
            raise ValueError("backoff: 0 < base_s <= cap_s")
        self.agreement = agreement
        self.administration = agreement.administration
        self.partner = agreement.partner
        self.link = link
        self.base_s, self.cap_s = base_s, cap_s
        self._x = open_exchange_db(path, OUTBOX_MIGRATIONS, ledger_key, clock=clock)
        self.db = self._x.db
        self.ledger = self._x.ledger
        finish_purge(self._x, partner=self.partner, actor=_ACTOR, purged=0, wait_ms=0)  # an earlier one left over
        self._flushing = threading.Lock()
        # the link's own backoff (in memory: a restart tries once at once), so a down link is not tried per message
        self._link_failures, self._link_retry_at = 0, 0.0

    def close(self) -> None:
        """Close the database and the partner link (the outbox owns the link it was given)."""
        if self.link is not None:
            self.link.close()
        self._x.close()

    def _ledger(self, outcome: str, message_id: str, kind: str, digest: str, reason: str | None = None) -> None:
        ledger_entry(self.ledger, action=f"bilateral_{outcome}", message_id=message_id, kind=kind, digest=digest,
                     partner=self.partner, outcome=outcome, reason=reason, actor=_ACTOR)

    def enqueue(self, kind: str, body: bytes, *, message_id: str | None = None,
                now: dt.datetime | None = None) -> str:
        """Keep a message for delivery; returns its id. The same id with the same bytes again is a no-op; with
        other bytes :class:`MessageIdReused`. An attestation is checked first (:func:`check_attestation`: this
        side's, of this profile, only the agreed claims); its id defaults to its cti in hex."""
        if kind == "attestation":
            cti = check_attestation(body, issuer=self.administration, fields=self.agreement.exchange_fields)
            message_id = message_id or cti.hex()
        message = Message(kind, message_id or os.urandom(16).hex(), self.administration, body)
        encode_message(message)  # the envelope's own checks (kind, id, size), before anything is kept
        at = _seconds(now)
        with self.db.tx() as c:
            held = c.first(text("SELECT sha256 FROM bilateral_outbox WHERE message_id = :m"),
                           {"m": message.message_id})
            if held is not None:
                if held["sha256"] != message.digest:
                    raise MessageIdReused(f"message {message.message_id} is already queued with other bytes")
                return message.message_id
            c.execute(text("INSERT INTO bilateral_outbox (message_id, kind, sha256, body, state, next_attempt_at, "
                           "queued_at) VALUES (:m, :k, :h, :b, 'pending', :at, :at)"),
                      {"m": message.message_id, "k": kind, "h": message.digest, "b": body, "at": at})
            self._ledger("queued", message.message_id, kind, message.digest)
        return message.message_id

    def _backoff(self, attempts: int) -> float:
        return min(self.cap_s, self.base_s * 2 ** min(attempts - 1, 32))

    def flush(self, now: dt.datetime | None = None) -> FlushReport:
        """Deliver every message due at ``now`` (oldest first) until the link fails; see the module's text."""
        if self.link is None:
            raise LinkUnavailable("this outbox has no partner link")
        delivered = parked = retrying = 0
        with self._flushing:
            at = _seconds(now)
            if at < self._link_retry_at:  # the link failed lately: no message is tried before its backoff ends
                return FlushReport(0, 0, 0, self.count("pending"))
            with self.db.read() as c:
                due = c.all(text("SELECT message_id, kind, sha256, body, attempts FROM bilateral_outbox WHERE "
                                 "state = 'pending' AND next_attempt_at <= :at ORDER BY seq"), {"at": at})
            for row in due:
                try:
                    envelope = encode_message(Message(row["kind"], row["message_id"], self.administration,
                                                      bytes(row["body"] or b"")))
                except ExchangeError as e:  # a row this version would not have queued: never sent, parked
                    self._done(row, "parked", at, e.reason)
                    parked += 1
                    continue
                try:
                    answer = self.link.send(envelope)
                except LinkUnavailable as e:
                    self._retry(row, at, str(e))
                    self._link_down(at)
                    retrying += 1
                    break
                if (answer.status == 200 and answer.outcome in _DELIVERED
                        and answer.message_id == row["message_id"]):
                    self._link_failures, self._link_retry_at = 0, 0.0
                    delivered += 1 if self._done(row, "delivered", at, answer.outcome) else 0
                elif answer.reason is not None and answer.reason in _REFUSALS.get(answer.status, ()):
                    self._link_failures, self._link_retry_at = 0, 0.0
                    parked += 1 if self._done(row, "parked", at, answer.reason) else 0
                else:  # anything else (a 5xx, 408, 429, 3xx, another 4xx, a 403, a 2xx that is not an answer)
                    self._retry(row, at, _answer_error(answer, row["message_id"]))
                    self._link_down(at)
                    retrying += 1
                    break
        return FlushReport(delivered, parked, retrying, self.count("pending"))

    def _link_down(self, at: float) -> None:
        self._link_failures += 1
        self._link_retry_at = at + self._backoff(self._link_failures)

    def _retry(self, row, at: float, error: str) -> None:
        attempts = row["attempts"] + 1
        with self.db.tx() as c:
            c.execute(text("UPDATE bilateral_outbox SET attempts = :n, next_attempt_at = :next, last_error = :e "
                           "WHERE message_id = :m AND state = 'pending'"),
                      {"n": attempts, "next": at + self._backoff(attempts), "e": error[:500],
                       "m": row["message_id"]})

    def _done(self, row, state: str, at: float, reason: str | None) -> bool:
        """Move a pending message to ``state`` and ledger it, only if this call changed it (another Outbox on the
        same file may have done so already: one entry, not two). True if it did."""
        with self.db.tx() as c:
            changed = c.execute(text("UPDATE bilateral_outbox SET state = :s, attempts = attempts + 1, done_at = :at, "
                                     "reason = :r WHERE message_id = :m AND state = 'pending'"),
                                {"s": state, "at": int(at), "r": reason, "m": row["message_id"]}).rowcount
            if changed == 1:
                self._ledger(state, row["message_id"], row["kind"], row["sha256"], reason)
        return changed == 1

    def requeue(self, message_id: str | None = None, *, all_parked: bool = False,
                now: dt.datetime | None = None) -> int:
        """Put a parked message (``message_id``) or every parked one (``all_parked=True``) back to pending, due
        at ``now``, attempts from zero; ledgered ``requeued`` each. A parked message whose body was purged stays
        parked. Returns how many."""
        if (message_id is None) == (not all_parked):
            raise ValueError("requeue one message_id or all_parked=True")
        at = _seconds(now)
        with self.db.tx() as c:
            rows = c.all(text("SELECT message_id, kind, sha256 FROM bilateral_outbox WHERE state = 'parked' AND "
                              "body IS NOT NULL AND (:m IS NULL OR message_id = :m) ORDER BY seq"), {"m": message_id})
            for r in rows:
                c.execute(text("UPDATE bilateral_outbox SET state = 'pending', attempts = 0, next_attempt_at = :at, "
                               "done_at = NULL, reason = NULL, last_error = NULL WHERE message_id = :m"),
                          {"at": at, "m": r["message_id"]})
                self._ledger("requeued", r["message_id"], r["kind"], r["sha256"])
        return len(rows)

    def run(self, stop: threading.Event, *, idle_s: float = 1.0) -> None:
        """Flush until ``stop`` is set, waiting ``idle_s`` between rounds (a delivery loop for a service). A
        round that fails with anything but :class:`LinkUnavailable` (a database busy, a bug) is logged by the
        exception's type only (no message: it could carry a body) and backed off like the link; the loop goes on."""
        failures = 0
        while not stop.is_set():
            wait = idle_s
            try:
                self.flush()
                failures = 0
            except LinkUnavailable:
                pass
            except Exception as e:  # noqa: BLE001 (the loop must outlive any one round)
                failures += 1
                wait = max(idle_s, self._backoff(failures))
                _log.error("bilateral outbox: a delivery round failed with %s (attempt %d; next in %.1f s)",
                           type(e).__name__, failures, wait)
            stop.wait(wait)

    # -- reading -----------------------------------------------------------------------------------------------
    def count(self, state: str) -> int:
        with self.db.read() as c:
            return c.scalar(text("SELECT count(*) FROM bilateral_outbox WHERE state = :s"), {"s": state})

    def status(self, message_id: str) -> dict | None:
        """state, attempts, next_attempt_at, reason, last_error of one message (None if unknown)."""
        with self.db.read() as c:
            return c.first(text("SELECT state, attempts, next_attempt_at, reason, last_error FROM bilateral_outbox "
                                "WHERE message_id = :m"), {"m": message_id})

    def parked(self) -> list[dict]:
        with self.db.read() as c:
            return c.all(text("SELECT message_id, kind, sha256, reason FROM bilateral_outbox WHERE state = 'parked' "
                              "ORDER BY seq"))

    def purge(self, now: dt.datetime | None = None) -> PurgeResult:
        """Erase the bodies delivered or parked more than this side's ``retention_days`` before ``now`` (a
        pending message is kept; a parked one purged can no longer be requeued); ledger each; copy the WAL into the file and truncate it (``wal_truncated``
        False: incomplete, ledgered, tried again by the next purge or open; see :class:`bilateral.Inbox`)."""
        days = self.agreement.retention_of(self.administration)
        cutoff = _seconds(now) - days * 86_400
        with self.db.tx() as c:
            rows = c.all(text("SELECT message_id, kind, sha256 FROM bilateral_outbox WHERE state IN ('delivered', "
                              "'parked') AND body IS NOT NULL AND done_at <= :cut ORDER BY seq"), {"cut": cutoff})
            for r in rows:
                c.execute(text("UPDATE bilateral_outbox SET body = NULL WHERE message_id = :m"), {"m": r["message_id"]})
                self._ledger("purged", r["message_id"], r["kind"], r["sha256"], f"retention_{days}_days")
        return finish_purge(self._x, partner=self.partner, actor=_ACTOR, purged=len(rows))
