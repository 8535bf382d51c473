"""EF.SOD, the Document Security Object: ICAO Doc 9303 Part 10 §4.6.2 and Part 11 §5.1.

EF.SOD (tag ``77``) is a CMS ``SignedData`` (RFC 5652) whose encapsulated content, of type
``id-icao-mrtd-security-ldsSecurityObject`` (2.23.136.1.1.1), is::

    LDSSecurityObject ::= SEQUENCE {
        version LDSSecurityObjectVersion,            -- v0, or v1 with ldsVersionInfo
        hashAlgorithm DigestAlgorithmIdentifier,
        dataGroupHashValues SEQUENCE SIZE (2..ub-DataGroups) OF DataGroupHash,
        ldsVersionInfo LDSVersionInfo OPTIONAL }     -- { ldsVersion, unicodeVersion } PrintableStrings

:class:`Sod` parses it with asn1crypto and verifies the signature with ``cryptography`` (ECDSA, RSA
PKCS#1 v1.5 and RSASSA-PSS); :func:`build_sod` signs one (the test issuer uses it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from asn1crypto import algos, cms, core, parser
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from emrtd._certs import CertificateLoadError, public_key_of
from emrtd._tlv import TlvError, encode_tlv, read_tlv

__all__ = [
    "SodError",
    "SodSignatureError",
    "Sod",
    "LdsSecurityObject",
    "build_sod",
    "verify_signer_info",
    "OID_LDS_SECURITY_OBJECT",
]

OID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
ECDSA_PLAIN = "0.4.0.127.0.7.1.1.4.1."  # BSI TR-03111 ecdsa-plain-SHA*: r || s, hash by the last arc
_PLAIN_HASHES = {"1": "sha1", "2": "sha224", "3": "sha256", "4": "sha384", "5": "sha512"}
_HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
           "sha512": hashes.SHA512}  # fmt: skip


class SodError(ValueError):
    """EF.SOD is malformed (not a CMS SignedData holding an LDSSecurityObject)."""


class SodSignatureError(SodError):
    """The SOD (or another CMS) signature does not verify; ``reason`` says why."""


class _DataGroupHash(core.Sequence):
    _fields = [("data_group_number", core.Integer), ("data_group_hash_value", core.OctetString)]


class _DataGroupHashes(core.SequenceOf):
    _child_spec = _DataGroupHash


class _LdsVersionInfo(core.Sequence):
    _fields = [("lds_version", core.PrintableString), ("unicode_version", core.PrintableString)]


class _LdsSecurityObject(core.Sequence):
    _fields = [
        ("version", core.Integer),
        ("hash_algorithm", algos.DigestAlgorithm),
        ("data_group_hash_values", _DataGroupHashes),
        ("lds_version_info", _LdsVersionInfo, {"optional": True}),
    ]


@dataclass(frozen=True)
class LdsSecurityObject:
    """The signed content: hash algorithm and the hash of each data group (number -> digest)."""

    hash_algorithm: str
    dg_hashes: dict[int, bytes]
    version: int = 0
    lds_version: str | None = None  # v1: e.g. "0108"
    unicode_version: str | None = None
    null_parameters: bool = False  # AlgorithmIdentifier with explicit NULL parameters (kept for a byte-exact encode)

    def encode(self) -> bytes:
        alg = {"algorithm": self.hash_algorithm}
        if self.null_parameters:
            alg["parameters"] = core.Null()
        fields = {
            "version": self.version,
            "hash_algorithm": alg,
            "data_group_hash_values": [{"data_group_number": n, "data_group_hash_value": h}
                                       for n, h in self.dg_hashes.items()],
        }  # fmt: skip
        if self.version == 1:
            fields["lds_version_info"] = {"lds_version": self.lds_version or "0108", "unicode_version": self.unicode_version or "040000"}
        return _LdsSecurityObject(fields).dump(force=True)

    @classmethod
    def parse(cls, data: bytes) -> LdsSecurityObject:
        try:
            obj = _LdsSecurityObject.load(data, strict=True)
            version = obj["version"].native
            alg = obj["hash_algorithm"]["algorithm"].native
            null = isinstance(obj["hash_algorithm"]["parameters"], core.Null)
            hashes_ = {h["data_group_number"].native: h["data_group_hash_value"].native for h in obj["data_group_hash_values"]}
            info = obj["lds_version_info"]
            lds = info["lds_version"].native if info.native else None
            uni = info["unicode_version"].native if info.native else None
        except (ValueError, TypeError, KeyError) as e:
            raise SodError(f"LDSSecurityObject is malformed: {e}") from e
        if version not in (0, 1):
            raise SodError(f"LDSSecurityObject version {version} is not v0 or v1")
        if alg not in _HASHES:
            raise SodError(f"unsupported hash algorithm {alg}")
        if any(not 1 <= n <= 16 for n in hashes_):
            raise SodError(f"data group numbers out of 1..16: {sorted(hashes_)}")
        return cls(alg, hashes_, version, lds, uni, null)

    def digest(self, data: bytes) -> bytes:
        return hashlib.new(self.hash_algorithm, data).digest()


def _econtent(octets) -> bytes:
    """The octets of an ``eContent`` OCTET STRING, also when BER-encoded as constructed chunks."""
    data = bytes(octets.contents)
    if octets.method == 0:
        return data
    out, off = b"", 0
    while off < len(data):  # each chunk is itself an OCTET STRING (RFC 5652 §5.2, X.690 §8.7.3)
        n = parser.peek(data[off:])
        out += core.OctetString.load(data[off : off + n]).native
        off += n
    return out


def _to_crypto(cert: ax509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())


def verify_signer_info(signer: cms.SignerInfo, content: bytes, content_type: str, public_key) -> None:
    """RFC 5652 §5.4-5.6: the signed attributes carry the content type and the digest of ``content``,
    and the signature over their DER ``SET OF`` verifies with ``public_key``. Raises :class:`SodSignatureError`."""
    digest_alg = signer["digest_algorithm"]["algorithm"].native
    if digest_alg not in _HASHES:
        raise SodSignatureError(f"unsupported digest algorithm {digest_alg}")
    attrs = signer["signed_attrs"]
    by_type = {} if attrs.native is None else {a["type"].native: a["values"] for a in attrs}
    # no signed attributes: the signature covers the content itself; else their DER SET OF (RFC 5652 §5.4)
    signed = content if attrs.native is None else b"\x31" + attrs.dump()[1:]
    sig_alg = signer["signature_algorithm"]
    name = sig_alg["algorithm"].native
    signature = signer["signature"].native
    hash_name = digest_alg
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            oid = sig_alg["algorithm"].dotted
            if oid.startswith(ECDSA_PLAIN):  # plain r || s (BSI TR-03111 §5.2.1) -> DER for cryptography
                hash_name = _PLAIN_HASHES[oid[len(ECDSA_PLAIN) :]]
                half = len(signature) // 2
                signature = utils.encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                                       int.from_bytes(signature[half:], "big"))
            elif "ecdsa" in name:
                hash_name = sig_alg.hash_algo
            public_key.verify(signature, signed, ec.ECDSA(_HASHES[hash_name]()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            if name == "rsassa_pss":
                params = sig_alg["parameters"]
                h = _HASHES[params["hash_algorithm"]["algorithm"].native]()
                mgf_h = _HASHES[params["mask_gen_algorithm"]["parameters"]["algorithm"].native]()
                pad = padding.PSS(padding.MGF1(mgf_h), params["salt_length"].native)
                public_key.verify(signature, signed, pad, h)
            else:
                if name.endswith("_rsa"):
                    hash_name = sig_alg.hash_algo
                public_key.verify(signature, signed, padding.PKCS1v15(), _HASHES[hash_name]())
        else:
            raise SodSignatureError(f"unsupported signer key type {type(public_key).__name__}")
    except InvalidSignature as e:
        raise SodSignatureError("the signature does not verify with the signer's public key") from e
    except (ValueError, KeyError, TypeError) as e:
        raise SodSignatureError(f"cannot verify a {name} signature: {e}") from e
    if attrs.native is not None:
        if "message_digest" not in by_type:
            raise SodSignatureError("signed attributes lack the message digest")
        if by_type["message_digest"][0].native != hashlib.new(digest_alg, content).digest():
            raise SodSignatureError("the message digest attribute does not match the signed content")
        if "content_type" in by_type and by_type["content_type"][0].dotted != _dotted(content_type):
            raise SodSignatureError(f"the content type attribute ({by_type['content_type'][0].dotted}) does not match the content")


def _dotted(name_or_oid: str) -> str:
    return name_or_oid if name_or_oid[:1].isdigit() else core.ObjectIdentifier.map(name_or_oid)


@dataclass
class Sod:
    """A parsed EF.SOD: the LDS security object, the signer info and the embedded certificates."""

    raw: bytes
    signed_data: cms.SignedData
    lds: LdsSecurityObject
    content: bytes  # DER of the LDSSecurityObject as signed
    embedded: list[x509.Certificate] = field(default_factory=list)

    @classmethod
    def parse(cls, data: bytes) -> Sod:
        try:
            tag, value, end = read_tlv(bytes(data), 0)
        except TlvError as e:
            raise SodError(f"EF.SOD is not a TLV: {e}") from e
        if tag != 0x77 or end != len(data):
            raise SodError(f"EF.SOD must be one template 77, found {tag:X} ({len(data) - end} trailing bytes)")
        try:
            ci = cms.ContentInfo.load(value, strict=True)
            if ci["content_type"].native != "signed_data":
                raise SodError(f"EF.SOD holds {ci['content_type'].native}, not CMS SignedData")
            sd = ci["content"]
            eci = sd["encap_content_info"]
            if len(sd["signer_infos"]) != 1:
                raise SodError(f"{len(sd['signer_infos'])} signer infos, exactly one expected")
            if eci["content"].contents is None:
                raise SodError("EF.SOD has no encapsulated content")
            content = _econtent(eci["content"])
            # asn1crypto parses lazily: decode the certificates and signer info now, so errors surface here
            sd["certificates"].native  # noqa: B018
            sd["signer_infos"].native  # noqa: B018
            certs = [_to_crypto(c.chosen) for c in sd["certificates"] if c.name == "certificate"] if sd["certificates"].native else []
        except (ValueError, TypeError, KeyError) as e:
            if isinstance(e, SodError):
                raise
            raise SodError(f"EF.SOD is not a well-formed CMS SignedData: {e}") from e
        return cls(bytes(data), sd, LdsSecurityObject.parse(content), content, certs)

    @property
    def content_type(self) -> str:
        return self.signed_data["encap_content_info"]["content_type"].dotted

    @property
    def signer_info(self) -> cms.SignerInfo:
        return self.signed_data["signer_infos"][0]

    @property
    def certificates(self) -> list[x509.Certificate]:
        return list(self.embedded)

    @property
    def dsc(self) -> x509.Certificate | None:
        """The Document Signer certificate named by the signer identifier, when embedded."""
        sid = self.signer_info["sid"]
        for c in self.signed_data["certificates"] if self.signed_data["certificates"].native else []:
            if c.name != "certificate":  # attribute or other certificate formats
                continue
            cert = c.chosen
            if sid.name == "issuer_and_serial_number":
                if cert.issuer == sid.chosen["issuer"] and cert.serial_number == sid.chosen["serial_number"].native:
                    return _to_crypto(cert)
            elif cert.key_identifier == sid.chosen.native:
                return _to_crypto(cert)
        return None

    @property
    def signing_time(self) -> dt.datetime | None:
        attrs = self.signer_info["signed_attrs"]
        if attrs.native is None:
            return None
        for a in attrs:
            if a["type"].native == "signing_time":
                return a["values"][0].native
        return None

    @property
    def signature_algorithm(self) -> str:
        return self.signer_info["signature_algorithm"]["algorithm"].native

    def verify_signature(self, dsc: x509.Certificate | None = None) -> x509.Certificate:
        """Verify the signer info with ``dsc`` (default: the embedded DSC). Returns the certificate used."""
        cert = dsc or self.dsc
        if cert is None:
            raise SodSignatureError("no Document Signer certificate: none embedded in the SOD and none given")
        try:
            key = public_key_of(cert)
        except CertificateLoadError as e:
            raise SodSignatureError(f"the Document Signer key cannot be used: {e}") from e
        verify_signer_info(self.signer_info, self.content, OID_LDS_SECURITY_OBJECT, key)
        if self.content_type != OID_LDS_SECURITY_OBJECT:
            raise SodSignatureError(f"the signed content is declared as {self.content_type}, not ldsSecurityObject")
        return cert


def build_sod(
    dgs: dict,
    dsc_key,
    dsc_cert: x509.Certificate,
    *,
    hash_algorithm: str = "sha256",
    signing_time: dt.datetime | None = None,
    version: int = 0,
    lds_version: str | None = None,
    unicode_version: str | None = None,
    corrupt_signature: bool = False,
) -> bytes:
    """Sign an EF.SOD over ``dgs`` ({"DG1": bytes, ...} or {1: bytes, ...}) with the Document Signer.

    ECDSA keys sign ``sha*_ecdsa``; RSA keys RSASSA-PSS (salt = hash length, as BSI TR-03110 / Part 12
    recommend). ``version=1`` adds the LDS version info. ``corrupt_signature`` flips bits of the
    signature value (for deliberately faulty test documents).
    """
    numbers = {(int(k[2:]) if isinstance(k, str) else int(k)): v for k, v in dgs.items()}
    lds = LdsSecurityObject(hash_algorithm, {n: hashlib.new(hash_algorithm, numbers[n]).digest() for n in sorted(numbers)},
                            version, lds_version, unicode_version)
    content = lds.encode()
    attrs = [cms.CMSAttribute({"type": "content_type", "values": [OID_LDS_SECURITY_OBJECT]})]
    if signing_time is not None:
        attrs.append(cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": signing_time})]}))
    attrs.append(cms.CMSAttribute({"type": "message_digest", "values": [hashlib.new(hash_algorithm, content).digest()]}))
    signed_attrs = cms.CMSAttributes(attrs)
    h = _HASHES[hash_algorithm]()
    if isinstance(dsc_key, ec.EllipticCurvePrivateKey):
        signature = dsc_key.sign(signed_attrs.dump(), ec.ECDSA(h))
        sig_alg = {"algorithm": f"{hash_algorithm}_ecdsa"}
    elif isinstance(dsc_key, rsa.RSAPrivateKey):
        signature = dsc_key.sign(signed_attrs.dump(), padding.PSS(padding.MGF1(h), h.digest_size), h)
        sig_alg = {"algorithm": "rsassa_pss", "parameters": {
            "hash_algorithm": {"algorithm": hash_algorithm},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": hash_algorithm}},
            "salt_length": h.digest_size, "trailer_field": "trailer_field_bc"}}  # fmt: skip
    else:
        raise SodError(f"unsupported Document Signer key {type(dsc_key).__name__}")
    if corrupt_signature:
        signature = signature[:-6] + bytes(b ^ 0x5A for b in signature[-6:-4]) + signature[-4:]
    cert = ax509.Certificate.load(dsc_cert.public_bytes(serialization.Encoding.DER))
    signer = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": cert.issuer, "serial_number": cert.serial_number})}),
        "digest_algorithm": {"algorithm": hash_algorithm},
        "signed_attrs": signed_attrs,
        "signature_algorithm": sig_alg,
        "signature": signature,
    })  # fmt: skip
    signed_data = cms.SignedData({
        "version": "v3",
        "digest_algorithms": [{"algorithm": hash_algorithm}],
        "encap_content_info": {"content_type": OID_LDS_SECURITY_OBJECT, "content": content},
        "certificates": [cert],
        "signer_infos": [signer],
    })  # fmt: skip
    return encode_tlv(0x77, cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump())
