"""The messages two back offices exchange over their mutual-TLS link (issue #26 item 3), and what both ends check.

One message is one JSON envelope, ``POST /bilateral/v1/messages``::

    {"v": 1, "kind": "attestation" | "revocations" | "trust_list",
     "message_id": "<32 lower-case hex: chosen by the sender, stable across retries>",
     "sender": "VNM",                 # the sending administration (ICAO code)
     "body": "<base64: the COSE_Sign1 bytes as issued, or the signed list's bytes>"}

No other field (:class:`UnknownField`); at most :data:`MAX_ENVELOPE_BYTES` (:class:`MessageTooLarge`). The
receiver answers 200 ``{"outcome": "received" | "duplicate", "message_id"}`` or a 4xx ``{"reason", "detail"}``.

The link's certificates name their administration as the subject's organisation (O): exactly one O, the
three-letter code (:func:`link_administration`). Each side's link CA issues only its own side's certificates;
a side trusts only the partner's link CA and accepts only a certificate naming the partner.

The ledger of either end (:func:`open_exchange_db`) is a :class:`privacy.Ledger` in the end's own SQLite file,
written in the transaction that changes the message, so a message and its entry are committed together.
Entries carry no personal data: message id (the record), kind, SHA-256 of the body, partner, outcome, reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cbor2
from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import text

from bilateral._agreement import CLAIM_NAMES
from bilateral._attestation import CONTENT_TYPE
from bilateral._cose import HEADER_CONTENT_TYPE, HEADER_KID, decode_sign1
from bilateral._errors import (
    BilateralError,
    ContentRefused,
    FieldNotAgreed,
    LinkCertificateError,
    MessageMalformed,
    MessageTooLarge,
    UnknownField,
    UnknownKind,
    WrongAdministration,
)
from privacy import MIGRATIONS as PRIVACY_MIGRATIONS
from privacy import Ledger
from storage import Database, Migration, migrate, open_database

__all__ = ["KINDS", "MAX_BODY_BYTES", "MAX_ENVELOPE_BYTES", "MESSAGES_PATH", "Message", "encode_message",
           "decode_message", "check_attestation", "link_administration", "body_digest", "open_exchange_db",
           "ExchangeDb", "LEDGER_PURPOSE", "LEDGER_BASIS", "PurgeResult", "finish_purge"]

KINDS = ("attestation", "revocations", "trust_list")
MESSAGES_PATH = "/bilateral/v1/messages"
#: a COSE_Sign1 is at most 64 KiB (bilateral._cose); a signed list of the partner's keys or revocations as well
MAX_BODY_BYTES = 64 * 1024
#: the envelope: the body in base64 and a few short fields
MAX_ENVELOPE_BYTES = 4 * ((MAX_BODY_BYTES + 2) // 3) + 512
_ENVELOPE_KEYS = {"v", "kind", "message_id", "sender", "body"}
_MESSAGE_ID = re.compile(r"[0-9a-f]{32}")
_ADMINISTRATION = re.compile(r"[A-Z]{3}")
#: CWT claim keys to the names the agreement uses
_CLAIM_KEYS = {1: "iss", 4: "exp", 5: "nbf", 6: "iat", 7: "cti"}
LEDGER_PURPOSE = "bilateral exchange of crossing attestations and lists"
LEDGER_BASIS = "bilateral agreement between the two border administrations (issue #26)"
_LEDGER_MIGRATIONS = [m for m in PRIVACY_MIGRATIONS if m.name in ("privacy_0003_ledger", "privacy_0006_ledger_head")]


@dataclass(frozen=True)
class Message:
    kind: str
    message_id: str
    sender: str
    body: bytes

    @property
    def digest(self) -> str:
        return body_digest(self.body)


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _check_fields(kind, message_id, sender, body) -> None:
    if kind not in KINDS:
        raise UnknownKind(f"kind {kind!r} is not one of {list(KINDS)}")
    if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
        raise MessageMalformed("message_id is 32 lower-case hex digits")
    if not isinstance(sender, str) or not _ADMINISTRATION.fullmatch(sender):
        raise MessageMalformed("sender is a three-letter administration code")
    if not isinstance(body, bytes) or not body:
        raise MessageMalformed("the body is a non-empty byte string")
    if len(body) > MAX_BODY_BYTES:
        raise MessageTooLarge(f"the body is {len(body)} bytes, more than {MAX_BODY_BYTES}")


def encode_message(message: Message) -> bytes:
    _check_fields(message.kind, message.message_id, message.sender, message.body)
    return json.dumps({"v": 1, "kind": message.kind, "message_id": message.message_id, "sender": message.sender,
                       "body": base64.b64encode(message.body).decode("ascii")}, separators=(",", ":")).encode()


def decode_message(data: bytes) -> Message:
    """An envelope's message, or the named error: :class:`MessageTooLarge`, :class:`MessageMalformed`,
    :class:`UnknownField`, :class:`UnknownKind`."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise MessageTooLarge(f"the message is {len(data)} bytes, more than {MAX_ENVELOPE_BYTES}")
    try:
        obj = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise MessageMalformed(f"the message is not a JSON object: {e}") from e
    if not isinstance(obj, dict):
        raise MessageMalformed("the message is not a JSON object")
    unknown = sorted(set(obj) - _ENVELOPE_KEYS)
    if unknown:
        raise UnknownField(f"unknown fields {unknown}")
    missing = sorted(_ENVELOPE_KEYS - set(obj))
    if missing:
        raise MessageMalformed(f"missing fields {missing}")
    if obj["v"] != 1 or isinstance(obj["v"], bool):
        raise MessageMalformed(f"envelope version {obj['v']!r} is not 1")
    if not isinstance(obj["body"], str):
        raise MessageMalformed("the body is base64 text")
    try:
        body = base64.b64decode(obj["body"].encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as e:
        raise MessageMalformed(f"the body is not base64: {e}") from e
    _check_fields(obj["kind"], obj["message_id"], obj["sender"], body)
    return Message(obj["kind"], obj["message_id"], obj["sender"], body)


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("a key appears twice")
    return dict(pairs)


def check_attestation(body: bytes, *, issuer: str, fields: frozenset[str]) -> bytes:
    """What the exchange checks of an attestation before it is sent or accepted (the entry gate verifies it in
    full): a COSE_Sign1 of this profile (deterministic, our protected content type, a kid in the protected
    header), its claims only among the agreement's ``fields`` (:class:`FieldNotAgreed`), the claims' shape, and
    ``issuer`` its ``iss`` (:class:`WrongAdministration`). Returns the attestation id (cti)."""
    from bilateral._attestation import parse_claims  # noqa: PLC0415 (kept beside its one use)

    try:
        sign1 = decode_sign1(body)
        if sign1.protected.get(HEADER_CONTENT_TYPE) != CONTENT_TYPE:
            raise ContentRefused("the attestation's protected content type is not a crossing attestation's",
                                 "wrong_content_type")
        kid = sign1.protected.get(HEADER_KID)
        if not isinstance(kid, bytes) or not kid:
            raise ContentRefused("the attestation names no kid in its protected header", "malformed")
        # the strict options parse_claims uses (no duplicate keys, no indefinite lengths, shallow)
        claims = cbor2.loads(sign1.payload, allow_duplicate_keys=False, allow_indefinite=False, max_depth=8)
    except ContentRefused:
        raise
    except BilateralError as e:
        raise ContentRefused(f"the attestation is not a COSE_Sign1 of this profile: {e}", e.reason) from e
    except (cbor2.CBORError, ValueError, TypeError, RecursionError, OverflowError) as e:
        raise ContentRefused(f"the attestation's claims are not CBOR: {e}", "malformed") from e
    if not isinstance(claims, Mapping):
        raise ContentRefused("the attestation's claims are not a map", "malformed")
    # a key is named by its claim name, or (never str()'d: a 5000-digit integer cannot be) by its type
    names = {_CLAIM_KEYS[k] if isinstance(k, int) and not isinstance(k, bool) and k in _CLAIM_KEYS
             else k if isinstance(k, str) else f"<{type(k).__name__} key>" for k in claims}
    unknown = sorted(n[:40] for n in names - set(CLAIM_NAMES))
    if unknown:
        raise ContentRefused(f"the attestation carries claims {unknown} no attestation has", "malformed")
    extra = sorted(names - fields)
    if extra:
        raise FieldNotAgreed(f"the attestation carries {extra}, which the agreement does not exchange")
    try:
        att = parse_claims(sign1.payload)
    except BilateralError as e:
        raise ContentRefused(f"the attestation's claims: {e}", e.reason) from e
    if att.issuer != issuer:
        raise WrongAdministration(f"the attestation is issued by {att.issuer!r}, not {issuer!r}")
    return att.attestation_id


def link_administration(certificate: bytes | x509.Certificate) -> str:
    """The administration a link certificate names: its subject's one organisation (O), a three-letter code;
    :class:`LinkCertificateError` for none, two, or anything else. ``certificate``: DER, PEM or parsed."""
    try:
        if isinstance(certificate, bytes):
            certificate = (x509.load_pem_x509_certificate(certificate) if certificate.startswith(b"-----")
                           else x509.load_der_x509_certificate(certificate))
        orgs = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    except (ValueError, TypeError) as e:
        raise LinkCertificateError(f"not a certificate: {e}") from e
    if len(orgs) != 1 or not isinstance(orgs[0].value, str) or not _ADMINISTRATION.fullmatch(orgs[0].value):
        raise LinkCertificateError("a link certificate names one administration as its subject's O (three letters)")
    return orgs[0].value


@dataclass
class ExchangeDb:
    """An end's SQLite file: the sqlite-utils handle (migrations), the transactional Database on the same
    connection and the ledger in it."""

    sqlite: object
    db: Database
    ledger: Ledger
    path: Path | None

    def close(self) -> None:
        self.db.close()  # the SQLAlchemy engine over the connection (disposed now, not by a finaliser later)
        self.sqlite.close()


def open_exchange_db(path: str | Path | None, migrations: list[Migration], ledger_key, *, clock=None) -> ExchangeDb:
    """Open (or create) an end's database with ``migrations`` and the ledger's tables, ``secure_delete`` on (a
    purged body's bytes are overwritten, not left in free pages)."""
    sqlite = open_database(path, memory=path is None)
    sqlite.conn.execute("PRAGMA secure_delete = ON")
    migrate(sqlite, [*_LEDGER_MIGRATIONS, *migrations])
    db = Database.for_sqlite_connection(sqlite.conn, lock=threading.RLock())
    ledger = Ledger(db, ledger_key, clock=clock, checkpoint_every=None)
    return ExchangeDb(sqlite, db, ledger, None if path is None else Path(path))


def ledger_entry(ledger: Ledger, *, action: str, message_id: str, kind: str | None, digest: str | None,
                 partner: str, outcome: str, reason: str | None = None, actor: str) -> None:
    """One exchange entry (no personal data: the message id, its kind, its body's SHA-256, the partner)."""
    details = {"kind": kind, "sha256": digest, "partner": partner, "outcome": outcome}
    if reason is not None:
        details["reason"] = reason
    ledger.append(actor, "system", action, message_id, LEDGER_PURPOSE, LEDGER_BASIS, details=details)


@dataclass(frozen=True)
class PurgeResult:
    """What a purge did: ``purged`` bodies erased now; ``wal_truncated`` False while another connection's reader
    kept the WAL, so erased bytes (of this purge or an earlier one) may still be in the ``-wal`` file: the purge
    is incomplete (ledgered ``purge_incomplete``) and the next purge, or the next open, tries again."""

    purged: int
    wal_truncated: bool


def finish_purge(x: ExchangeDb, *, partner: str, actor: str, purged: int, wait_ms: int = 200) -> PurgeResult:
    """Copy the WAL into the file and truncate it (one attempt, ``wait_ms`` for readers). On failure ledger
    ``bilateral_purge_incomplete`` (when this call erased something or none is outstanding); on success after
    one, ``bilateral_purge_complete``. The outstanding state is the ledger's own (survives a restart)."""
    truncated = x.db.checkpoint_truncate(attempts=1, wait_ms=wait_ms)
    with x.db.tx() as c:
        last = c.first(text("SELECT action FROM ledger_entries WHERE action IN ('bilateral_purge_incomplete', "
                            "'bilateral_purge_complete') ORDER BY seq DESC LIMIT 1"))
        outstanding = last is not None and last["action"] == "bilateral_purge_incomplete"
        if not truncated and (purged or not outstanding):
            ledger_entry(x.ledger, action="bilateral_purge_incomplete", message_id="-", kind=None, digest=None,
                         partner=partner, outcome="purge_incomplete", reason="wal_not_truncated", actor=actor)
        elif truncated and outstanding:
            ledger_entry(x.ledger, action="bilateral_purge_complete", message_id="-", kind=None, digest=None,
                         partner=partner, outcome="purge_complete", actor=actor)
    return PurgeResult(purged, truncated)
