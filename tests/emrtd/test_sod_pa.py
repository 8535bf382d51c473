"""EF.SOD and Passive Authentication: the BSI TR-03105-5 set, every issuer fault, forgeries, the CLI."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from emrtd import (
    LdsSecurityObject,
    Sod,
    SodError,
    SodSignatureError,
    build_sod,
    passive_authentication,
    read_document,
)
from emrtd.sim import InProcessTransport, IssuerPki, issue_document, trust_for_issued_document
from tests.conftest import shared_path

TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"
BSI = "bsi_tr03105-5_"
BSI_AT = dt.datetime(2014, 6, 1, tzinfo=dt.UTC)  # within the set's DSC validity (its SOD has no signing time)


def _bsi(name: str, modified: bool = False) -> bytes:
    prefix = BSI + ("iddata_modified_" if modified else "")
    return shared_path("emrtd", "bsi_tr03105_5", prefix + name).read_bytes()


def _bsi_files(modified: bool = False) -> dict[str, bytes]:
    return {"EF.SOD": _bsi("EF_SOD.bin", modified), "DG1": _bsi("EF_DG1.bin", modified), "DG14": _bsi("EF_DG14.bin", modified)}


@cache
def _pki():
    return IssuerPki.make()


@cache
def _photo():
    return next(iter(sorted(shared_path("faces", "lfw-dev").rglob("*.jpg"))))


@cache
def _doc(*faults):
    return issue_document(TD3, _photo(), can="123456", aa=None, ca=False, faults=list(faults), pki=_pki())


def test_bsi_sod_structure_round_trips():
    sod = Sod.parse(_bsi("EF_SOD.bin"))
    assert sod.lds.hash_algorithm == "sha256" and sod.lds.version == 0
    assert list(sod.lds.dg_hashes) == [1, 2, 3, 14, 4]  # kept in the signed order
    assert sod.lds.encode() == sod.content  # byte-exact LDSSecurityObject (NULL hash parameters kept)
    assert sod.signature_algorithm == "rsassa_pss" and sod.signing_time is None
    assert sod.dsc.subject.rfc4514_string() == "CN=HJP PB DS,OU=Document Signer,O=HJP Consulting,C=DE"


def test_bsi_set_passes_pa_against_its_dsc():
    dsc = x509.load_der_x509_certificate(shared_path("emrtd", "bsi_tr03105_5", "dsc_de_0142fd5cf927.cer").read_bytes())
    inspected = BSI_AT
    for given in (None, dsc):
        res = passive_authentication(_bsi_files(), dsc=given, at=inspected)
        assert res.valid, res.reason
        assert res.check("sod_signature").passed and res.check("dg_hash:DG1").passed and res.check("dg_hash:DG14").passed
        assert res.check("dg_hash:DG2").passed is None  # in the SOD, not read
        assert res.check("dsc_chain").passed is None and "not checked" in res.check("dsc_chain").reason
        assert res.check("dsc_validity").passed is True  # no signing time in this SOD: checked at inspection
    # today, long after the DSC expired, a SOD without a signing time cannot show it was signed in time
    late = passive_authentication(_bsi_files(), dsc=dsc)
    assert late.check("dsc_validity").passed is False and not late.valid


def test_bsi_set_with_the_wrong_dsc_fails_the_signature():
    other = x509.load_der_x509_certificate(shared_path("emrtd", "bsi_tr03105_5", "dsc_de_0130846f2b3e.cer").read_bytes())
    res = passive_authentication(_bsi_files(), dsc=other, at=BSI_AT)
    assert res.failures[0].name == "sod_signature"  # (that DSC was not valid then either: dsc_validity too)


def test_bsi_modified_set_fails_on_the_signature():
    res = passive_authentication(_bsi_files(modified=True), at=BSI_AT)
    assert not res.valid
    assert [c.name for c in res.failures] == ["sod_signature"] and "signature" in res.failures[0].reason
    with pytest.raises(SodSignatureError):
        Sod.parse(_bsi("EF_SOD.bin", True)).verify_signature()


def test_dg_read_but_not_in_the_sod_fails():
    files = _bsi_files() | {"DG15": _bsi("EF_DG15.bin")}
    res = passive_authentication(files, at=BSI_AT)
    assert [c.name for c in res.failures] == ["dg_hash:DG15"] and "no hash" in res.failures[0].reason


@pytest.mark.parametrize(
    ("fault", "check", "word"),
    [("tampered_dg", "dg_hash:DG2", "hash mismatch"), ("bad_sod_signature", "sod_signature", "signature"),
     ("expired_dsc", "dsc_validity", "not valid"), ("revoked_dsc", "dsc_revocation", "revoked"),
     ("unknown_csca", "dsc_chain", "unknown CSCA")],
)
def test_every_issuer_fault_is_named(fault, check, word):
    doc = _doc(fault)
    res = passive_authentication(doc.files, trust=trust_for_issued_document(doc))
    assert not res.valid
    assert [c.name for c in res.failures] == [check] and word in res.failures[0].reason


def test_good_document_passes_every_check():
    doc = _doc()
    res = passive_authentication(doc.files, trust=trust_for_issued_document(doc))
    assert res.valid and res.chain_verified
    assert {c.name for c in res.checks if c.passed} >= {"sod", "sod_signature", "dg_hash:DG1", "dg_hash:DG2",
                                                         "dsc_validity", "dsc_chain", "dsc_revocation"}
    assert json.loads(json.dumps(res.to_dict()))["csca"].startswith("CN=CSCA test UT")


def test_corrupt_sod_and_missing_sod():
    doc = _doc()
    res = passive_authentication(doc.files | {"EF.SOD": doc.files["EF.SOD"][:-20]})
    assert [c.name for c in res.failures] == ["sod"] and "malformed" in res.failures[0].reason
    assert passive_authentication({"DG1": doc.files["DG1"]}).failures[0].reason == "EF.SOD was not read"
    with pytest.raises(SodError):
        Sod.parse(b"\x77\x03sod")


@pytest.mark.parametrize("with_trust", [True, False], ids=["trust", "no-trust"])
def test_a_chip_without_ef_sod_fails_passive_authentication(with_trust):
    """The ``no_sod`` fault: the chip answers 6A82 for EF.SOD. PA fails, it is never "not performed"."""
    doc = _doc("no_sod")
    res = read_document(InProcessTransport(doc.chip()), doc.access_key,
                        trust=trust_for_issued_document(doc) if with_trust else None)
    check = res.check("passive_authentication")
    assert check.passed is False and "EF.SOD" in check.reason
    assert [c.name for c in res.passive_authentication.failures] == ["sod"]
    assert [c.name for c in res.failures] == ["passive_authentication"]


def test_forged_sod_with_a_self_made_dsc_fails_the_chain():
    """A cloner re-signs altered DGs with their own 'Document Signer': signature and hashes verify, the chain does not."""
    doc = _doc()
    forger = IssuerPki.make()  # same names as the real CSCA, different keys
    now = dt.datetime.now(dt.UTC)
    key, cert = forger.issue_dsc(now - dt.timedelta(days=1), now + dt.timedelta(days=30))
    dgs = {n: v for n, v in doc.files.items() if n.startswith("DG")}
    dgs["DG1"] = dgs["DG1"].replace(b"ERIKSSON", b"MALLORY<")
    forged = dict(doc.files) | dgs | {"EF.SOD": build_sod(dgs, key, cert, signing_time=now)}
    res = passive_authentication(forged, trust=trust_for_issued_document(doc))
    assert res.check("sod_signature").passed and res.check("dg_hash:DG1").passed
    assert [c.name for c in res.failures] == ["dsc_chain"]


def test_build_sod_v1_rsa_pss_and_hash_algorithms():
    key = rsa.generate_private_key(65537, 2048)
    pki = _pki()
    now = dt.datetime.now(dt.UTC)
    _, cert = pki.issue_dsc(now - dt.timedelta(days=1), now + dt.timedelta(days=1))
    # re-issue a DSC certificate for an RSA key under the same CSCA
    from cryptography.hazmat.primitives import hashes

    rsa_cert = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(cert.not_valid_before_utc)
                .not_valid_after(cert.not_valid_after_utc).sign(pki.csca_key, hashes.SHA256()))  # fmt: skip
    dgs = {"DG1": b"\x61\x00", "DG2": b"\x75\x00"}
    for alg in ("sha256", "sha384", "sha512"):
        raw = build_sod(dgs, key, rsa_cert, hash_algorithm=alg, version=1, signing_time=now)
        sod = Sod.parse(raw)
        assert sod.lds.version == 1 and sod.lds.lds_version == "0108" and sod.lds.hash_algorithm == alg
        assert sod.signature_algorithm == "rsassa_pss" and sod.verify_signature() == rsa_cert
        assert LdsSecurityObject.parse(sod.content).encode() == sod.content
        res = passive_authentication(dgs | {"EF.SOD": raw}, trust=trust_for_issued_document(_doc()))
        assert res.valid and res.chain_verified, res.reason
    ec_key = ec.generate_private_key(ec.BrainpoolP256R1())
    with pytest.raises(SodSignatureError):
        Sod.parse(build_sod(dgs, ec_key, rsa_cert)).verify_signature()


def test_reader_returns_mrz_and_face_with_pa():
    doc = _doc()
    res = read_document(InProcessTransport(doc.chip()), doc.access_key, trust=trust_for_issued_document(doc))
    assert res.valid and res.check("passive_authentication").passed
    assert res.mrz.document_number == "L898902C3" and res.mrz.primary_identifier == "ERIKSSON"
    assert res.face_image[:12] == bytes.fromhex("0000000C6A5020200D0A870A")
    d = res.to_dict()
    assert d["mrz"]["date_of_birth"] == "1974-08-12" and d["face_image"]["format"] == "jpeg2000"
    assert d["passive_authentication"]["chain_verified"] is True


def test_reader_without_trust_reports_pa_not_performed():
    doc = _doc("tampered_dg")
    res = read_document(InProcessTransport(doc.chip()), doc.access_key)
    check = res.check("passive_authentication")
    assert check.passed is None and "no trust store" in check.reason and "DG2 hash mismatch" in check.reason
    assert not res.passive_authentication.valid


def test_cli_chip_verify(tmp_path):
    from click.testing import CliRunner

    from smartborder.cli import main

    doc = _doc()
    out = doc.save(tmp_path / "doc")
    r = CliRunner().invoke(main, ["chip", "verify", str(out), "--trust", str(out / "trust"), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["valid"] and d["passive_authentication"]["chain_verified"] and d["mrz"]["document_number"] == "L898902C3"
    r = CliRunner().invoke(main, ["chip", "verify", str(out)])
    assert r.exit_code == 0 and "--   dsc_chain" in r.output
    (out / "DG2.bin").write_bytes(_doc("tampered_dg").files["DG2"])
    r = CliRunner().invoke(main, ["chip", "verify", str(out), "--trust", str(out / "trust" / "csca.pem"), "--json"])
    assert r.exit_code == 1
    assert [f["name"] for f in json.loads(r.output)["passive_authentication"]["failures"]] == ["dg_hash:DG2"]
    r = CliRunner().invoke(main, ["chip", "verify", str(tmp_path)])
    assert r.exit_code != 0 and "EF_SOD.bin" in r.output


def test_truncated_or_flipped_sods_raise_named_errors():
    raw = _bsi("EF_SOD.bin")
    for cut in range(0, len(raw), 37):
        with pytest.raises(SodError):
            Sod.parse(raw[:cut])
    for i in range(4, len(raw), 53):  # a flipped bit is a malformed SOD, a failed check, or harmless: never a crash
        flipped = raw[:i] + bytes([raw[i] ^ 0x40]) + raw[i + 1 :]
        res = passive_authentication({"EF.SOD": flipped, "DG1": _bsi("EF_DG1.bin")})
        assert all(c.reason for c in res.failures)


def test_sod_with_ber_indefinite_lengths_and_chunked_content():
    """Some chips store the SOD in BER: indefinite lengths, eContent as a constructed OCTET STRING."""
    from asn1crypto import cms, core

    from emrtd._tlv import encode_tlv, read_tlv

    doc = _doc()
    _, der, _ = read_tlv(doc.files["EF.SOD"], 0)
    sd = cms.ContentInfo.load(der)["content"]
    content = bytes(sd["encap_content_info"]["content"].contents)
    half = len(content) // 2
    eci = (b"\x30\x80" + core.ObjectIdentifier("2.23.136.1.1.1").dump() + b"\xa0\x80\x24\x80"
           + encode_tlv(0x04, content[:half]) + encode_tlv(0x04, content[half:]) + b"\x00" * 6)  # fmt: skip
    body = (b"\x30\x80" + sd["version"].dump() + sd["digest_algorithms"].dump() + eci + sd["certificates"].dump()
            + sd["signer_infos"].dump() + b"\x00\x00")  # fmt: skip
    ber = encode_tlv(0x77, b"\x30\x80" + core.ObjectIdentifier("1.2.840.113549.1.7.2").dump() + b"\xa0\x80" + body + b"\x00" * 4)
    sod = Sod.parse(ber)
    assert sod.content == content
    res = passive_authentication(doc.files | {"EF.SOD": ber}, trust=trust_for_issued_document(doc))
    assert res.valid and res.chain_verified, res.reason


def test_plain_ecdsa_signature_bsi_tr03111():
    """ecdsa-plain-SHA256 (0.4.0.127.0.7.1.1.4.1.3): r || s instead of a DER signature."""
    from asn1crypto import cms
    from cryptography.hazmat.primitives.asymmetric import utils

    from emrtd._tlv import encode_tlv, read_tlv

    doc = _doc()
    ci = cms.ContentInfo.load(read_tlv(doc.files["EF.SOD"], 0)[1])
    si = ci["content"]["signer_infos"][0]
    r, s = utils.decode_dss_signature(si["signature"].native)
    si["signature_algorithm"] = {"algorithm": "0.4.0.127.0.7.1.1.4.1.3"}
    si["signature"] = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    plain = encode_tlv(0x77, ci.dump(force=True))
    res = passive_authentication(doc.files | {"EF.SOD": plain}, trust=trust_for_issued_document(doc))
    assert res.valid and res.check("sod_signature").reason.startswith("0.4.0.127.0.7.1.1.4.1.3")
    si["signature"] = (r + 1).to_bytes(32, "big") + s.to_bytes(32, "big")
    res = passive_authentication(doc.files | {"EF.SOD": encode_tlv(0x77, ci.dump(force=True))})
    assert [c.name for c in res.failures] == ["sod_signature"]


def test_reader_accepts_a_list_of_csca_certificates_as_trust():
    doc = _doc()
    res = read_document(InProcessTransport(doc.chip()), doc.access_key, trust=[_pki().csca_cert])
    assert res.check("passive_authentication").passed and res.passive_authentication.chain_verified
    assert res.passive_authentication.check("dsc_revocation").passed is None  # no CRL given


def _signed(dsc_from_days: int, dsc_to_days: int, signing_time):
    """Files signed by a DSC valid from/to those days around now, with the given signing time (or none)."""
    pki = IssuerPki.make()
    now = dt.datetime.now(dt.UTC)
    key, cert = pki.issue_dsc(now + dt.timedelta(days=dsc_from_days), now + dt.timedelta(days=dsc_to_days))
    files = {"DG1": b"\x61\x03\x5f\x1f\x00"}
    return pki, {**files, "EF.SOD": build_sod(files, key, cert, signing_time=signing_time)}


@pytest.mark.parametrize(("dsc_days", "signing_days", "passed"), [
    ((-400, -30), None, False),  # expired DSC, no signing time: checked at inspection
    ((10, 100), None, False),  # not yet valid, no signing time
    ((-10, 100), None, True),
    ((10, 100), 20, False),  # a signing time in the future
    ((-400, -30), -100, True),  # signed while the DSC was valid: the document outlives its DSC
])
def test_dsc_validity_without_or_with_a_signing_time(dsc_days, signing_days, passed):
    when = None if signing_days is None else dt.datetime.now(dt.UTC) + dt.timedelta(days=signing_days)
    pki, files = _signed(*dsc_days, when)
    from emrtd import TrustStore

    res = passive_authentication(files, trust=TrustStore([pki.csca_cert]))
    assert res.check("dsc_validity").passed is passed, res.check("dsc_validity").reason
    assert res.valid is passed or (passed and res.check("dsc_revocation").passed is None)


def test_a_crl_counts_only_for_the_csca_key_that_signed_it():
    """Key rollover under one name: the new key's (empty) CRL says nothing about the old key's DSCs."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from emrtd import TrustStore

    old = IssuerPki.make()
    doc = issue_document(TD3, _photo(), aa=None, ca=False, faults=["revoked_dsc"], pki=old)
    rollover = IssuerPki.make()
    same_name = rollover.csca_cert.subject == old.csca_cert.subject
    store = TrustStore([old.csca_cert.public_bytes(Encoding.DER), rollover.csca_cert.public_bytes(Encoding.DER)])
    store.add_crl(doc.crl)  # the old key's CRL lists the DSC
    newer = rollover.crl([], dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    store.add_crl(newer)
    res = passive_authentication(doc.files, trust=store)
    assert same_name
    assert res.check("dsc_revocation").passed is False and not res.valid
