"""LDS 1 elementary files, ICAO Doc 9303 Part 10 §4: EF.COM, DG1, DG7, DG11, DG12 (and DG14/DG15 via
``_secinfo``), each parsed and encoded byte for byte (``X.parse(x.encode()) == x`` and
``X.parse(raw).encode() == raw`` for well-formed input).

DG2 and DG3 (biometric templates) live in :mod:`emrtd._dg2`; EF.SOD in :mod:`emrtd._sod`.
Every malformed file raises :class:`LdsError` naming the file and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emrtd._mrz import Mrz, MrzError, check_mrz
from emrtd._tlv import TlvError, encode_tlv, iter_tlv, read_tlv

__all__ = [
    "LdsError",
    "DG_TAGS",
    "DG_NAMES",
    "FILE_IDS",
    "LDS_AID",
    "EfCom",
    "Dg1",
    "Dg7",
    "Dg11",
    "Dg12",
    "parse_lds_file",
    "unwrap",
]

# Part 10 §4.6.1 Table 35: data group -> tag
DG_TAGS = {
    "EF.COM": 0x60, "DG1": 0x61, "DG2": 0x75, "DG3": 0x63, "DG4": 0x76, "DG5": 0x65, "DG6": 0x66, "DG7": 0x67,
    "DG8": 0x68, "DG9": 0x69, "DG10": 0x6A, "DG11": 0x6B, "DG12": 0x6C, "DG13": 0x6D, "DG14": 0x6E,
    "DG15": 0x6F, "DG16": 0x70, "EF.SOD": 0x77,
}  # fmt: skip
DG_NAMES = {tag: name for name, tag in DG_TAGS.items()}

# Doc 9303 Part 10 §3.6: the LDS application's AID (selected before BAC/PACE), and each file's
# identifier and short EF identifier: name -> (FID, SFI)
LDS_AID = bytes.fromhex("A0000002471001")
FILE_IDS: dict[str, tuple[int, int]] = {
    "EF.CardAccess": (0x011C, 0x1C),
    "EF.COM": (0x011E, 0x1E),
    "EF.SOD": (0x011D, 0x1D),
    **{f"DG{n}": (0x0100 + n, n) for n in range(1, 17)},
}


class LdsError(ValueError):
    """A malformed LDS file; ``file`` names it (``DG1``, ``EF.COM``...)."""

    def __init__(self, file: str, message: str) -> None:
        self.file = file
        super().__init__(f"{file}: {message}")


def unwrap(data: bytes, name: str) -> bytes:
    """The value of the file's outer TLV, which must carry the tag of ``name`` and fill the file."""
    want = DG_TAGS[name]
    try:
        tag, value, end = read_tlv(bytes(data), 0)
    except TlvError as e:
        raise LdsError(name, f"not a TLV: {e}") from e
    if tag != want:
        raise LdsError(name, f"tag {tag:X}, {want:X} expected")
    if end != len(data):
        raise LdsError(name, f"{len(data) - end} bytes after the template")
    return value


def _items(value: bytes, name: str) -> list[tuple[int, bytes]]:
    try:
        return list(iter_tlv(value))
    except TlvError as e:
        raise LdsError(name, f"malformed content: {e}") from e


@dataclass(frozen=True)
class EfCom:
    """EF.COM (Part 10 §4.6.1): LDS version ``"0107"``, Unicode version ``"040000"``, tags present."""

    tags: tuple[int, ...]
    lds_version: str = "0107"
    unicode_version: str = "040000"

    @classmethod
    def for_files(cls, names, **kw) -> EfCom:
        return cls(tuple(DG_TAGS[n] for n in names if n.startswith("DG")), **kw)

    @property
    def data_groups(self) -> list[str]:
        return [DG_NAMES.get(t, f"tag {t:02X}") for t in self.tags]

    def encode(self) -> bytes:
        return encode_tlv(0x60, encode_tlv(0x5F01, self.lds_version.encode("ascii"))
                          + encode_tlv(0x5F36, self.unicode_version.encode("ascii")) + encode_tlv(0x5C, bytes(self.tags)))

    @classmethod
    def parse(cls, data: bytes) -> EfCom:
        items = dict(_items(unwrap(data, "EF.COM"), "EF.COM"))
        try:
            lds, uni, tags = items[0x5F01], items[0x5F36], items[0x5C]
        except KeyError as e:
            raise LdsError("EF.COM", f"missing data object {e.args[0]:X}") from e
        if len(lds) != 4 or len(uni) != 6 or not (lds + uni).isdigit():
            raise LdsError("EF.COM", f"LDS version {lds!r} / Unicode version {uni!r} are not 4 and 6 digits")
        unknown = [t for t in tags if t not in DG_NAMES]
        if unknown:
            raise LdsError("EF.COM", f"tag list holds unknown tags {bytes(unknown).hex()}")
        out = cls(tuple(tags), lds.decode(), uni.decode())
        if out.encode() != bytes(data):
            raise LdsError("EF.COM", "data objects out of order or repeated")
        return out


@dataclass(frozen=True)
class Dg1:
    """DG1 (Part 10 §4.7.1): the MRZ in DO'5F1F'. ``mrz`` is None when the text does not parse."""

    mrz_text: str
    mrz: Mrz | None = field(default=None, compare=False)
    errors: tuple[MrzError, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def from_mrz(cls, mrz: Mrz) -> Dg1:
        return cls(mrz.encode(), mrz)

    def encode(self) -> bytes:
        return encode_tlv(0x61, encode_tlv(0x5F1F, self.mrz_text.encode("ascii")))

    @classmethod
    def parse(cls, data: bytes) -> Dg1:
        items = _items(unwrap(data, "DG1"), "DG1")
        if len(items) != 1 or items[0][0] != 0x5F1F:
            raise LdsError("DG1", "one data object 5F1F (the MRZ) expected")
        raw = items[0][1]
        if len(raw) not in (72, 88, 90):
            raise LdsError("DG1", f"MRZ of {len(raw)} characters; 88 (TD3/MRV-A), 72 (TD2/MRV-B) or 90 (TD1) expected")
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as e:
            raise LdsError("DG1", "MRZ is not ASCII") from e
        mrz, errors = check_mrz(text)
        return cls(text, mrz, tuple(errors))


# --- DG7, DG11, DG12: tag-list data groups (Part 10 §4.7.7, §4.7.11, §4.7.12) -------------------------


@dataclass(frozen=True)
class Dg7:
    """DG7 (Part 10 §4.7.7): displayed signature or usual mark images (JPEG / JPEG 2000 in DO'5F43')."""

    images: tuple[bytes, ...]

    def encode(self) -> bytes:
        return encode_tlv(0x67, encode_tlv(0x02, bytes([len(self.images)]))
                          + b"".join(encode_tlv(0x5F43, im) for im in self.images))

    @classmethod
    def parse(cls, data: bytes) -> Dg7:
        items = _items(unwrap(data, "DG7"), "DG7")
        if not items or items[0][0] != 0x02 or len(items[0][1]) != 1:
            raise LdsError("DG7", "the number of images (DO'02') must come first")
        images = tuple(v for t, v in items[1:] if t == 0x5F43)
        if len(images) != items[0][1][0] or len(images) != len(items) - 1:
            raise LdsError("DG7", f"{items[0][1][0]} images announced, {len(images)} DO'5F43' found")
        return cls(images)


class _TaggedGroup:
    """A DG made of a tag list (DO'5C') and the data objects it lists, in that order."""

    NAME = ""
    TAG = 0
    FIELDS: dict[str, int] = {}
    BINARY: frozenset[str] = frozenset()
    LISTS: dict[str, tuple[int, int]] = {}  # field -> (template tag, element tag), e.g. other names A0/5F0F

    def encode(self) -> bytes:
        body, tags = b"", []
        for name, tag in self.FIELDS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if name in self.LISTS:
                tmpl, elem = self.LISTS[name]
                inner = encode_tlv(0x02, bytes([len(value)])) + b"".join(encode_tlv(elem, v.encode("utf-8")) for v in value)
                body += encode_tlv(tmpl, inner)
                tags.append(elem)
            else:
                body += encode_tlv(tag, value if name in self.BINARY else value.encode("utf-8"))
                tags.append(tag)
        tag_list = b"".join(t.to_bytes(2 if t > 0xFF else 1, "big") for t in tags)
        return encode_tlv(self.TAG, encode_tlv(0x5C, tag_list) + body)

    @classmethod
    def parse(cls, data: bytes):
        items = _items(unwrap(data, cls.NAME), cls.NAME)
        if not items or items[0][0] != 0x5C:
            raise LdsError(cls.NAME, "the tag list (DO'5C') must come first")
        by_tag = {tag: name for name, tag in cls.FIELDS.items()}
        by_tmpl = {tmpl: name for name, (tmpl, _) in cls.LISTS.items()}
        values: dict[str, object] = {}
        for tag, value in items[1:]:
            if tag in by_tmpl:
                name = by_tmpl[tag]
                inner = _items(value, cls.NAME)
                elems = tuple(v.decode("utf-8", "replace") for t, v in inner if t == cls.LISTS[name][1])
                values[name] = elems
            elif tag in by_tag:
                name = by_tag[tag]
                values[name] = value if name in cls.BINARY else _text(value, cls.NAME, name)
            else:
                raise LdsError(cls.NAME, f"unknown data object {tag:X}")
        out = cls(**values)
        if out.encode() != bytes(data):
            raise LdsError(cls.NAME, "tag list does not match the data objects, or they are out of order")
        return out


def _text(value: bytes, file: str, name: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LdsError(file, f"{name} is not UTF-8") from e


@dataclass(frozen=True)
class Dg11(_TaggedGroup):
    """DG11 additional personal details (Part 10 §4.7.11). Names use ``<`` as in the MRZ
    (``ERIKSSON<<ANNA<MARIA``); ``full_date_of_birth`` is YYYYMMDD."""

    full_name: str | None = None
    other_names: tuple[str, ...] | None = None
    personal_number: str | None = None
    full_date_of_birth: str | None = None
    place_of_birth: str | None = None
    permanent_address: str | None = None
    telephone: str | None = None
    profession: str | None = None
    title: str | None = None
    personal_summary: str | None = None
    proof_of_citizenship: bytes | None = None
    other_valid_td_numbers: str | None = None
    custody_information: str | None = None

    NAME = "DG11"
    TAG = 0x6B
    FIELDS = {"full_name": 0x5F0E, "other_names": 0x5F0F, "personal_number": 0x5F10, "full_date_of_birth": 0x5F2B,
              "place_of_birth": 0x5F11, "permanent_address": 0x5F42, "telephone": 0x5F12, "profession": 0x5F13,
              "title": 0x5F14, "personal_summary": 0x5F15, "proof_of_citizenship": 0x5F16,
              "other_valid_td_numbers": 0x5F17, "custody_information": 0x5F18}  # fmt: skip
    BINARY = frozenset({"proof_of_citizenship"})
    LISTS = {"other_names": (0xA0, 0x5F0F)}


@dataclass(frozen=True)
class Dg12(_TaggedGroup):
    """DG12 additional document details (Part 10 §4.7.12): dates YYYYMMDD, personalisation time
    YYYYMMDDhhmmss, document images as JPEG bytes."""

    issuing_authority: str | None = None
    date_of_issue: str | None = None
    other_persons: tuple[str, ...] | None = None
    endorsements: str | None = None
    tax_exit_requirements: str | None = None
    image_of_front: bytes | None = None
    image_of_rear: bytes | None = None
    personalization_time: str | None = None
    personalization_device_serial: str | None = None

    NAME = "DG12"
    TAG = 0x6C
    FIELDS = {"issuing_authority": 0x5F19, "date_of_issue": 0x5F26, "other_persons": 0x5F1A, "endorsements": 0x5F1B,
              "tax_exit_requirements": 0x5F1C, "image_of_front": 0x5F1D, "image_of_rear": 0x5F1E,
              "personalization_time": 0x5F55, "personalization_device_serial": 0x5F56}  # fmt: skip
    BINARY = frozenset({"image_of_front", "image_of_rear"})
    LISTS = {"other_persons": (0xA0, 0x5F1A)}


def parse_lds_file(name: str, data: bytes):
    """Parse a file by name (``EF.COM``, ``DG1``, ``DG2``, ``DG3``, ``DG7``, ``DG11``, ``DG12``, ``DG14``,
    ``DG15``, ``EF.SOD``, ``EF.CardAccess``) into its object; unknown DGs come back as their raw value."""
    from emrtd import _dg2, _secinfo, _sod

    parsers = {
        "EF.COM": EfCom.parse, "DG1": Dg1.parse, "DG2": _dg2.BiometricGroup.parse_dg2,
        "DG3": _dg2.BiometricGroup.parse_dg3, "DG4": lambda d: _dg2.BiometricGroup._parse(d, "DG4"), "DG7": Dg7.parse, "DG11": Dg11.parse, "DG12": Dg12.parse,
        "DG14": _secinfo.SecurityInfos.parse_dg14, "DG15": _secinfo.parse_dg15, "EF.SOD": _sod.Sod.parse,
        "EF.CardAccess": _secinfo.SecurityInfos.parse,
    }  # fmt: skip
    if name in parsers:
        try:
            return parsers[name](data)
        except (LdsError, _sod.SodError):
            raise
        except (ValueError, TlvError) as e:
            raise LdsError(name, str(e)) from e
    if name in DG_TAGS:
        return unwrap(data, name)
    raise LdsError(name, "unknown file")
