"""The chip step through the reader port: the MRZ (emrtd's, every check digit verified), the chip read
and its checks."""

import datetime as dt

import pytest

import emrtd
from devices.sim import SimulatedReader
from emrtd.sim import IssuerPki
from enrollment import (
    DocumentError,
    DocumentRejected,
    MrzError,
    check_printed_mrz,
    chip_face_image,
    read_chip,
    read_document,
)
from tests.enrollment.conftest import issued, td3, trust_for

# Doc 9303 Part 4 Appendix A (TD3) specimen
TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"


@pytest.mark.parametrize("bad", [TD3.replace("L898902C36", "L898902C37"), TD3[:-1] + "1", TD3[:80], TD3.replace("<UTO", "<U-O", 1)])
def test_bad_mrz_is_refused(bad):
    doc = issued(td3())
    with pytest.raises(MrzError) as e:
        read_document(SimulatedReader(doc), bad, trust=trust_for(doc), card_timeout_s=0.05)
    assert isinstance(e.value.__cause__, emrtd.MrzError)  # emrtd's parser, its error chained


def test_the_document_read_carries_emrtds_mrz_spaced_as_printed():
    mrz = td3()
    doc = issued(mrz)
    spaced = "  " + mrz[:44] + "\n " + mrz[44:].lower() + " "
    read = read_document(SimulatedReader(doc), spaced, trust=trust_for(doc), card_timeout_s=0.05)
    assert isinstance(read.mrz, emrtd.Mrz) and read.mrz == emrtd.parse_mrz(mrz)
    assert (read.mrz.primary_identifier, read.mrz.secondary_identifier) == ("NGUYEN", "VAN DUC")


def test_read_document_through_the_reader_port():
    mrz = td3()
    doc = issued(mrz)
    reader = SimulatedReader(doc)
    read = read_document(reader, mrz, trust=trust_for(doc), card_timeout_s=0.05)
    assert read.mrz.document_number == "C1234567" and read.access_protocol in ("PACE", "BAC")
    assert read.checks["access_control"] and read.checks["mrz_consistency"]
    assert read.checks.get("active_authentication") is True
    assert read.chip_face and chip_face_image(doc.files["DG2"]) == read.chip_face
    assert "chip_face" not in repr(read)
    read.wipe()
    assert read.chip_face is None


def test_read_document_errors():
    mrz = td3()
    with pytest.raises(DocumentError) as e:
        read_document(SimulatedReader(), mrz, card_timeout_s=0.05)
    assert e.value.reason == "no_card"
    reader = SimulatedReader(issued(mrz))
    reader.remove_after(3)
    with pytest.raises(DocumentError) as e:
        read_document(reader, mrz, card_timeout_s=0.05)
    assert e.value.reason == "card_removed"
    reader = SimulatedReader(issued(mrz))
    reader.fail_after(1)
    with pytest.raises(DocumentError) as e:
        read_document(reader, mrz, card_timeout_s=0.05)
    assert e.value.reason in ("reader_fault", "chip_read_failed")
    other = td3(number="B7654321")
    with pytest.raises(DocumentError) as e:  # the printed MRZ does not open this chip
        read_document(SimulatedReader(issued(mrz)), other, card_timeout_s=0.05)
    assert e.value.reason == "access_denied"


def test_refused_documents():
    expired = td3(expiry=dt.date.today() - dt.timedelta(days=1))
    with pytest.raises(DocumentRejected) as e:
        read_document(SimulatedReader(issued(expired)), expired, card_timeout_s=0.05)
    assert e.value.reason_code == "document_expired"
    mrz = td3(number="C7777777")
    doc = issued(mrz, ["tampered_dg"])
    trust = trust_for(doc)
    if trust is None:
        pytest.skip("emrtd passive authentication not available")
    with pytest.raises(DocumentRejected) as e:
        read_document(SimulatedReader(doc), mrz, trust=trust, card_timeout_s=0.05)
    assert e.value.reason_code == "chip_pa_failed"
    mrz = td3(number="C8888888")
    doc = issued(mrz, ["clone_aa"])
    with pytest.raises(DocumentRejected) as e:
        read_document(SimulatedReader(doc), mrz, trust=trust_for(doc), card_timeout_s=0.05)
    assert e.value.reason_code in ("chip_aa_failed", "chip_cloned")


def test_a_chip_key_of_no_named_curve_is_refused_by_name_not_as_a_clone():
    from emrtd.sim import issue_document, trust_for_issued_document
    from tests.enrollment.conftest import face_photo

    mrz = td3(number="C6666666")
    doc = issue_document(mrz, face_photo(), aa="ec", ca=True, chip_key_parameters="explicit_unnamed")
    with pytest.raises(DocumentRejected) as e:
        read_document(SimulatedReader(doc), mrz, trust=trust_for_issued_document(doc), card_timeout_s=0.05)
    assert e.value.reason_code == "chip_key_unusable" and "ec_parameters_unknown_curve" in str(e.value)


@pytest.mark.parametrize(("faults", "trust", "why"), [
    ((), "none", "no trust store"),
    ((), "csca only", "revocation status"),
    ((), "other csca", "trusted CSCA"),
    (("no_sod",), "issuer", "passive_authentication"),
    (("no_dg2",), "issuer", "DG2 not read"),
    (("unknown_csca",), "issuer", "passive_authentication"),
], ids=["no-trust-store", "no-crl", "foreign-csca", "no_sod", "no_dg2", "unknown_csca"])
def test_enrolment_accepts_a_chip_only_on_positive_evidence(faults, trust, why):
    """Fail closed: PA up to a trusted CSCA, a known revocation status and DG1/DG2 verified, or refused."""
    from cryptography.hazmat.primitives.serialization import Encoding

    import emrtd

    mrz = td3()
    doc = issued(mrz, faults=faults)
    store = {"none": None, "issuer": trust_for(doc),
             "csca only": emrtd.TrustStore([doc.csca_certificate]),
             "other csca": emrtd.TrustStore([IssuerPki.make("CN").csca_cert.public_bytes(Encoding.DER)])}[trust]
    with pytest.raises(DocumentRejected, match=why) as e:
        read_document(SimulatedReader(doc), mrz, trust=store, card_timeout_s=0.05)
    assert e.value.reason_code == "chip_pa_failed"


def test_relaxations_of_the_enrolment_chip_check_are_explicit():
    import emrtd

    mrz = td3()
    doc = issued(mrz)
    csca_only = emrtd.TrustStore([doc.csca_certificate])
    read = read_document(SimulatedReader(doc), mrz, trust=csca_only, card_timeout_s=0.05, require_revocation_status=False)
    assert read.checks["passive_authentication"] is True
    dev = read_document(SimulatedReader(doc), mrz, trust=None, card_timeout_s=0.05, require_passive_authentication=False)
    assert dev.checks["passive_authentication"] is None  # recorded as not performed, never as passed


def test_the_two_halves_the_kiosk_calls_on_either_side_of_consent():
    """check_printed_mrz takes no reader at all; read_chip starts from the parsed page and ends in the record."""
    mrz = td3()
    printed = check_printed_mrz(mrz[:44] + "\n" + mrz[44:])
    assert isinstance(printed, emrtd.Mrz) and printed.document_number == "C1234567"
    expired = td3(number="C2222222", expiry=dt.date.today() - dt.timedelta(days=1))
    with pytest.raises(DocumentRejected) as e:
        check_printed_mrz(expired)
    assert e.value.reason_code == "document_expired"
    doc = issued(mrz)
    read = read_chip(SimulatedReader(doc), printed, trust=trust_for(doc), card_timeout_s=0.05)
    assert read.mrz == printed and read.chip_face


def test_the_reason_there_is_no_chip_photo_is_kept():
    from enrollment._document import chip_face

    assert chip_face(None) == (None, "DG2 not read")
    empty = emrtd.BiometricGroup("DG2", ()).encode()
    image, why = chip_face(empty)
    assert image is None and "no face" in why
    image, why = chip_face(b"\x75\x03\x7f\x61\x00")  # a DG2 that does not parse
    assert image is None and why.startswith("DG2")
