"""Personalising virtual travel documents: TD3 passports and TD1 ID cards with a chip (test issuer).

:func:`issue_document` turns MRZ data and a face photo into the LDS (Doc 9303 Part 10): EF.COM, DG1,
DG2 (a JPEG 2000 face at ICAO geometry, 3:4, at most 480x600, under ~20 KB, Part 10 §4.7.2),
DG14/DG15 for Chip and Active Authentication (Part 11 §6), EF.CardAccess for PACE (Part 11 §9.2), and
an EF.SOD signed by a test Document Signer under a test CSCA (Part 10 §4.6.2, Part 12).

Deliberately faulty documents (``faults``), each what an attacker can make of a genuine chip (he cannot
re-sign the SOD), and how :func:`emrtd.read_document` reports them:

================  ===================================================  ====================================
fault             what is wrong                                        what the reader reports
================  ===================================================  ====================================
tampered_dg       DG2 altered after the SOD was signed                 passive_authentication (hash)
bad_sod_signature the SOD signature value is corrupted                 passive_authentication (sig.)
expired_dsc       the DSC had expired when the SOD was signed          passive_authentication (DSC)
revoked_dsc       the DSC is on the CSCA's CRL                         passive_authentication (CRL)
unknown_csca      the DSC chains to a CSCA outside the trust store     passive_authentication (chain)
clone_aa          the chip lacks the DG15 private key                  active_authentication
clone_ca          the chip lacks the DG14 private key                  chip_authentication
mrz_mismatch      DG1 holds a different MRZ than the printed one       mrz_consistency
no_sod            the chip serves no EF.SOD (6A82)                     passive_authentication (EF.SOD)
no_dg2            the chip refuses DG2 (6A82); EF.COM and SOD list it  DG2 unreadable, not verified
dg2_no_face       a genuinely signed DG2 whose portrait is background  DG2 verified; no face in it
hidden_dg14_dg15  DG14/DG15 signed in the SOD, but neither served nor  chip_authentication and
                  in EF.COM, and the chip holds no CA/AA private key   active_authentication
================  ===================================================  ====================================

The last four leave files out of :attr:`IssuedDocument.files` (what the chip serves), so they survive
:meth:`IssuedDocument.save` / :meth:`IssuedDocument.load` and every transport serving the
:class:`emrtd.sim.VirtualChip` alike.

The LDS files are made by the same encoders the reader parses with: DG1 from the parsed MRZ
(:mod:`emrtd._mrz`, :mod:`emrtd._lds`), DG2 as an ISO/IEC 19794-5 (or 39794-5) record around the JPEG 2000
portrait (:mod:`emrtd._dg2`), EF.SOD by :func:`emrtd._sod.build_sod`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from emrtd._bac import BacKey
from emrtd._lds import Dg1, EfCom
from emrtd._mrz import Mrz, check_mrz, parse_mrz
from emrtd._result import file_name_on_disk
from emrtd._secinfo import (
    ECDSA_PLAIN,
    ActiveAuthenticationInfo,
    ChipAuthenticationInfo,
    ChipAuthenticationPublicKeyInfo,
    PaceInfo,
    SecurityInfos,
    TerminalAuthenticationInfo,
    ca_oid,
    encode_dg15,
    pace_oid,
)
from emrtd._sod import build_sod
from emrtd._trust import TrustStore
from emrtd.sim._chip import VirtualChip
from emrtd.sim._explicit import EC_PARAMETER_FORMS, explicit_spki_of, generate_ec_key, with_ec_parameters
from emrtd.sim._portrait import (
    PORTRAIT_SIZE,
    IssuerError,
    background_photo,
    dg2_file,
    encode_face_jp2,
    sample_dg2,
)

__all__ = [
    "FAULTS", "IssuerError", "IssuedDocument", "IssuerPki", "issue_document", "encode_face_jp2", "sample_dg2",
    "PORTRAIT_SIZE", "background_photo", "trust_for_issued_document",
]  # fmt: skip

FAULTS = (
    "tampered_dg", "bad_sod_signature", "expired_dsc", "revoked_dsc",
    "unknown_csca", "clone_aa", "clone_ca", "mrz_mismatch",
    "no_sod", "no_dg2", "dg2_no_face", "hidden_dg14_dg15",
)  # fmt: skip
_FORMAT = "smartborder-virtual-emrtd/1"
def _public_der(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _parse_mrz(mrz: str | Mrz) -> Mrz:
    if isinstance(mrz, Mrz):
        return mrz
    parsed, errors = check_mrz("".join(mrz.split()).upper())
    if errors:
        raise IssuerError(f"MRZ not usable: {'; '.join(f'{e.field}: {e}' for e in errors)}") from errors[0]
    if parsed.is_visa:
        raise IssuerError("a visa MRZ (MRV-A/B) has no chip to personalise")
    return parsed


@dataclass
class IssuedDocument:
    """A personalised document: its LDS files, the chip's secrets, and the issuing PKI's public side."""

    files: dict[str, bytes]
    mrz: str
    can: str | None = None
    bac: bool = True
    chip_aa_key: object | None = None  # what the chip holds (differs from DG15 when cloned)
    aa_signature_algorithm: str | None = None
    chip_ca_key: ec.EllipticCurvePrivateKey | None = None
    faults: tuple[str, ...] = ()
    csca_certificate: bytes = b""  # DER, the trust anchor a verifier should use
    crl: bytes = b""  # DER CRL of that CSCA (lists the DSC for ``revoked_dsc``)
    extra: dict = field(default_factory=dict)
    cvca: bytes = b""  # EAC: the CVCA certificate the chip trusts (DG3/DG4 behind Terminal Authentication)
    chip_date: str = ""  # EAC: the chip's current date (ISO): the day it was personalised

    @property
    def document_type(self) -> str:
        return parse_mrz(self.mrz).format

    @property
    def access_key(self) -> BacKey:
        """The key a terminal derives from the printed MRZ."""
        return parse_mrz(self.mrz).access_key

    def chip(self, **kw) -> VirtualChip:
        return VirtualChip(
            dict(self.files), bac_key=self.access_key, can=self.can, bac_enabled=self.bac,
            aa_key=self.chip_aa_key, aa_signature_algorithm=self.aa_signature_algorithm,
            ca_key=self.chip_ca_key, cvca=self.cvca or None,
            current_date=dt.date.fromisoformat(self.chip_date) if self.chip_date else None, **kw,
        )  # fmt: skip

    def save(self, directory: str | Path) -> Path:
        """Write ``EF_COM.bin``, ``DG1.bin``, ..., ``chip.json``, chip keys and ``trust/csca.pem``."""
        out = Path(directory)
        (out / "trust").mkdir(parents=True, exist_ok=True)
        for name, content in self.files.items():
            (out / file_name_on_disk(name)).write_bytes(content)
        meta = {"format": _FORMAT, "mrz": self.mrz, "can": self.can, "bac": self.bac,
                "aa_signature_algorithm": self.aa_signature_algorithm, "faults": list(self.faults),
                "files": sorted(self.files), **self.extra}
        if self.chip_aa_key is not None:
            (out / "chip_aa_key.pem").write_bytes(_pem(self.chip_aa_key))
            meta["aa_key"] = "chip_aa_key.pem"
        if self.chip_ca_key is not None:
            (out / "chip_ca_key.pem").write_bytes(_pem(self.chip_ca_key))
            meta["ca_key"] = "chip_ca_key.pem"
        if self.csca_certificate:
            (out / "trust" / "csca.der").write_bytes(self.csca_certificate)
            from cryptography import x509

            pem = x509.load_der_x509_certificate(self.csca_certificate).public_bytes(serialization.Encoding.PEM)
            (out / "trust" / "csca.pem").write_bytes(pem)
        if self.crl:
            (out / "trust" / "csca.crl").write_bytes(self.crl)
        if self.cvca:
            (out / "chip_cvca.cvcert").write_bytes(self.cvca)
            meta["cvca"], meta["chip_date"] = "chip_cvca.cvcert", self.chip_date
        (out / "chip.json").write_text(json.dumps(meta, indent=2))
        return out

    @classmethod
    def load(cls, directory: str | Path) -> IssuedDocument:
        src = Path(directory)
        try:
            meta = json.loads((src / "chip.json").read_text())
            if meta.get("format") != _FORMAT:
                raise IssuerError(f"{src}: not a virtual document directory ({meta.get('format')!r})")
            files = {name: (src / file_name_on_disk(name)).read_bytes() for name in meta["files"]}

            def key(name):
                if not meta.get(name):
                    return None
                return serialization.load_pem_private_key((src / meta[name]).read_bytes(), password=None)

            trust = src / "trust"
            return cls(
                files, meta["mrz"], meta.get("can"), meta.get("bac", True), key("aa_key"),
                meta.get("aa_signature_algorithm"), key("ca_key"), tuple(meta.get("faults", ())),
                (trust / "csca.der").read_bytes() if (trust / "csca.der").exists() else b"",
                (trust / "csca.crl").read_bytes() if (trust / "csca.crl").exists() else b"",
                cvca=(src / meta["cvca"]).read_bytes() if meta.get("cvca") else b"", chip_date=meta.get("chip_date", ""),
            )  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError) as e:
            if isinstance(e, IssuerError):
                raise
            raise IssuerError(f"cannot load the virtual document in {src}: {e}") from e


def issue_document(
    mrz: str | Mrz,
    photo,
    *,
    can: str | None = None,
    bac: bool = True,
    pace: bool = True,
    pace_parameter_id: int = 13,
    pace_cipher: tuple[str, int] = ("AES", 128),
    aa: str | None = "rsa",
    ca: bool = True,
    faults: tuple[str, ...] | list[str] = (),
    pki=None,
    signing_time: dt.datetime | None = None,
    dg2_encoding: str = "ISO19794",
    sod_version: int = 0,
    eac=None,
    dg3: list[bytes] | tuple[bytes, ...] = (),
    chip_key_parameters: str = "named",
) -> IssuedDocument:
    """Personalise a document; see the module docstring for ``faults``.

    ``aa`` is ``"rsa"`` (ISO/IEC 9796-2, 1024-bit... 2048-bit key), ``"ec"`` (ECDSA P-256) or None;
    ``ca`` adds a brainpoolP256r1 Chip Authentication key with AES-128 in DG14.
    ``pki`` is a :class:`IssuerPki` (made when None; reuse one to share a CSCA across documents).
    ``dg2_encoding`` is ``"ISO19794"`` (19794-5 in DO'5F2E', the default: what passports in circulation
    carry) or ``"ISO39794"`` (39794-5 per the ICAO eMRTD Application Profile in DO'7F2E');
    ``sod_version`` 1 adds the LDS version info to the LDSSecurityObject.
    ``eac`` (an :class:`emrtd.sim.EacPki`) makes a chip that trusts its CVCA and serves DG3 (the ISO/IEC
    19794-4 finger image records ``dg3``, opaque here) and DG4 (a minimal iris record) only after Terminal
    Authentication granting them (needs ``ca``).
    ``chip_key_parameters`` writes the EC chip keys of DG14 (CA) and DG15 (``aa="ec"``) with named or explicit
    domain parameters (:data:`emrtd.sim._explicit.EC_PARAMETER_FORMS`; ``explicit_unnamed``: of no named curve).
    """
    faults = tuple(faults)
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        raise IssuerError(f"unknown fault(s) {unknown}; known: {', '.join(FAULTS)}")
    if "clone_aa" in faults and not aa:
        raise IssuerError("clone_aa needs an AA key (aa='rsa' or 'ec')")
    if "clone_ca" in faults and not ca:
        raise IssuerError("clone_ca needs a Chip Authentication key (ca=True)")
    if "hidden_dg14_dg15" in faults and not (ca and aa):
        raise IssuerError("hidden_dg14_dg15 needs DG14 and DG15 (ca=True and aa='rsa' or 'ec')")
    if not (bac or pace):
        raise IssuerError("a chip needs BAC or PACE")
    if chip_key_parameters not in EC_PARAMETER_FORMS:
        raise IssuerError(f"chip_key_parameters must be one of {', '.join(EC_PARAMETER_FORMS)}, "
                          f"got {chip_key_parameters!r}")
    if can is not None and (not can.isdigit() or not 1 <= len(can) <= 10):
        raise IssuerError(f"CAN must be 1..10 digits, got {can!r}")
    parsed = _parse_mrz(mrz)
    signing_time = signing_time or dt.datetime.now(dt.UTC)

    files: dict[str, bytes] = {}
    printed = parsed.encode()
    chip_mrz = parsed
    if "mrz_mismatch" in faults:  # DG1 says one thing (valid check digits), the printed MRZ another
        number = parsed.document_number
        chip_mrz = parsed.with_changes(document_number=("X" if number[0] != "X" else "Y") + number[1:])
    files["DG1"] = Dg1.from_mrz(chip_mrz).encode()
    jp2, w, h = encode_face_jp2(background_photo() if "dg2_no_face" in faults else photo)
    files["DG2"] = dg2_file(jp2, w, h, dg2_encoding)
    if eac is not None:
        from emrtd.sim._eac import FORMAT_ISO19794_4, FORMAT_ISO19794_6, biometric_group, minimal_iris_record

        if not ca:
            raise IssuerError("EAC needs Chip Authentication (ca=True): Terminal Authentication v1 follows it")
        if dg3:
            files["DG3"] = biometric_group("DG3", list(dg3), FORMAT_ISO19794_4)
        files["DG4"] = biometric_group("DG4", [minimal_iris_record()], FORMAT_ISO19794_6)
    elif dg3:
        raise IssuerError("DG3 needs EAC (eac=EacPki): fingerprints are never served without Terminal Authentication")

    infos = []
    chip_aa_key = chip_ca_key = None
    aa_alg = None
    if ca:
        ca_key = ec.generate_private_key(ec.BrainpoolP256R1())
        infos += [ChipAuthenticationPublicKeyInfo("0.4.0.127.0.7.2.2.1.2",
                                                  explicit_spki_of(ca_key.public_key(), chip_key_parameters)),
                  ChipAuthenticationInfo(ca_oid("ECDH", "AES", 128), 1)]
        if eac is not None:  # Doc 9303 Part 11 §9.2.7: the chip supports TA (EAC1), its EF.CVCA at the default FID
            infos.append(TerminalAuthenticationInfo(1))
        chip_ca_key = ec.generate_private_key(ec.BrainpoolP256R1()) if "clone_ca" in faults else ca_key
    if aa:
        if aa == "rsa":
            aa_key = rsa.generate_private_key(65537, 2048)
            chip_aa_key = rsa.generate_private_key(65537, 2048) if "clone_aa" in faults else aa_key
        elif aa == "ec":
            aa_key = ec.generate_private_key(ec.SECP256R1())
            aa_alg = ECDSA_PLAIN + ".3"
            infos.append(ActiveAuthenticationInfo(aa_alg))
            chip_aa_key = ec.generate_private_key(ec.SECP256R1()) if "clone_aa" in faults else aa_key
        else:
            raise IssuerError(f"aa must be 'rsa', 'ec' or None, got {aa!r}")
        files["DG15"] = encode_dg15(explicit_spki_of(aa_key.public_key(), chip_key_parameters) if aa == "ec"
                                    else _public_der(aa_key))
    if infos:
        files["DG14"] = SecurityInfos(infos).encode_dg14()
    files["EF.COM"] = EfCom.for_files(sorted((n for n in files if n.startswith("DG")), key=lambda n: int(n[2:]))).encode()
    if pace:
        cipher, bits = pace_cipher
        files["EF.CardAccess"] = SecurityInfos([PaceInfo(pace_oid("ECDH", "GM", cipher, bits), 2, pace_parameter_id)]).encode()

    pki = pki or IssuerPki.make()
    signed = {n: c for n, c in files.items() if n.startswith("DG")}
    sod, csca_der, crl = _sign_document(pki, signed, signing_time, faults, sod_version)
    files["EF.SOD"] = sod
    if "tampered_dg" in faults:
        dg2 = bytearray(files["DG2"])
        dg2[-10] ^= 0xFF  # inside the image data: the SOD hash no longer matches
        files["DG2"] = bytes(dg2)
    if "hidden_dg14_dg15" in faults:  # a clone without the CA/AA private keys hides what would betray it
        chip_aa_key = chip_ca_key = None
    files = _withhold(files, faults)
    return IssuedDocument(
        files, printed, can, bac, chip_aa_key, aa_alg, chip_ca_key, faults, csca_der, crl,
        extra={"issued": signing_time.isoformat(timespec="seconds")},
        cvca=eac.cvca.encode() if eac is not None else b"", chip_date=eac.chip_date.isoformat() if eac is not None else "",
    )  # fmt: skip


def _withhold(files: dict[str, bytes], faults) -> dict[str, bytes]:
    """What a chip made from the genuine files serves: without EF.SOD (``no_sod``), without DG2 (``no_dg2``,
    EF.COM unchanged), without DG14 and DG15 and with an EF.COM that no longer lists them
    (``hidden_dg14_dg15``; EF.COM is not signed, so the clone can rewrite it)."""
    drop = set()
    if "no_sod" in faults:
        drop.add("EF.SOD")
    if "no_dg2" in faults:
        drop.add("DG2")
    if "hidden_dg14_dg15" in faults:
        drop |= {"DG14", "DG15"}
        com = EfCom.parse(files["EF.COM"])
        hidden = EfCom.for_files(["DG14", "DG15"]).tags
        files = {**files, "EF.COM": replace(com, tags=tuple(t for t in com.tags if t not in hidden)).encode()}
    return {n: c for n, c in files.items() if n not in drop}


def trust_for_issued_document(doc: IssuedDocument) -> TrustStore:
    """The trust store a verifier of an :class:`IssuedDocument` uses: its issuer's CSCA and CRL."""
    store = TrustStore([doc.csca_certificate])
    if doc.crl:
        store.add_crl(doc.crl)
    return store


# --- test PKI and EF.SOD (Doc 9303 Part 12 certificate profiles, Part 10 §4.6.2 SOD) -----------------------


@dataclass
class IssuerPki:
    """A test CSCA (self-signed, ECDSA on ``curve``, P-256 by default) that issues Document Signer certificates
    and CRLs. ``csca_parameters`` / ``dsc_parameters`` write the CSCA's / the DSCs' (and Master List Signers')
    keys with named or explicit EC domain parameters (:data:`emrtd.sim._explicit.EC_PARAMETER_FORMS`)."""

    csca_key: ec.EllipticCurvePrivateKey
    csca_cert: object  # cryptography x509.Certificate
    curve: str = "secp256r1"
    dsc_parameters: str = "named"

    @classmethod
    def make(cls, country: str = "UT", now: dt.datetime | None = None, *, curve: str = "secp256r1",
             csca_parameters: str = "named", dsc_parameters: str = "named") -> IssuerPki:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import NameOID

        if {csca_parameters, dsc_parameters} - set(EC_PARAMETER_FORMS):
            raise IssuerError(f"EC parameter forms are {', '.join(EC_PARAMETER_FORMS)}")
        now = now or dt.datetime.now(dt.UTC)
        key = generate_ec_key(curve)
        name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Smartborder test issuer"),
                          x509.NameAttribute(NameOID.COMMON_NAME, f"CSCA test {country}")])
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=3650)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        return cls(key, with_ec_parameters(cert, key, csca_parameters), curve, dsc_parameters)

    def issue_dsc(self, not_before: dt.datetime, not_after: dt.datetime):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import NameOID

        key = generate_ec_key(self.curve)
        country = self.csca_cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value
        name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                          x509.NameAttribute(NameOID.COMMON_NAME, "Document Signer test")])
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(self.csca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.csca_key.public_key()), critical=False)
            .sign(self.csca_key, hashes.SHA256())
        )  # fmt: skip
        return key, with_ec_parameters(cert, self.csca_key, self.dsc_parameters)

    def issue_master_list_signer(self, now: dt.datetime | None = None):
        """A Master List Signer certificate (Part 12 §9: extKeyUsage id-icao-cscaMasterListSigningKey)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import NameOID, ObjectIdentifier

        now = now or dt.datetime.now(dt.UTC)
        key = generate_ec_key(self.curve)
        country = self.csca_cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value
        name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                          x509.NameAttribute(NameOID.COMMON_NAME, "Master List Signer test")])
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(self.csca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ObjectIdentifier("2.23.136.1.1.3")]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.csca_key.public_key()), critical=False)
            .sign(self.csca_key, hashes.SHA256())
        )  # fmt: skip
        return key, with_ec_parameters(cert, self.csca_key, self.dsc_parameters)

    def master_list(self, extra_cscas=(), *, signing_time: dt.datetime | None = None) -> bytes:
        """A CSCA Master List (Part 12 §9) with this CSCA and ``extra_cscas``, signed by a fresh signer."""
        from emrtd._trust import build_master_list

        signing_time = signing_time or dt.datetime.now(dt.UTC)
        key, cert = self.issue_master_list_signer(signing_time)
        return build_master_list([self.csca_cert, *extra_cscas], key, cert, signing_time=signing_time)

    def crl(self, revoked_serials: list[int], now: dt.datetime) -> bytes:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.csca_cert.subject)
                   .last_update(now - dt.timedelta(days=1)).next_update(now + dt.timedelta(days=30)))
        for serial in revoked_serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now - dt.timedelta(days=1)).build()
            )
        return builder.sign(self.csca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _sign_document(pki: IssuerPki, dgs: dict[str, bytes], signing_time: dt.datetime, faults,
                   version: int = 0) -> tuple[bytes, bytes, bytes]:
    """EF.SOD signed by a fresh DSC, the trusted CSCA certificate and its CRL, with faults applied."""
    issuer = IssuerPki.make(now=signing_time) if "unknown_csca" in faults else pki
    if "expired_dsc" in faults:
        nb, na = signing_time - dt.timedelta(days=400), signing_time - dt.timedelta(days=30)
    else:
        nb, na = signing_time - dt.timedelta(days=1), signing_time + dt.timedelta(days=90)
    dsc_key, dsc_cert = issuer.issue_dsc(nb, na)
    crl = pki.crl([dsc_cert.serial_number] if "revoked_dsc" in faults else [], signing_time)
    sod = build_sod(dgs, dsc_key, dsc_cert, signing_time=signing_time, version=version,
                    corrupt_signature="bad_sod_signature" in faults)
    return sod, pki.csca_cert.public_bytes(serialization.Encoding.DER), crl
