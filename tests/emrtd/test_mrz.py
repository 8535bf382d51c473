"""MRZ: the ICAO Doc 9303 specimens (Parts 4-7) byte for byte, check digits, names, dates, named errors."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emrtd._mrz import (
    Mrz,
    MrzCharacterError,
    MrzCheckDigitError,
    MrzError,
    MrzFieldError,
    MrzFormatError,
    bac_key_seed,
    check_digit,
    check_mrz,
    encode_name,
    mrz_information,
    parse_mrz,
    transliterate,
)

TODAY = dt.date(2026, 11, 25)
# Doc 9303 Part 4 Appendix A (TD3), Part 5 (TD1), Part 6 (TD2), Part 7 (MRV-A, MRV-B) specimens
TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
TD1 = ("I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<")
TD2 = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6")
MRVA = ("V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L8988901C4XXX4009078F96121096ZE184226B<<<<<<")
MRVB = ("V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "L8988901C4XXX4009078F9612109<<<<<<<<")
# the older TD3 specimen used by Part 11 Appendix D (BAC worked example)
TD3_APP_D = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C<3UTO6908061F9406236ZE184226B<<<<<14")
SPECIMENS = {"TD3": TD3, "TD1": TD1, "TD2": TD2, "MRVA": MRVA, "MRVB": MRVB, "TD3_APP_D": TD3_APP_D}


@pytest.mark.parametrize("name", sorted(SPECIMENS))
def test_specimens_parse_and_encode_byte_for_byte(name):
    lines = SPECIMENS[name]
    mrz = parse_mrz("\n".join(lines), today=TODAY)
    assert mrz.format == name.split("_")[0]
    assert mrz.encode() == "".join(lines)
    assert mrz.lines() == list(lines)
    assert parse_mrz("".join(lines), today=TODAY) == mrz  # one concatenated string works too
    assert mrz.primary_identifier == "ERIKSSON" and mrz.secondary_identifier == "ANNA MARIA"
    assert mrz.issuing_state == "UTO" and mrz.sex == "F"


def test_td3_fields():
    m = parse_mrz(list(TD3), today=TODAY)
    assert (m.document_code, m.document_number, m.nationality) == ("P<", "L898902C3", "UTO")
    assert m.date_of_birth == dt.date(1974, 8, 12) and m.date_of_expiry == dt.date(2012, 4, 15)
    assert m.personal_number == "ZE184226B"
    assert m.to_dict()["optional_data"] == "ZE184226B"


def test_td1_and_visa_fields():
    m = parse_mrz(list(TD1), today=TODAY)
    assert (m.document_code, m.document_number, m.nationality) == ("I<", "D23145890", "UTO")
    v = parse_mrz(list(MRVA), today=TODAY)
    assert v.is_visa and v.document_number == "L8988901C" and v.nationality == "XXX"
    assert v.date_of_birth == dt.date(1940, 9, 7) and v.date_of_expiry == dt.date(1996, 12, 10)
    assert v.optional_data == "6ZE184226B<<<<<<"


def test_encode_from_fields_gives_the_specimen():
    m = Mrz("TD3", "P", "UTO", "Eriksson", "Anna Maria", "L898902C3", "UTO", dt.date(1974, 8, 12), "F",
            dt.date(2012, 4, 15), "ZE184226B")  # fmt: skip
    assert m.encode() == "".join(TD3)
    td1 = Mrz("TD1", "I", "UTO", "ERIKSSON", "ANNA MARIA", "D23145890", "UTO", dt.date(1974, 8, 12), "F", dt.date(2012, 4, 15))
    assert td1.encode() == "".join(TD1)
    td2 = Mrz("TD2", "I", "UTO", "ERIKSSON", "ANNA MARIA", "D23145890", "UTO", dt.date(1974, 8, 12), "F", dt.date(2012, 4, 15))
    assert td2.encode() == "".join(TD2)


def test_check_digits_of_the_specimen_fields():
    assert check_digit("L898902C3") == "6"
    assert check_digit("740812") == "2" and check_digit("120415") == "9"
    assert check_digit("ZE184226B<<<<<") == "1"
    assert check_digit("<<<<") == "0"


def test_bac_key_seed_is_appendix_d():
    """Doc 9303 Part 11 Appendix D.2: MRZ_information and K_seed of the worked example."""
    m = parse_mrz(list(TD3_APP_D), today=TODAY)
    assert m.mrz_information() == "L898902C<369080619406236"
    assert m.bac_key_seed().hex().upper() == "239AB9CB282DAF66231DC5A4DF6BFBAE"
    assert bac_key_seed("L898902C", "690806", "940623") == m.bac_key_seed()
    assert m.access_key.k_seed == m.bac_key_seed()


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ((TD3[0], TD3[1][:9] + "7" + TD3[1][10:]), "document_number"),
        ((TD3[0], TD3[1][:19] + "3" + TD3[1][20:]), "date_of_birth"),
        ((TD3[0], TD3[1][:27] + "0" + TD3[1][28:]), "date_of_expiry"),
        ((TD3[0], TD3[1][:42] + "2" + TD3[1][43:]), "personal_number"),
        ((TD3[0], TD3[1][:43] + "1"), "composite"),
        ((TD1[0], TD1[1][:29] + "5", TD1[2]), "composite"),
        ((TD1[0][:14] + "8" + TD1[0][15:], TD1[1], TD1[2]), "document_number"),
        ((TD2[0], TD2[1][:35] + "9"), "composite"),
        ((MRVB[0], MRVB[1][:9] + "5" + MRVB[1][10:]), "document_number"),
    ],
)
def test_wrong_check_digit_names_the_field(lines, field):
    with pytest.raises(MrzCheckDigitError) as e:
        parse_mrz(list(lines), today=TODAY)
    assert e.value.field == field and field in str(e.value)


def test_check_mrz_collects_every_failure():
    l2 = TD3[1][:19] + "3" + TD3[1][20:27] + "0" + TD3[1][28:]
    mrz, errors = check_mrz([TD3[0], l2], today=TODAY)
    assert mrz is not None
    assert [e.field for e in errors] == ["date_of_birth", "date_of_expiry", "composite"]


@pytest.mark.parametrize(
    ("text", "error"),
    [("P<UTO", MrzFormatError), (TD3[0] + "\n" + TD3[1][:40], MrzFormatError),
     (TD3[0] + "\n" + TD3[1].replace("Z", "z", 1).replace("E", "é"), MrzCharacterError)],
)
def test_bad_layout_and_characters(text, error):
    with pytest.raises(error):
        parse_mrz(text, today=TODAY)


def test_impossible_date_is_a_field_error():
    l2 = "L898902C36UTO7413122F1204159ZE184226B<<<<<1"
    l2 += check_digit(l2[0:10] + l2[13:20] + l2[21:43])
    l2 = l2[:19] + check_digit("741312") + l2[20:]
    l2 = l2[:43] + check_digit(l2[0:10] + l2[13:20] + l2[21:43])
    with pytest.raises(MrzFieldError) as e:
        parse_mrz([TD3[0], l2], today=TODAY)
    assert e.value.field == "date_of_birth"


def test_century_logic():
    m = parse_mrz(list(TD3), today=TODAY)
    assert m.date_of_birth.year == 1974  # 2074 would be in the future
    young = m.with_changes(date_of_birth=dt.date(2020, 1, 2), date_of_expiry=dt.date(2031, 1, 1))
    again = parse_mrz(young.encode(), today=TODAY)
    assert again.date_of_birth == dt.date(2020, 1, 2) and again.date_of_expiry == dt.date(2031, 1, 1)
    old = m.with_changes(date_of_expiry=dt.date(1996, 12, 10))
    assert parse_mrz(old.encode(), today=TODAY).date_of_expiry == dt.date(1996, 12, 10)


def test_long_document_number_td1():
    """Part 5 §4.2.2: numbers over 9 characters continue in the optional data after a '<' check digit."""
    m = Mrz("TD1", "I", "UTO", "ERIKSSON", "ANNA", "D23145890123", "UTO", dt.date(1974, 8, 12), "F", dt.date(2032, 4, 15))
    text = m.encode()
    assert text[14] == "<" and text[15:19] == "123" + check_digit("D23145890123")
    back = parse_mrz(text, today=TODAY)
    assert back.document_number == "D23145890123" and back.encode() == text
    assert back.mrz_information().startswith("D23145890123" + check_digit("D23145890123"))


def test_names_with_fillers_and_transliteration():
    assert encode_name("Nguyễn", "Văn An", 20) == "NGUYEN<<VAN<AN<<<<<<"
    assert encode_name("Müller-Lüdenscheidt", "Jürgen", 30) == "MUELLER<LUEDENSCHEIDT<<JUERGEN"
    assert transliterate("Đặng") == "DANG"
    with pytest.raises(MrzFieldError) as e:
        encode_name("A" * 40, "B", 39)
    assert e.value.field == "name"
    assert encode_name("A" * 40, "B", 39, truncate=True) == "A" * 39
    text = Mrz("TD3", "P", "VNM", "Nguyễn", "Văn An", "C1234567", "VNM", dt.date(1990, 1, 1), "M", dt.date(2030, 1, 1)).encode()
    assert text[:44] == "P<VNMNGUYEN<<VAN<AN" + "<" * 25
    assert text[44:] == "C1234567<" + check_digit("C1234567<") + "VNM9001011M3001019" + "<" * 15 + text[-1]
    m = parse_mrz(text, today=TODAY)
    assert (m.primary_identifier, m.secondary_identifier) == ("NGUYEN", "VAN AN")
    assert m.personal_number == "" and m.encode() == text


def test_mrz_information_rejects_bad_dates():
    assert mrz_information("L898902C", "690806", "940623") == "L898902C<369080619406236"
    with pytest.raises(MrzFieldError):
        mrz_information("X", "69080", "940623")


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<\n ", max_size=120))
def test_random_text_parses_or_raises_a_named_error(text):
    try:
        parse_mrz(text, today=TODAY)
    except MrzError as e:
        assert e.field


@given(
    st.sampled_from(["TD1", "TD2", "TD3"]),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=9),
    st.dates(dt.date(1930, 1, 1), dt.date(2026, 11, 1)),
    st.dates(dt.date(2000, 1, 1), dt.date(2060, 12, 31)),
    st.sampled_from(["M", "F", "<"]),
)
def test_encode_parse_round_trip(fmt, number, dob, doe, sex):
    m = Mrz(fmt, "P" if fmt == "TD3" else "I", "VNM", "TRAN", "THI B", number, "VNM", dob, sex, doe)
    back = parse_mrz(m.encode(), today=TODAY)
    assert back.encode() == m.encode()
    assert (back.document_number, back.date_of_birth, back.date_of_expiry) == (number, dob, doe)


def test_cli_parse_json_and_exit_codes():
    import json

    from click.testing import CliRunner

    from smartborder.cli import main

    r = CliRunner().invoke(main, ["mrz", "parse", *TD3, "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["valid"] is True and d["document_number"] == "L898902C3" and d["date_of_birth"] == "1974-08-12"
    bad = TD3[1][:27] + "0" + TD3[1][28:]
    r = CliRunner().invoke(main, ["mrz", "parse", TD3[0], bad, "--json"])
    assert r.exit_code == 1
    d = json.loads(r.output)
    assert d["valid"] is False and [e["field"] for e in d["errors"]] == ["date_of_expiry", "composite"]
    assert d["errors"][0]["expected"] == "9" and d["errors"][0]["found"] == "0"


def test_cli_check_names_failing_fields():
    from click.testing import CliRunner

    from smartborder.cli import main

    r = CliRunner().invoke(main, ["mrz", "check", *TD1])
    assert r.exit_code == 0 and "valid TD1" in r.output and "D23145890" in r.output
    r = CliRunner().invoke(main, ["mrz", "check"], input="\n".join((TD1[0][:14] + "1" + TD1[0][15:], TD1[1], TD1[2])))
    assert r.exit_code == 1 and "document_number" in r.output and "composite" not in r.output.split("document_number")[0]
    r = CliRunner().invoke(main, ["mrz", "check", "P<UTO"])
    assert r.exit_code == 1 and "mrz:" in r.output


@pytest.mark.parametrize("digit", ["<", "0"])
def test_unused_personal_number_check_digit_filler_or_zero(digit):
    """Part 4: with an unused personal number the check digit may be '<' or '0'; both round-trip."""
    m = Mrz("TD3", "P", "UTO", "ERIKSSON", "ANNA", "L898902C3", "UTO", dt.date(1974, 8, 12), "F", dt.date(2030, 4, 15))
    text = m.encode()
    assert text[86] == "<"
    text = text[:86] + digit + text[87:]
    back = parse_mrz(text, today=TODAY)
    assert back.personal_number == "" and back.encode() == text
