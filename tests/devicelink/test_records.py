"""The back office's ``document`` object from emrtd's parsed MRZ: the kiosk's enrolment records and the
gate's exception records keep the bytes they had before there was one MRZ type."""

from __future__ import annotations

import datetime as dt
import json

import emrtd
from devicelink import document_record
from gate import Presentation

# Doc 9303 Part 4 Appendix A (TD3) and Part 5 Appendix A (TD1) specimens
TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"
TD1 = "I<UTOD231458907<<<<<<<<<<<<<<<7408122F1204159UTO<<<<<<<<<<<6ERIKSSON<<ANNA<MARIA<<<<<<<<<<"
TODAY = dt.date(2010, 1, 1)


def test_the_kiosks_document_object_keeps_every_field_in_order():
    record = document_record(emrtd.parse_mrz(TD3, today=TODAY))
    assert json.dumps(record) == json.dumps({
        "document_number": "L898902C3", "issuing_state": "UTO", "document_type": "P", "surname": "ERIKSSON",
        "given_names": "ANNA MARIA", "nationality": "UTO", "date_of_birth": "1974-08-12",
        "date_of_expiry": "2012-04-15", "sex": "F"})
    td1 = document_record(emrtd.parse_mrz(TD1, today=TODAY))
    assert (td1["document_type"], td1["document_number"], td1["surname"]) == ("I", "D23145890", "ERIKSSON")
    vn = emrtd.parse_mrz(TD1.replace("I<UTO", "IDVNM", 1).replace("UTO<", "VNM<", 1), today=TODAY)
    assert document_record(vn)["document_type"] == "ID"  # the printed code, fillers dropped


def test_unknown_parts_are_null_or_filler_as_the_api_says():
    mrz = emrtd.parse_mrz(TD3, today=TODAY).with_changes(sex="<", secondary_identifier="")
    record = document_record(mrz)
    assert record["sex"] == "<" and record["given_names"] == ""
    unknown_birth = emrtd.Mrz("TD3", "P<", "VNM", "NGUYEN", "AN", "C1234567", "VNM", None, "M", dt.date(2030, 1, 1),
                              date_of_birth_mrz="85<<<<")
    assert document_record(unknown_birth)["date_of_birth"] is None


def test_the_gates_document_object_leaves_absent_fields_out_and_names_the_type_letter():
    mrz = emrtd.parse_mrz(TD1.replace("I<UTO", "IDVNM", 1).replace("UTO<", "VNM<", 1), today=TODAY)
    mononym = mrz.with_changes(secondary_identifier="")
    assert json.dumps(Presentation.from_mrz(mononym).document_record()) == json.dumps({
        "document_number": "D23145890", "issuing_state": "VNM", "document_type": "I", "surname": "ERIKSSON",
        "nationality": "VNM", "date_of_birth": "1974-08-12", "date_of_expiry": "2012-04-15", "sex": "F"})
