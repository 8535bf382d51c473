"""Signed lists: what the back office distributes to devices, signed so a device can verify what it received.

A signed list is one JSON object (UTF-8)::

    {"format": "smartborder-signed-list/1", "list": "trust-store", "version": 7,
     "issued_at": "2026-12-07T03:00:00Z", "alg": "Ed25519", "key_id": "3f2a...",
     "payload": {...}, "signature": "<base64>"}

The signature covers ``smartborder-signed-list/1\\n`` followed by the canonical JSON (keys sorted, no
spaces, UTF-8, no NaN) of every member but ``signature``: the list's name, its version, when it was issued,
the key and the payload are all signed, so a list cannot be passed off as another list or another version.
``alg`` is ``Ed25519`` or ``ES256`` (ECDSA P-256 with SHA-256, DER signature); ``key_id`` is the first 16 hex
digits of SHA-256 over the public key's SubjectPublicKeyInfo DER.

:func:`verify` checks, in this order, and raises a named :class:`SignedListError` (``reason`` a code):
``malformed`` (not a signed list: bad JSON, duplicate keys, wrong types), ``wrong_list`` (another list),
``unknown_key`` (no trusted key has that id), ``bad_signature`` (the signature does not verify: forged or
altered), ``rollback`` (a version below ``min_version``). Only then is the payload returned.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["SIGNED_LIST_FORMAT", "SignedList", "SignedListError", "SignedListMalformed", "SignedListWrongList",
           "SignedListUnknownKey", "SignedListBadSignature", "SignedListRollback", "sign_list", "verify_list",
           "list_key_id", "public_key_b64", "load_public_key"]

SIGNED_LIST_FORMAT = "smartborder-signed-list/1"
_DOMAIN = SIGNED_LIST_FORMAT.encode() + b"\n"
_MAX_BYTES = 256 * 1024 * 1024


class SignedListError(ValueError):
    """A signed list that may not be used; ``reason`` names why (see the module)."""

    reason = "malformed"


class SignedListMalformed(SignedListError):
    reason = "malformed"


class SignedListWrongList(SignedListError):
    reason = "wrong_list"


class SignedListUnknownKey(SignedListError):
    reason = "unknown_key"


class SignedListBadSignature(SignedListError):
    reason = "bad_signature"


class SignedListRollback(SignedListError):
    reason = "rollback"


@dataclass(frozen=True)
class SignedList:
    """A verified list: its name, version, issue time, signing key id and payload."""

    list: str
    version: int
    issued_at: str
    key_id: str
    payload: Any


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def list_key_id(public_key) -> str:
    """The id of a public key (Ed25519 or EC P-256): 16 hex digits of SHA-256 over its SubjectPublicKeyInfo."""
    return hashlib.sha256(_spki(public_key)).hexdigest()[:16]


def public_key_b64(public_key) -> str:
    """A public key as base64 of its SubjectPublicKeyInfo DER (what a device pins)."""
    return base64.b64encode(_spki(public_key)).decode("ascii")


def load_public_key(text: str):
    """A pinned public key: base64 of SubjectPublicKeyInfo DER (Ed25519 or EC P-256), or of a raw 32-byte
    Ed25519 key. ValueError names what is wrong."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        if len(raw) == 32:
            return Ed25519PublicKey.from_public_bytes(raw)
        key = serialization.load_der_public_key(raw)
    except (ValueError, TypeError, binascii.Error) as e:
        raise ValueError("not base64 of an Ed25519 or EC P-256 public key (SubjectPublicKeyInfo DER)") from e
    if isinstance(key, Ed25519PublicKey) or (isinstance(key, ec.EllipticCurvePublicKey)
                                             and isinstance(key.curve, ec.SECP256R1)):
        return key
    raise ValueError(f"a signed-list key is Ed25519 or EC P-256, not {type(key).__name__}")


def _canonical(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _alg(key) -> str:
    if isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise TypeError(f"a signed list is signed with Ed25519 or ECDSA P-256, not {type(key).__name__}")


def sign_list(payload: Any, key, *, list_name: str, version: int, issued_at: dt.datetime | None = None) -> bytes:
    """The signed list (bytes of its JSON) of ``payload`` (JSON-able, finite numbers) under ``key`` (an
    Ed25519 or EC P-256 private key)."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ValueError("a signed list's version is a non-negative integer")
    when = (issued_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    body = {"format": SIGNED_LIST_FORMAT, "list": list_name, "version": version,
            "issued_at": when.isoformat().replace("+00:00", "Z"), "alg": _alg(key),
            "key_id": list_key_id(key.public_key()), "payload": payload}
    message = _DOMAIN + _canonical(body)
    if isinstance(key, Ed25519PrivateKey):
        signature = key.sign(message)
    else:
        signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    return _canonical({**body, "signature": base64.b64encode(signature).decode("ascii")})


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise SignedListMalformed(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def _no_constant(name: str):
    raise SignedListMalformed(f"{name} is not a JSON number")


def verify_list(blob: bytes, trusted_keys, *, list_name: str, min_version: int) -> SignedList:
    """Verify a signed list against ``trusted_keys`` (public keys, or {key_id: public key}); see the module
    for the checks and their named errors. ``list_name`` (the list expected) and ``min_version`` (the version
    held, 0 when none) are mandatory: a caller cannot forget them and accept any list at any version."""
    if not isinstance(list_name, str) or not list_name:
        raise TypeError("verify_list: list_name names the list expected")
    if not isinstance(min_version, int) or isinstance(min_version, bool) or min_version < 0:
        raise TypeError("verify_list: min_version is the version held (a non-negative integer; 0 when none)")
    if not isinstance(blob, bytes | bytearray) or len(blob) > _MAX_BYTES:
        raise SignedListMalformed("a signed list is bytes of at most 256 MiB")
    try:
        obj = json.loads(bytes(blob).decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except SignedListMalformed:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise SignedListMalformed(f"not JSON: {e}") from e
    if not isinstance(obj, dict):
        raise SignedListMalformed("a signed list is a JSON object")
    expected = {"format", "list", "version", "issued_at", "alg", "key_id", "payload", "signature"}
    if set(obj) != expected:
        raise SignedListMalformed(f"members {sorted(set(obj) ^ expected)} missing or unknown")
    version = obj["version"]
    if obj["format"] != SIGNED_LIST_FORMAT:
        raise SignedListMalformed(f"format {obj['format']!r}, {SIGNED_LIST_FORMAT} expected")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise SignedListMalformed(f"version {version!r} is not a non-negative integer")
    if not all(isinstance(obj[k], str) for k in ("list", "issued_at", "alg", "key_id", "signature")):
        raise SignedListMalformed("list, issued_at, alg, key_id and signature are strings")
    try:
        signature = base64.b64decode(obj["signature"], validate=True)
    except (ValueError, binascii.Error) as e:
        raise SignedListMalformed("the signature is not base64") from e
    if obj["list"] != list_name:
        raise SignedListWrongList(f"a {obj['list']!r} list where {list_name!r} was expected")
    keys = trusted_keys if isinstance(trusted_keys, dict) else {list_key_id(k): k for k in trusted_keys}
    key = keys.get(obj["key_id"])
    if key is None:
        raise SignedListUnknownKey(f"signed by key {obj['key_id']!r}, which is not a trusted key "
                                   f"({', '.join(sorted(keys)) or 'none pinned'})")
    if obj["alg"] != _alg(key):
        raise SignedListBadSignature(f"alg {obj['alg']!r} does not fit the key {obj['key_id']}")
    message = _DOMAIN + _canonical({k: v for k, v in obj.items() if k != "signature"})
    try:
        if isinstance(key, Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as e:
        raise SignedListBadSignature(f"the signature of the {obj['list']!r} list version {version} does not verify "
                                     f"with key {obj['key_id']}: forged or altered") from e
    if version < min_version:
        raise SignedListRollback(f"version {version} of the {obj['list']!r} list is older than the {min_version} "
                                 "held: a rollback is refused")
    return SignedList(obj["list"], version, obj["issued_at"], obj["key_id"], obj["payload"])
