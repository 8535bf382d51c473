"""MRZ parsing (ICAO Doc 9303 specimens) and the chip step through the reader port."""

import datetime as dt

import pytest

from devices.sim import SimulatedReader
from emrtd.sim import IssuerPki
from enrollment import (
    DocumentError,
    DocumentRejected,
    MrzError,
    check_digit,
    chip_face_image,
    parse_mrz,
    read_document,
)
from tests.enrollment.conftest import issued, td3, trust_for

# Doc 9303 Part 4 Appendix A (TD3) and Part 5 Appendix A (TD1) specimens
TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"
TD1 = "I<UTOD231458907<<<<<<<<<<<<<<<7408122F1204159UTO<<<<<<<<<<<6ERIKSSON<<ANNA<MARIA<<<<<<<<<<"


def test_check_digits_of_the_specimens():
    assert check_digit("L898902C3") == "6"
    assert check_digit("740812") == "2"
    assert check_digit("120415") == "9"
    assert check_digit("ZE184226B<<<<<") == "1"


def test_parse_td3_and_td1_specimens():
    m = parse_mrz(TD3[:44] + "\n" + TD3[44:])
    assert (m.document_type, m.issuing_state, m.surname, m.given_names) == ("P", "UTO", "ERIKSSON", "ANNA MARIA")
    assert (m.document_number, m.nationality, m.sex) == ("L898902C3", "UTO", "F")
    assert m.date_of_birth == dt.date(1974, 8, 12) and m.date_of_expiry == dt.date(2012, 4, 15)
    assert m.to_record()["date_of_birth"] == "1974-08-12"
    k = m.access_key
    assert (k.document_number, k.date_of_birth, k.date_of_expiry) == ("L898902C3", "740812", "120415")
    t = parse_mrz(TD1)
    assert (t.document_type, t.document_number, t.surname, t.given_names) == ("I", "D23145890", "ERIKSSON", "ANNA MARIA")


@pytest.mark.parametrize("bad", [TD3.replace("L898902C36", "L898902C37"), TD3[:-1] + "1", TD3[:80], TD3.replace("<UTO", "<U-O", 1)])
def test_bad_mrz_is_refused(bad):
    with pytest.raises(MrzError):
        parse_mrz(bad)


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
