"""The test issuer: TD3/TD1 personalisation, DG2 geometry, options, and every fault caught by the reader."""

from __future__ import annotations

import hashlib
import io
from functools import cache

import numpy as np
import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from emrtd import EfCom, read_document
from emrtd._tlv import read_tlv
from emrtd.sim import (
    FAULTS,
    InProcessTransport,
    IssuedDocument,
    IssuerError,
    IssuerPki,
    issue_document,
    trust_for_issued_document,
)
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
CLONE = ("no_sod", "no_dg2", "dg2_no_face", "hidden_dg14_dg15")  # each has its own test below


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
    trust = trust_for_issued_document(doc)
    res = read_document(InProcessTransport(doc.chip()), doc.access_key, trust=trust)
    assert not res.valid
    assert [c.name for c in res.failures] == ["passive_authentication"]
    reason = res.failures[0].reason.lower()
    assert any(word in reason for word in PA[fault]), reason


def test_every_fault_has_a_test():
    assert set(FAULTS) == set(NON_PA) | set(PA) | set(CLONE)


# --- chips an attacker derives from a genuine one without re-signing the SOD ---------------------------


def _read_loaded(doc, tmp_path):
    """Read the document as the gate simulator does: saved, loaded from disk, served by a VirtualChip."""
    loaded = IssuedDocument.load(doc.save(tmp_path / "doc"))
    assert loaded.faults == doc.faults and loaded.files == doc.files
    return read_document(InProcessTransport(loaded.chip()), loaded.access_key, trust=trust_for_issued_document(loaded))


def test_genuine_document_verifies_every_data_group(photo, tmp_path):
    res = _read_loaded(_issue(photo), tmp_path)
    assert res.valid and res.unreadable == {}
    assert res.sod_data_groups == ("DG1", "DG2", "DG14", "DG15")
    assert all(res.data_group_verified(dg) is True for dg in res.sod_data_groups)
    assert res.chip_authentication_offered is True and res.active_authentication_offered is True


def test_no_sod(photo, tmp_path):
    doc = _issue(photo, faults=["no_sod"])
    assert "EF.SOD" not in doc.files and EfCom.parse(doc.files["EF.COM"]).data_groups == ["DG1", "DG2", "DG14", "DG15"]
    res = _read_loaded(doc, tmp_path)
    assert "6A82" in res.unreadable["EF.SOD"]
    pa = res.check("passive_authentication")
    assert pa.passed is False and "EF.SOD" in pa.reason
    assert [c.name for c in res.failures] == ["passive_authentication"]
    assert res.sod_data_groups == () and res.data_group_verified("DG1") is None


def test_no_dg2(photo, tmp_path):
    doc = _issue(photo, faults=["no_dg2"])
    assert "DG2" not in doc.files and "DG2" in EfCom.parse(doc.files["EF.COM"]).data_groups
    res = _read_loaded(doc, tmp_path)
    assert "DG2" in res.sod_data_groups and "6A82" in res.unreadable["DG2"]
    assert res.data_group_verified("DG2") is None and res.data_group_verified("DG1") is True
    assert res.face_image is None
    assert res.check("passive_authentication").passed is True  # the SOD is genuine: PA checks what was read


def test_dg2_without_a_face(photo, tmp_path):
    face = pytest.importorskip("biometrics.face")
    res = _read_loaded(_issue(photo, faults=["dg2_no_face"]), tmp_path)
    assert res.valid and res.data_group_verified("DG2") is True  # signed by the issuer: PA cannot tell
    im = Image.open(io.BytesIO(res.face_image))
    assert im.size == (450, 600) and len(res.files["DG2"]) < 20_000
    assert face.detect_faces(np.asarray(im.convert("RGB"))) == []
    genuine = _issue(photo, aa=None, ca=False)  # the same detector does find the face of a genuine DG2
    assert len(face.detect_faces(np.asarray(_jp2(genuine.files["DG2"]).convert("RGB")))) == 1


def test_hidden_dg14_dg15(photo, tmp_path):
    doc = _issue(photo, faults=["hidden_dg14_dg15"])
    assert EfCom.parse(doc.files["EF.COM"]).data_groups == ["DG1", "DG2"]
    assert doc.chip_aa_key is None and doc.chip_ca_key is None
    res = _read_loaded(doc, tmp_path)
    assert {"DG14", "DG15"} <= set(res.sod_data_groups)
    assert "6A82" in res.unreadable["DG14"] and "6A82" in res.unreadable["DG15"]
    assert res.data_group_verified("DG14") is None and res.data_group_verified("DG15") is None
    assert res.chip_authentication_offered is None and res.active_authentication_offered is None
    assert res.chip_authentication is None and res.active_authentication is None
    assert sorted(c.name for c in res.failures) == ["active_authentication", "chip_authentication"]
    assert all("listed in the SOD" in c.reason for c in res.failures)


def test_clone_faults_combine(photo, tmp_path):
    doc = _issue(photo, faults=["no_sod", "no_dg2", "hidden_dg14_dg15"])
    assert sorted(doc.files) == ["DG1", "EF.COM", "EF.CardAccess"]
    res = _read_loaded(doc, tmp_path)
    assert set(res.unreadable) == {"EF.SOD", "DG2"}  # without a SOD nothing betrays DG14/DG15
    assert res.check("passive_authentication").passed is False
    assert res.chip_authentication_offered is False and res.active_authentication_offered is False


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"faults": ["nope"]}, "unknown fault"), ({"faults": ["clone_aa"], "aa": None}, "clone_aa"),
     ({"faults": ["clone_ca"], "ca": False}, "clone_ca"), ({"bac": False, "pace": False}, "BAC or PACE"),
     ({"can": "12ab"}, "CAN"), ({"mrz": "P<UTO"}, "MRZ"), ({"aa": "dsa"}, "aa must"),
     ({"faults": ["hidden_dg14_dg15"], "aa": None}, "hidden_dg14_dg15"),
     ({"faults": ["hidden_dg14_dg15"], "ca": False}, "hidden_dg14_dg15")],
)
def test_bad_requests(photo, kw, match):
    with pytest.raises(IssuerError, match=match):
        _issue(photo, **kw)


def test_bad_photo_and_directory(tmp_path):
    with pytest.raises(IssuerError, match="photo"):
        issue_document(TD3, b"not an image", pki=_pki())
    with pytest.raises(IssuerError):
        IssuedDocument.load(tmp_path)
