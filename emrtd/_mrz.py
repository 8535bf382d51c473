"""Machine readable zones, ICAO Doc 9303 Parts 3-7: TD1, TD2, TD3, MRV-A and MRV-B.

:func:`parse_mrz` reads the printed lines (or their concatenation) into an :class:`Mrz`, checking
every check digit (Part 3 §4.9) and the composite one; :meth:`Mrz.encode` writes the lines back
byte for byte. Each failure raises a subclass of :class:`MrzError` whose ``field`` names the field
(``document_number``, ``date_of_birth``, ``composite``...); :func:`check_mrz` collects them all.

Layouts (0-based character offsets in each line):

======  ====================================================================================
TD3     l1: code 0-1, state 2-4, name 5-43; l2: number 0-8 +9, nationality 10-12,
        birth 13-18 +19, sex 20, expiry 21-26 +27, personal number 28-41 +42, composite 43
TD2     l1: code, state, name 5-35; l2 as TD3 up to 27, optional 28-34, composite 35
TD1     l1: code, state, number 5-13 +14, optional 15-29; l2: birth 0-5 +6, sex 7,
        expiry 8-13 +14, nationality 15-17, optional 18-28, composite 29; l3: name 0-29
MRV-A   2x44 like TD3 line 1; l2 as TD3 up to 27, optional 28-43, no composite
MRV-B   2x36 like TD2 line 1; l2 as TD3 up to 27, optional 28-35, no composite
======  ====================================================================================

Document numbers longer than 9 characters (TD1, TD2; Part 5 §4.2.2 note j, Part 6) put ``<`` in the
check digit position and continue in the optional data, followed by their check digit and ``<``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
from dataclasses import dataclass, field, replace

from emrtd._mrz_warnings import MrzWarning, mrz_warnings

__all__ = [
    "MrzError",
    "MrzFormatError",
    "MrzCharacterError",
    "MrzCheckDigitError",
    "MrzFieldError",
    "MrzWarning",
    "mrz_warnings",
    "Mrz",
    "FORMATS",
    "check_digit",
    "parse_mrz",
    "check_mrz",
    "split_mrz",
    "mrz_information",
    "bac_key_seed",
    "transliterate",
    "encode_name",
]

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
FORMATS = {"TD1": (3, 30), "TD2": (2, 36), "TD3": (2, 44), "MRVA": (2, 44), "MRVB": (2, 36)}


class MrzError(ValueError):
    """An MRZ that cannot be read; ``field`` names the failing field (or ``"mrz"`` for the layout)."""

    def __init__(self, message: str, field: str = "mrz") -> None:
        self.field = field
        super().__init__(message)


class MrzFormatError(MrzError):
    """Wrong number of lines or line length: no TD1/TD2/TD3/MRV-A/MRV-B layout."""


class MrzCharacterError(MrzError):
    """A character outside ``0-9 A-Z <`` (Part 3 §4.3)."""


class MrzCheckDigitError(MrzError):
    """A check digit does not match its field (Part 3 §4.9)."""

    def __init__(self, field: str, expected: str, found: str) -> None:
        self.expected = expected
        self.found = found
        super().__init__(f"check digit of {field} is {found!r}, {expected!r} expected", field)


class MrzFieldError(MrzError):
    """A field whose value is not allowed (a date that does not exist, a name that does not fit...)."""


def _value(ch: str) -> int:
    i = _ALPHABET.find(ch)
    if i < 0 or ch == "":
        raise MrzCharacterError(f"character {ch!r} is not allowed in an MRZ")
    return 0 if ch == "<" else i


def check_digit(data: str) -> str:
    """Doc 9303 Part 3 §4.9: weights 7, 3, 1 repeated; ``<`` = 0, ``A`` = 10 ... ``Z`` = 35; modulo 10."""
    return str(sum(_value(c) * (7, 3, 1)[i % 3] for i, c in enumerate(data)) % 10)


def transliterate(text: str) -> str:
    """Latin transliteration for the MRZ (Part 3 §6 / Table A): upper case, diacritics dropped,
    ligatures and special letters spelled out; anything else that is not A-Z becomes ``<``."""
    special = {"Ä": "AE", "Ö": "OE", "Ü": "UE", "ß": "SS", "Æ": "AE", "Ø": "OE", "Å": "AA", "Œ": "OE",
               "Þ": "TH", "Ð": "D", "Đ": "D", "Ĳ": "IJ", "Ł": "L", "Ħ": "H", "Ŧ": "T", "Ŋ": "N"}  # fmt: skip
    out = []
    for ch in text.upper():
        if ch in special:
            out.append(special[ch])
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        out.append(base if base.isascii() and (base.isalnum() or base == "<") else "<")
    return "".join(out)


def encode_name(primary: str, secondary: str, width: int, *, truncate: bool = False) -> str:
    """``PRIMARY<<SECONDARY<NAMES`` padded with ``<`` (Part 3 §4.6). Spaces and hyphens become ``<``."""

    def part(s: str) -> str:
        s = transliterate(s.replace("-", " ").replace("'", ""))
        return "<".join(w for w in s.replace("<", " ").split())

    name = part(primary) + ("<<" + part(secondary) if secondary.strip() else "")
    if len(name) > width:
        if not truncate:
            raise MrzFieldError(f"name of {len(name)} characters does not fit {width}", "name")
        name = name[:width]
    return name.ljust(width, "<")


def _decode_name(text: str) -> tuple[str, str]:
    primary, _, secondary = text.rstrip("<").partition("<<")
    return primary.replace("<", " ").strip(), secondary.replace("<", " ").strip()


def _date(text: str, field_name: str, *, future: bool, today: dt.date | None) -> dt.date | None:
    """YYMMDD to a date. Birth dates are never in the future; expiry dates lie within 50 years around today.
    Unknown parts (``<``) give None (Part 3 §4.5.3 allows them for the date of birth)."""
    if "<" in text:
        return None
    if not text.isdigit():
        raise MrzFieldError(f"{field_name} {text!r} is not YYMMDD", field_name)
    today = today or dt.date.today()
    yy, mm, dd = int(text[:2]), int(text[2:4]), int(text[4:])
    year = 2000 + yy
    if future:
        if year > today.year + 50:
            year -= 100
    elif (year, mm, dd) > (today.year, today.month, today.day):
        year -= 100
    try:
        return dt.date(year, mm, dd)
    except ValueError as e:
        raise MrzFieldError(f"{field_name} {text!r} is not a calendar date", field_name) from e


@dataclass(frozen=True)
class Mrz:
    """The fields of a machine readable zone, ICAO names in snake_case.

    ``document_number`` is the full number (beyond 9 characters for long TD1/TD2 numbers), without
    fillers; names are decoded (``ERIKSSON`` / ``ANNA MARIA``). ``date_of_birth_mrz`` and
    ``date_of_expiry_mrz`` keep the printed YYMMDD (also for partly unknown dates).
    """

    format: str
    document_code: str
    issuing_state: str
    primary_identifier: str
    secondary_identifier: str
    document_number: str
    nationality: str
    date_of_birth: dt.date | None
    sex: str
    date_of_expiry: dt.date | None
    optional_data: str = ""
    optional_data_2: str = ""
    date_of_birth_mrz: str = ""
    date_of_expiry_mrz: str = ""
    name_mrz: str = field(default="", compare=False, repr=False)
    personal_number_filler_check: bool = field(default=True, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise MrzFormatError(f"unknown MRZ format {self.format!r}; one of {', '.join(FORMATS)}", "format")
        if not self.date_of_birth_mrz:
            object.__setattr__(self, "date_of_birth_mrz", _yymmdd(self.date_of_birth, "date_of_birth"))
        if not self.date_of_expiry_mrz:
            object.__setattr__(self, "date_of_expiry_mrz", _yymmdd(self.date_of_expiry, "date_of_expiry"))

    # --- views ---------------------------------------------------------------------------------
    @property
    def is_visa(self) -> bool:
        return self.format in ("MRVA", "MRVB")

    @property
    def name(self) -> str:
        return f"{self.primary_identifier} {self.secondary_identifier}".strip()

    @property
    def personal_number(self) -> str:
        """TD3 optional data (the personal number), decoded without fillers."""
        return self.optional_data.rstrip("<") if self.format == "TD3" else ""

    def lines(self) -> list[str]:
        return split_mrz(self.encode(), self.format)

    @property
    def warnings(self) -> tuple[MrzWarning, ...]:
        """Named warnings (:func:`mrz_warnings`): an unknown issuing State or nationality code."""
        return mrz_warnings(self)

    def to_dict(self) -> dict:
        return {
            "format": self.format, "document_code": self.document_code, "issuing_state": self.issuing_state,
            "primary_identifier": self.primary_identifier, "secondary_identifier": self.secondary_identifier,
            "document_number": self.document_number, "nationality": self.nationality,
            "date_of_birth": self.date_of_birth.isoformat() if self.date_of_birth else None,
            "date_of_birth_mrz": self.date_of_birth_mrz, "sex": self.sex,
            "date_of_expiry": self.date_of_expiry.isoformat() if self.date_of_expiry else None,
            "date_of_expiry_mrz": self.date_of_expiry_mrz,
            "optional_data": self.optional_data.rstrip("<"), "optional_data_2": self.optional_data_2.rstrip("<"),
            "warnings": [w.to_dict() for w in self.warnings],
        }  # fmt: skip

    def mrz_information(self) -> str:
        """Document number, date of birth, date of expiry with their check digits (Part 11 §9.7.1.1)."""
        return mrz_information(self.document_number, self.date_of_birth_mrz, self.date_of_expiry_mrz)

    def bac_key_seed(self) -> bytes:
        return bac_key_seed(self.document_number, self.date_of_birth_mrz, self.date_of_expiry_mrz)

    @property
    def access_key(self):
        """The BAC / PACE-MRZ access key (:class:`emrtd.BacKey`) a terminal derives from this MRZ."""
        from emrtd._bac import BacKey

        return BacKey(self.document_number, self.date_of_birth_mrz, self.date_of_expiry_mrz)

    def with_changes(self, **changes) -> Mrz:
        """A copy with fields changed (printed dates are recomputed when the date changes)."""
        if "date_of_birth" in changes and "date_of_birth_mrz" not in changes:
            changes["date_of_birth_mrz"] = ""
        if "date_of_expiry" in changes and "date_of_expiry_mrz" not in changes:
            changes["date_of_expiry_mrz"] = ""
        if {"primary_identifier", "secondary_identifier"} & set(changes):
            changes["name_mrz"] = ""
        return replace(self, **changes)

    # --- encoding --------------------------------------------------------------------------------
    def encode(self, *, truncate_name: bool = False) -> str:
        """The MRZ as one string (lines concatenated); ``"\\n".join(mrz.lines())`` for print."""
        width = FORMATS[self.format][1]
        code = _fixed(self.document_code, 2, "document_code")
        state = _fixed(self.issuing_state, 3, "issuing_state")
        nat = _fixed(self.nationality, 3, "nationality")
        sex = {"": "<", "X": "<"}.get(self.sex, self.sex)
        if sex not in ("M", "F", "<"):
            raise MrzFieldError(f"sex must be M, F or < (X), got {self.sex!r}", "sex")
        dob, doe = self.date_of_birth_mrz, self.date_of_expiry_mrz
        for fname, v in (("date_of_birth", dob), ("date_of_expiry", doe)):
            if len(v) != 6 or any(c not in "0123456789<" for c in v):
                raise MrzFieldError(f"{fname} {v!r} is not YYMMDD", fname)
        name_width = 30 if self.format == "TD1" else width - 5
        if self.name_mrz and len(self.name_mrz) == name_width:
            name = self.name_mrz
        else:
            name = encode_name(self.primary_identifier, self.secondary_identifier, name_width, truncate=truncate_name)
        number = self.document_number.upper()
        if self.format == "TD1":
            opt1, num_field, num_cd = self._long_number(number, self.optional_data, 15)
            l1 = code + state + num_field + num_cd + opt1
            l2 = dob + check_digit(dob) + sex + doe + check_digit(doe) + nat + _pad(self.optional_data_2, 11, "optional_data_2")
            composite = check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
            out = l1 + l2 + composite + name
        else:
            l1 = code + state + name
            opt_width = width - 28 - (0 if self.is_visa else (2 if self.format == "TD3" else 1))
            if self.format == "TD2":
                opt, num_field, num_cd = self._long_number(number, self.optional_data, opt_width)
            else:
                if len(number) > 9:
                    raise MrzFieldError(f"document number {number!r} longer than 9 characters", "document_number")
                opt, num_field, num_cd = _pad(self.optional_data, opt_width, "optional_data"), number.ljust(9, "<"), ""
                num_cd = check_digit(num_field)
            l2 = num_field + num_cd + nat + dob + check_digit(dob) + sex + doe + check_digit(doe) + opt
            if self.format == "TD3":  # an unused personal number may have '<' as its check digit (Part 4 §4.2.2)
                l2 += "<" if self.personal_number_filler_check and set(opt) == {"<"} else check_digit(opt)
            if not self.is_visa:
                l2 += check_digit(l2[0:10] + l2[13:20] + l2[21:])
            out = l1 + l2
        _validate_chars(out)
        return out

    @staticmethod
    def _long_number(number: str, optional: str, width: int) -> tuple[str, str, str]:
        """(optional data field, 9-character number field, its check digit position) for TD1/TD2."""
        if len(number) <= 9:
            field9 = number.ljust(9, "<")
            return _pad(optional, width, "optional_data"), field9, check_digit(field9)
        rest = number[9:] + check_digit(number) + "<" + optional.rstrip("<")
        if len(rest) > width:
            raise MrzFieldError(f"document number {number!r} does not fit with the optional data", "document_number")
        return rest.ljust(width, "<"), number[:9], "<"


def _yymmdd(value: dt.date | None, field_name: str) -> str:
    if value is None:
        raise MrzFieldError(f"{field_name} is missing", field_name)
    return value.strftime("%y%m%d")


def _fixed(value: str, width: int, field_name: str) -> str:
    value = value.upper()
    if len(value) > width:
        raise MrzFieldError(f"{field_name} {value!r} longer than {width}", field_name)
    return value.ljust(width, "<")


def _pad(value: str, width: int, field_name: str) -> str:
    return _fixed(value.replace(" ", "<"), width, field_name)


def _validate_chars(text: str) -> None:
    for i, c in enumerate(text):
        if c not in _ALPHABET:
            raise MrzCharacterError(f"character {c!r} at position {i} is not allowed in an MRZ", "mrz")


def split_mrz(text: str, fmt: str | None = None) -> list[str]:
    """Lines of an MRZ given as lines or as one concatenated string."""
    text = text.strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) == 1:
        flat = lines[0].replace(" ", "")
        n = {90: 3, 88: 2, 72: 2}.get(len(flat))
        if fmt:
            n = FORMATS[fmt][0]
        if n is None:
            raise MrzFormatError(f"an MRZ of {len(flat)} characters: expected 3x30 (TD1), 2x36 (TD2/MRV-B) or 2x44 (TD3/MRV-A)")
        w = len(flat) // n
        return [flat[i * w : (i + 1) * w] for i in range(n)]
    return [ln.replace(" ", "") for ln in lines]


def _detect(lines: list[str]) -> str:
    if not lines:
        raise MrzFormatError("empty MRZ")
    shape = (len(lines), {len(ln) for ln in lines})
    visa = lines[0][:1] == "V"
    if shape == (3, {30}):
        return "TD1"
    if shape == (2, {36}):
        return "MRVB" if visa else "TD2"
    if shape == (2, {44}):
        return "MRVA" if visa else "TD3"
    raise MrzFormatError(
        f"{len(lines)} line(s) of length {'/'.join(str(len(ln)) for ln in lines)}: "
        "expected 3x30 (TD1), 2x36 (TD2/MRV-B) or 2x44 (TD3/MRV-A)"
    )


def _checked(errors: list[MrzError], field_name: str, data: str, digit: str, *, filler_ok: bool = False) -> None:
    if filler_ok and digit == "<" and set(data) <= {"<"}:
        return
    try:
        expected = check_digit(data)
    except MrzCharacterError as e:
        errors.append(MrzCharacterError(str(e), field_name))
        return
    if digit != expected:
        errors.append(MrzCheckDigitError(field_name, expected, digit))


def _long_td_number(errors, number9: str, cd: str, optional: str) -> tuple[str, str]:
    """Resolve TD1/TD2 long document numbers: returns (document number, remaining optional data)."""
    if cd != "<":
        _checked(errors, "document_number", number9, cd)
        return number9.rstrip("<"), optional
    ext, _, rest = optional.partition("<")
    if len(ext) < 1:
        errors.append(MrzFieldError("document number check digit is '<' but no continuation follows", "document_number"))
        return number9.rstrip("<"), optional
    number = number9 + ext[:-1]
    _checked(errors, "document_number", number, ext[-1])
    return number, rest


def check_mrz(text: str | list[str], *, today: dt.date | None = None) -> tuple[Mrz | None, list[MrzError]]:
    """Parse without stopping at the first problem: ``(mrz or None, every error found)``."""
    errors: list[MrzError] = []
    try:
        lines = split_mrz("\n".join(text) if isinstance(text, list | tuple) else text)
        lines = [ln.upper() for ln in lines]
        fmt = _detect(lines)
    except MrzError as e:
        return None, [e]
    for n, ln in enumerate(lines, 1):
        bad = [c for c in ln if c not in _ALPHABET]
        if bad:
            errors.append(MrzCharacterError(f"line {n} has characters not allowed in an MRZ: {''.join(sorted(set(bad)))!r}", "mrz"))
    if errors:
        return None, errors
    l1, l2 = lines[0], lines[1]
    opt2 = ""
    if fmt == "TD1":
        code, state, name = l1[0:2], l1[2:5], lines[2]
        number, optional = _long_td_number(errors, l1[5:14], l1[14], l1[15:30])
        dob, dob_cd, sex, doe, doe_cd, nat, opt2 = l2[0:6], l2[6], l2[7], l2[8:14], l2[14], l2[15:18], l2[18:29]
        composite_data, composite = l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29]
    else:
        code, state, name = l1[0:2], l1[2:5], l1[5:]
        number9, num_cd, nat = l2[0:9], l2[9], l2[10:13]
        dob, dob_cd, sex, doe, doe_cd = l2[13:19], l2[19], l2[20], l2[21:27], l2[27]
        composite = composite_data = None
        if fmt == "TD3":
            optional = l2[28:42]
            _checked(errors, "document_number", number9, num_cd)
            number = number9.rstrip("<")
            _checked(errors, "personal_number", optional, l2[42], filler_ok=True)
            composite_data, composite = l2[0:10] + l2[13:20] + l2[21:43], l2[43]
        elif fmt == "TD2":
            number, optional = _long_td_number(errors, number9, num_cd, l2[28:35])
            composite_data, composite = l2[0:10] + l2[13:20] + l2[21:35], l2[35]
        else:  # MRV-A / MRV-B: no composite (Part 7 §4.2.2)
            _checked(errors, "document_number", number9, num_cd)
            number, optional = number9.rstrip("<"), l2[28:]
    _checked(errors, "date_of_birth", dob, dob_cd)
    _checked(errors, "date_of_expiry", doe, doe_cd)
    if composite is not None:
        _checked(errors, "composite", composite_data, composite)
    if sex not in "MF<":
        errors.append(MrzFieldError(f"sex {sex!r} is not M, F or <", "sex"))
    if not code[0].isalpha():
        errors.append(MrzFieldError(f"document code {code!r} must start with a letter", "document_code"))
    dates = {}
    for fname, value, future in (("date_of_birth", dob, False), ("date_of_expiry", doe, True)):
        try:
            dates[fname] = _date(value, fname, future=future, today=today)
        except MrzFieldError as e:
            errors.append(e)
            dates[fname] = None
    primary, secondary = _decode_name(name)
    if not primary:
        errors.append(MrzFieldError("the name has no primary identifier", "name"))
    mrz = Mrz(
        fmt, code, state.rstrip("<") or state, primary, secondary, number, nat.rstrip("<") or nat,
        dates["date_of_birth"], sex, dates["date_of_expiry"], optional, opt2, dob, doe, name,
        fmt != "TD3" or l2[42] == "<",
    )  # fmt: skip
    return mrz, errors


def parse_mrz(text: str | list[str], *, today: dt.date | None = None) -> Mrz:
    """Parse and check an MRZ; raises the first :class:`MrzError` (its ``field`` names what failed)."""
    mrz, errors = check_mrz(text, today=today)
    if errors:
        raise errors[0]
    assert mrz is not None
    return mrz


def mrz_information(document_number: str, date_of_birth: str, date_of_expiry: str) -> str:
    """Part 11 §9.7.1.1: number (padded to 9, or in full when longer) + check digit, birth + check
    digit, expiry + check digit, e.g. ``L898902C<369080619406236`` (Appendix D.2)."""
    number = document_number.upper().ljust(9, "<")
    for fname, v in (("date_of_birth", date_of_birth), ("date_of_expiry", date_of_expiry)):
        if len(v) != 6 or not v.isdigit():
            raise MrzFieldError(f"{fname} {v!r} is not YYMMDD", fname)
    return number + check_digit(number) + date_of_birth + check_digit(date_of_birth) + date_of_expiry + check_digit(date_of_expiry)


def bac_key_seed(document_number: str, date_of_birth: str, date_of_expiry: str) -> bytes:
    """K_seed = the first 16 bytes of SHA-1(MRZ_information) (Part 11 §9.7.1.1)."""
    info = mrz_information(document_number, date_of_birth, date_of_expiry)
    return hashlib.sha1(info.encode("ascii")).digest()[:16]  # noqa: S324 - Doc 9303 mandates SHA-1 here
