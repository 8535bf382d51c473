"""Card-verifiable certificates for Extended Access Control, BSI TR-03110 Part 3 Appendix C (EAC1, ePassport).

A CV certificate is ``7F21 { 7F4E body, 5F37 signature }``; the body holds, in this order (§C.1):

- ``5F29`` certificate profile identifier (0);
- ``42``   certification authority reference (CAR): the name of the key that signed it;
- ``7F49`` public key (§D.3): ``06`` the TA algorithm OID, then for ECDSA ``81`` p, ``82`` a, ``83`` b,
  ``84`` G, ``85`` n, ``86`` Y, ``87`` h (domain parameters mandatory in CVCA certificates only: DV and IS
  certificates carry ``86`` and inherit them along the chain);
- ``5F20`` certificate holder reference (CHR): country code, holder mnemonic, sequence number;
- ``7F4C`` certificate holder authorization template (CHAT, §C.4): ``06`` id-IS (0.4.0.127.0.7.3.1.2.1) and
  ``53`` one byte: role in bits 8-7 (11 CVCA, 10 DV official domestic, 01 DV non-official/foreign, 00 IS),
  read access to DG4 (iris) in bit 2 and DG3 (fingerprint) in bit 1;
- ``5F25`` effective date and ``5F24`` expiration date, six unpacked BCD digits YYMMDD (§D.2.1.3).

The signature is ECDSA in the plain format of BSI TR-03111 §5.2.1 (``r || s``, each the length of the order)
over the encoded body (``7F4E`` with its tag and length). Only ECDSA keys are supported (id-TA-ECDSA-SHA-*);
an RSA certificate is refused by name.

:func:`validate_chain` checks CVCA -> DV -> IS (each signed by the previous one's key, roles in order, each in
force at ``current_date``) and gives the effective authorization: the role of the last certificate and the
intersection of the access rights along the chain (§C.4: a DV cannot grant more than its CVCA, an IS more than
its DV). Every malformed certificate raises :class:`CvcFormatError`; every failed check a :class:`CvcError`
naming the certificate and what failed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from emrtd._crypto import CryptoError, EcCurve
from emrtd._ecparams import EcParametersError, named_curve_for
from emrtd._secinfo import SecurityInfoError, oid_from_bytes, oid_to_bytes
from emrtd._tlv import TlvError, encode_tlv, iter_tlv, read_tlv

__all__ = [
    "CvcError", "CvcFormatError", "CvcSignatureError", "CvcValidityError", "CvcChainError",
    "CvPublicKey", "Chat", "CvCertificate", "ChainResult", "validate_chain", "sign_plain", "verify_plain",
    "ID_IS", "TA_ECDSA_SHA256", "ROLE_CVCA", "ROLE_DV_DOMESTIC", "ROLE_DV_FOREIGN", "ROLE_IS",
    "READ_DG3", "READ_DG4", "split_certificates",
]  # fmt: skip

ID_IS = "0.4.0.127.0.7.3.1.2.1"  # id-IS, TR-03110 Part 3 §C.4.1
_ID_TA = "0.4.0.127.0.7.2.2.2"
TA_ECDSA_SHA256 = _ID_TA + ".2.3"
_TA_ECDSA_HASHES = {_ID_TA + ".2.1": hashes.SHA1, _ID_TA + ".2.2": hashes.SHA224, _ID_TA + ".2.3": hashes.SHA256,
                    _ID_TA + ".2.4": hashes.SHA384, _ID_TA + ".2.5": hashes.SHA512}  # fmt: skip
ROLE_CVCA, ROLE_DV_DOMESTIC, ROLE_DV_FOREIGN, ROLE_IS = 0b11, 0b10, 0b01, 0b00
ROLE_NAMES = {ROLE_CVCA: "CVCA", ROLE_DV_DOMESTIC: "DV (official domestic)", ROLE_DV_FOREIGN: "DV (foreign)",
              ROLE_IS: "IS"}  # fmt: skip
READ_DG3, READ_DG4 = 0x01, 0x02
_RIGHTS = {READ_DG3: "DG3", READ_DG4: "DG4"}


class CvcError(ValueError):
    """A CV certificate or chain that cannot be used; the message names which and why."""


class CvcFormatError(CvcError):
    """A CV certificate that does not decode (truncated, wrong tags, out of order, bad date or key)."""


class CvcSignatureError(CvcError):
    """A CV certificate whose signature does not verify under its issuer's key."""


class CvcValidityError(CvcError):
    """A CV certificate not in force at the date it is checked against (expired, or not yet effective)."""


class CvcChainError(CvcError):
    """Certificates that do not form a chain CVCA -> DV -> IS (CAR/CHR, roles, domain parameters)."""


def _bcd_date(value: bytes, what: str) -> dt.date:
    if len(value) != 6 or any(b > 9 for b in value):
        raise CvcFormatError(f"{what} {value.hex()} is not six unpacked BCD digits YYMMDD")
    y, m, d = value[0] * 10 + value[1], value[2] * 10 + value[3], value[4] * 10 + value[5]
    try:
        return dt.date(2000 + y, m, d)
    except ValueError as e:
        raise CvcFormatError(f"{what} {value.hex()} is not a date: {e}") from e


def _bcd(date: dt.date) -> bytes:
    if not 2000 <= date.year <= 2099:
        raise CvcFormatError(f"date {date} cannot be written as YYMMDD (2000-2099)")
    return bytes(int(c) for c in date.strftime("%y%m%d"))


def _uint(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


@dataclass(frozen=True)
class CvPublicKey:
    """A TA public key (``7F49``): algorithm OID, the point ``Y`` and, where present, the curve."""

    oid: str
    point: bytes  # uncompressed 04 || X || Y
    curve: EcCurve | None = None  # None: inherited from the issuer's chain

    def encode(self) -> bytes:
        body = encode_tlv(0x06, oid_to_bytes(self.oid))
        if self.curve is not None:
            c, n = self.curve, self.curve.field_len
            body += (encode_tlv(0x81, _uint(c.p, n)) + encode_tlv(0x82, _uint(c.a, n)) + encode_tlv(0x83, _uint(c.b, n))
                     + encode_tlv(0x84, c.encode_point(c.g)) + encode_tlv(0x85, _uint(c.n, (c.n.bit_length() + 7) // 8))
                     + encode_tlv(0x86, self.point) + encode_tlv(0x87, _uint(c.h, 1)))  # fmt: skip
        else:
            body += encode_tlv(0x86, self.point)
        return encode_tlv(0x7F49, body)

    @classmethod
    def parse(cls, value: bytes) -> CvPublicKey:
        try:
            items = list(iter_tlv(value))
        except TlvError as e:
            raise CvcFormatError(f"public key 7F49: {e}") from e
        if not items or items[0][0] != 0x06:
            raise CvcFormatError("public key 7F49 must start with its algorithm OID (06)")
        try:
            oid = oid_from_bytes(items[0][1])
        except SecurityInfoError as e:
            raise CvcFormatError(f"public key 7F49: {e}") from e
        if not oid.startswith(_ID_TA + ".2."):
            kind = "RSA" if oid.startswith(_ID_TA + ".1.") else "unknown"
            raise CvcFormatError(f"public key algorithm {oid} ({kind}) is not supported: ECDSA (id-TA-ECDSA) only")
        if oid not in _TA_ECDSA_HASHES:
            raise CvcFormatError(f"public key algorithm {oid} is not a known id-TA-ECDSA hash")
        fields = dict(items[1:])
        tags = [t for t, _ in items[1:]]
        if tags == [0x86]:
            return cls(oid, fields[0x86])
        if tags != [0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87]:
            raise CvcFormatError(f"public key 7F49 holds {' '.join(f'{t:02X}' for t in tags)}; 86 alone or 81..87 "
                                 "in order expected")
        p, a, b, n, h = (int.from_bytes(fields[t], "big") for t in (0x81, 0x82, 0x83, 0x85, 0x87))
        g = fields[0x84]
        size = (p.bit_length() + 7) // 8
        if len(g) != 1 + 2 * size or g[0] != 4:
            raise CvcFormatError("public key 7F49: base point 84 is not an uncompressed point")
        try:  # explicit parameters must be those of a named curve, the cofactor included (emrtd._ecparams)
            curve = named_curve_for(p, a, b, g, n, h)
            curve.decode_point(fields[0x86])
        except EcParametersError as e:
            raise CvcFormatError(f"public key 7F49: {e} ({e.code})") from e
        except CryptoError as e:
            raise CvcFormatError(f"public key 7F49: {e}") from e
        return cls(oid, fields[0x86], curve)

    @property
    def hash(self) -> hashes.HashAlgorithm:
        return _TA_ECDSA_HASHES[self.oid]()


@dataclass(frozen=True)
class Chat:
    """Certificate holder authorization template for inspection systems (id-IS): role and read rights."""

    role: int
    rights: int  # READ_DG3 | READ_DG4
    oid: str = ID_IS

    def encode(self) -> bytes:
        return encode_tlv(0x7F4C, encode_tlv(0x06, oid_to_bytes(self.oid))
                          + encode_tlv(0x53, bytes([(self.role << 6) | (self.rights & 0x3F)])))

    @classmethod
    def parse(cls, value: bytes) -> Chat:
        try:
            items = list(iter_tlv(value))
        except TlvError as e:
            raise CvcFormatError(f"CHAT 7F4C: {e}") from e
        if [t for t, _ in items] != [0x06, 0x53]:
            raise CvcFormatError("CHAT 7F4C must hold an OID (06) and its discretionary data (53)")
        try:
            oid = oid_from_bytes(items[0][1])
        except SecurityInfoError as e:
            raise CvcFormatError(f"CHAT 7F4C: {e}") from e
        if oid != ID_IS:
            raise CvcFormatError(f"CHAT for {oid}: only inspection systems (id-IS {ID_IS}) read an ePassport")
        if len(items[1][1]) != 1:
            raise CvcFormatError(f"CHAT of id-IS has one byte of rights, not {len(items[1][1])}")
        byte = items[1][1][0]
        return cls(byte >> 6, byte & 0x3F, oid)

    @property
    def data_groups(self) -> tuple[str, ...]:
        return tuple(name for bit, name in _RIGHTS.items() if self.rights & bit)


@dataclass(frozen=True)
class CvCertificate:
    """One decoded CV certificate; :meth:`encode` gives back the bytes it was parsed from."""

    car: str
    public_key: CvPublicKey
    chr: str
    chat: Chat
    effective: dt.date
    expiration: dt.date
    signature: bytes
    profile: int = 0

    def body(self) -> bytes:
        return encode_tlv(0x7F4E, encode_tlv(0x5F29, bytes([self.profile])) + encode_tlv(0x42, self.car.encode("ascii"))
                          + self.public_key.encode() + encode_tlv(0x5F20, self.chr.encode("ascii"))
                          + self.chat.encode() + encode_tlv(0x5F25, _bcd(self.effective))
                          + encode_tlv(0x5F24, _bcd(self.expiration)))  # fmt: skip

    def encode(self) -> bytes:
        return encode_tlv(0x7F21, self.body() + encode_tlv(0x5F37, self.signature))

    def verify_content(self) -> bytes:
        """What PSO:Verify Certificate carries: the body and the signature, without the outer 7F21."""
        return self.body() + encode_tlv(0x5F37, self.signature)

    @property
    def role(self) -> int:
        return self.chat.role

    @property
    def role_name(self) -> str:
        return ROLE_NAMES[self.role]

    @classmethod
    def parse(cls, data: bytes) -> CvCertificate:
        """Decode a ``7F21`` certificate (the whole input, nothing after it)."""
        data = bytes(data)
        try:
            tag, value, end = read_tlv(data, 0)
        except TlvError as e:
            raise CvcFormatError(f"CV certificate truncated or malformed: {e}") from e
        if tag != 0x7F21:
            raise CvcFormatError(f"CV certificate has tag {tag:X}, 7F21 expected")
        if end != len(data):
            raise CvcFormatError(f"{len(data) - end} bytes after the CV certificate")
        return cls.parse_content(value)

    @classmethod
    def parse_content(cls, value: bytes) -> CvCertificate:
        """Decode the content of 7F21 (body 7F4E and signature 5F37), as PSO:Verify Certificate sends it."""
        try:
            outer = list(iter_tlv(value))
        except TlvError as e:
            raise CvcFormatError(f"CV certificate truncated or malformed: {e}") from e
        if [t for t, _ in outer] != [0x7F4E, 0x5F37]:
            raise CvcFormatError("CV certificate must hold a body (7F4E) then a signature (5F37)")
        try:
            items = list(iter_tlv(outer[0][1]))
        except TlvError as e:
            raise CvcFormatError(f"CV certificate body truncated or malformed: {e}") from e
        want = [0x5F29, 0x42, 0x7F49, 0x5F20, 0x7F4C, 0x5F25, 0x5F24]
        tags = [t for t, _ in items]
        if tags[:7] != want or any(t != 0x65 for t in tags[7:]):
            raise CvcFormatError(f"CV certificate body holds {' '.join(f'{t:X}' for t in tags)}; "
                                 f"{' '.join(f'{t:X}' for t in want)} expected in that order")
        if len(tags) > 7:
            raise CvcFormatError("CV certificate extensions (65) are not supported")
        v = [val for _, val in items]
        if len(v[0]) != 1 or v[0][0] != 0:
            raise CvcFormatError(f"certificate profile identifier {v[0].hex()} is not 0")
        try:
            car, chr_ = v[1].decode("ascii"), v[3].decode("ascii")
        except UnicodeDecodeError as e:
            raise CvcFormatError("CAR or CHR is not ASCII") from e
        for name, ref in (("CAR", car), ("CHR", chr_)):
            if not 8 <= len(ref) <= 16 or not ref[:2].isalpha():
                raise CvcFormatError(f"{name} {ref!r} is not a country code, a mnemonic and a sequence number (8-16)")
        out = cls(car, CvPublicKey.parse(v[2]), chr_, Chat.parse(v[4]), _bcd_date(v[5], "effective date 5F25"),
                  _bcd_date(v[6], "expiration date 5F24"), outer[1][1], v[0][0])
        if out.verify_content() != bytes(value):
            raise CvcFormatError("CV certificate is not in its canonical encoding (long lengths or padding)")
        if out.expiration < out.effective:
            raise CvcFormatError(f"{chr_}: expires {out.expiration} before it is effective {out.effective}")
        return out

    def in_force(self, date: dt.date) -> bool:
        return self.effective <= date <= self.expiration


def split_certificates(data: bytes) -> list[CvCertificate]:
    """Every 7F21 certificate of a concatenation (a chain file: DV then IS, link certificates first)."""
    out, offset = [], 0
    data = bytes(data)
    while offset < len(data):
        try:
            _, _, end = read_tlv(data, offset)
        except TlvError as e:
            raise CvcFormatError(f"certificate {len(out) + 1} of the chain truncated or malformed: {e}") from e
        out.append(CvCertificate.parse(data[offset:end]))
        offset = end
    if not out:
        raise CvcFormatError("no CV certificate")
    return out


# --- ECDSA with plain signatures (TR-03111 §5.2.1) ----------------------------------------------------------------


def _crypto_key(curve: EcCurve, point: bytes) -> ec.EllipticCurvePublicKey:
    if curve.cryptography_name is None:
        raise CvcError(f"curve {curve.name} is not supported for signatures")
    try:
        curve.decode_point(point)
        return ec.EllipticCurvePublicKey.from_encoded_point(getattr(ec, curve.cryptography_name)(), point)
    except (CryptoError, ValueError) as e:
        raise CvcFormatError(f"public key is not a point of {curve.name}: {e}") from e


def sign_plain(private_key: ec.EllipticCurvePrivateKey, data: bytes, hash_alg: hashes.HashAlgorithm) -> bytes:
    """ECDSA signature as ``r || s``, each as long as the group order (TR-03111 plain format)."""
    r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hash_alg)))
    size = (private_key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def verify_plain(curve: EcCurve, point: bytes, signature: bytes, data: bytes, hash_alg: hashes.HashAlgorithm) -> bool:
    size = (curve.n.bit_length() + 7) // 8
    if len(signature) != 2 * size:
        return False
    r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    if not (0 < r < curve.n and 0 < s < curve.n):
        return False
    try:
        _crypto_key(curve, point).verify(encode_dss_signature(r, s), data, ec.ECDSA(hash_alg))
        return True
    except InvalidSignature:
        return False


def verify_certificate(cert: CvCertificate, issuer_key: CvPublicKey, curve: EcCurve) -> None:
    """Raise :class:`CvcSignatureError` unless ``cert``'s signature verifies under ``issuer_key`` on ``curve``."""
    if not verify_plain(curve, issuer_key.point, cert.signature, cert.body(), issuer_key.hash):
        raise CvcSignatureError(f"the signature of {cert.chr} does not verify under {cert.car}'s key")


@dataclass(frozen=True)
class ChainResult:
    """A validated chain: the terminal's certificate, the curve it uses and its effective authorization."""

    terminal: CvCertificate
    curve: EcCurve
    role: int
    rights: int

    @property
    def data_groups(self) -> tuple[str, ...]:
        return tuple(name for bit, name in _RIGHTS.items() if self.rights & bit)


def check_issued(cert: CvCertificate, issuer: CvCertificate, current_date: dt.date, curve: EcCurve) -> None:
    """One link of the chain (TR-03110 Part 3 §2.5): CAR = issuer's CHR, role below the issuer's, signature,
    and in force at ``current_date``. Raises a :class:`CvcError` subclass naming what failed."""
    if cert.car != issuer.chr:
        raise CvcChainError(f"{cert.chr} names {cert.car} as its issuer, not {issuer.chr}")
    expected = {ROLE_CVCA: (ROLE_CVCA, ROLE_DV_DOMESTIC, ROLE_DV_FOREIGN),
                ROLE_DV_DOMESTIC: (ROLE_IS,), ROLE_DV_FOREIGN: (ROLE_IS,)}.get(issuer.role, ())
    if cert.role not in expected:
        raise CvcChainError(f"{cert.chr} is a {cert.role_name} certificate, which a {issuer.role_name} cannot issue")
    verify_certificate(cert, issuer.public_key, curve)
    if current_date > cert.expiration:
        raise CvcValidityError(f"{cert.chr} ({cert.role_name}) expired on {cert.expiration.isoformat()} "
                               f"(current date {current_date.isoformat()})")


def validate_chain(trust_point: CvCertificate, chain: list[CvCertificate], current_date: dt.date) -> ChainResult:
    """Validate ``chain`` (link CVCA certificates, DV, IS) from ``trust_point`` (a CVCA certificate holding the
    domain parameters) at ``current_date``: each link by :func:`check_issued`, the effective rights the
    intersection of every CHAT from the trust point on (TR-03110 Part 3 §C.4)."""
    if trust_point.role != ROLE_CVCA or trust_point.public_key.curve is None:
        raise CvcChainError(f"trust point {trust_point.chr} is not a CVCA certificate with domain parameters")
    if not chain:
        raise CvcChainError("no certificate to validate")
    curve = trust_point.public_key.curve
    issuer, rights = trust_point, trust_point.chat.rights
    for cert in chain:
        if cert.public_key.curve is not None and cert.public_key.curve != curve:
            if cert.role != ROLE_CVCA:
                raise CvcChainError(f"{cert.chr} uses other domain parameters than its CVCA")
        check_issued(cert, issuer, current_date, curve)
        if cert.role == ROLE_CVCA and cert.public_key.curve is not None:
            curve = cert.public_key.curve
        rights &= cert.chat.rights
        issuer = cert
    if issuer.role != ROLE_IS:
        raise CvcChainError(f"the chain ends with {issuer.chr}, a {issuer.role_name} certificate, not an IS")
    return ChainResult(issuer, curve, issuer.role, rights)
