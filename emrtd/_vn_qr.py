"""The QR code on the Vietnamese chip citizen ID card (CCCD / Căn cước), as a fallback access key.

The front of the card carries a QR code with seven fields separated by ``|`` (C06, Ministry of
Public Security): the 12-digit personal identification number, the old 9-digit ID number (may be
empty), full name, date of birth (ddmmyyyy), sex, place of residence, date of issue (ddmmyyyy).

The chip's Basic Access Control key needs the MRZ document number, date of birth and date of
expiry (Doc 9303 Part 11 §4.3). On these cards the TD1 MRZ document number is the last nine digits
of the identification number, and the expiry is not in the QR: it follows from the date of birth and
the date of issue by law. Cards are renewed at fixed ages; a card issued within two years before
such an age is valid until the next one; none expires after the last:
- Law on Citizen Identification 2014 (Art. 21), cards issued before 1 July 2024: ages 25, 40, 60;
- Law on Identification 2023 (Art. 21), cards issued from 1 July 2024: ages 14, 25, 40, 60.
The card is valid until the holder's birthday at that age. A gate that derives a key this way and
fails BAC refers the traveller; nothing else is trusted from the QR.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["VnIdQr", "VnQrError", "parse_vn_id_qr", "vn_id_expiry", "encode_vn_id_qr", "read_vn_id_qr_image"]

_LAW_2023_FROM = dt.date(2024, 7, 1)


class VnQrError(ValueError):
    """The QR payload is not a Vietnamese citizen ID QR (the failing field is named)."""


@dataclass(frozen=True)
class VnIdQr:
    id_number: str
    old_id_number: str
    full_name: str
    date_of_birth: dt.date
    sex: str
    residence: str
    date_of_issue: dt.date

    @property
    def document_number(self) -> str:
        """The MRZ document number used for BAC: the last nine digits of the ID number."""
        return self.id_number[-9:]

    @property
    def date_of_expiry(self) -> dt.date | None:
        """Derived by law; None for a card that does not expire."""
        return vn_id_expiry(self.date_of_birth, self.date_of_issue)


def _birthday(born: dt.date, age: int) -> dt.date:
    try:
        return born.replace(year=born.year + age)
    except ValueError:  # 29 February
        return dt.date(born.year + age, 3, 1)


def vn_id_expiry(date_of_birth: dt.date, date_of_issue: dt.date) -> dt.date | None:
    milestones = (14, 25, 40, 60) if date_of_issue >= _LAW_2023_FROM else (25, 40, 60)
    for age in milestones:
        due = _birthday(date_of_birth, age)
        if date_of_issue < _birthday(date_of_birth, age - 2):
            return due
    return None


def _date(value: str, field: str) -> dt.date:
    if len(value) != 8 or not value.isdigit():
        raise VnQrError(f"{field}: expected ddmmyyyy, got {value!r}")
    try:
        return dt.date(int(value[4:]), int(value[2:4]), int(value[:2]))
    except ValueError as e:
        raise VnQrError(f"{field}: {value!r} is not a date") from e


def parse_vn_id_qr(payload: str | bytes) -> VnIdQr:
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as e:
            raise VnQrError("payload is not UTF-8") from e
    parts = payload.strip().split("|")
    if len(parts) != 7:
        raise VnQrError(f"expected 7 fields separated by '|', got {len(parts)}")
    id_number, old_id, name, dob, sex, residence, issued = (p.strip() for p in parts)
    if len(id_number) != 12 or not id_number.isdigit():
        raise VnQrError(f"id_number: expected 12 digits, got {id_number!r}")
    if old_id and (len(old_id) != 9 or not old_id.isdigit()):
        raise VnQrError(f"old_id_number: expected 9 digits, got {old_id!r}")
    if not name:
        raise VnQrError("full_name: empty")
    born, issue = _date(dob, "date_of_birth"), _date(issued, "date_of_issue")
    if issue < born:
        raise VnQrError("date_of_issue: before date_of_birth")
    return VnIdQr(id_number, old_id, name, born, sex, residence, issue)


def encode_vn_id_qr(card: VnIdQr) -> str:
    """The QR text for a card (used to make test cards)."""
    return "|".join([card.id_number, card.old_id_number, card.full_name, card.date_of_birth.strftime("%d%m%Y"),
                     card.sex, card.residence, card.date_of_issue.strftime("%d%m%Y")])


def read_vn_id_qr_image(image) -> VnIdQr:
    """Find and decode the card's QR code in a camera image (RGB or grayscale array, or PIL image)."""
    import cv2
    import numpy as np

    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise VnQrError("image must be a non-empty 2-D grayscale or RGB array")
    gray = arr if arr.ndim == 2 else cv2.cvtColor(arr[..., :3].astype(np.uint8), cv2.COLOR_RGB2GRAY)
    text, points, _ = cv2.QRCodeDetector().detectAndDecode(gray.astype(np.uint8))
    if points is None:
        raise VnQrError("no QR code found in the image")
    if not text:
        raise VnQrError("a QR code was found but could not be decoded")
    return parse_vn_id_qr(text)
