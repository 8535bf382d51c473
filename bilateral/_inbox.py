"""The receiving end of the exchange (issue #26 item 3): what the partner's back office sent, checked, kept once.

:meth:`Inbox.receive` takes the envelope's bytes and the administration the TLS client certificate named
(the entry point reads it from the verified handshake), and either stores the message or raises the named
:class:`bilateral.ExchangeError` the entry point answers with (its ``status`` and ``reason``). Checked, in
order: the certificate names the agreement's partner; the envelope (size, fields, kind, id, base64) and its
sender (the partner); a message id already received (same bytes: ``duplicate``, answered as a success and not
stored twice; other bytes: :class:`MessageIdReused`); the body for its kind: an attestation must be a COSE_Sign1
of this profile from the partner carrying only the agreed claims (:func:`check_attestation`; the entry gate
verifies it in full), a revocation list or trust list must verify as the partner's signed list of that name
with no rollback and no equivocation at the version held (:func:`bilateral.load_revocations` /
:func:`bilateral.load_trust_list` against the floor this inbox keeps). Every outcome (``received``,
``duplicate``, ``refused`` with its reason, ``purged``) goes into the ledger, in the message's transaction.

:meth:`Inbox.purge` enforces this side's retention (the agreement's ``retention_days`` of ``administration``):
a received body older than that is erased (``secure_delete`` and a WAL checkpoint, so its bytes leave the file);
the id, kind and digest stay, so a late replay of a purged id is still a ``duplicate``, not a new message.
While another connection's reader keeps the WAL the purge is incomplete (``PurgeResult.wal_truncated`` False,
ledgered ``purge_incomplete``); each later purge, and each open, tries the checkpoint again (``purge_complete``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from bilateral._agreement import Agreement
from bilateral._errors import (
    AgreementError,
    BilateralError,
    ContentRefused,
    ExchangeError,
    MessageIdReused,
    RevocationEquivocation,
    TrustListEquivocation,
    WrongAdministration,
)
from bilateral._exchange import (
    Message,
    PurgeResult,
    body_digest,
    check_attestation,
    decode_message,
    finish_purge,
    ledger_entry,
    open_exchange_db,
)
from bilateral._lists import REVOCATION_LIST, TRUST_LIST, load_revocations, load_trust_list
from storage import Migration

__all__ = ["Inbox", "Receipt", "INBOX_MIGRATIONS"]

INBOX_MIGRATIONS = [
    Migration("bilateral_inbox_001", """
        CREATE TABLE bilateral_inbox (
            sender TEXT NOT NULL,
            message_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            body BLOB,
            received_at INTEGER NOT NULL,
            purged_at INTEGER,
            PRIMARY KEY (sender, message_id)
        );
        CREATE INDEX bilateral_inbox_received_at ON bilateral_inbox (received_at) WHERE body IS NOT NULL;
        CREATE TABLE bilateral_inbox_floor (
            list TEXT NOT NULL,
            administration TEXT NOT NULL,
            version INTEGER NOT NULL,
            digest TEXT NOT NULL,
            PRIMARY KEY (list, administration)
        );
    """),
]
_ACTOR = "system:partner-link"
_LISTS = {"revocations": (REVOCATION_LIST, load_revocations, RevocationEquivocation),
          "trust_list": (TRUST_LIST, load_trust_list, TrustListEquivocation)}


@dataclass(frozen=True)
class Receipt:
    outcome: str  # "received" | "duplicate"
    message_id: str
    kind: str


def _seconds(now: dt.datetime | None) -> int:
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("times are timezone-aware (UTC)")
    return int(now.timestamp())


class Inbox:
    """``Inbox(path, agreement=..., list_keys=..., ledger_key=...)``: ``agreement`` names this side
    (``administration``), the partner, the exchanged claims and the retention; ``list_keys`` are the partner's
    list-signing public keys (its signed lists' keys); ``ledger_key`` signs this side's exchange ledger."""

    def __init__(self, path: str | Path | None, *, agreement: Agreement, list_keys, ledger_key, clock=None):
        if agreement.administration is None or not agreement.retention_days:
            raise AgreementError("the exchange needs an agreement naming administration and retention_days")
        self.agreement = agreement
        self.partner = agreement.partner
        self.list_keys = list(list_keys)
        self._x = open_exchange_db(path, INBOX_MIGRATIONS, ledger_key, clock=clock)
        self.db = self._x.db
        self.ledger = self._x.ledger
        finish_purge(self._x, partner=self.partner, actor=_ACTOR, purged=0, wait_ms=0)  # an earlier one left over

    def close(self) -> None:
        self._x.close()

    # -- receiving ---------------------------------------------------------------------------------------------
    def receive(self, data: bytes, *, peer: str, now: dt.datetime | None = None) -> Receipt:
        """Check and keep one envelope from ``peer`` (the administration its client certificate names)."""
        at = _seconds(now)
        message = None
        try:
            if peer != self.partner:
                raise WrongAdministration(f"the client certificate names {peer!r}, not the partner {self.partner!r}")
            message = decode_message(data)
            if message.sender != self.partner:
                raise WrongAdministration(f"the message's sender is {message.sender!r}, not {self.partner!r}")
            with self.db.tx() as c:
                held = c.first(text("SELECT sha256 FROM bilateral_inbox WHERE sender = :s AND message_id = :m"),
                               {"s": message.sender, "m": message.message_id})
                if held is not None:
                    if held["sha256"] != message.digest:
                        raise MessageIdReused(f"message {message.message_id} was received with other bytes")
                    self._ledger("duplicate", message)
                    return Receipt("duplicate", message.message_id, message.kind)
                self._check_body(c, message)
                c.execute(text("INSERT INTO bilateral_inbox (sender, message_id, kind, sha256, body, received_at) "
                               "VALUES (:s, :m, :k, :h, :b, :at)"),
                          {"s": message.sender, "m": message.message_id, "k": message.kind, "h": message.digest,
                           "b": message.body, "at": at})
                self._ledger("received", message)
            return Receipt("received", message.message_id, message.kind)
        except ExchangeError as e:
            self._refused(e, message, data)
            raise

    def _check_body(self, c, message: Message) -> None:
        if message.kind == "attestation":
            check_attestation(message.body, issuer=self.partner, fields=self.agreement.exchange_fields)
            return
        list_name, load, equivocation = _LISTS[message.kind]
        floor = c.first(text("SELECT version, digest FROM bilateral_inbox_floor WHERE list = :l AND "
                             "administration = :a"), {"l": list_name, "a": self.partner})
        try:
            loaded = load(message.body, self.list_keys, administration=self.partner,
                          min_version=floor["version"] if floor else 0)
            if floor and loaded.version == floor["version"] and loaded.digest != floor["digest"]:
                raise equivocation(f"another {list_name} list with version {floor['version']}, already held")
        except BilateralError as e:
            raise ContentRefused(f"the {message.kind} list: {e}", e.reason) from e
        c.execute(text("INSERT INTO bilateral_inbox_floor (list, administration, version, digest) "
                       "VALUES (:l, :a, :v, :d) ON CONFLICT (list, administration) DO UPDATE SET "
                       "version = excluded.version, digest = excluded.digest"),
                  {"l": list_name, "a": self.partner, "v": loaded.version, "d": loaded.digest})

    def _ledger(self, outcome: str, message: Message | None, *, reason: str | None = None, digest=None) -> None:
        ledger_entry(self.ledger, action=f"bilateral_{outcome}", message_id=message.message_id if message else "-",
                     kind=message.kind if message else None, digest=message.digest if message else digest,
                     partner=self.partner, outcome=outcome, reason=reason, actor=_ACTOR)

    def _refused(self, error: ExchangeError, message: Message | None, data: bytes) -> None:
        self._ledger("refused", message, reason=error.reason, digest=body_digest(data) if data else None)

    def refuse(self, error: ExchangeError) -> None:
        """Ledger a refusal the entry point made before :meth:`receive` (no certificate, a body too large to
        read): no message id, no digest."""
        ledger_entry(self.ledger, action="bilateral_refused", message_id="-", kind=None, digest=None,
                     partner=self.partner, outcome="refused", reason=error.reason, actor=_ACTOR)

    # -- reading -----------------------------------------------------------------------------------------------
    def count(self, kind: str | None = None) -> int:
        """Messages received (purged ones included: they were received once)."""
        with self.db.read() as c:
            return c.scalar(text("SELECT count(*) FROM bilateral_inbox WHERE :k IS NULL OR kind = :k"), {"k": kind})

    def bodies(self, kind: str) -> list[bytes]:
        """The bodies held (not purged) of ``kind``, oldest first: what the entry gates are handed."""
        with self.db.read() as c:
            rows = c.all(text("SELECT body FROM bilateral_inbox WHERE kind = :k AND body IS NOT NULL "
                              "ORDER BY received_at, message_id"), {"k": kind})
        return [bytes(r["body"]) for r in rows]

    # -- retention ---------------------------------------------------------------------------------------------
    def purge(self, now: dt.datetime | None = None) -> PurgeResult:
        """Erase the bodies received more than this side's ``retention_days`` before ``now``; ledger each; copy
        the WAL into the file and truncate it so the erased bytes leave the disk. ``wal_truncated`` False (a
        reader of another connection kept the WAL): incomplete, ledgered, tried again by the next purge or open."""
        days = self.agreement.retention_of(self.agreement.administration)
        cutoff = _seconds(now) - days * 86_400
        with self.db.tx() as c:
            rows = c.all(text("SELECT sender, message_id, kind, sha256 FROM bilateral_inbox WHERE body IS NOT NULL "
                              "AND received_at <= :cut ORDER BY received_at, message_id"), {"cut": cutoff})
            for r in rows:
                c.execute(text("UPDATE bilateral_inbox SET body = NULL, purged_at = :now WHERE sender = :s AND "
                               "message_id = :m"), {"now": _seconds(now), "s": r["sender"], "m": r["message_id"]})
                ledger_entry(self.ledger, action="bilateral_purged", message_id=r["message_id"], kind=r["kind"],
                             digest=r["sha256"], partner=self.partner, outcome="purged",
                             reason=f"retention_{days}_days", actor=_ACTOR)
        return finish_purge(self._x, partner=self.partner, actor=_ACTOR, purged=len(rows))
