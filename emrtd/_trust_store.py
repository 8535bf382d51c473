"""A versioned trust store: CSCAs, DSCs, CRLs and CSCA Master Lists as content, with a version and a digest.

What a verifier trusts is a set of objects (Doc 9303 Part 12): CSCA certificates (trust anchors), CSCA Master
Lists (their CSCAs become anchors once the list's signature verifies, :func:`emrtd.parse_master_list`),
CRLs (kept only when a CSCA of the store signed them; of one CSCA only the newest) and Document Signer
certificates (for SODs that do not carry theirs; Passive Authentication still verifies each one's chain).
The **digest** is SHA-256 over the sorted ``kind:sha256(DER)`` lines, so it names the content whatever the
order or the files it came from. The **version** rises by one with every import that changes the content;
an import of what the store already holds changes nothing.

On disk (:meth:`VersionedTrustStore.save` / :meth:`load`)::

    DIR/manifest.json         {"format": "smartborder-trust-store/1", "version", "digest", "updated_at",
                               "objects": [{"kind", "sha256", "file"}, ...]}
    DIR/objects/<kind>/<sha256>.der

written objects first, then the manifest atomically (a reader sees the old or the new store, never half);
:meth:`load` checks every file's hash and the digest (:class:`TrustStoreCorrupt` otherwise), and
:meth:`emrtd.TrustStore.from_path` on such a directory loads it. ICAO PKD LDIF (:mod:`emrtd._ldif`) is read
by :func:`objects_from_ldif` and written by :meth:`VersionedTrustStore.to_ldif`; an import of the export
gives the same digest.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from emrtd._certs import CertificateLoadError, TrustError, load_certificates
from emrtd._ldif import LdifEntry, dn_components, dump_ldif, escape_dn_value, parse_ldif
from emrtd._trust import MasterListError, TrustStore, csca_problem, parse_master_list, signed_by

__all__ = ["KINDS", "FORMAT", "TrustObject", "ImportReport", "VersionedTrustStore", "TrustStoreCorrupt",
           "NoTrustObjects", "objects_from_ldif", "objects_from_file"]

FORMAT = "smartborder-trust-store/1"
KINDS = ("csca", "ml", "dsc", "crl")  # the order an import applies them in: anchors first, CRLs last
_PKD_BASE = "dc=data,dc=download,dc=pkd,dc=icao,dc=int"
# LDIF attribute type -> kind (PKD: userCertificate in o=dsc, certificateRevocationList in o=crl,
# pkdMasterListContent in o=ml; CscaMasterListData in older dumps; cACertificate for anchors we export)
_LDIF_KIND = {"usercertificate": "dsc", "certificaterevocationlist": "crl", "pkdmasterlistcontent": "ml",
              "cscamasterlistdata": "ml", "cacertificate": "csca"}
_LDIF_ATTR = {"dsc": "userCertificate;binary", "crl": "certificateRevocationList;binary",
              "ml": "pkdMasterListContent", "csca": "cACertificate;binary"}
_OBJECT_CLASSES = {"dsc": ("top", "person", "organizationalPerson", "inetOrgPerson", "pkdDownload"),
                   "csca": ("top", "person", "organizationalPerson", "inetOrgPerson", "pkdDownload"),
                   "crl": ("top", "cRLDistributionPoint", "pkdDownload"),
                   "ml": ("top", "person", "pkdMasterList", "pkdDownload")}


class NoTrustObjects(TrustError):
    """A file to import that holds no trust object (an empty LDIF, comments only, misspelled attributes)."""


class TrustStoreCorrupt(TrustError):
    """A stored or received trust store whose files, hashes, digest or manifest do not agree."""


@dataclass(frozen=True)
class TrustObject:
    """One object of the store: ``kind`` csca / ml / dsc / crl and its DER."""

    kind: str
    der: bytes

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown trust object kind {self.kind!r}")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


@dataclass
class ImportReport:
    """What an import did: objects ``added`` per kind, ``unchanged`` (already held), ``replaced`` (older CRLs),
    ``skipped`` [(source, reason)], and the version and digest before and after."""

    version_before: int
    version: int = 0
    digest: str = ""
    added: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    unchanged: int = 0
    replaced: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    dsc_without_trusted_issuer: int = 0

    @property
    def changed(self) -> bool:
        return self.version != self.version_before

    def to_dict(self) -> dict:
        return {"version_before": self.version_before, "version": self.version, "digest": self.digest,
                "changed": self.changed, "added": dict(self.added), "unchanged": self.unchanged,
                "replaced": self.replaced, "dsc_without_trusted_issuer": self.dsc_without_trusted_issuer,
                "skipped": [{"source": s, "reason": r} for s, r in self.skipped]}


def _digest(objects) -> str:
    lines = sorted(f"{o.kind}:{o.sha256}\n" for o in objects)
    return "sha256:" + hashlib.sha256("".join(lines).encode("ascii")).hexdigest()


def _cert(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as e:
        raise CertificateLoadError(f"not a DER certificate: {e}") from e


def _crl(der: bytes) -> x509.CertificateRevocationList:
    try:
        return x509.load_der_x509_crl(der)
    except ValueError as e:
        raise CertificateLoadError(f"not a DER CRL: {e}") from e


def _country(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COUNTRY_NAME)
    return str(attrs[0].value).upper() if attrs else ""


def objects_from_ldif(data: bytes) -> tuple[list[tuple[str, TrustObject]], list[tuple[str, str]]]:
    """The trust objects of an LDIF file (PKD collections 001-003, or our export), each with where it came
    from (``dn``), and the entries that hold none [(dn, why)]. Raises :class:`emrtd.LdifError`."""
    found, ignored = [], []
    for entry in parse_ldif(data):
        kinds = [(name, value) for name, value in entry.attributes if name.split(";", 1)[0].lower() in _LDIF_KIND]
        if not kinds:
            ignored.append((entry.dn, "no certificate, CRL or Master List attribute"))
        for name, value in kinds:
            found.append((entry.dn, TrustObject(_LDIF_KIND[name.split(";", 1)[0].lower()], value)))
    return found, ignored


def objects_from_file(path: Path, *, skipped: list | None = None) -> list[tuple[str, TrustObject]]:
    """Objects of one file by its content: LDIF (``.ldif``), a Master List (``.ml``, CMS), a CRL (``.crl``,
    PEM or DER) or certificates (PEM or DER: trust anchors, CSCAs). LDIF entries that hold no trust object are
    appended to ``skipped`` [(source, why)]; a file that yields no object at all raises :class:`NoTrustObjects`.
    Raises TrustError / LdifError."""
    data = Path(path).read_bytes()
    name = str(path)
    suffix = Path(path).suffix.lower()
    if suffix == ".ldif" or data.lstrip().startswith((b"version:", b"dn:", b"dn::", b"#")):
        found, ignored = objects_from_ldif(data)
        if not found:
            raise NoTrustObjects(f"{name}: no certificate, CRL or Master List in {len(ignored)} LDIF entr"
                                 f"{'y' if len(ignored) == 1 else 'ies'}"
                                 + (f" (first: {ignored[0][0]})" if ignored else ""))
        if skipped is not None:
            skipped += [(f"{name}: {dn}", why) for dn, why in ignored]
        return [(f"{name}: {dn}", o) for dn, o in found]
    if suffix == ".ml":
        return [(name, TrustObject("ml", data))]
    if suffix == ".crl" or b"-----BEGIN X509 CRL" in data:
        try:
            crl = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
        except ValueError as e:
            raise CertificateLoadError(f"{name}: not a CRL: {e}") from e
        return [(name, TrustObject("crl", crl.public_bytes(serialization.Encoding.DER)))]
    if suffix in (".p7b", ".p7c", ".cms") or data[:1] == b"\x30" and b"\x06\x06\x67\x81\x08\x01\x01\x02" in data[:64]:
        return [(name, TrustObject("ml", data))]  # CMS with id-icao-cscaMasterList near its start
    try:
        certs = load_certificates(data)
    except CertificateLoadError:
        try:  # a DER CRL under another suffix (.der, .bin)
            return [(name, TrustObject("crl", x509.load_der_x509_crl(data).public_bytes(serialization.Encoding.DER)))]
        except ValueError:
            pass
        raise
    return [(name, TrustObject("csca", c.public_bytes(serialization.Encoding.DER))) for c in certs]


class VersionedTrustStore:
    """The store's content (:class:`TrustObject` by SHA-256), its version and digest; see the module."""

    def __init__(self, objects=(), *, version: int = 0, updated_at: str | None = None) -> None:
        self.objects: dict[str, TrustObject] = {o.sha256: o for o in objects}
        self.version = int(version)
        self.updated_at = updated_at
        self._built: TrustStore | None = None

    @property
    def digest(self) -> str:
        return _digest(self.objects.values())

    def of_kind(self, kind: str) -> list[TrustObject]:
        return sorted((o for o in self.objects.values() if o.kind == kind), key=lambda o: o.sha256)

    # -- the verifier's view -----------------------------------------------------------------------------
    def trust_store(self, *, signer_roots=None) -> TrustStore:
        """The :class:`emrtd.TrustStore` of this content (built once). Raises TrustError when an object does
        not verify (a Master List's signature, a CRL no CSCA of the store signed)."""
        if self._built is not None and signer_roots is None:
            return self._built
        store = TrustStore()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            own = [store.add_csca(_cert(o.der)) for o in self.of_kind("csca")]
            for o in self.of_kind("ml"):
                try:
                    store.add_master_list(o.der, signer_roots=signer_roots)
                except MasterListError:
                    if signer_roots is not None or not own:
                        raise
                    # imported with --signer-root: that root was kept as a CSCA of the store (import_objects)
                    store.add_master_list(o.der, signer_roots=own)
            for o in self.of_kind("dsc"):
                store.add_dsc(_cert(o.der))
            for o in self.of_kind("crl"):
                store.add_crl(_crl(o.der))
        store.version, store.digest = self.version, self.digest
        if signer_roots is None:
            self._built = store
        return store

    # -- import ------------------------------------------------------------------------------------------
    def import_objects(self, items, *, signer_roots=None, now: dt.datetime | None = None) -> ImportReport:
        """Add ``items`` [(source, TrustObject)]: CSCAs and verified Master Lists first, then DSCs, then CRLs
        signed by a CSCA of the store (older CRLs of the same CSCA are replaced; an older one than held is
        left out). Objects that do not decode or verify are skipped with their reason. The version rises by
        one when the content changed."""
        report = ImportReport(self.version)
        objects = dict(self.objects)
        items = sorted(items, key=lambda it: KINDS.index(it[1].kind))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            anchors = VersionedTrustStore(objects.values()).trust_store()
            items = self._vet_cscas(items, objects, anchors, report)
            for source, o in items:
                if o.sha256 in objects:
                    report.unchanged += 1
                    continue
                try:
                    if o.kind == "csca":
                        anchors.add_csca(_cert(o.der))
                    elif o.kind == "ml":
                        ml = anchors.add_master_list(o.der, signer_roots=signer_roots)
                        root = ml.signer_issuer
                        if signer_roots is not None and root is not None:  # kept, so the list verifies on load
                            der = root.public_bytes(serialization.Encoding.DER)
                            kept = TrustObject("csca", der)
                            if kept.sha256 not in objects:
                                anchors.add_csca(root)
                                objects[kept.sha256] = kept
                                report.added["csca"] += 1
                    elif o.kind == "dsc":
                        cert = _cert(o.der)
                        anchors.add_dsc(cert)
                        if not anchors.issuer_candidates(cert):
                            report.dsc_without_trusted_issuer += 1
                    else:
                        crl = _crl(o.der)
                        anchors.add_crl(crl)
                        if not self._keep_newest_crl(objects, anchors, source, crl, report):
                            continue
                except (TrustError, MasterListError, ValueError) as e:
                    report.skipped.append((source, f"{type(e).__name__}: {e}"))
                    continue
                objects[o.sha256] = o
                report.added[o.kind] += 1
        if _digest(objects.values()) != self.digest:
            self.objects = objects
            self.version += 1
            self.updated_at = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
            self._built = None
        report.version, report.digest = self.version, self.digest
        return report

    @staticmethod
    def _vet_cscas(items, objects: dict, anchors: TrustStore, report: ImportReport) -> list:
        """Certificates offered as CSCAs (``cACertificate``, PEM/DER files) become trust anchors only when
        :func:`emrtd._trust.csca_problem` finds none (self-signed ones, then link certificates until no more join);
        another is kept as a DSC when a CSCA of the store signed it, else skipped with its reason."""
        vetted, pending, why = [], [it for it in items if it[1].kind == "csca"], {}
        while True:
            left = []
            for source, o in pending:
                try:
                    cert = None if o.sha256 in objects else _cert(o.der)
                except ValueError:  # not a certificate: the import skips it with its reason
                    cert = None
                problem = None if cert is None else csca_problem(cert, anchors)
                if problem is None:
                    vetted.append((source, o))
                    if cert is not None:
                        anchors.add_csca(cert)
                else:
                    why[o.sha256] = problem
                    left.append((source, o))
            if len(left) == len(pending):
                break
            pending = left
        for source, o in pending:
            if any(signed_by(_cert(o.der), c) for c in anchors.issuer_candidates(_cert(o.der))):
                vetted.append((f"{source} (not a CSCA: {why[o.sha256]}; kept as a DSC)", TrustObject("dsc", o.der)))
            else:
                report.skipped.append((source, f"not a trust anchor: {why[o.sha256]}, and no CSCA of the store signed it"))
        rest = [it for it in items if it[1].kind != "csca"]
        return sorted(vetted + rest, key=lambda it: KINDS.index(it[1].kind))

    @staticmethod
    def _keep_newest_crl(objects: dict, anchors: TrustStore, source: str, crl, report: ImportReport) -> bool:
        """Of the CRLs signed by the CSCA that signed ``crl``, keep the newest: drop older held ones; False when
        a held one is at least as new."""
        signer = next(c for c in anchors.issuers_of(crl.issuer, None) if anchors.signed_crl(c, crl))
        for sha, held in list(objects.items()):
            if held.kind != "crl":
                continue
            old = _crl(held.der)
            if old.issuer != crl.issuer or not anchors.signed_crl(signer, old):
                continue
            if old.last_update_utc >= crl.last_update_utc:
                report.skipped.append((source, f"a CRL of {crl.issuer.rfc4514_string()} as new or newer "
                                       "is held"))
                return False
            del objects[sha]
            report.replaced += 1
        return True

    # -- LDIF ---------------------------------------------------------------------------------------------
    def to_ldif(self) -> bytes:
        """The store as ICAO PKD LDIF (DSCs in o=dsc, CRLs in o=crl, Master Lists in o=ml; CSCAs imported on
        their own in o=csca as ``cACertificate;binary``)."""
        entries = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for kind in ("csca", "dsc", "crl", "ml"):
                for o in self.of_kind(kind):
                    entries.append(_ldif_entry(o))
        return dump_ldif(entries, binary=lambda name: name in _LDIF_ATTR.values())

    # -- distribution payload ---------------------------------------------------------------------------
    def to_payload(self) -> dict:
        """The content as JSON-able data (for a signed list): version, digest, objects in base64."""
        return {"format": FORMAT, "version": self.version, "digest": self.digest, "updated_at": self.updated_at,
                "objects": [{"kind": o.kind, "der": base64.b64encode(o.der).decode("ascii")}
                            for k in KINDS for o in self.of_kind(k)]}

    @classmethod
    def from_payload(cls, payload) -> VersionedTrustStore:
        """The store a payload of :meth:`to_payload` describes; :class:`TrustStoreCorrupt` unless it is
        well-formed and its objects give its digest."""
        try:
            if payload.get("format") != FORMAT:
                raise TrustStoreCorrupt(f"trust store format {payload.get('format')!r}, {FORMAT} expected")
            version = payload["version"]
            if not isinstance(version, int) or isinstance(version, bool) or version < 0:
                raise TrustStoreCorrupt(f"trust store version {version!r} is not a non-negative integer")
            objects = [TrustObject(o["kind"], base64.b64decode(o["der"], validate=True)) for o in payload["objects"]]
            store = cls(objects, version=version, updated_at=payload.get("updated_at"))
        except TrustStoreCorrupt:
            raise
        except (AttributeError, KeyError, TypeError, ValueError, binascii.Error) as e:
            raise TrustStoreCorrupt(f"malformed trust store payload: {type(e).__name__}: {e}") from e
        if len(store.objects) != len(objects) or store.digest != payload.get("digest"):
            raise TrustStoreCorrupt(f"the objects give {store.digest}, the payload says {payload.get('digest')}")
        return store

    # -- on disk -----------------------------------------------------------------------------------------
    def save(self, directory) -> Path:
        """Write the store to ``directory`` (objects, then the manifest atomically); unreferenced object files
        of an earlier version are removed afterwards."""
        d = Path(directory)
        entries = []
        for k in KINDS:
            for o in self.of_kind(k):
                rel = f"objects/{o.kind}/{o.sha256}.der"
                path = d / rel
                if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != o.sha256:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    _atomic_write(path, o.der)
                entries.append({"kind": o.kind, "sha256": o.sha256, "file": rel})
        manifest = {"format": FORMAT, "version": self.version, "digest": self.digest,
                    "updated_at": self.updated_at, "objects": entries}
        _atomic_write(d / "manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())
        keep = {d / e["file"] for e in entries}
        for f in (d / "objects").glob("*/*.der"):
            if f not in keep:
                f.unlink(missing_ok=True)
        return d

    @classmethod
    def load(cls, directory) -> VersionedTrustStore:
        """The store saved in ``directory``; :class:`TrustStoreCorrupt` when a file is missing or altered."""
        d = Path(directory)
        manifest = read_manifest(d)
        objects = []
        try:
            for e in manifest["objects"]:
                rel = str(e["file"])
                if rel.startswith(("/", "\\")) or ".." in Path(rel).parts:
                    raise TrustStoreCorrupt(f"manifest names a file outside the store: {rel!r}")
                try:
                    der = (d / rel).read_bytes()
                except OSError as err:
                    raise TrustStoreCorrupt(f"{rel}: {err}") from err
                if hashlib.sha256(der).hexdigest() != e["sha256"]:
                    raise TrustStoreCorrupt(f"{rel} does not hash to {e['sha256']}: altered or damaged")
                objects.append(TrustObject(e["kind"], der))
            store = cls(objects, version=manifest["version"], updated_at=manifest.get("updated_at"))
        except TrustStoreCorrupt:
            raise
        except (KeyError, TypeError, ValueError) as e:
            raise TrustStoreCorrupt(f"{d / 'manifest.json'}: malformed ({type(e).__name__}: {e})") from e
        if store.digest != manifest.get("digest"):
            raise TrustStoreCorrupt(f"{d}: the objects give {store.digest}, the manifest says {manifest.get('digest')}")
        return store

    # -- reporting ---------------------------------------------------------------------------------------
    def status(self, now: dt.datetime | None = None) -> dict:
        """Version, digest, every CSCA (subject, country, serial, validity, SHA-256 fingerprint, where it came
        from) and every CRL with its freshness (``fresh``: its next update is not yet due)."""
        now = now or dt.datetime.now(dt.UTC)
        store = self.trust_store()
        own = {o.sha256 for o in self.of_kind("csca")}
        cscas = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for c in store.cscas:
                fp = c.fingerprint(hashes.SHA256()).hex()
                cscas.append({"subject": c.subject.rfc4514_string(), "country": _country(c.subject),
                              "serial": format(c.serial_number, "X"),
                              "not_before": c.not_valid_before_utc.isoformat(),
                              "not_after": c.not_valid_after_utc.isoformat(),
                              "valid_now": c.not_valid_before_utc <= now <= c.not_valid_after_utc,
                              "fingerprint_sha256": fp,
                              "source": "certificate" if fp in own else "master_list"})
        crls = []
        for c in store.crls:
            nxt = c.next_update_utc
            crls.append({"issuer": c.issuer.rfc4514_string(), "country": _country(c.issuer),
                         "this_update": c.last_update_utc.isoformat(),
                         "next_update": nxt.isoformat() if nxt else None,
                         "fresh": nxt is not None and now <= nxt,
                         "status": "no_next_update" if nxt is None else "fresh" if now <= nxt else "stale",
                         "revoked": sum(1 for _ in c)})
        return {"version": self.version, "digest": self.digest, "updated_at": self.updated_at,
                "counts": {k: len(self.of_kind(k)) for k in KINDS} | {"trusted_cscas": len(store.cscas)},
                "cscas": sorted(cscas, key=lambda c: (c["country"], c["subject"], c["serial"])),
                "crls": sorted(crls, key=lambda c: (c["country"], c["issuer"])),
                "stale_crls": sum(1 for c in crls if not c["fresh"])}


def read_manifest(directory) -> dict:
    """The manifest of a saved store (version and digest without loading the objects)."""
    path = Path(directory) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise TrustStoreCorrupt(f"{path} does not exist: not a versioned trust store") from e
    except (OSError, ValueError) as e:
        raise TrustStoreCorrupt(f"{path}: {e}") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise TrustStoreCorrupt(f"{path}: not a {FORMAT} manifest")
    return manifest


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _ldif_entry(o: TrustObject) -> LdifEntry:
    """A PKD-style entry: ``cn=<subject>+sn=<serial>,o=<dsc|csca>,c=XX,<base>``; ``cn=<issuer>,o=crl,...``;
    ``cn=<signer>+sn=<hash>,o=ml,...``."""
    if o.kind in ("dsc", "csca"):
        c = _cert(o.der)
        cn, sn, country = c.subject.rfc4514_string(), format(c.serial_number, "X"), _country(c.subject)
    elif o.kind == "crl":
        crl = _crl(o.der)
        cn, sn, country = crl.issuer.rfc4514_string(), None, _country(crl.issuer)
    else:
        ml = parse_master_list(o.der, verify=False)
        name = ml.signer.subject if ml.signer is not None else x509.Name([])
        cn, sn, country = name.rfc4514_string() or "CSCA Master List", o.sha256[:16], _country(name)
    rdn = f"cn={escape_dn_value(cn)}" + (f"+sn={escape_dn_value(sn)}" if sn else "")
    dn = ",".join([rdn, f"o={o.kind}"] + ([f"c={country}"] if country else []) + [_PKD_BASE])
    attrs = [("objectClass", oc.encode()) for oc in _OBJECT_CLASSES[o.kind]]
    attrs += [("cn", cn.encode("utf-8"))] + ([("sn", sn.encode())] if sn else [])
    attrs.append((_LDIF_ATTR[o.kind], o.der))
    return LdifEntry(dn, tuple(attrs))


def ldif_country(dn: str) -> str:
    """The ``c=`` of a PKD entry's DN (e.g. ``DE``), or ""."""
    return next((v.upper() for t, v in dn_components(dn) if t == "c"), "")
