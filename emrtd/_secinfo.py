"""SecurityInfos of ICAO Doc 9303 Part 11 §9.2 (EF.CardAccess, DG14) and the DG15 AA public key (§6.1).

``SecurityInfos ::= SET OF SecurityInfo``; ``SecurityInfo ::= SEQUENCE { protocol OID, requiredData ANY,
optionalData ANY OPTIONAL }``. Known kinds become dataclasses:

- :class:`PaceInfo` (§9.2.1): protocol, version, parameterId.
- :class:`PaceDomainParameterInfo` (§9.2.2): protocol, AlgorithmIdentifier, parameterId.
- :class:`ActiveAuthenticationInfo` (§9.2.4): id-AA, version, signatureAlgorithm.
- :class:`ChipAuthenticationInfo` (§9.2.5): protocol, version, keyId.
- :class:`ChipAuthenticationPublicKeyInfo` (§9.2.6): id-PK-*, SubjectPublicKeyInfo, keyId.
- :class:`TerminalAuthenticationInfo` (§9.2.7, TR-03110): id-TA, version (1: EAC1), efCVCA FileID (optional).

Anything else (EF.DIR info, ...) is kept as :class:`UnknownSecurityInfo` with its
raw bytes. Parsing then encoding gives the input back byte for byte when the input is DER (order kept).
DG14 is ``6E`` around SecurityInfos, DG15 is ``6F`` around a SubjectPublicKeyInfo (Part 10 §4.7.14/15).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emrtd._tlv import TlvError, encode_tlv, iter_tlv, read_tlv

__all__ = [
    "SecurityInfoError",
    "PaceInfo",
    "PaceDomainParameterInfo",
    "ChipAuthenticationInfo",
    "ChipAuthenticationPublicKeyInfo",
    "ActiveAuthenticationInfo",
    "TerminalAuthenticationInfo",
    "UnknownSecurityInfo",
    "SecurityInfos",
    "parse_dg15",
    "encode_dg15",
    "oid_to_bytes",
    "oid_from_bytes",
    "ID_PACE",
    "ID_CA",
    "ID_PK",
    "ID_AA",
    "ID_TA",
    "pace_oid",
    "ca_oid",
    "ECDSA_PLAIN",
]

BSI_DE = "0.4.0.127.0.7"
ID_PK = BSI_DE + ".2.2.1"  # .1 DH, .2 ECDH
ID_CA = BSI_DE + ".2.2.3"  # .1 DH, .2 ECDH; then .1 3DES, .2 AES-128, .3 AES-192, .4 AES-256
ID_TA = BSI_DE + ".2.2.2"  # Terminal Authentication (TR-03110)
ID_PACE = BSI_DE + ".2.2.4"  # .1 DH-GM, .2 ECDH-GM, .3 DH-IM, .4 ECDH-IM, .6 ECDH-CAM
ID_AA = "2.23.136.1.1.5"
ECDSA_PLAIN = BSI_DE + ".1.1.4.1"  # .1 SHA-1, .2 SHA-224, .3 SHA-256, .4 SHA-384, .5 SHA-512

_MAPPINGS = {1: ("DH", "GM"), 2: ("ECDH", "GM"), 3: ("DH", "IM"), 4: ("ECDH", "IM"), 6: ("ECDH", "CAM")}
_CIPHERS = {1: ("3DES", 112), 2: ("AES", 128), 3: ("AES", 192), 4: ("AES", 256)}


class SecurityInfoError(ValueError):
    """Malformed SecurityInfos, DG14 or DG15."""


def oid_to_bytes(oid: str) -> bytes:
    """DER content octets of an OBJECT IDENTIFIER (X.690 §8.19)."""
    try:
        arcs = [int(a) for a in oid.split(".")]
    except ValueError as e:
        raise SecurityInfoError(f"bad OID {oid!r}") from e
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39) or min(arcs) < 0:
        raise SecurityInfoError(f"bad OID {oid!r}")
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def oid_from_bytes(data: bytes) -> str:
    if not data or data[-1] & 0x80:
        raise SecurityInfoError("truncated OBJECT IDENTIFIER")
    arcs: list[int] = []
    v = 0
    for i, b in enumerate(data):
        if v == 0 and b == 0x80 and (i == 0 or not data[i - 1] & 0x80):
            raise SecurityInfoError("non-minimal OBJECT IDENTIFIER arc")
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(v)
            v = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def _int_bytes(value: int) -> bytes:
    if value < 0:
        raise SecurityInfoError("negative INTEGER not used in SecurityInfos")
    return value.to_bytes(value.bit_length() // 8 + 1, "big")


def _int_from(data: bytes) -> int:
    if not data:
        raise SecurityInfoError("empty INTEGER")
    if data[0] & 0x80:
        raise SecurityInfoError("negative INTEGER in SecurityInfo")
    return int.from_bytes(data, "big")


def _der_int(value: int) -> bytes:
    return encode_tlv(0x02, _int_bytes(value))


def _der_oid(oid: str) -> bytes:
    return encode_tlv(0x06, oid_to_bytes(oid))


def pace_oid(
    key_agreement: str = "ECDH", mapping: str = "GM", cipher: str = "AES", key_bits: int = 128
) -> str:
    """The id-PACE-* OID for a suite, e.g. ``pace_oid("ECDH", "GM", "AES", 128)``."""
    m = {v: k for k, v in _MAPPINGS.items()}[(key_agreement, mapping)]
    c = {v: k for k, v in _CIPHERS.items()}[(cipher, 112 if cipher == "3DES" else key_bits)]
    return f"{ID_PACE}.{m}.{c}"


def ca_oid(key_agreement: str = "ECDH", cipher: str = "AES", key_bits: int = 128) -> str:
    ka = 1 if key_agreement == "DH" else 2
    c = {v: k for k, v in _CIPHERS.items()}[(cipher, 112 if cipher == "3DES" else key_bits)]
    return f"{ID_CA}.{ka}.{c}"


def _suite(oid: str, prefix: str) -> tuple[int, int] | None:
    if not oid.startswith(prefix + "."):
        return None
    rest = oid[len(prefix) + 1 :].split(".")
    if len(rest) != 2 or not all(r.isdigit() for r in rest):
        return None
    return int(rest[0]), int(rest[1])


@dataclass
class PaceInfo:
    protocol: str
    version: int = 2
    parameter_id: int | None = None

    def _suite(self):
        s = _suite(self.protocol, ID_PACE)
        if s is None or s[0] not in _MAPPINGS or s[1] not in _CIPHERS:
            raise SecurityInfoError(f"{self.protocol} is not a PACE protocol we know")
        return _MAPPINGS[s[0]], _CIPHERS[s[1]]

    @property
    def key_agreement(self) -> str:
        return self._suite()[0][0]

    @property
    def mapping(self) -> str:
        return self._suite()[0][1]

    @property
    def cipher(self) -> str:
        return self._suite()[1][0]

    @property
    def key_bits(self) -> int:
        return self._suite()[1][1]

    def encode(self) -> bytes:
        body = _der_oid(self.protocol) + _der_int(self.version)
        if self.parameter_id is not None:
            body += _der_int(self.parameter_id)
        return encode_tlv(0x30, body)


@dataclass
class PaceDomainParameterInfo:
    protocol: str
    domain_parameter: bytes  # DER AlgorithmIdentifier
    parameter_id: int | None = None

    def encode(self) -> bytes:
        body = _der_oid(self.protocol) + self.domain_parameter
        if self.parameter_id is not None:
            body += _der_int(self.parameter_id)
        return encode_tlv(0x30, body)


@dataclass
class ChipAuthenticationInfo:
    protocol: str
    version: int = 1
    key_id: int | None = None

    @property
    def key_agreement(self) -> str:
        s = _suite(self.protocol, ID_CA)
        if s is None or s[0] not in (1, 2) or s[1] not in _CIPHERS:
            raise SecurityInfoError(f"{self.protocol} is not a Chip Authentication protocol we know")
        return "DH" if s[0] == 1 else "ECDH"

    @property
    def cipher(self) -> str:
        self.key_agreement  # noqa: B018 - validates the OID
        return _CIPHERS[int(self.protocol.rsplit(".", 1)[1])][0]

    @property
    def key_bits(self) -> int:
        self.key_agreement  # noqa: B018
        return _CIPHERS[int(self.protocol.rsplit(".", 1)[1])][1]

    def encode(self) -> bytes:
        body = _der_oid(self.protocol) + _der_int(self.version)
        if self.key_id is not None:
            body += _der_int(self.key_id)
        return encode_tlv(0x30, body)


@dataclass
class ChipAuthenticationPublicKeyInfo:
    protocol: str
    public_key: bytes  # DER SubjectPublicKeyInfo
    key_id: int | None = None

    def encode(self) -> bytes:
        body = _der_oid(self.protocol) + self.public_key
        if self.key_id is not None:
            body += _der_int(self.key_id)
        return encode_tlv(0x30, body)


@dataclass
class ActiveAuthenticationInfo:
    signature_algorithm: str
    version: int = 1
    protocol: str = ID_AA

    def encode(self) -> bytes:
        body = _der_oid(self.protocol) + _der_int(self.version) + _der_oid(self.signature_algorithm)
        return encode_tlv(0x30, body)


@dataclass
class TerminalAuthenticationInfo:
    """The chip supports Terminal Authentication (version 1 = EAC1, TR-03110); ``ef_cvca`` the optional FileID
    of EF.CVCA, kept as its DER SEQUENCE (``fid`` OCTET STRING (2), ``sfid`` OCTET STRING (1) OPTIONAL)."""

    version: int = 1
    ef_cvca: bytes | None = None
    protocol: str = ID_TA

    def encode(self) -> bytes:
        return encode_tlv(0x30, _der_oid(self.protocol) + _der_int(self.version) + (self.ef_cvca or b""))

    @property
    def ef_cvca_fid(self) -> int | None:
        """EF.CVCA's file identifier where the FileID names one, else None (the default, 011C)."""
        if self.ef_cvca is None:
            return None
        try:
            _, value, _ = read_tlv(self.ef_cvca, 0)
            tag, fid, _ = read_tlv(value, 0)
        except TlvError as e:
            raise SecurityInfoError(f"TerminalAuthenticationInfo: malformed efCVCA FileID: {e}") from e
        if tag != 0x04 or len(fid) != 2:
            raise SecurityInfoError("TerminalAuthenticationInfo: efCVCA FileID has no 2-byte fid")
        return int.from_bytes(fid, "big")


@dataclass
class UnknownSecurityInfo:
    protocol: str
    raw: bytes

    def encode(self) -> bytes:
        return self.raw


SecurityInfo = (
    PaceInfo
    | PaceDomainParameterInfo
    | ChipAuthenticationInfo
    | ChipAuthenticationPublicKeyInfo
    | ActiveAuthenticationInfo
    | TerminalAuthenticationInfo
    | UnknownSecurityInfo
)


def _elements(data: bytes) -> list[tuple[int, bytes, bytes]]:
    out = []
    offset = 0
    while offset < len(data):
        tag, value, end = read_tlv(data, offset)
        out.append((tag, value, data[offset:end]))
        offset = end
    return out


def _optional_int(rest: list[tuple[int, bytes, bytes]], what: str) -> int | None:
    if not rest:
        return None
    if len(rest) > 1 or rest[0][0] != 0x02:
        raise SecurityInfoError(f"{what}: unexpected trailing element")
    return _int_from(rest[0][1])


def _parse_info(raw: bytes, value: bytes) -> SecurityInfo:
    els = _elements(value)
    if len(els) < 2 or els[0][0] != 0x06:
        raise SecurityInfoError("SecurityInfo does not start with a protocol OID and required data")
    oid = oid_from_bytes(els[0][1])
    req_tag, req_value, req_raw = els[1]
    rest = els[2:]
    if oid.startswith(ID_PACE + "."):
        if req_tag == 0x02:
            return PaceInfo(oid, _int_from(req_value), _optional_int(rest, "PACEInfo"))
        if req_tag == 0x30:
            return PaceDomainParameterInfo(oid, req_raw, _optional_int(rest, "PACEDomainParameterInfo"))
    elif oid.startswith(ID_CA + ".") and req_tag == 0x02:
        return ChipAuthenticationInfo(
            oid, _int_from(req_value), _optional_int(rest, "ChipAuthenticationInfo")
        )
    elif oid.startswith(ID_PK + ".") and req_tag == 0x30:
        return ChipAuthenticationPublicKeyInfo(
            oid, req_raw, _optional_int(rest, "ChipAuthenticationPublicKeyInfo")
        )
    elif oid == ID_AA and req_tag == 0x02:
        if len(rest) != 1 or rest[0][0] != 0x06:
            raise SecurityInfoError("ActiveAuthenticationInfo without signatureAlgorithm OID")
        return ActiveAuthenticationInfo(oid_from_bytes(rest[0][1]), _int_from(req_value), oid)
    elif oid == ID_TA and req_tag == 0x02:
        if len(rest) > 1 or (rest and rest[0][0] != 0x30):
            raise SecurityInfoError("TerminalAuthenticationInfo: efCVCA must be one FileID SEQUENCE")
        return TerminalAuthenticationInfo(_int_from(req_value), rest[0][2] if rest else None, oid)
    return UnknownSecurityInfo(oid, raw)


@dataclass
class SecurityInfos:
    """An ordered SET OF SecurityInfo (order kept for byte-exact round trips)."""

    infos: list = field(default_factory=list)

    @classmethod
    def parse(cls, data: bytes) -> SecurityInfos:
        """Parse ``31 ...`` (EF.CardAccess / EF.CardSecurity content); raise SecurityInfoError."""
        try:
            tag, value, end = read_tlv(bytes(data), 0)
            if tag != 0x31:
                raise SecurityInfoError(f"SecurityInfos must be a SET (31), got tag {tag:X}")
            if bytes(data)[end:].strip(b"\x00"):
                raise SecurityInfoError("trailing bytes after SecurityInfos")
            infos = []
            for el_tag, el_value, el_raw in _elements(value):
                if el_tag != 0x30:
                    raise SecurityInfoError(f"SecurityInfo must be a SEQUENCE, got tag {el_tag:X}")
                infos.append(_parse_info(el_raw, el_value))
        except TlvError as e:
            raise SecurityInfoError(f"malformed SecurityInfos: {e}") from e
        return cls(infos)

    def encode(self) -> bytes:
        return encode_tlv(0x31, b"".join(i.encode() for i in self.infos))

    @classmethod
    def parse_dg14(cls, data: bytes) -> SecurityInfos:
        """DG14 (Part 10 §4.7.14): ``6E L SecurityInfos``."""
        try:
            tag, value, _ = read_tlv(bytes(data), 0)
        except TlvError as e:
            raise SecurityInfoError(f"malformed DG14: {e}") from e
        if tag != 0x6E:
            raise SecurityInfoError(f"DG14 must start with tag 6E, got {tag:X}")
        return cls.parse(value)

    def encode_dg14(self) -> bytes:
        return encode_tlv(0x6E, self.encode())

    def of_type(self, kind: type) -> list:
        return [i for i in self.infos if isinstance(i, kind)]

    @property
    def pace_infos(self) -> list[PaceInfo]:
        return self.of_type(PaceInfo)

    @property
    def chip_authentication_infos(self) -> list[ChipAuthenticationInfo]:
        return self.of_type(ChipAuthenticationInfo)

    @property
    def chip_authentication_public_keys(self) -> list[ChipAuthenticationPublicKeyInfo]:
        return self.of_type(ChipAuthenticationPublicKeyInfo)

    @property
    def terminal_authentication_info(self) -> TerminalAuthenticationInfo | None:
        found = self.of_type(TerminalAuthenticationInfo)
        return found[0] if found else None

    @property
    def active_authentication_info(self) -> ActiveAuthenticationInfo | None:
        found = self.of_type(ActiveAuthenticationInfo)
        return found[0] if found else None


def parse_dg15(data: bytes) -> bytes:
    """DG15 (Part 10 §4.7.15): ``6F L SubjectPublicKeyInfo``; returns the DER SubjectPublicKeyInfo."""
    try:
        tag, value, end = read_tlv(bytes(data), 0)
        if tag != 0x6F:
            raise SecurityInfoError(f"DG15 must start with tag 6F, got {tag:X}")
        inner = list(iter_tlv(value))
        if len(inner) != 1 or inner[0][0] != 0x30:
            raise SecurityInfoError("DG15 must hold exactly one SubjectPublicKeyInfo")
    except TlvError as e:
        raise SecurityInfoError(f"malformed DG15: {e}") from e
    return value


def encode_dg15(subject_public_key_info: bytes) -> bytes:
    return encode_tlv(0x6F, bytes(subject_public_key_info))
