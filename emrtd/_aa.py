"""Active Authentication, ICAO Doc 9303 Part 11 §6.1 (the chip proves it holds the DG15 private key).

The terminal sends INTERNAL AUTHENTICATE with an 8-byte challenge (§6.1); the chip signs it:

- RSA: ISO/IEC 9796-2 digital signature scheme 1 with partial message recovery (§6.1):
  ``F = 6A || M1 || H(M1 || challenge) || BC`` (or ``|| hash-id CC`` for other hashes), ``s = F^d mod n``.
- ECDSA: plain ``r || s`` (BSI TR-03111 §5.2.1) over the challenge, with the hash named by
  ActiveAuthenticationInfo in DG14 (§9.2.4).

Public keys come from DG15 (a DER SubjectPublicKeyInfo, named or explicit EC parameters).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from emrtd._apdu import CommandApdu, StatusWordError
from emrtd._crypto import EcCurve
from emrtd._ecparams import EcParametersError, curve_and_point_from_spki
from emrtd._secinfo import ECDSA_PLAIN, SecurityInfoError, parse_dg15

__all__ = [
    "ActiveAuthError",
    "AaResult",
    "perform_active_authentication",
    "verify_aa_signature",
    "aa_sign",
    "ec_public_key_from_spki",
    "AA_HASHES",
]


class ActiveAuthError(Exception):
    """A DG15 key or AA signature that cannot be processed; ``code`` names a key that cannot be used (the
    :mod:`emrtd._ecparams` codes: ``ec_parameters_unknown_curve``, ``ec_parameters_malformed``...), else ""."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


# ecdsa-plain-* OIDs (TR-03111 §5.2.1) -> hash name
AA_HASHES = {
    ECDSA_PLAIN + ".1": "sha1",
    ECDSA_PLAIN + ".2": "sha224",
    ECDSA_PLAIN + ".3": "sha256",
    ECDSA_PLAIN + ".4": "sha384",
    ECDSA_PLAIN + ".5": "sha512",
}
# ISO/IEC 10118-3 hash identifiers used in the two-byte 9796-2 trailer ``xx CC``
_HASH_IDS = {0x33: "sha1", 0x34: "sha256", 0x35: "sha512", 0x36: "sha384", 0x38: "sha224"}
_HASH_ID_OF = {v: k for k, v in _HASH_IDS.items()}


@dataclass
class AaResult:
    """Outcome of Active Authentication: ``succeeded`` True, False (the chip's answer does not verify: a clone?)
    or None (could not be verified: the DG15 key cannot be used, ``code`` names why); ``reason`` explains."""

    succeeded: bool | None
    algorithm: str
    reason: str = ""
    challenge: bytes = b""
    code: str = ""  # a named cause where one applies, e.g. ``ec_parameters_unknown_curve``, ``aa_key_unsupported``

    def to_dict(self) -> dict:
        return {
            "succeeded": self.succeeded,
            "algorithm": self.algorithm,
            "reason": self.reason,
            "challenge": self.challenge.hex().upper(),
            "code": self.code,
        }


def ec_public_key_from_spki(spki: bytes) -> tuple[EcCurve, tuple[int, int]]:
    """Curve and point of an EC SubjectPublicKeyInfo, named or explicit parameters (TR-03111 §5.1.1); explicit
    parameters must equal a named curve (:mod:`emrtd._ecparams`), else the reason carries the error's code."""
    try:
        return curve_and_point_from_spki(spki)
    except EcParametersError as e:
        raise ActiveAuthError(f"cannot use the EC public key: {e} ({e.code})", e.code) from e


def _rsa_numbers(spki: bytes) -> tuple[int, int]:
    try:
        info = asn1_keys.PublicKeyInfo.load(bytes(spki), strict=True)
        if info.algorithm != "rsa":
            raise ActiveAuthError(f"not an RSA key: {info.algorithm}")
        key = info["public_key"].parsed
        return key["modulus"].native, key["public_exponent"].native
    except ActiveAuthError:
        raise
    except (ValueError, TypeError, KeyError) as e:
        raise ActiveAuthError(f"cannot read the RSA public key: {e}") from e


def _key_algorithm(spki: bytes) -> str:
    try:
        return asn1_keys.PublicKeyInfo.load(bytes(spki), strict=True).algorithm
    except (ValueError, TypeError, KeyError) as e:
        raise ActiveAuthError(f"DG15 does not hold a SubjectPublicKeyInfo: {e}") from e


def _verify_rsa(spki: bytes, challenge: bytes, signature: bytes) -> str:
    """Return "" when valid, else the reason (ISO/IEC 9796-2 scheme 1, Part 11 §6.1)."""
    n, e = _rsa_numbers(spki)
    k = (n.bit_length() + 7) // 8
    s = int.from_bytes(signature, "big")
    if not signature or s >= n:
        return "signature is not an integer below the modulus"
    m = pow(s, e, n)
    if m & 0xF != 0xC:
        m = n - m  # ISO/IEC 9796-2 allows the signer to send min(s, n - s)
    f = m.to_bytes(k, "big")
    if f[0] != 0x6A:
        return f"message representative header {f[0]:02X} (6A expected for partial recovery)"
    if f[-1] == 0xBC:
        hash_name, tlen = "sha1", 1
    elif f[-1] == 0xCC and f[-2] in _HASH_IDS:
        hash_name, tlen = _HASH_IDS[f[-2]], 2
    else:
        return "unknown ISO/IEC 9796-2 trailer"
    hlen = hashlib.new(hash_name).digest_size
    if k < 2 + hlen + tlen:
        return "modulus too small for the hash"
    d = f[-tlen - hlen : -tlen]
    m1 = f[1 : -tlen - hlen]
    if hashlib.new(hash_name, m1 + challenge).digest() != d:
        return "digest in the signature does not match the challenge"
    return ""


def _verify_ecdsa(spki: bytes, challenge: bytes, signature: bytes, hash_name: str) -> str:
    curve, q = ec_public_key_from_spki(spki)
    nlen = (curve.n.bit_length() + 7) // 8
    if len(signature) != 2 * nlen:
        return f"plain ECDSA signature of {len(signature)} bytes ({2 * nlen} expected)"
    r = int.from_bytes(signature[:nlen], "big")
    s = int.from_bytes(signature[nlen:], "big")
    if not (1 <= r < curve.n and 1 <= s < curve.n):
        return "ECDSA r or s out of range"
    digest = hashlib.new(hash_name, challenge).digest()
    e = int.from_bytes(digest, "big")
    if len(digest) * 8 > curve.n.bit_length():
        e >>= len(digest) * 8 - curve.n.bit_length()
    w = pow(s, -1, curve.n)
    pt = curve.add(curve.mul(e * w % curve.n, curve.g), curve.mul(r * w % curve.n, q))
    if pt is None or pt[0] % curve.n != r:
        return "ECDSA signature does not verify"
    return ""


def verify_aa_signature(
    spki: bytes, challenge: bytes, signature: bytes, signature_algorithm: str | None = None
) -> str:
    """Check an AA signature; return "" when valid, else the reason."""
    alg = _key_algorithm(spki)
    if alg == "rsa":
        return _verify_rsa(spki, challenge, signature)
    if alg == "ec":
        hash_name = AA_HASHES.get(signature_algorithm or "", "sha256" if signature_algorithm is None else "")
        if not hash_name:
            return f"unsupported AA signature algorithm {signature_algorithm}"
        return _verify_ecdsa(spki, challenge, signature, hash_name)
    return f"unsupported AA key algorithm {alg}"


def perform_active_authentication(
    channel, dg15: bytes, *, signature_algorithm: str | None = None, rng=None
) -> AaResult:
    """INTERNAL AUTHENTICATE with a fresh challenge and verify the answer (Part 11 §6.1).

    ``channel.send(CommandApdu) -> ResponseApdu`` carries the command (under secure messaging).
    ``signature_algorithm`` is the ecdsa-plain OID of DG14's ActiveAuthenticationInfo (EC keys).
    """
    rng = rng or os.urandom
    try:
        spki = parse_dg15(dg15)
        alg = _key_algorithm(spki)
    except (SecurityInfoError, ActiveAuthError) as e:
        return AaResult(False, "unknown", f"DG15 unusable: {e}")
    name = "RSA-ISO9796-2" if alg == "rsa" else "ECDSA" if alg == "ec" else alg
    # the key is checked before the chip is asked: a key we cannot use says nothing about the chip (None, named)
    try:
        if alg == "ec":
            ec_public_key_from_spki(spki)
            if not AA_HASHES.get(signature_algorithm or "", "sha256" if signature_algorithm is None else ""):
                raise ActiveAuthError(f"unsupported AA signature algorithm {signature_algorithm}",
                                      "aa_algorithm_unsupported")
        elif alg == "rsa":
            try:
                _rsa_numbers(spki)
            except ActiveAuthError as e:
                raise ActiveAuthError(str(e), "aa_key_malformed") from e
        else:
            raise ActiveAuthError(f"unsupported AA key algorithm {alg}", "aa_key_unsupported")
    except ActiveAuthError as e:
        return AaResult(None, name, f"the DG15 public key cannot be used, AA not verified: {e}", code=e.code)
    challenge = rng(8)
    try:
        resp = channel.send(CommandApdu(0x00, 0x88, 0x00, 0x00, challenge, ne=256)).check()
    except StatusWordError as e:
        return AaResult(False, name, f"INTERNAL AUTHENTICATE refused: {e}", challenge)
    try:
        reason = verify_aa_signature(spki, challenge, resp.data, signature_algorithm)
    except ActiveAuthError as e:
        reason = str(e)
    if reason:
        reason = f"signature does not verify with the DG15 public key (cloned chip?): {reason}"
    return AaResult(not reason, name, reason, challenge)


def aa_sign(private_key, challenge: bytes, *, signature_algorithm: str | None = None, rng=None) -> bytes:
    """Chip side: sign ``challenge`` with an RSA (ISO/IEC 9796-2 scheme 1, SHA-1) or EC key (plain ECDSA)."""
    rng = rng or os.urandom
    if isinstance(private_key, rsa.RSAPrivateKey):
        nums = private_key.private_numbers()
        n = nums.public_numbers.n
        k = (n.bit_length() + 7) // 8
        hlen = 20
        m1 = rng(k - 2 - hlen)
        f = b"\x6a" + m1 + hashlib.sha1(m1 + challenge).digest() + b"\xbc"  # noqa: S324 - Doc 9303 AA
        if int.from_bytes(f, "big") >= n:
            raise ActiveAuthError("RSA modulus too small for ISO/IEC 9796-2")
        s = pow(int.from_bytes(f, "big"), nums.d, n)
        s = min(s, n - s)
        return s.to_bytes(k, "big")
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        hash_name = AA_HASHES.get(signature_algorithm or "", "sha256")
        der = private_key.sign(challenge, ec.ECDSA(getattr(hashes, hash_name.upper())()))
        r, s = decode_dss_signature(der)
        nlen = (private_key.curve.key_size + 7) // 8
        return r.to_bytes(nlen, "big") + s.to_bytes(nlen, "big")
    raise ActiveAuthError(f"unsupported AA private key {type(private_key).__name__}")
