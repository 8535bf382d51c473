"""LDS files (Doc 9303 Part 10): EF.COM, DG1, DG7, DG11, DG12, byte-exact round trips and named errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emrtd import Dg1, Dg7, Dg11, Dg12, EfCom, LdsError, parse_lds_file, parse_mrz
from emrtd._tlv import encode_tlv
from tests.conftest import shared_path

TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"
TD1 = "I<UTOD231458907<<<<<<<<<<<<<<<7408122F1204159UTO<<<<<<<<<<<6ERIKSSON<<ANNA<MARIA<<<<<<<<<<"
TD2 = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<D231458907UTO7408122F1204159<<<<<<<6"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 20


@pytest.fixture(scope="module")
def examples():
    return json.loads(shared_path("emrtd", "icao9303_worked_examples.json").read_text())


def test_ef_com_of_appendix_d(examples):
    """Part 11 Appendix D.4 reads this EF.COM (LDS 1.6, Unicode 4.0.0, DG1 and DG2) through secure messaging."""
    raw = bytes.fromhex(examples["secure_messaging_appendix_D4"]["expected_EF_COM"])
    assert raw.hex().upper() == "60145F0104303130365F36063034303030305C026175"
    com = EfCom.parse(raw)
    assert (com.lds_version, com.unicode_version, com.data_groups) == ("0106", "040000", ["DG1", "DG2"])
    assert com.encode() == raw
    assert EfCom.for_files(["DG1", "DG2"], lds_version="0106").encode() == raw


def test_ef_com_lds_1_7():
    raw = bytes.fromhex("60165F0104303130375F36063034303030305C046175766C")  # DG1, DG2, DG4, DG12
    com = EfCom.parse(raw)
    assert com.data_groups == ["DG1", "DG2", "DG4", "DG12"] and com.encode() == raw


@pytest.mark.parametrize(
    ("raw", "match"),
    [("61145F0104303130365F36063034303030305C026175", "tag 61"),
     ("60105F0104303130365F3606303430303030", "missing"),
     ("60145F0104303130365F36063034303030305C026199", "unknown tags"),
     ("60155F0104303130365F36063034303030305C026175", "not a TLV"),
     ("60145F01043031303X5F36063034303030305C026175", "not a TLV")],
)
def test_ef_com_errors(raw, match):
    with pytest.raises(LdsError, match=match) as e:
        EfCom.parse(bytes.fromhex(raw.replace("X", "0")) if "X" not in raw else bytes.fromhex(raw.replace("3X", "41"))[:-1])
    assert e.value.file == "EF.COM"


@pytest.mark.parametrize(("mrz", "head"), [(TD3, "615B5F1F58"), (TD1, "615D5F1F5A"), (TD2, "614B5F1F48")])
def test_dg1_layout(mrz, head):
    """Part 10 §4.7.1: DG1 = '61' L '5F1F' L <MRZ>, 88 (TD3), 90 (TD1) or 72 (TD2) characters."""
    dg1 = Dg1.from_mrz(parse_mrz(mrz))
    raw = dg1.encode()
    assert raw.hex().upper().startswith(head) and raw[5:] == mrz.encode()
    back = Dg1.parse(raw)
    assert back.mrz_text == mrz and back.mrz == parse_mrz(mrz) and back.encode() == raw


def test_dg1_of_the_bsi_test_passport():
    raw = shared_path("emrtd", "bsi_tr03105_5", "bsi_tr03105-5_EF_DG1.bin").read_bytes()
    dg1 = Dg1.parse(raw)
    assert dg1.encode() == raw and not dg1.errors
    m = dg1.mrz
    assert (m.issuing_state, m.primary_identifier, m.secondary_identifier, m.document_number) == (
        "D", "MUSTERMANN", "ERIKA", "C11T002JM")
    assert m.date_of_expiry_mrz == "231031"


def test_dg1_errors():
    with pytest.raises(LdsError, match="characters"):
        Dg1.parse(encode_tlv(0x61, encode_tlv(0x5F1F, b"P<UTO")))
    with pytest.raises(LdsError, match="5F1F"):
        Dg1.parse(encode_tlv(0x61, encode_tlv(0x5F1E, TD3.encode())))
    bad = Dg1.parse(encode_tlv(0x61, encode_tlv(0x5F1F, TD3[:-1].encode() + b"9")))
    assert [e.field for e in bad.errors] == ["composite"]  # structurally fine, the MRZ check fails


def test_dg7_round_trip_and_count():
    dg7 = Dg7((JPEG, JPEG + b"\x01"))
    assert Dg7.parse(dg7.encode()) == dg7
    with pytest.raises(LdsError, match="announced"):
        Dg7.parse(encode_tlv(0x67, encode_tlv(0x02, b"\x02") + encode_tlv(0x5F43, JPEG)))


def test_dg11_dg12_round_trip():
    dg11 = Dg11(full_name="ERIKSSON<<ANNA<MARIA", other_names=("ANNA<ERIKSDOTTER",), personal_number="123456789",
                full_date_of_birth="19740812", place_of_birth="ZENITH,UTO", permanent_address="123 MAPLE RD<ANYTOWN",
                telephone="1-555-555-1212", profession="TRAVEL AGENT", custody_information=None)  # fmt: skip
    raw = dg11.encode()
    assert raw[:3] == b"\x6b\x81" + bytes([len(raw) - 3]) and raw[3:5] == b"\x5c\x10"  # 8 two-byte tags
    assert Dg11.parse(raw) == dg11 and Dg11.parse(raw).encode() == raw
    dg12 = Dg12(issuing_authority="UTOPIA", date_of_issue="20020531", other_persons=("ERIKSSON<<JOHN", "ERIKSSON<<ANN"),
                endorsements="ENDORSED", image_of_front=JPEG, personalization_time="20020531120000")  # fmt: skip
    raw12 = dg12.encode()
    assert Dg12.parse(raw12) == dg12 and parse_lds_file("DG12", raw12) == dg12
    # a tag list that does not match the data objects is refused
    broken = encode_tlv(0x6B, encode_tlv(0x5C, b"\x5f\x0e\x5f\x10") + encode_tlv(0x5F0E, b"ERIKSSON"))
    with pytest.raises(LdsError, match="tag list"):
        Dg11.parse(broken)


def test_parse_lds_file_dispatch_and_unknown():
    assert isinstance(parse_lds_file("DG1", Dg1.from_mrz(parse_mrz(TD3)).encode()), Dg1)
    assert parse_lds_file("DG5", encode_tlv(0x65, b"abc")) == b"abc"
    with pytest.raises(LdsError, match="unknown file"):
        parse_lds_file("DG99", b"")
    with pytest.raises(LdsError):
        parse_lds_file("DG14", encode_tlv(0x6E, b"\x31\x03\x02\x01"))


@pytest.mark.parametrize("name", ["EF.COM", "DG1", "DG2", "DG3", "DG7", "DG11", "DG12", "DG14", "DG15", "EF.SOD"])
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_named_errors(name, data):
    from emrtd import SodError

    try:
        parse_lds_file(name, data)
    except (LdsError, SodError):
        pass


@given(data=st.binary(min_size=1, max_size=200), cut=st.integers(min_value=1, max_value=50))
def test_truncated_files_raise(data, cut):
    raw = Dg11(full_name=data.hex()).encode()
    with pytest.raises(LdsError):
        Dg11.parse(raw[: max(0, len(raw) - cut)])


# Doc 9303 Part 10 Appendix A.2.1 (TD1 DG1), as reproduced byte for byte by pymrtd and dmrtd. The printed
# example carries composite check digit '4'; dmrtd notes that it must be '8', which the parser finds too.
PART10_A21 = ("615D5F1F5A493C4E4C44584938353933354638363939393939393939303C3C3C3C3C3C3732303831343846313130383236384E"
              "4C443C3C3C3C3C3C3C3C3C3C3C3456414E3C4445523C535445454E3C3C4D415249414E4E453C4C4F55495345")
# A.2.2 (TD2 DG1 with a 12-character document number), with the errata pymrtd applied (fillers, check digits).
PART10_A22 = ("614B5F1F48493C415441534D4954483C3C4A4F484E3C543C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3C3132333435363738393C"
              "484D44373430363232314D31303132333132303132323C3C3C30")


def test_part10_appendix_a21_td1_dg1():
    raw = bytes.fromhex(PART10_A21)
    dg1 = Dg1.parse(raw)
    assert dg1.encode() == raw
    m = dg1.mrz
    assert (m.document_number, m.primary_identifier, m.secondary_identifier) == ("XI85935F8", "VAN DER STEEN", "MARIANNE LOUISE")
    assert (m.date_of_birth.isoformat(), m.date_of_expiry.isoformat(), m.optional_data.rstrip("<")) == (
        "1972-08-14", "2011-08-26", "999999990")
    assert [(e.field, e.expected, e.found) for e in dg1.errors] == [("composite", "8", "4")]
    fixed = raw[:64] + b"8" + raw[65:]
    assert not Dg1.parse(fixed).errors and Dg1.parse(fixed).mrz.encode() == fixed[5:].decode()


def test_part10_appendix_a22_td2_dg1_long_document_number():
    raw = bytes.fromhex(PART10_A22)
    dg1 = Dg1.parse(raw)
    assert not dg1.errors and dg1.encode() == raw
    m = dg1.mrz
    assert (m.format, m.document_number, m.issuing_state, m.nationality) == ("TD2", "123456789012", "ATA", "HMD")
    assert (m.primary_identifier, m.secondary_identifier, m.sex) == ("SMITH", "JOHN T", "M")
    assert m.encode() == dg1.mrz_text  # the long number is re-encoded into the optional data byte for byte
