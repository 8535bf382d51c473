"""The crossing attestation: a CWT-like claims map (RFC 8392) in deterministic CBOR, signed as COSE_Sign1.

Claims (integer keys are CWT's registered claims, text keys this profile's)::

    {1: "VNM",                  # iss: the issuing administration
     4: exp, 5: nbf, 6: iat,    # NumericDate (seconds since the epoch, UTC): validity and crossing time
     7: h'16 random bytes',     # cti: the attestation id (what revocation and replay refer to)
     "v": 1,                    # this profile's version
     "dir": "exit",             # the direction attested
     "lane": "BL1-EXIT-03",     # the lane that decided
     "doc": h'32 bytes',        # HMAC-SHA-256 of [issuing state, document number, SHA-256(EF.SOD)] under
                                #   the day's key
     "chk": ["passive_authentication", ...]}   # checks that PASSED, sorted; nothing else is attested

No name, no biometric, no document number in the clear. The day's key is HKDF-SHA256 (RFC 5869) of the
agreement's secret, with the UTC day of ``iat`` in the info: it changes every day, so the same document gives
unlinkable hashes on two days to anyone without the secret, and the entry side, which read the document
itself, recomputes the hash to check the attestation is about this document.

The hash binds the document's security object: SHA-256 of the EF.SOD bytes as read from the chip. The same
state and number on another chip (a forged booklet with its own SOD, DG1 and DG2) give another hash, so an
entry gate that skips the certificate-chain part of Passive Authentication on the partner's word still
accepts only the chip the partner authenticated; it still hashes the data groups against the SOD it read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bilateral._agreement import CHECK_NAME, DIRECTIONS
from bilateral._cose import dumps_deterministic, sign1
from bilateral._errors import (
    AttestationMalformed,
    CheckNotPassed,
    DocumentIdentityInvalid,
    SecurityObjectMissing,
)

__all__ = ["Attestation", "issue_attestation", "document_key", "document_hash", "sod_digest", "parse_claims",
           "ATTESTATION_VERSION", "CONTENT_TYPE", "MIN_SECRET_BYTES"]

ATTESTATION_VERSION = 1
#: the protected content type (header 3) of a crossing attestation: required at verify, so a payload of any
#: other protocol signed by the same key is not judged by its claims' shape alone
CONTENT_TYPE = "application/vnd.smartborder.crossing-attestation+cbor"
MIN_SECRET_BYTES = 32
_KDF_LABEL = b"smartborder-bilateral/1 document-key "
_SALT = b"smartborder-bilateral/1"
_ADMINISTRATION = re.compile(r"[A-Z]{3}")
_LANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_CLAIMS = {1, 4, 5, 6, 7, "v", "dir", "lane", "doc", "chk"}
_MAX_VALIDITY_S = 7 * 24 * 3600


def _secret(secret: bytes) -> bytes:
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the agreement's secret is at least {MIN_SECRET_BYTES} random bytes")
    return secret


def document_key(secret: bytes, day: dt.date) -> bytes:
    """The bilateral document key of one UTC day: HKDF-SHA256(secret, info = label + ISO day), 32 bytes."""
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise TypeError("document_key: day is a date (the UTC day)")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT,
                info=_KDF_LABEL + day.isoformat().encode("ascii")).derive(_secret(secret))


_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
#: an issuing state as the MRZ has it: three letters, or a one- or two-letter code padded with fillers (D<<)
_STATE = re.compile(r"[A-Z]{3}|[A-Z]{1,2}<{0,2}")
_NUMBER = re.compile(r"[A-Z0-9<]+")


def _normalise(issuing_state: str, document_number: str) -> tuple[str, str]:
    """The state and number as hashed: ASCII letters upper-cased (nothing else: no Unicode case mapping, no
    stripping of spaces), the state's trailing fillers dropped (``D<<`` is ``D``), the number's trailing MRZ
    fillers dropped; anything not MRZ characters is :class:`DocumentIdentityInvalid`."""
    if not isinstance(issuing_state, str) or not isinstance(document_number, str):
        raise DocumentIdentityInvalid("the issuing state and the document number are text")
    state = issuing_state.translate(_ASCII_UPPER)
    if not _STATE.fullmatch(state):
        raise DocumentIdentityInvalid(f"issuing state {issuing_state!r} is not three letters A-Z (or a shorter "
                                      "code padded with '<')")
    number = document_number.translate(_ASCII_UPPER)
    if not _NUMBER.fullmatch(number) or not number.rstrip("<"):
        raise DocumentIdentityInvalid(f"document number {document_number!r} is not MRZ characters A-Z, 0-9, '<'")
    return state.rstrip("<"), number.rstrip("<")


def sod_digest(ef_sod: bytes) -> bytes:
    """SHA-256 of the EF.SOD bytes as read from the chip; :class:`SecurityObjectMissing` when there are none."""
    if not isinstance(ef_sod, bytes | bytearray) or not ef_sod:
        raise SecurityObjectMissing("no EF.SOD bytes: the document's security object binds the attestation")
    return hashlib.sha256(bytes(ef_sod)).digest()


def document_hash(secret: bytes, day: dt.date, issuing_state: str, document_number: str, ef_sod: bytes) -> bytes:
    """HMAC-SHA-256 of the CBOR array [issuing state, document number, SHA-256(EF.SOD)] (ASCII upper case,
    trailing MRZ fillers dropped, anything else :class:`DocumentIdentityInvalid`) under the day's key."""
    state, number = _normalise(issuing_state, document_number)
    message = dumps_deterministic([state, number, sod_digest(ef_sod)])
    return hmac.new(document_key(secret, day), message, hashlib.sha256).digest()


@dataclass(frozen=True)
class Attestation:
    """An attestation's claims, decoded (see the module)."""

    attestation_id: bytes
    issuer: str
    direction: str
    lane: str
    issued_at: int
    not_before: int
    expires_at: int
    document_hash: bytes
    checks: tuple[str, ...]

    @property
    def day(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.issued_at, dt.UTC).date()

    def claims(self) -> dict:
        return {1: self.issuer, 4: self.expires_at, 5: self.not_before, 6: self.issued_at, 7: self.attestation_id,
                "v": ATTESTATION_VERSION, "dir": self.direction, "lane": self.lane, "doc": self.document_hash,
                "chk": list(self.checks)}


def _seconds(when: dt.datetime) -> int:
    if when.tzinfo is None:
        raise ValueError("times are timezone-aware (UTC)")
    return int(when.timestamp())


def issue_attestation(*, signing_key, kid: bytes, secret: bytes, issuer: str, direction: str, lane: str,
                      issuing_state: str, document_number: str, ef_sod: bytes, checks: Mapping[str, str],
                      validity_s: int, now: dt.datetime | None = None, attestation_id: bytes | None = None) -> bytes:
    """Sign an attestation of one crossing (COSE_Sign1 bytes).

    ``checks`` maps each check's name to its outcome as the gate recorded it; every one must be ``"passed"``
    (:class:`CheckNotPassed` otherwise: a failed, missing or skipped check is never attested, and the caller
    passes only the checks it means to attest). ``ef_sod`` is the EF.SOD bytes read from the traveller's chip
    (:class:`SecurityObjectMissing` without them)."""
    not_passed = sorted(name for name, outcome in checks.items() if str(outcome) != "passed")
    if not_passed:
        raise CheckNotPassed(f"only passed checks are attested; {not_passed} did not pass")
    if not checks:
        raise CheckNotPassed("an attestation attests at least one passed check")
    bad = [c for c in checks if not isinstance(c, str) or not CHECK_NAME.fullmatch(c)]
    if bad:
        raise ValueError(f"check names are snake_case: {bad!r}")
    if not _ADMINISTRATION.fullmatch(issuer or ""):
        raise ValueError(f"the issuer is a three-letter administration code, not {issuer!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction is one of {DIRECTIONS}")
    if not isinstance(lane, str) or not _LANE.fullmatch(lane):
        raise ValueError(f"a lane id is 1 to 64 letters, digits and _.:-, not {lane!r}")
    if not isinstance(validity_s, int) or not 0 < validity_s <= _MAX_VALIDITY_S:
        raise ValueError("validity_s is a positive number of seconds, at most a week")
    iat = _seconds(now or dt.datetime.now(dt.UTC))
    att = Attestation(
        attestation_id=attestation_id if attestation_id is not None else os.urandom(16), issuer=issuer,
        direction=direction, lane=lane, issued_at=iat, not_before=iat, expires_at=iat + validity_s,
        document_hash=document_hash(secret, dt.datetime.fromtimestamp(iat, dt.UTC).date(), issuing_state,
                                    document_number, ef_sod),
        checks=tuple(sorted(checks)))
    if len(att.attestation_id) != 16:
        raise ValueError("an attestation id is 16 bytes")
    return sign1(dumps_deterministic(att.claims()), signing_key, kid=kid, content_type=CONTENT_TYPE)


def _typed(claims: Mapping, key, kind, what: str):
    value = claims[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise AttestationMalformed(f"claim {what} has the wrong type")
    return value


def parse_claims(payload: bytes) -> Attestation:
    """The claims of a verified COSE_Sign1's payload, checked for shape (exact claim set, types, the
    deterministic encoding); :class:`AttestationMalformed` otherwise."""
    try:
        claims = cbor2.loads(payload, allow_duplicate_keys=False, allow_indefinite=False, max_depth=8)
    except (cbor2.CBORError, ValueError, TypeError, RecursionError, OverflowError) as e:
        raise AttestationMalformed(f"the claims are not CBOR: {e}") from e
    if not isinstance(claims, Mapping) or set(claims) != _CLAIMS:
        raise AttestationMalformed("the claims are not an attestation's claim set")
    if _typed(claims, "v", int, "v") != ATTESTATION_VERSION:
        raise AttestationMalformed(f"attestation version {claims['v']!r} is not {ATTESTATION_VERSION}")
    checks = _typed(claims, "chk", list | tuple, "chk")
    att = Attestation(
        attestation_id=_typed(claims, 7, bytes, "cti"), issuer=_typed(claims, 1, str, "iss"),
        direction=_typed(claims, "dir", str, "dir"), lane=_typed(claims, "lane", str, "lane"),
        issued_at=_typed(claims, 6, int, "iat"), not_before=_typed(claims, 5, int, "nbf"),
        expires_at=_typed(claims, 4, int, "exp"), document_hash=_typed(claims, "doc", bytes, "doc"),
        checks=tuple(checks))
    if len(att.attestation_id) != 16 or len(att.document_hash) != 32:
        raise AttestationMalformed("cti is 16 bytes and doc 32")
    if not all(isinstance(c, str) and CHECK_NAME.fullmatch(c) for c in att.checks) \
            or list(att.checks) != sorted(set(att.checks)) or not att.checks:
        raise AttestationMalformed("chk is a sorted, non-empty list of distinct check names")
    if not 0 <= att.not_before <= att.issued_at <= att.expires_at:
        raise AttestationMalformed("the times are not 0 <= nbf <= iat <= exp")
    if dumps_deterministic(dict(claims)) != payload:
        raise AttestationMalformed("the claims are not deterministically encoded")
    return att
