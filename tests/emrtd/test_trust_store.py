"""The versioned trust store: PKD LDIF and Master List imports, version and digest, disk layout, round trips,
stale CRLs as their own Passive Authentication outcome, DSCs from the store for SODs that do not carry theirs."""

from __future__ import annotations

import base64
import datetime as dt
import json
import warnings
from functools import cache

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import serialization

from emrtd import (
    TrustObject,
    TrustStore,
    TrustStoreCorrupt,
    VersionedTrustStore,
    build_sod,
    objects_from_file,
    objects_from_ldif,
    passive_authentication,
)
from emrtd._tlv import encode_tlv, parse_tlv
from emrtd.sim import IssuerPki
from tests.conftest import shared_path

NOW = dt.datetime.now(dt.UTC)
DER = serialization.Encoding.DER


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few real CSCA certificates have non-positive serial numbers
        yield


@cache
def _pkis():
    return IssuerPki.make("UT"), IssuerPki.make("VN")


@cache
def _dsc():
    return _pkis()[0].issue_dsc(NOW - dt.timedelta(days=10), NOW + dt.timedelta(days=300))


def _b64(data: bytes) -> str:
    text = base64.b64encode(data).decode()
    return "\n ".join(text[i:i + 76] for i in range(0, len(text), 76))


def pkd_ldif(*, crl_now=NOW) -> bytes:
    """ICAO PKD download LDIF (collections 001 and 002 in one file), written by hand from the test PKI."""
    ut, vn = _pkis()
    _, dsc = _dsc()
    base = "dc=data,dc=download,dc=pkd,dc=icao,dc=int"
    return f"""version: 1

dn: cn=CN\\=Document Signer test\\,C\\=UT+sn={dsc.serial_number:X},o=dsc,c=UT,{base}
pkdVersion: 1150
sn: {dsc.serial_number:X}
cn: CN=Document Signer test,C=UT
objectClass: inetOrgPerson
objectClass: pkdDownload
objectClass: organizationalPerson
objectClass: person
objectClass: top
userCertificate;binary:: {_b64(dsc.public_bytes(DER))}

dn: cn=CN\\=CSCA test UT\\,O\\=Smartborder test issuer\\,C\\=UT,o=crl,c=UT,{base}
pkdVersion: 28
cn: CN=CSCA test UT,O=Smartborder test issuer,C=UT
objectClass: cRLDistributionPoint
objectClass: pkdDownload
objectClass: top
certificateRevocationList;binary:: {_b64(ut.crl([7], crl_now))}

dn: cn=CN\\=Master List Signer test\\,C\\=UT,o=ml,c=UT,{base}
pkdVersion: 70
sn: 1
cn: CN=Master List Signer test,C=UT
objectClass: top
objectClass: person
objectClass: pkdMasterList
objectClass: pkdDownload
pkdMasterListContent:: {_b64(ut.master_list([vn.csca_cert]))}
""".encode()


def test_pkd_ldif_import_gives_a_version_and_reimport_changes_nothing():
    store = VersionedTrustStore()
    found, ignored = objects_from_ldif(pkd_ldif())
    assert [o.kind for _, o in found] == ["dsc", "crl", "ml"] and ignored == []
    report = store.import_objects(found)
    assert report.changed and report.version == 1 and report.skipped == []
    assert report.added == {"csca": 0, "ml": 1, "dsc": 1, "crl": 1}
    digest = store.digest
    assert digest.startswith("sha256:") and len(digest) == 71
    again = store.import_objects(found)
    assert not again.changed and again.version == 1 and again.unchanged == 3 and store.digest == digest
    ts = store.trust_store()
    ut, vn = _pkis()
    assert set(ts.cscas) == {ut.csca_cert, vn.csca_cert} and len(ts.crls) == 1 and len(ts.dscs) == 1
    assert (ts.version, ts.digest) == (1, digest)


def test_ldif_export_round_trips_to_the_same_digest(tmp_path):
    store = VersionedTrustStore()
    store.import_objects(objects_from_ldif(pkd_ldif())[0])
    ut, _ = _pkis()
    extra = IssuerPki.make("XX")
    store.import_objects([("pem", TrustObject("csca", extra.csca_cert.public_bytes(DER)))])
    assert store.version == 2
    out = store.to_ldif()
    assert b"o=csca" in out and b"cACertificate;binary::" in out and b"pkdMasterListContent::" in out
    back = VersionedTrustStore()
    back.import_objects(objects_from_ldif(out)[0])
    assert back.digest == store.digest
    assert back.to_ldif() == out  # the export is canonical: byte for byte
    (tmp_path / "export.ldif").write_bytes(out)
    assert {o.sha256 for _, o in objects_from_file(tmp_path / "export.ldif")} == set(store.objects)


def test_saved_store_loads_checks_hashes_and_is_a_trust_store_path(tmp_path):
    store = VersionedTrustStore()
    store.import_objects(objects_from_ldif(pkd_ldif())[0])
    store.save(tmp_path / "ts")
    loaded = VersionedTrustStore.load(tmp_path / "ts")
    assert (loaded.version, loaded.digest) == (store.version, store.digest)
    ts = TrustStore.from_path(tmp_path / "ts")  # the gate's and kiosk's loader
    assert ts.version == 1 and ts.digest == store.digest and len(ts.cscas) == 2
    # an altered object file is refused
    victim = next((tmp_path / "ts" / "objects" / "crl").iterdir())
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    with pytest.raises(TrustStoreCorrupt, match="does not hash"):
        VersionedTrustStore.load(tmp_path / "ts")
    store.save(tmp_path / "ts")  # rewriting repairs it
    manifest = json.loads((tmp_path / "ts" / "manifest.json").read_text())
    manifest["digest"] = "sha256:" + "0" * 64
    (tmp_path / "ts" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TrustStoreCorrupt, match="manifest says"):
        VersionedTrustStore.load(tmp_path / "ts")
    manifest["objects"][0]["file"] = "../../etc/passwd"
    (tmp_path / "ts" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TrustStoreCorrupt, match="outside"):
        VersionedTrustStore.load(tmp_path / "ts")
    (tmp_path / "ts" / "manifest.json").write_text("{not json")
    with pytest.raises(TrustStoreCorrupt):
        VersionedTrustStore.load(tmp_path / "ts")
    with pytest.raises(TrustStoreCorrupt, match="does not exist"):
        VersionedTrustStore.load(tmp_path / "nothing")


def test_a_newer_crl_replaces_the_older_and_an_older_one_is_left_out():
    ut, _ = _pkis()
    store = VersionedTrustStore([TrustObject("csca", ut.csca_cert.public_bytes(DER))])
    old = TrustObject("crl", ut.crl([], NOW - dt.timedelta(days=40)))
    new = TrustObject("crl", ut.crl([1], NOW))
    assert store.import_objects([("old", old)]).added["crl"] == 1
    report = store.import_objects([("new", new)])
    assert report.replaced == 1 and report.version == 2 and [o.sha256 for o in store.of_kind("crl")] == [new.sha256]
    late = store.import_objects([("old again", old)])
    assert not late.changed and "as new or newer" in late.skipped[0][1]


def test_objects_that_do_not_verify_are_skipped_with_their_reason():
    ut, vn = _pkis()
    stranger = IssuerPki.make("ZZ")
    ml = bytearray(ut.master_list([vn.csca_cert]))
    ml[-5] ^= 1  # inside the signature
    store = VersionedTrustStore([TrustObject("csca", ut.csca_cert.public_bytes(DER))])
    report = store.import_objects([("forged ml", TrustObject("ml", bytes(ml))),
                                   ("foreign crl", TrustObject("crl", stranger.crl([], NOW))),
                                   ("junk dsc", TrustObject("dsc", b"\x30\x03\x02\x01\x00"))])
    assert not report.changed and store.version == 0
    reasons = dict(report.skipped)
    assert "MasterListSignatureError" in reasons["forged ml"]
    assert "not signed by a trusted CSCA" in reasons["foreign crl"]
    assert "CertificateLoadError" in reasons["junk dsc"]


def test_payload_round_trip_and_corrupt_payloads():
    store = VersionedTrustStore()
    store.import_objects(objects_from_ldif(pkd_ldif())[0])
    payload = json.loads(json.dumps(store.to_payload()))
    back = VersionedTrustStore.from_payload(payload)
    assert (back.version, back.digest) == (store.version, store.digest)
    for broken in ({**payload, "digest": "sha256:" + "1" * 64}, {**payload, "version": -1},
                   {**payload, "format": "other"}, {**payload, "objects": [{"kind": "csca", "der": "!!"}]},
                   {**payload, "objects": [{"kind": "nope", "der": ""}]}, {k: v for k, v in payload.items() if k != "objects"},
                   {**payload, "version": True}):
        with pytest.raises(TrustStoreCorrupt):
            VersionedTrustStore.from_payload(broken)


def test_status_reports_cscas_crl_freshness_and_the_version():
    store = VersionedTrustStore()
    store.import_objects(objects_from_ldif(pkd_ldif(crl_now=NOW - dt.timedelta(days=60)))[0])
    status = store.status(NOW)
    assert status["version"] == 1 and status["digest"] == store.digest
    ut, vn = _pkis()
    by_country = {c["country"]: c for c in status["cscas"]}
    assert set(by_country) == {"UT", "VN"}
    assert by_country["UT"]["fingerprint_sha256"] == ut.csca_cert.fingerprint(
        __import__("cryptography.hazmat.primitives.hashes", fromlist=["SHA256"]).SHA256()).hex()
    assert by_country["UT"]["serial"] == format(ut.csca_cert.serial_number, "X") and by_country["UT"]["valid_now"]
    assert by_country["VN"]["source"] == "master_list"
    [crl] = status["crls"]
    assert crl["status"] == "stale" and crl["fresh"] is False and status["stale_crls"] == 1
    assert store.status(NOW - dt.timedelta(days=45))["crls"][0]["status"] == "fresh"


def _sod_without_certificate(pki, dgs):
    key, cert = _dsc()
    sod = build_sod(dgs, key, cert, signing_time=NOW - dt.timedelta(days=1))
    ci = cms.ContentInfo.load(parse_tlv(sod).value)
    ci["content"]["certificates"] = None
    return encode_tlv(0x77, ci.dump(force=True)), cert


def test_stale_crl_is_a_named_outcome_and_a_pkd_dsc_verifies_a_sod_without_one():
    ut, _ = _pkis()
    dgs = {"DG1": b"\x61\x03\x5f\x1f\x00"}
    sod, cert = _sod_without_certificate(ut, dgs)
    files = {"EF.SOD": sod, **dgs}
    stale = VersionedTrustStore()
    stale.import_objects(objects_from_ldif(pkd_ldif(crl_now=NOW - dt.timedelta(days=60)))[0])
    res = passive_authentication(files, trust=stale.trust_store())
    assert res.dsc == cert and res.check("sod_signature").passed and res.chain_verified
    rev = res.check("dsc_revocation")
    assert rev.passed is None and rev.code == "stale_crl" and "out of date" in rev.reason
    fresh = VersionedTrustStore()
    fresh.import_objects(objects_from_ldif(pkd_ldif())[0])
    rev = passive_authentication(files, trust=fresh.trust_store()).check("dsc_revocation")
    assert rev.passed is True and rev.code == "not_revoked"
    no_dsc = passive_authentication(files, trust=TrustStore([ut.csca_cert]))
    assert no_dsc.check("sod_signature").passed is False  # the store holds no DSC: nothing to verify with
    assert passive_authentication(files, trust=TrustStore([ut.csca_cert])).check("dsc_revocation") is None


def test_real_master_lists_import_and_round_trip(tmp_path):
    d = shared_path("emrtd", "masterlists")
    store = VersionedTrustStore()
    for name in ("DE_ML_2026-05-28-08-28-45.ml", "NL_ML_2026-07-22.ml"):
        report = store.import_objects(objects_from_file(d / name))
        assert report.added["ml"] == 1 and report.skipped == []
    assert store.version == 2 and len(store.trust_store().cscas) > 600
    back = VersionedTrustStore()
    back.import_objects(objects_from_ldif(store.to_ldif())[0])
    assert back.digest == store.digest
    root = objects_from_file(d / "DE_ROOT_CA_CSCA07.cer")
    assert [o.kind for _, o in root] == ["csca"]
    assert store.import_objects(root).added["csca"] == 1 and store.version == 3  # a new object, though already trusted


def test_a_master_list_verified_against_a_given_root_keeps_that_root_so_the_store_loads(tmp_path):
    from emrtd import build_master_list

    ut, vn = _pkis()
    key, signer = ut.issue_master_list_signer(NOW)
    ml = TrustObject("ml", build_master_list([vn.csca_cert], key, signer, signing_time=NOW))  # UT's CSCA not listed
    store = VersionedTrustStore()
    report = store.import_objects([("ml", ml)])
    assert not report.changed and "not issued by a CSCA of the list" in report.skipped[0][1]
    report = store.import_objects([("ml", ml)], signer_roots=[ut.csca_cert])
    assert report.added == {"csca": 1, "ml": 1, "dsc": 0, "crl": 0} and report.version == 1
    store.save(tmp_path / "ts")
    loaded = VersionedTrustStore.load(tmp_path / "ts").trust_store()
    assert set(loaded.cscas) == {ut.csca_cert, vn.csca_cert}


def test_files_are_told_apart_by_content(tmp_path):
    ut, vn = _pkis()
    (tmp_path / "crl.der").write_bytes(ut.crl([], NOW))
    (tmp_path / "csca.bin").write_bytes(ut.csca_cert.public_bytes(DER))
    (tmp_path / "list.cms").write_bytes(ut.master_list([vn.csca_cert]))
    (tmp_path / "pkd.txt").write_bytes(pkd_ldif())
    (tmp_path / "junk.der").write_bytes(b"\x30\x03\x02\x01\x00")
    kinds = {f: [o.kind for _, o in objects_from_file(tmp_path / f)] for f in ("crl.der", "csca.bin", "list.cms",
                                                                               "pkd.txt")}
    assert kinds == {"crl.der": ["crl"], "csca.bin": ["csca"], "list.cms": ["ml"], "pkd.txt": ["dsc", "crl", "ml"]}
    from emrtd import CertificateLoadError

    with pytest.raises(CertificateLoadError):
        objects_from_file(tmp_path / "junk.der")


def _cert_of(subject, issuer, key, signer, *, ca=True, cert_sign=True, serial=None):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(serial or x509.random_serial_number()).not_valid_before(NOW - dt.timedelta(days=1))
         .not_valid_after(NOW + dt.timedelta(days=300)))
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    b = b.add_extension(x509.KeyUsage(not cert_sign, False, False, False, False, cert_sign, cert_sign, False, False),
                        critical=True)
    return b.sign(signer, hashes.SHA256())


def test_only_ca_certificates_become_trust_anchors():
    """cACertificate entries and PEM/DER files are CSCAs only when they are CA certificates (cA TRUE, keyCertSign)
    that are self-signed or a link certificate from a CSCA of the store; another certificate is a DSC when a CSCA
    of the store signed it, else skipped with its reason."""
    from cryptography.hazmat.primitives.asymmetric import ec

    ut, _ = _pkis()
    der = serialization.Encoding.DER
    name = ut.csca_cert.subject
    new_key, rogue, other = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    link = _cert_of(name, name, new_key, ut.csca_key)  # the new CSCA key, vouched for by the old one
    no_cert_sign = _cert_of(name, name, rogue, rogue, cert_sign=False)
    not_ca = _cert_of(name, name, rogue, rogue, ca=False)
    no_bc = _cert_of(name, name, rogue, rogue, ca=None)
    foreign = _cert_of(name, name, rogue, other)  # claims the CSCA's name, signed by a key no CSCA holds
    store = VersionedTrustStore()
    report = store.import_objects([(n, TrustObject("csca", c.public_bytes(der))) for n, c in [
        ("link", link), ("no-cert-sign", no_cert_sign), ("not-ca", not_ca), ("no-bc", no_bc), ("foreign", foreign),
        ("csca", ut.csca_cert), ("dsc-as-csca", _dsc()[1])]])
    ts = store.trust_store()
    assert set(ts.cscas) == {ut.csca_cert, link} and ts.dscs == [_dsc()[1]]
    assert report.added == {"csca": 2, "ml": 0, "dsc": 1, "crl": 0}
    why = dict(report.skipped)
    assert set(why) == {"no-cert-sign", "not-ca", "no-bc", "foreign"}, why
    assert "keyCertSign" in why["no-cert-sign"] and "cA is FALSE" in why["not-ca"]
    assert "no basicConstraints" in why["no-bc"] and "neither self-signed nor a link" in why["foreign"]
    alone = VersionedTrustStore().import_objects([("dsc-as-csca", TrustObject("csca", _dsc()[1].public_bytes(der)))])
    assert not alone.changed and "no CSCA of the store signed it" in alone.skipped[0][1]


def test_a_planted_dsc_with_the_same_issuer_and_serial_does_not_shadow_the_genuine_one():
    from cryptography.hazmat.primitives.asymmetric import ec

    ut, _ = _pkis()
    dgs = {"DG1": b"\x61\x03\x5f\x1f\x00"}
    sod, genuine = _sod_without_certificate(ut, dgs)
    rogue = ec.generate_private_key(ec.SECP256R1())
    planted = _cert_of(genuine.subject, genuine.issuer, rogue, rogue, ca=False, serial=genuine.serial_number)
    store = TrustStore([ut.csca_cert])
    store.add_dsc(planted)
    store.add_dsc(genuine)
    res = passive_authentication({"EF.SOD": sod, **dgs}, trust=store)
    assert res.dsc == genuine and res.check("sod_signature").passed and res.chain_verified
