"""COSE_Sign1 (RFC 9052 section 4.2 and 4.4) on cbor2 and ``cryptography``: the profile the attestations use.

    COSE_Sign1 = #6.18([protected: bstr .cbor header_map, unprotected: header_map, payload: bstr, signature: bstr])
    Sig_structure = ["Signature1", body_protected, external_aad, payload]     (RFC 9052 4.4)

Algorithms (RFC 9053 2.1, 2.2): ES256 (-7, ECDSA P-256 with SHA-256, the signature the 64 bytes r || s, not
DER) and EdDSA (-8, Ed25519). What :func:`verify_sign1` refuses, each with a named error:

- :class:`CoseHighS` (a :class:`CoseMalformed`): an ES256 signature whose s is above n/2 (the malleated twin
  of a valid one; :func:`sign1` produces only low-S);
- :class:`CoseMalformed`: not CBOR, trailing bytes, not tag 18, not an array of four, wrong types, a detached
  (nil) payload, duplicate map keys, indefinite lengths or any encoding that is not the deterministic one
  (the whole message must re-encode to the same bytes, so there is one encoding of every message), a header
  label in both buckets (RFC 9052 3), ``crit`` outside the protected bucket or listing itself, no ``kid`` in
  the protected header (one only in the unprotected bucket is not heeded), a signature of the wrong length;
- :class:`CoseWrongContentType` (a :class:`CoseMalformed`): the caller requires a content type and the
  protected header does not carry exactly it;
- :class:`CoseWrongAlg`: no ``alg`` in the *protected* header (an ``alg`` only in the unprotected bucket is
  not covered by the signature and is not heeded), an algorithm not accepted, or one that does not fit the key;
- :class:`CoseUnknownCritical`: ``crit`` lists a label not understood here;
- :class:`CoseUnknownKid`: no trusted key has the ``kid``;
- :class:`CoseBadSignature`: the signature does not verify.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from bilateral._errors import (
    CoseBadSignature,
    CoseHighS,
    CoseMalformed,
    CoseUnknownCritical,
    CoseUnknownKid,
    CoseWrongAlg,
    CoseWrongContentType,
)

__all__ = ["COSE_SIGN1_TAG", "ALG_ES256", "ALG_EDDSA", "HEADER_ALG", "HEADER_CRIT", "HEADER_KID", "P256_ORDER", "Sign1",
           "sign1", "decode_sign1", "verify_sign1", "sig_structure", "dumps_deterministic"]

COSE_SIGN1_TAG = 18
ALG_ES256 = -7
ALG_EDDSA = -8
HEADER_ALG = 1
HEADER_CRIT = 2
HEADER_CONTENT_TYPE = 3
HEADER_KID = 4
#: the header labels this implementation understands (what ``crit`` may list)
UNDERSTOOD = frozenset({HEADER_ALG, HEADER_CRIT, HEADER_CONTENT_TYPE, HEADER_KID})
_MAX_BYTES = 64 * 1024
_P256_FIELD = 32
#: the order n of P-256's base point (SEC 2, FIPS 186-4 D.1.2.3)
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def dumps_deterministic(obj) -> bytes:
    """Deterministic CBOR (RFC 8949 4.2: definite lengths, shortest forms, sorted map keys; cbor2's
    ``canonical``, which sorts keys length first: for the keys used here, small integers and text under 24
    bytes, that is the same order as RFC 8949 4.2.1's bytewise one)."""
    return cbor2.dumps(obj, canonical=True)


def _loads_strict(data: bytes, what: str):
    fp = io.BytesIO(data)
    try:
        obj = cbor2.CBORDecoder(fp, allow_duplicate_keys=False, allow_indefinite=False, max_depth=16).decode()
    except (cbor2.CBORError, ValueError, TypeError, RecursionError, OverflowError) as e:
        raise CoseMalformed(f"{what} is not well-formed CBOR: {e}") from e
    if fp.tell() != len(data):
        raise CoseMalformed(f"{what}: {len(data) - fp.tell()} bytes after the CBOR item")
    return obj


@dataclass(frozen=True)
class Sign1:
    """A decoded COSE_Sign1: the protected header's bytes and map, the unprotected map, payload, signature."""

    protected_bytes: bytes
    protected: Mapping
    unprotected: Mapping
    payload: bytes
    signature: bytes

    @property
    def alg(self):
        return self.protected.get(HEADER_ALG)

    @property
    def kid(self) -> bytes | None:
        """The key id from the protected header only (one in the unprotected bucket is not covered by the
        signature and is not heeded)."""
        return self.protected.get(HEADER_KID)

    def to_be_signed(self, external_aad: bytes = b"") -> bytes:
        """The Sig_structure of this message. An empty protected map sent as h'A0' counts as the zero-length
        byte string in it (RFC 9052 3: recipients accept both; the zero-length one is "the version used in
        the serialization structures for cryptographic computation", as cose-wg/Examples sign-pass-01)."""
        body_protected = self.protected_bytes if self.protected else b""
        return sig_structure(body_protected, self.payload, external_aad)


def sig_structure(protected_bytes: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """The ToBeSigned bytes (RFC 9052 4.4): ["Signature1", body_protected, external_aad, payload]."""
    return dumps_deterministic(["Signature1", protected_bytes, external_aad, payload])


def _alg_of(key) -> int:
    if isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        return ALG_EDDSA
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return ALG_ES256
    raise TypeError(f"a COSE_Sign1 here is signed with ECDSA P-256 (ES256) or Ed25519 (EdDSA), not {type(key).__name__}")


def sign1(payload: bytes, key, *, kid: bytes, content_type: str | None = None, external_aad: bytes = b"") -> bytes:
    """A tagged COSE_Sign1 of ``payload`` under ``key`` (EC P-256 or Ed25519 private key), with ``alg``,
    ``kid`` (and ``content_type`` when given) in the protected header and an empty unprotected header."""
    if not isinstance(payload, bytes) or not isinstance(kid, bytes) or not kid:
        raise TypeError("sign1: payload is bytes and kid non-empty bytes")
    alg = _alg_of(key)
    header = {HEADER_ALG: alg, HEADER_KID: kid}
    if content_type is not None:
        if not isinstance(content_type, str) or not content_type:
            raise TypeError("sign1: content_type is a non-empty text media type")
        header[HEADER_CONTENT_TYPE] = content_type
    protected = dumps_deterministic(header)
    to_be_signed = sig_structure(protected, payload, external_aad)
    if alg == ALG_ES256:
        r, s = decode_dss_signature(key.sign(to_be_signed, ec.ECDSA(hashes.SHA256())))
        if s > P256_ORDER // 2:  # low-S: (r, n - s) verifies as well; only the low one is produced or accepted
            s = P256_ORDER - s
        signature = r.to_bytes(_P256_FIELD, "big") + s.to_bytes(_P256_FIELD, "big")
    else:
        signature = key.sign(to_be_signed)
    return dumps_deterministic(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


def _header_map(obj, what: str) -> Mapping:
    if not isinstance(obj, Mapping):
        raise CoseMalformed(f"the {what} header is not a map")
    for label in obj:
        if not (isinstance(label, int) and not isinstance(label, bool)) and not isinstance(label, str):
            raise CoseMalformed(f"the {what} header has a label {label!r} that is neither int nor text")
    return obj


def decode_sign1(blob: bytes) -> Sign1:
    """Decode and check the structure of a tagged COSE_Sign1 (no signature check: see :func:`verify_sign1`)."""
    if not isinstance(blob, bytes | bytearray) or not 0 < len(blob) <= _MAX_BYTES:
        raise CoseMalformed(f"a COSE_Sign1 is 1 to {_MAX_BYTES} bytes")
    blob = bytes(blob)
    obj = _loads_strict(blob, "the COSE_Sign1")
    if not isinstance(obj, cbor2.CBORTag) or obj.tag != COSE_SIGN1_TAG:
        raise CoseMalformed("not a tagged COSE_Sign1 (CBOR tag 18)")
    body = obj.value
    if not isinstance(body, list | tuple) or len(body) != 4:
        raise CoseMalformed("a COSE_Sign1 is an array of four items")
    protected_bytes, unprotected, payload, signature = body
    if not isinstance(protected_bytes, bytes):
        raise CoseMalformed("the protected header is not a byte string")
    if payload is None:
        raise CoseMalformed("a detached payload (nil) is not accepted")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise CoseMalformed("the payload and the signature are byte strings")
    protected = _header_map(_loads_strict(protected_bytes, "the protected header") if protected_bytes else {},
                            "protected")
    if protected_bytes and dumps_deterministic(dict(protected)) != protected_bytes:
        raise CoseMalformed("the protected header is not deterministically encoded")
    unprotected = _header_map(unprotected, "unprotected")
    both = set(protected) & set(unprotected)
    if both:
        raise CoseMalformed(f"header labels {sorted(map(str, both))} are in both the protected and unprotected buckets")
    if HEADER_CRIT in unprotected:
        raise CoseMalformed("crit is only allowed in the protected header")
    try:
        again = dumps_deterministic(cbor2.CBORTag(COSE_SIGN1_TAG, [protected_bytes, dict(unprotected), payload,
                                                                   signature]))
    except (cbor2.CBORError, TypeError, ValueError) as e:
        raise CoseMalformed(f"the COSE_Sign1 cannot be re-encoded: {e}") from e
    if again != blob:
        raise CoseMalformed("the COSE_Sign1 is not deterministically encoded")
    return Sign1(protected_bytes, protected, unprotected, payload, signature)


def _check_crit(protected: Mapping) -> None:
    if HEADER_CRIT not in protected:
        return
    crit = protected[HEADER_CRIT]
    if not isinstance(crit, list | tuple) or not crit:
        raise CoseMalformed("crit is a non-empty array of labels")
    if HEADER_CRIT in crit:
        raise CoseMalformed("crit may not list crit itself (RFC 9052 3.1)")
    unknown = [label for label in crit if label not in UNDERSTOOD]
    if unknown:
        raise CoseUnknownCritical(f"critical headers {unknown!r} are not understood")
    missing = [label for label in crit if label not in protected]
    if missing:
        raise CoseMalformed(f"critical headers {missing!r} are listed but absent from the protected header")


def verify_sign1(blob: bytes, keys: Mapping[bytes, object], *, external_aad: bytes = b"",
                 accepted_algs: frozenset[int] = frozenset({ALG_ES256, ALG_EDDSA}),
                 content_type: str | None = None) -> Sign1:
    """Verify a tagged COSE_Sign1 against ``keys`` ({kid: public key}); return it decoded. With
    ``content_type``, the protected header must carry exactly it (:class:`CoseWrongContentType`). The checks
    and their named errors are the module's."""
    msg = decode_sign1(blob)
    _check_crit(msg.protected)
    alg = msg.protected.get(HEADER_ALG)
    if alg is None:
        where = " (it is only in the unprotected header, which the signature does not cover)" \
            if HEADER_ALG in msg.unprotected else ""
        raise CoseWrongAlg(f"no algorithm in the protected header{where}")
    if alg not in accepted_algs:
        raise CoseWrongAlg(f"algorithm {alg!r} is not accepted ({sorted(accepted_algs)})")
    kid = msg.kid
    if not isinstance(kid, bytes) or not kid:
        where = " in the protected header (one only in the unprotected header is not heeded)" \
            if HEADER_KID in msg.unprotected else ""
        raise CoseMalformed(f"no key id (kid, a byte string){where}")
    key = keys.get(kid)
    if key is None:
        raise CoseUnknownKid(f"key id {kid.hex()} is not a trusted key")
    if _alg_of(key) != alg:
        raise CoseWrongAlg(f"algorithm {alg} does not fit key {kid.hex()} ({type(key).__name__})")
    if content_type is not None and msg.protected.get(HEADER_CONTENT_TYPE) != content_type:
        raise CoseWrongContentType(f"protected content type {msg.protected.get(HEADER_CONTENT_TYPE)!r}, "
                                   f"{content_type!r} expected")
    to_be_signed = msg.to_be_signed(external_aad)
    try:
        if alg == ALG_ES256:
            if len(msg.signature) != 2 * _P256_FIELD:
                raise CoseMalformed(f"an ES256 signature is 64 bytes (r || s), not {len(msg.signature)}")
            r = int.from_bytes(msg.signature[:_P256_FIELD], "big")
            s = int.from_bytes(msg.signature[_P256_FIELD:], "big")
            if not 0 < r < P256_ORDER or not 0 < s < P256_ORDER:
                raise CoseBadSignature(f"r and s of an ES256 signature are in 1 .. n-1 (key {kid.hex()})")
            if s > P256_ORDER // 2:
                raise CoseHighS(f"an ES256 signature with s > n/2 is refused (low-S only): key {kid.hex()}")
            key.verify(encode_dss_signature(r, s), to_be_signed, ec.ECDSA(hashes.SHA256()))
        else:
            if len(msg.signature) != 64:
                raise CoseMalformed(f"an EdDSA (Ed25519) signature is 64 bytes, not {len(msg.signature)}")
            key.verify(msg.signature, to_be_signed)
    except InvalidSignature as e:
        raise CoseBadSignature(f"the signature does not verify with key {kid.hex()}: forged or altered") from e
    return msg
