"""The verifier's PKI: CSCA certificates, CRLs and CSCA Master Lists (ICAO Doc 9303 Part 12).

:class:`TrustStore` holds trust anchors (CSCA certificates) and CRLs, and answers "which trusted CSCA
issued this Document Signer certificate, and is it revoked?" (Part 12 §5, §7). CSCA Master Lists
(Part 12 §9) are CMS ``SignedData`` of type ``id-icao-cscaMasterList`` (2.23.136.1.1.2) whose content is
``CscaMasterList ::= SEQUENCE { version INTEGER (v0), certList SET OF Certificate }``, signed by a Master
List Signer certificate issued by a CSCA; :func:`parse_master_list` verifies that signature and the
signer's certificate before any certificate of the list is trusted. :func:`build_master_list` signs one
(for tests and demos).

Many CSCA certificates carry EC keys with explicit domain parameters, which ``cryptography`` does not
load; :func:`public_key_of` maps them to the named curve with the same parameters.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import cms, core
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from emrtd._certs import CertificateLoadError, TrustError, load_certificates, public_key_of, verify_issued_by
from emrtd._sod import SodSignatureError, _econtent, verify_signer_info

__all__ = [
    "TrustError",
    "MasterListError",
    "MasterListSignatureError",
    "CertificateLoadError",
    "MasterList",
    "TrustStore",
    "OID_CSCA_MASTER_LIST",
    "build_master_list",
    "load_certificates",
    "load_trust_store",
    "parse_master_list",
    "public_key_of",
    "verify_issued_by",
]

OID_CSCA_MASTER_LIST = "2.23.136.1.1.2"


class MasterListError(TrustError):
    """A CSCA Master List that is malformed."""


class MasterListSignatureError(MasterListError):
    """The Master List signature, or its signer's certificate, does not verify."""


class _CscaMasterList(core.Sequence):
    _fields = [("version", core.Integer), ("cert_list", core.SetOf, {"spec": ax509.Certificate})]


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except (x509.ExtensionNotFound, ValueError):
        return None


def name_key(name: x509.Name) -> tuple:
    """A name as RFC 5280 §7.1 compares names: per RDN, each attribute's OID and its value casefolded with
    whitespace collapsed, whatever string type encodes it (PrintableString, UTF8String, ...). A DSC or CRL
    whose issuer is UTF8String while the CSCA's subject is PrintableString names the same CSCA."""
    out = []
    for rdn in name.rdns:
        attrs = []
        for a in rdn:
            v = a.value
            attrs.append((a.oid.dotted_string, " ".join(v.split()).casefold() if isinstance(v, str) else bytes(v)))
        out.append(tuple(sorted(attrs)))
    return tuple(out)


def _aki(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except (x509.ExtensionNotFound, ValueError):
        return None


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s key signed ``cert`` (False when it cannot be checked)."""
    try:
        verify_issued_by(cert, issuer)
        return True
    except (CertificateLoadError, InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False


def csca_problem(cert: x509.Certificate, anchors: TrustStore) -> str | None:
    """Why ``cert`` may not become a trust anchor (None: it may): a CSCA is a CA certificate (basicConstraints
    cA TRUE, keyUsage keyCertSign) that is self-signed, or a link certificate a CSCA of ``anchors`` signed
    (Doc 9303 Part 12 §5, §7.1.1)."""
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if not bc.ca:
            return "not a CA certificate (basicConstraints cA is FALSE)"
    except x509.ExtensionNotFound:
        return "not a CA certificate (no basicConstraints)"
    except ValueError as e:
        return f"its extensions do not decode ({e})"
    try:
        if not cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign:
            return "its keyUsage lacks keyCertSign"
    except x509.ExtensionNotFound:
        return "it has no keyUsage (keyCertSign required)"
    if name_key(cert.subject) == name_key(cert.issuer) and signed_by(cert, cert):
        return None
    if any(signed_by(cert, c) for c in anchors.issuer_candidates(cert)):
        return None  # a link certificate
    return "neither self-signed nor a link certificate signed by a CSCA of the store"


@dataclass
class MasterList:
    """A parsed CSCA Master List: its certificates and (once verified) the signer and its issuer."""

    certificates: list[x509.Certificate]
    signer: x509.Certificate | None
    signing_time: dt.datetime | None
    version: int
    skipped: int = 0  # entries cryptography cannot load
    signer_issuer: x509.Certificate | None = None
    signed_data: cms.SignedData | None = field(default=None, repr=False)


def parse_master_list(data: bytes, *, signer_roots: list[x509.Certificate] | None = None, verify: bool = True) -> MasterList:
    """Parse (and by default verify) a CSCA Master List.

    Verification: the CMS signature with the Master List Signer certificate embedded in it, then that
    certificate's issuer, which must be one of ``signer_roots`` when given, else a CSCA of the list
    itself with the signer's country (a self-contained check: the list vouches for its own signer).
    """
    try:
        ci = cms.ContentInfo.load(bytes(data), strict=True)
        if ci["content_type"].native != "signed_data":
            raise MasterListError(f"a Master List is CMS SignedData, found {ci['content_type'].native}")
        sd = ci["content"]
        eci = sd["encap_content_info"]
        if eci["content_type"].dotted != OID_CSCA_MASTER_LIST:
            raise MasterListError(f"content type {eci['content_type'].dotted} is not id-icao-cscaMasterList")
        content = _econtent(eci["content"])
        ml = _CscaMasterList.load(content, strict=True)
        version = ml["version"].native
        entries = list(ml["cert_list"])
    except (ValueError, TypeError, KeyError) as e:
        if isinstance(e, MasterListError):
            raise
        raise MasterListError(f"not a well-formed CSCA Master List: {e}") from e
    try:
        certs, skipped = [], 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # some real CSCA certificates have non-positive serial numbers
            for entry in entries:
                try:
                    certs.append(x509.load_der_x509_certificate(entry.dump()))
                except ValueError:
                    skipped += 1
        signer_infos = sd["signer_infos"]
        if len(signer_infos) != 1:
            raise MasterListError(f"{len(signer_infos)} signer infos, exactly one expected")
        si = signer_infos[0]
        embedded = [x509.load_der_x509_certificate(c.chosen.dump()) for c in sd["certificates"]] if sd["certificates"].native else []
        sid = si["sid"]
        signer = None
        for c, raw in zip(embedded, sd["certificates"] if embedded else [], strict=False):
            rc = raw.chosen
            if sid.name == "issuer_and_serial_number":
                if rc.issuer == sid.chosen["issuer"] and rc.serial_number == sid.chosen["serial_number"].native:
                    signer = c
            elif rc.key_identifier == sid.chosen.native:
                signer = c
        signing_time = None
        if si["signed_attrs"].native is not None:
            for a in si["signed_attrs"]:
                if a["type"].native == "signing_time":
                    signing_time = a["values"][0].native
    except (ValueError, TypeError, KeyError) as e:
        if isinstance(e, MasterListError):
            raise
        raise MasterListError(f"malformed Master List signer information: {e}") from e
    out = MasterList(certs, signer, signing_time, version, skipped, None, sd)
    if not verify:
        return out
    if signer is None:
        raise MasterListSignatureError("the Master List Signer certificate is not in the SignedData")
    try:
        verify_signer_info(si, content, OID_CSCA_MASTER_LIST, public_key_of(signer))
    except (SodSignatureError, CertificateLoadError) as e:
        raise MasterListSignatureError(f"Master List signature: {e}") from e
    at = signing_time or signer.not_valid_before_utc
    if not signer.not_valid_before_utc <= at <= signer.not_valid_after_utc:
        raise MasterListSignatureError(f"the Master List Signer certificate was not valid at {at:%Y-%m-%d}")
    pool = list(signer_roots) if signer_roots is not None else [
        c for c in certs + embedded if c.subject == signer.issuer and c != signer
    ]  # fmt: skip
    for root in pool:
        if root.subject != signer.issuer:
            continue
        try:
            verify_issued_by(signer, root)
        except (InvalidSignature, UnsupportedAlgorithm, CertificateLoadError, ValueError, TypeError):
            continue
        out.signer_issuer = root
        return out
    where = "the given signer roots" if signer_roots is not None else "the list"
    raise MasterListSignatureError(f"the Master List Signer ({signer.subject.rfc4514_string()}) is not issued by a CSCA of {where}")


def build_master_list(cscas: list[x509.Certificate], signer_key, signer_cert: x509.Certificate, *,
                      signing_time: dt.datetime | None = None, extra_certificates=()) -> bytes:
    """A CSCA Master List over ``cscas`` signed by the Master List Signer (ECDSA or RSA PKCS#1 v1.5, SHA-256)."""
    ml = _CscaMasterList({"version": 0, "cert_list": [
        ax509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in cscas]})
    content = ml.dump()
    attrs = [cms.CMSAttribute({"type": "content_type", "values": [OID_CSCA_MASTER_LIST]})]
    if signing_time is not None:
        attrs.append(cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": signing_time})]}))
    attrs.append(cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content).digest()]}))
    signed_attrs = cms.CMSAttributes(attrs)
    if isinstance(signer_key, ec.EllipticCurvePrivateKey):
        sig, alg = signer_key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256())), "sha256_ecdsa"
    else:
        sig, alg = signer_key.sign(signed_attrs.dump(), padding.PKCS1v15(), hashes.SHA256()), "sha256_rsa"
    cert = ax509.Certificate.load(signer_cert.public_bytes(serialization.Encoding.DER))
    signer = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": cert.issuer, "serial_number": cert.serial_number})}),
        "digest_algorithm": {"algorithm": "sha256"}, "signed_attrs": signed_attrs,
        "signature_algorithm": {"algorithm": alg}, "signature": sig,
    })  # fmt: skip
    others = [ax509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in extra_certificates]
    sd = cms.SignedData({
        "version": "v3", "digest_algorithms": [{"algorithm": "sha256"}],
        "encap_content_info": {"content_type": OID_CSCA_MASTER_LIST, "content": content},
        "certificates": [cert, *others], "signer_infos": [signer],
    })  # fmt: skip
    return cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump()


class TrustStore:
    """Trusted CSCA certificates and their CRLs (each CRL verified against its CSCA when added)."""

    def __init__(self, cscas=(), crls=()) -> None:
        self.cscas: list[x509.Certificate] = []
        self.crls: list[x509.CertificateRevocationList] = []
        self.master_lists: list[MasterList] = []
        #: Document Signer certificates (e.g. from the PKD) for SODs that do not carry theirs; never trusted by
        #: being here: Passive Authentication verifies each one's chain to a CSCA
        self.dscs: list[x509.Certificate] = []
        self._dsc_index: dict | None = None  # (issuer DER, serial) and key identifier -> DSC, built on first use
        self._dsc_seen: set[bytes] = set()
        #: the store's version and content digest when it came from a versioned store (emrtd._trust_store)
        self.version: int | None = None
        self.digest: str | None = None
        for c in cscas:
            self.add_csca(c)
        for crl in crls:
            self.add_crl(crl)

    def __len__(self) -> int:
        return len(self.cscas)

    def add_csca(self, cert) -> x509.Certificate:
        if isinstance(cert, bytes | bytearray):
            certs = load_certificates(bytes(cert))
            for c in certs[1:]:
                self.add_csca(c)
            cert = certs[0]
        if cert not in self.cscas:
            self.cscas.append(cert)
        return cert

    def add_crl(self, crl) -> x509.CertificateRevocationList:
        """Add a CRL (DER/PEM or object); it must be signed by a CSCA already in the store."""
        if isinstance(crl, bytes | bytearray):
            try:
                crl = x509.load_pem_x509_crl(bytes(crl)) if b"-----BEGIN" in crl else x509.load_der_x509_crl(bytes(crl))
            except ValueError as e:
                raise CertificateLoadError(f"not a CRL: {e}") from e
        for csca in self.issuers_of(crl.issuer, None):
            try:
                if crl.is_signature_valid(public_key_of(csca)):
                    self.crls.append(crl)
                    return crl
            except (CertificateLoadError, TypeError, ValueError):
                continue
        raise TrustError(f"the CRL of {crl.issuer.rfc4514_string()} is not signed by a trusted CSCA")

    def signed_crl(self, csca: x509.Certificate, crl: x509.CertificateRevocationList) -> bool:
        """Whether ``csca``'s key signed ``crl``."""
        try:
            return name_key(crl.issuer) == name_key(csca.subject) and crl.is_signature_valid(public_key_of(csca))
        except (CertificateLoadError, TypeError, ValueError):
            return False

    def add_dsc(self, cert) -> x509.Certificate:
        """Keep a Document Signer certificate (DER/PEM or object) for :meth:`dsc_for_signer`."""
        if isinstance(cert, bytes | bytearray):
            cert = load_certificates(bytes(cert))[0]
        fp = cert.fingerprint(hashes.SHA256())
        if fp not in self._dsc_seen:  # the PKD holds tens of thousands: no linear search
            self._dsc_seen.add(fp)
            self.dscs.append(cert)
            self._dsc_index = None
        return cert

    def dscs_for_signer(self, sid) -> list[x509.Certificate]:
        """Every held DSC a CMS ``SignerIdentifier`` (asn1crypto) names: issuer and serial number, or subject key
        identifier. All of them: a planted certificate with the same issuer and serial (or key identifier) must
        not shadow the genuine one; the SOD's signature and the chain pick the right one (Passive
        Authentication)."""
        if self._dsc_index is None:
            index: dict = {}
            for cert in self.dscs:
                ac = ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
                index.setdefault(("ias", ac.issuer.dump(), ac.serial_number), []).append(cert)
                if ac.key_identifier is not None:
                    index.setdefault(("ski", ac.key_identifier), []).append(cert)
            self._dsc_index = index
        if sid.name != "issuer_and_serial_number":
            return list(self._dsc_index.get(("ski", sid.chosen.native), ()))
        issuer, serial = sid.chosen["issuer"], sid.chosen["serial_number"].native
        found = list(self._dsc_index.get(("ias", issuer.dump(), serial), ()))
        # the same name encoded otherwise (string types): compared as X.520 names
        found += [c for c in self.dscs if c not in found and c.serial_number == serial and ax509.Certificate.load(
            c.public_bytes(serialization.Encoding.DER)).issuer == issuer]
        return found

    def dsc_for_signer(self, sid) -> x509.Certificate | None:
        """The first of :meth:`dscs_for_signer` (None: none)."""
        found = self.dscs_for_signer(sid)
        return found[0] if found else None

    def add_master_list(self, data: bytes, *, signer_roots=None) -> MasterList:
        """Verify a CSCA Master List (see :func:`parse_master_list`) and trust its certificates."""
        ml = parse_master_list(data, signer_roots=signer_roots)
        for c in ml.certificates:
            self.add_csca(c)
        self.master_lists.append(ml)
        return ml

    def issuers_of(self, issuer_name: x509.Name, key_id: bytes | None) -> list[x509.Certificate]:
        """CSCAs whose subject is ``issuer_name`` (and whose key identifier matches when both are known)."""
        index = getattr(self, "_by_subject", None)
        if index is None or index[0] != len(self.cscas):  # rebuilt when CSCAs were added: one dict look-up per DSC
            by_name: dict[tuple, list] = {}
            for c in self.cscas:
                by_name.setdefault(name_key(c.subject), []).append(c)
            index = self._by_subject = (len(self.cscas), by_name)
        out = []
        for c in index[1].get(name_key(issuer_name), ()):  # names compared as RFC 5280 §7.1, not by encoding
            ski = _ski(c)
            if key_id is not None and ski is not None and ski != key_id:
                continue
            out.append(c)
        return out

    def issuer_candidates(self, cert: x509.Certificate) -> list[x509.Certificate]:
        return self.issuers_of(cert.issuer, _aki(cert))

    def crl_for(self, csca: x509.Certificate) -> x509.CertificateRevocationList | None:
        """The newest CRL signed by ``csca``'s own key. Matching by name alone is not enough: after a
        CSCA key rollover under the same name, the new key's CRL does not speak for DSCs of the old one."""
        mine = []
        for crl in self.crls:
            if name_key(crl.issuer) != name_key(csca.subject):
                continue
            try:
                if crl.is_signature_valid(public_key_of(csca)):
                    mine.append(crl)
            except (CertificateLoadError, TypeError, ValueError):
                continue
        return max(mine, key=lambda c: c.last_update_utc) if mine else None

    @classmethod
    def from_path(cls, path, *, signer_roots=None) -> TrustStore:
        """A store from a file or directory: ``*.pem|*.cer|*.crt|*.der`` certificates, ``*.crl`` CRLs,
        ``*.ml`` Master Lists (verified; ``signer_roots`` or self-contained). A directory holding a versioned
        store's ``manifest.json`` (:class:`emrtd.VersionedTrustStore`) is loaded as that store, its
        version and digest checked."""
        p = Path(path)
        if p.is_dir() and (p / "manifest.json").exists():
            from emrtd._trust_store import VersionedTrustStore

            vstore = VersionedTrustStore.load(p)
            store = vstore.trust_store(signer_roots=signer_roots)
            if not store.cscas:
                raise TrustError(f"no CSCA certificate or Master List in the trust store {path}")
            return store
        files = sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
        store, crls = cls(), []
        try:
            for f in files:
                suffix = f.suffix.lower()
                if suffix == ".ml":
                    store.add_master_list(f.read_bytes(), signer_roots=signer_roots)
                elif suffix == ".crl":
                    crls.append(f.read_bytes())
                elif suffix in (".pem", ".cer", ".crt", ".der"):
                    store.add_csca(f.read_bytes())
        except OSError as e:
            raise TrustError(f"cannot read {path}: {e}") from e
        for crl in crls:
            store.add_crl(crl)
        if not store.cscas:
            raise TrustError(f"no CSCA certificate or Master List found in {path}")
        return store


def load_trust_store(path, *, signer_roots=None) -> TrustStore:
    """:meth:`TrustStore.from_path`: CSCA certificates (PEM/DER), CRLs and Master Lists from a file or directory."""
    return TrustStore.from_path(path, signer_roots=signer_roots)
