"""The document step: MRZ -> chip access key -> chip read (emrtd) -> the document data the record needs.

MRZ field layouts and check digits follow ICAO Doc 9303 Part 3 §4.9 (check digits), Part 4 §4.2.2
(TD3) and Part 5 §4.2.2 (TD1). Names keep the MRZ transliteration ("NGUYEN<<VAN<DUC" ->
surname "NGUYEN", given names "VAN DUC").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import emrtd
from devices import CardRemovedError, DeviceError, NoCardError  # the reader port's errors
from enrollment._errors import DocumentError, DocumentRejected, MrzError

__all__ = ["MrzData", "DocumentRead", "parse_mrz", "check_digit", "read_document", "chip_face_image"]

_WEIGHTS = (7, 3, 1)


def check_digit(data: str) -> str:
    """Doc 9303 Part 3 §4.9: weights 7-3-1, digits as is, A-Z = 10-35, '<' = 0."""
    total = 0
    for i, ch in enumerate(data):
        if ch.isdigit():
            v = int(ch)
        elif "A" <= ch <= "Z":
            v = ord(ch) - 55
        elif ch == "<":
            v = 0
        else:
            raise MrzError(f"character {ch!r} is not allowed in an MRZ")
        total += v * _WEIGHTS[i % 3]
    return str(total % 10)


def _date(yymmdd: str, *, future: bool) -> dt.date:
    try:
        yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
        this = dt.date.today().year % 100
        if future:  # expiry: within the next ~50 years
            century = 2000 if yy < this + 50 else 1900
        else:  # birth: not in the future
            century = 1900 if yy > this else 2000
        return dt.date(century + yy, mm, dd)
    except ValueError as e:
        raise MrzError(f"bad MRZ date {yymmdd!r}") from e


@dataclass(frozen=True)
class MrzData:
    mrz: str
    document_type: str
    issuing_state: str
    surname: str
    given_names: str
    document_number: str
    nationality: str
    date_of_birth: dt.date
    sex: str
    date_of_expiry: dt.date

    @property
    def access_key(self) -> emrtd.BacKey:
        dob = self.mrz[57:63] if len(self.mrz) == 88 else self.mrz[30:36]
        doe = self.mrz[65:71] if len(self.mrz) == 88 else self.mrz[38:44]
        return emrtd.BacKey(self.document_number, dob, doe)

    def to_record(self) -> dict:
        """The ``document`` object of the back office's API (API.md)."""
        return {
            "document_number": self.document_number, "issuing_state": self.issuing_state,
            "document_type": self.document_type, "surname": self.surname, "given_names": self.given_names,
            "nationality": self.nationality, "date_of_birth": self.date_of_birth.isoformat(),
            "date_of_expiry": self.date_of_expiry.isoformat(), "sex": self.sex if self.sex in "FMX" else "<",
        }  # fmt: skip


def _names(field_: str) -> tuple[str, str]:
    surname, _, given = field_.partition("<<")
    return surname.replace("<", " ").strip(), given.replace("<", " ").strip()


def _verify(value: str, digit: str, what: str) -> None:
    if digit != "<" and check_digit(value) != digit:
        raise MrzError(f"check digit of the {what} is wrong")
    if digit == "<" and value.strip("<"):
        raise MrzError(f"the {what} has no check digit")


def parse_mrz(text: str) -> MrzData:
    """Parse a TD3 (2x44) or TD1 (3x30) MRZ, verifying every check digit. Raises :class:`MrzError`."""
    mrz = "".join(text.split()).upper()
    bad = sorted({c for c in mrz if not ("A" <= c <= "Z" or "0" <= c <= "9" or c == "<")})
    if bad:
        raise MrzError(f"characters not allowed in an MRZ: {''.join(bad)!r}")
    if len(mrz) == 88:
        l1, l2 = mrz[:44], mrz[44:]
        doc_type, state = l1[0:2].rstrip("<"), l1[2:5].rstrip("<")
        surname, given = _names(l1[5:44])
        number, nat, dob, sex, doe = l2[0:9], l2[10:13], l2[13:19], l2[20], l2[21:27]
        _verify(l2[0:9], l2[9], "document number")
        _verify(dob, l2[19], "date of birth")
        _verify(doe, l2[27], "date of expiry")
        _verify(l2[28:42], l2[42], "optional data")
        if check_digit(l2[0:10] + l2[13:20] + l2[21:43]) != l2[43]:
            raise MrzError("composite check digit is wrong")
    elif len(mrz) == 90:
        l1, l2, l3 = mrz[:30], mrz[30:60], mrz[60:]
        doc_type, state = l1[0:2].rstrip("<"), l1[2:5].rstrip("<")
        number = l1[5:14]
        if l1[14] == "<" and l1[15:30].strip("<"):  # long document number (Part 5 §4.2.4)
            ext = l1[15:30].split("<")[0]
            number, digit = number + ext[:-1], ext[-1]
            if check_digit(number) != digit:
                raise MrzError("check digit of the document number is wrong")
        else:
            _verify(number, l1[14], "document number")
        dob, sex, doe, nat = l2[0:6], l2[7], l2[8:14], l2[15:18]
        _verify(dob, l2[6], "date of birth")
        _verify(doe, l2[14], "date of expiry")
        if check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]) != l2[29]:
            raise MrzError("composite check digit is wrong")
        surname, given = _names(l3)
    else:
        raise MrzError(f"an MRZ has 88 (TD3) or 90 (TD1) characters, not {len(mrz)}")
    return MrzData(mrz, doc_type, state, surname, given, number.rstrip("<"), nat.rstrip("<"),
                   _date(dob, future=False), sex, _date(doe, future=True))


def chip_face_image(dg2: bytes | None) -> bytes | None:
    """The JPEG or JPEG 2000 face image inside DG2 (ISO/IEC 19794-5 record), or None."""
    if not dg2:
        return None
    starts = [i for i in (dg2.find(b"\x00\x00\x00\x0cjP  \r\n\x87\n"), dg2.find(b"\xff\x4f\xff\x51"),
                          dg2.find(b"\xff\xd8\xff")) if i >= 0]
    return dg2[min(starts):] if starts else None


@dataclass
class DocumentRead:
    """What the kiosk learnt from the document. ``chip_face`` is memory only (shown on review)."""

    mrz: MrzData
    checks: dict[str, bool | None] = field(default_factory=dict)
    access_protocol: str = ""
    chip_face: bytes | None = field(default=None, repr=False)

    def wipe(self) -> None:
        self.chip_face = None


_REFUSALS = {
    "passive_authentication": "chip_pa_failed",
    "active_authentication": "chip_aa_failed",
    "chip_authentication": "chip_ca_failed",
    "mrz_consistency": "mrz_mismatch",
}


def read_document(reader, mrz_text: str | Callable[[], str], *, trust=None, card_timeout_s: float = 30.0,
                  today: dt.date | None = None) -> DocumentRead:
    """Wait for the card, take the MRZ (text, or a callable such as an MRZ source's ``read_mrz``
    called once the document is down), read and verify the chip (BAC/PACE, CA, AA, PA).

    Raises :class:`MrzError` (unreadable MRZ), :class:`DocumentError` (chip not read: ``reason`` in
    no_card / card_removed / reader_fault / access_denied / chip_read_failed) or
    :class:`DocumentRejected` (read, but a check failed or the document is expired: ``reason_code``
    from the back office's ReasonCode enum).
    """
    try:
        reader.wait_for_card(timeout=card_timeout_s)
    except NoCardError as e:
        raise DocumentError("no_card", "no document was placed on the reader") from e
    except DeviceError as e:
        raise DocumentError("reader_fault", f"reader fault: {e}") from e
    mrz = parse_mrz(mrz_text() if callable(mrz_text) else mrz_text)
    today = today or dt.date.today()
    if mrz.date_of_expiry < today:
        raise DocumentRejected("document_expired", "the document has expired")
    try:
        # without a trust store (CSCA list) Passive Authentication cannot run: the entry point must wire one
        result = emrtd.read_document(reader, mrz.access_key, trust=trust, passive_authentication=trust is not None)
    except NoCardError as e:
        raise DocumentError("no_card", "no document was placed on the reader") from e
    except CardRemovedError as e:
        raise DocumentError("card_removed", "the document was removed during the read") from e
    except DeviceError as e:
        raise DocumentError("reader_fault", f"reader fault: {e}") from e
    except emrtd.AccessControlError as e:
        raise DocumentError("access_denied", "the chip refused the MRZ key") from e
    except (emrtd.ReadError, emrtd.ApduError, emrtd.TransportError) as e:
        cause = e.__cause__ or e.__context__
        if isinstance(cause, CardRemovedError):
            raise DocumentError("card_removed", "the document was removed during the read") from e
        raise DocumentError("chip_read_failed", f"chip read failed: {e}") from e
    checks = {c.name: c.passed for c in result.checks}
    for check in result.failures:
        if check.name in _REFUSALS:
            raise DocumentRejected(_REFUSALS[check.name], f"{check.name} failed: {check.reason}")
    aa, ca = checks.get("active_authentication"), checks.get("chip_authentication")
    if aa is False or ca is False:
        raise DocumentRejected("chip_cloned", "the chip could not prove it is genuine")
    return DocumentRead(mrz, checks, result.access_protocol, chip_face_image(result.files.get("DG2")))
