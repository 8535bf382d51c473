import datetime as dt

import numpy as np
import pytest

from emrtd._vn_qr import VnIdQr, VnQrError, encode_vn_id_qr, parse_vn_id_qr, read_vn_id_qr_image, vn_id_expiry

CARD = "001090012345|123456789|Nguyễn Văn An|15031990|Nam|Số 1 Trần Phú, Móng Cái, Quảng Ninh|20042021"


def test_parse_and_bac_fields():
    card = parse_vn_id_qr(CARD)
    assert card.full_name == "Nguyễn Văn An" and card.date_of_birth == dt.date(1990, 3, 15)
    assert card.document_number == "090012345"  # last 9 digits of the ID number: the TD1 MRZ number
    assert card.date_of_expiry == dt.date(2030, 3, 15)  # issued at 31 -> valid to the 40th birthday
    assert encode_vn_id_qr(card) == CARD
    assert parse_vn_id_qr(CARD.encode()) == card


@pytest.mark.parametrize(("born", "issued", "expiry"), [
    (dt.date(1990, 3, 15), dt.date(2021, 4, 20), dt.date(2030, 3, 15)),   # 2014 law: 40
    (dt.date(1990, 3, 15), dt.date(2028, 6, 1), dt.date(2050, 3, 15)),    # within 2 y of 40 -> 60
    (dt.date(2001, 5, 2), dt.date(2021, 1, 5), dt.date(2026, 5, 2)),      # 25
    (dt.date(1962, 1, 1), dt.date(2021, 1, 1), None),                     # issued at 59: no expiry
    (dt.date(2015, 9, 9), dt.date(2024, 8, 1), dt.date(2029, 9, 9)),      # 2023 law: 14
    (dt.date(2015, 9, 9), dt.date(2024, 6, 30), dt.date(2040, 9, 9)),     # 2014 law still: 25
    (dt.date(2000, 2, 29), dt.date(2020, 1, 1), dt.date(2025, 3, 1)),     # 29 February
])
def test_expiry_by_law(born, issued, expiry):
    assert vn_id_expiry(born, issued) == expiry


@pytest.mark.parametrize(("payload", "field"), [
    ("001090012345|123456789|A|15031990|Nam|x", "7 fields"),
    ("00109001234|123456789|A|15031990|Nam|x|20042021", "id_number"),
    ("001090012345|12345|A|15031990|Nam|x|20042021", "old_id_number"),
    ("001090012345||A|31021990|Nam|x|20042021", "date_of_birth"),
    ("001090012345||A|15031990|Nam|x|2004202", "date_of_issue"),
    ("001090012345|||15031990|Nam|x|20042021", "full_name"),
    ("001090012345||A|15031990|Nam|x|20041980", "before date_of_birth"),
])
def test_bad_payload_names_the_field(payload, field):
    with pytest.raises(VnQrError, match=field):
        parse_vn_id_qr(payload)
    with pytest.raises(VnQrError):
        parse_vn_id_qr(b"\xff\xfe")


def test_qr_image_round_trip():
    segno = pytest.importorskip("segno")
    import io

    from PIL import Image

    buf = io.BytesIO()
    segno.make(CARD, error="m", micro=False).save(buf, kind="png", scale=6, border=4)
    img = np.asarray(Image.open(buf).convert("RGB"))
    canvas = np.full((img.shape[0] + 200, img.shape[1] + 300, 3), 200, np.uint8)  # the card around it
    canvas[100:100 + img.shape[0], 150:150 + img.shape[1]] = img
    card = read_vn_id_qr_image(canvas)
    assert isinstance(card, VnIdQr) and card.id_number == "001090012345"
    with pytest.raises(VnQrError, match="no QR"):
        read_vn_id_qr_image(np.full((200, 200), 255, np.uint8))
    with pytest.raises(VnQrError):
        read_vn_id_qr_image(np.zeros((0,), np.uint8))
