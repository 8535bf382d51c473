"""The partner's signing keys and its revocations, distributed as signed lists (privacy's
``smartborder-signed-list/1`` format, the one the back office's trust store feed uses).

``bilateral-trust`` (payload)::

    {"administration": "VNM", "keys": [{"kid": "<16 hex>", "public_key": "<base64 SubjectPublicKeyInfo DER>"}]}

``bilateral-revocations`` (payload)::

    {"administration": "VNM", "revoked": ["<32 hex: attestation id>", ...]}

A kid is :func:`key_kid`: the first 8 bytes of SHA-256 over the key's SubjectPublicKeyInfo (the signed-list
key id, as bytes); the list's kid must be the key's own, so a key cannot be listed under another's id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bilateral._errors import RevocationListError, RevocationRollback, TrustListError, TrustListRollback
from privacy import SignedListError, list_key_id, load_public_key, public_key_b64, sign_list, verify_list

__all__ = ["TRUST_LIST", "REVOCATION_LIST", "PartnerKeys", "Revocations", "key_kid", "sign_trust_list",
           "load_trust_list", "sign_revocations", "load_revocations"]

TRUST_LIST = "bilateral-trust"
REVOCATION_LIST = "bilateral-revocations"
_HEX_ID = re.compile(r"[0-9a-f]{32}")


def _digest(payload) -> str:
    """SHA-256 of the payload's canonical JSON: the same list signed again (a new issued_at) has the same digest."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def key_kid(public_key) -> bytes:
    """The COSE kid of a signing key: 8 bytes of SHA-256 over its SubjectPublicKeyInfo DER."""
    return bytes.fromhex(list_key_id(public_key))


@dataclass(frozen=True)
class PartnerKeys:
    """The partner's attestation signing keys, from a verified trust list."""

    administration: str
    version: int
    keys: dict  # {kid bytes: public key}
    digest: str
    #: when the partner signed the list (seconds since the epoch, UTC)
    issued_at: int


@dataclass(frozen=True)
class Revocations:
    """The partner's revoked attestation ids, from a verified revocation list."""

    administration: str
    version: int
    revoked: frozenset[bytes]
    digest: str
    #: when the partner signed the list (seconds since the epoch, UTC)
    issued_at: int

    def __contains__(self, attestation_id: bytes) -> bool:
        return attestation_id in self.revoked


def _issued_at(signed, error) -> int:
    try:
        when = dt.datetime.fromisoformat(signed.issued_at)
    except ValueError as e:
        raise error(f"issued_at {signed.issued_at!r} is not an ISO 8601 time") from e
    if when.tzinfo is None:
        raise error(f"issued_at {signed.issued_at!r} has no time zone")
    return int(when.timestamp())


def sign_trust_list(public_keys: Iterable, *, administration: str, list_key, version: int, issued_at=None) -> bytes:
    payload = {"administration": administration,
               "keys": [{"kid": key_kid(k).hex(), "public_key": public_key_b64(k)} for k in public_keys]}
    return sign_list(payload, list_key, list_name=TRUST_LIST, version=version, issued_at=issued_at)


def _verified(blob: bytes, list_keys, list_name: str, items: str, *, what: str, administration: str,
              min_version: int, error: type[Exception], rollback: type[Exception]):
    """The signed list ``list_name`` verified (its version at least ``min_version``) with the payload
    ``{administration, <items>: [...]}`` of ``administration``; ``rollback`` for a lower version, ``error`` for
    anything else (chained to the signed list's own error)."""
    try:
        signed = verify_list(blob, list_keys, list_name=list_name, min_version=min_version)
    except SignedListError as e:
        raise (rollback if e.reason == "rollback" else error)(f"{what} refused ({e.reason}): {e}") from e
    payload = signed.payload
    if not isinstance(payload, dict) or set(payload) != {"administration", items} \
            or not isinstance(payload[items], list):
        raise error(f"{what}: the payload is {{administration, {items}}}")
    if payload["administration"] != administration:
        raise error(f"{what} of {payload['administration']!r}, {administration!r} expected")
    return signed


def load_trust_list(blob: bytes, list_keys, *, administration: str, min_version: int) -> PartnerKeys:
    """Verify the partner's trust list (signed by one of ``list_keys``, the pinned list keys); named errors:
    :class:`TrustListError` chained to the signed list's own (``unknown_key``, ``bad_signature``, ...), a
    version below ``min_version`` (the one held: no default, the caller states it)
    :class:`TrustListRollback`. The replay store keeps the floor (:meth:`bilateral.ReplayStore.install_trust_list`)."""
    signed = _verified(blob, list_keys, TRUST_LIST, "keys", what="trust list", administration=administration,
                       min_version=min_version, error=TrustListError, rollback=TrustListRollback)
    payload = signed.payload
    keys = {}
    for entry in payload["keys"]:
        if not isinstance(entry, dict) or set(entry) != {"kid", "public_key"}:
            raise TrustListError("trust list: each key is {kid, public_key}")
        try:
            key = load_public_key(entry["public_key"])
        except (ValueError, AttributeError) as e:
            raise TrustListError(f"trust list: key {entry.get('kid')!r}: {e}") from e
        if key_kid(key).hex() != entry["kid"]:
            raise TrustListError(f"trust list: kid {entry['kid']!r} is not the key's own")
        keys[key_kid(key)] = key
    return PartnerKeys(administration, signed.version, keys, _digest(payload), _issued_at(signed, TrustListError))


def sign_revocations(attestation_ids: Iterable[bytes], *, administration: str, list_key, version: int,
                     issued_at=None) -> bytes:
    payload = {"administration": administration, "revoked": sorted(i.hex() for i in attestation_ids)}
    return sign_list(payload, list_key, list_name=REVOCATION_LIST, version=version, issued_at=issued_at)


def load_revocations(blob: bytes, list_keys, *, administration: str, min_version: int) -> Revocations:
    """Verify a revocation list; a version below ``min_version`` (the one held) is
    :class:`RevocationRollback`, anything else wrong :class:`RevocationListError`. The replay store keeps
    the floor (:meth:`bilateral.ReplayStore.install_revocations`) so it is never lowered."""
    signed = _verified(blob, list_keys, REVOCATION_LIST, "revoked", what="revocation list",
                       administration=administration, min_version=min_version, error=RevocationListError,
                       rollback=RevocationRollback)
    payload = signed.payload
    if not all(isinstance(i, str) and _HEX_ID.fullmatch(i) for i in payload["revoked"]):
        raise RevocationListError("revocation list: each revoked id is 32 lower-case hex digits")
    return Revocations(administration, signed.version, frozenset(bytes.fromhex(i) for i in payload["revoked"]),
                       _digest(payload), _issued_at(signed, RevocationListError))
