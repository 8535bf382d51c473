"""The test issuer: TD3/TD1 personalisation, DG2 geometry, options, and every fault caught by the reader."""

from __future__ import annotations

import hashlib
import io
from functools import cache

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from emrtd import InProcessTransport, read_document
from emrtd._issuer import FAULTS, IssuedDocument, IssuerError, IssuerPki, issue_document
from emrtd._tlv import read_tlv
from tests.conftest import shared_path

TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"
TD1 = "I<UTOD231458907<<<<<<<<<<<<<<<7408122F1204159UTO<<<<<<<<<<<6ERIKSSON<<ANNA<MARIA<<<<<<<<<<"


@pytest.fixture(scope="module")
def photo():
    faces = shared_path("faces", "lfw-dev")
    return next(iter(sorted(faces.rglob("*.jpg"))))


@cache
def _pki():
    return IssuerPki.make()


def _issue(photo, **kw):
    kw.setdefault("can", "123456")
    return issue_document(kw.pop("mrz", TD3), photo, pki=_pki(), **kw)


def _jp2(dg2: bytes) -> Image.Image:
    i = dg2.index(b"\x00\x00\x00\x0cjP  ")
    return Image.open(io.BytesIO(dg2[i:]))


def _pa_available() -> bool:
    try:
        from emrtd import _pa  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("mrz", [TD3, TD1], ids=["TD3", "TD1"])
def test_issue_and_read_back(photo, mrz, tmp_path):
    doc = _issue(photo, mrz=mrz)
    assert doc.document_type == ("TD3" if mrz == TD3 else "TD1")
    assert len(doc.files["DG2"]) < 20_000
    im = _jp2(doc.files["DG2"])
    assert im.size[0] <= 480 and im.size[1] <= 600 and abs(im.size[0] * 4 - im.size[1] * 3) <= 4
    loaded = IssuedDocument.load(doc.save(tmp_path / "doc"))
    res = read_document(InProcessTransport(loaded.chip()), loaded.access_key)
    assert res.access_protocol == "PACE"
    assert res.files["DG1"] == doc.files["DG1"] and res.files["DG2"] == doc.files["DG2"]
    assert res.chip_authentication.succeeded and res.active_authentication.succeeded
    assert res.check("mrz_consistency").passed
    assert res.valid
    assert (tmp_path / "doc" / "trust" / "csca.pem").exists()


def test_sod_signature_and_hashes(photo):
    doc = _issue(photo)
    _, ci, _ = read_tlv(doc.files["EF.SOD"], 0)
    sd = cms.ContentInfo.load(ci)["content"]
    signer = sd["signer_infos"][0]
    dsc = x509.load_der_x509_certificate(sd["certificates"][0].chosen.dump())
    attrs = b"\x31" + signer["signed_attrs"].dump()[1:]  # signed over the SET OF, not the [0] tag
    dsc.public_key().verify(signer["signature"].native, attrs, ec.ECDSA(hashes.SHA256()))
    csca = x509.load_der_x509_certificate(doc.csca_certificate)
    dsc.verify_directly_issued_by(csca)
    lds = sd["encap_content_info"]["content"].native
    for dg in ("DG1", "DG2", "DG14", "DG15"):
        assert hashlib.sha256(doc.files[dg]).digest() in lds


@pytest.mark.parametrize(
    ("opts", "protocol"),
    [({"pace": False}, "BAC"), ({"bac": False}, "PACE"), ({"aa": "ec", "ca": False}, "PACE"), ({"aa": None}, "PACE")],
)
def test_options(photo, opts, protocol):
    doc = _issue(photo, **opts)
    res = read_document(InProcessTransport(doc.chip()), doc.access_key)
    assert res.access_protocol == protocol and res.valid
    assert ("DG15" in res.files) == bool(opts.get("aa", "rsa"))
    assert (res.chip_authentication is not None) == opts.get("ca", True)


NON_PA = {"clone_aa": "active_authentication", "clone_ca": "chip_authentication", "mrz_mismatch": "mrz_consistency"}
PA = {"tampered_dg": ("hash", "DG2"), "bad_sod_signature": ("signature",), "expired_dsc": ("valid", "expir"),
      "revoked_dsc": ("revoked",), "unknown_csca": ("csca", "chain", "trust", "issuer")}


@pytest.mark.parametrize("fault", sorted(NON_PA))
def test_protocol_faults_are_caught_by_the_reader(photo, fault):
    doc = _issue(photo, faults=[fault])
    res = read_document(InProcessTransport(doc.chip()), doc.access_key)
    assert not res.valid
    assert [c.name for c in res.failures] == [NON_PA[fault]]
    assert res.failures[0].reason


@pytest.mark.parametrize("fault", sorted(PA))
def test_document_faults_are_made(photo, fault):
    """Without the PA module the fault is still checked at the source: hashes, signature, DSC, CRL, CSCA."""
    doc = _issue(photo, faults=[fault])
    _, ci, _ = read_tlv(doc.files["EF.SOD"], 0)
    sd = cms.ContentInfo.load(ci)["content"]
    signer = sd["signer_infos"][0]
    dsc = x509.load_der_x509_certificate(sd["certificates"][0].chosen.dump())
    csca = x509.load_der_x509_certificate(doc.csca_certificate)
    lds = sd["encap_content_info"]["content"].native
    attrs = b"\x31" + signer["signed_attrs"].dump()[1:]
    signing_time = signer["signed_attrs"][1]["values"][0].native
    if fault == "tampered_dg":
        assert hashlib.sha256(doc.files["DG2"]).digest() not in lds
    elif fault == "bad_sod_signature":
        with pytest.raises(InvalidSignature):
            dsc.public_key().verify(signer["signature"].native, attrs, ec.ECDSA(hashes.SHA256()))
    elif fault == "expired_dsc":
        assert dsc.not_valid_after_utc < signing_time
    elif fault == "revoked_dsc":
        crl = x509.load_der_x509_crl(doc.crl)
        assert crl.get_revoked_certificate_by_serial_number(dsc.serial_number) is not None
    elif fault == "unknown_csca":
        with pytest.raises((InvalidSignature, ValueError)):
            dsc.verify_directly_issued_by(csca)


@pytest.mark.skipif(not _pa_available(), reason="passive authentication (emrtd._pa) not available yet")
@pytest.mark.parametrize("fault", sorted(PA))
def test_document_faults_are_caught_by_passive_authentication(photo, fault):
    doc = _issue(photo, faults=[fault])
    from emrtd import _pa

    trust = _pa.trust_for_issued_document(doc) if hasattr(_pa, "trust_for_issued_document") else None
    res = read_document(InProcessTransport(doc.chip()), doc.access_key, trust=trust)
    assert not res.valid
    assert [c.name for c in res.failures] == ["passive_authentication"]
    reason = res.failures[0].reason.lower()
    assert any(word in reason for word in PA[fault]), reason


def test_every_fault_has_a_test():
    assert set(FAULTS) == set(NON_PA) | set(PA)


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"faults": ["nope"]}, "unknown fault"), ({"faults": ["clone_aa"], "aa": None}, "clone_aa"),
     ({"faults": ["clone_ca"], "ca": False}, "clone_ca"), ({"bac": False, "pace": False}, "BAC or PACE"),
     ({"can": "12ab"}, "CAN"), ({"mrz": "P<UTO"}, "MRZ"), ({"aa": "dsa"}, "aa must")],
)
def test_bad_requests(photo, kw, match):
    with pytest.raises(IssuerError, match=match):
        _issue(photo, **kw)


def test_bad_photo_and_directory(tmp_path):
    with pytest.raises(IssuerError, match="photo"):
        issue_document(TD3, b"not an image", pki=_pki())
    with pytest.raises(IssuerError):
        IssuedDocument.load(tmp_path)
