"""Finger minutiae records: ISO/IEC 19794-2:2005 (encode and decode) and ANSI INCITS 378-2004
(decode, plus an encoder used by tests and interchange).

ISO/IEC 19794-2:2005 clause 7 (record format):
  general header, 24 bytes: "FMR\\0", " 20\\0", record length (4, big endian),
  capture equipment certification (4 bits) + device type (12 bits), image size x, y (2 + 2),
  resolution x, y in pixels per centimetre (2 + 2), number of finger views (1), reserved (1);
  each finger view: position (1), view number (4 bits) + impression type (4 bits), finger
  quality (1), number of minutiae (1), then 6 bytes per minutia: type (2 bits: 01 ending,
  10 bifurcation, 00 other) + x (14 bits), reserved (2 bits) + y (14 bits), angle in units of
  360/256 degrees counter-clockwise from the x axis, quality (1); then the extended data block
  length (2) and the extended data.
ANSI INCITS 378-2004 differs: record length is 2 bytes (or 0 followed by 4 bytes), a 4-byte
CBEFF product identifier follows it, resolution is in pixels per centimetre too, the header is
26 bytes, and angles are in units of 2 degrees.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

from ._errors import TemplateFormatError

MAGIC = b"FMR\x00"
VERSION = b" 20\x00"
TYPES = {1: "ending", 2: "bifurcation", 0: "other"}
TYPE_CODES = {"ending": 1, "bifurcation": 2, "other": 0}


@dataclass
class RawMinutia:
    x: int
    y: int
    angle: float  # radians
    type: str
    quality: int


@dataclass
class Record:
    """Decoded record: the first finger view's minutiae plus what is needed to re-encode it."""

    width: int
    height: int
    res_x: int  # pixels per centimetre
    res_y: int
    position: int = 0
    view: int = 0
    impression: int = 0
    quality: int = 0
    minutiae: list[RawMinutia] = field(default_factory=list)
    equipment: int = 0  # certification flag + device type (16 bits)
    extended: bytes = b""  # extended data of the first view (raw)
    other_views: bytes = b""  # raw bytes of views 2..n (ISO) kept for round trips
    n_views: int = 1
    fmt: str = "iso"
    product: int = 0  # ANSI CBEFF product identifier


def _view_minutiae(data: bytes, off: int, n: int, angle_unit: float) -> tuple[list[RawMinutia], int]:
    out = []
    end = off + 6 * n
    if end > len(data):
        raise TemplateFormatError(f"record truncated inside the minutiae ({len(data)} bytes, need {end})")
    for k in range(n):
        b = data[off + 6 * k : off + 6 * k + 6]
        tx, ry, ang, q = struct.unpack(">HHBB", b)
        t = tx >> 14
        if t == 3:
            raise TemplateFormatError(f"minutia {k}: reserved type code 11")
        ang_rad = ang * angle_unit
        if angle_unit > 2 * math.pi / 256 and ang >= 180:
            raise TemplateFormatError(f"minutia {k}: ANSI angle {ang} above 179")
        if q > 100:
            raise TemplateFormatError(f"minutia {k}: quality {q} above 100")
        out.append(RawMinutia(tx & 0x3FFF, ry & 0x3FFF, ang_rad, TYPES[t], q))
    return out, end


def _views(data: bytes, off: int, n_views: int, angle_unit: float, rec: Record, end: int) -> None:
    for v in range(n_views):
        if off + 4 > end:
            raise TemplateFormatError(f"record truncated in finger view header {v}")
        pos, vi, fq, nm = struct.unpack(">BBBB", data[off : off + 4])
        if pos > 10:
            raise TemplateFormatError(f"finger position {pos} is not 0-10")
        if fq > 100:
            raise TemplateFormatError(f"finger quality {fq} above 100")
        start_view = off
        mins, off = _view_minutiae(data, off + 4, nm, angle_unit)
        if off + 2 > end:
            raise TemplateFormatError("record truncated before the extended data length")
        (ext_len,) = struct.unpack(">H", data[off : off + 2])
        ext = data[off + 2 : off + 2 + ext_len]
        off += 2 + ext_len
        if off > end:
            raise TemplateFormatError("extended data runs past the record length")
        if v == 0:
            rec.position, rec.view, rec.impression, rec.quality = pos, vi >> 4, vi & 0x0F, fq
            rec.minutiae, rec.extended = mins, ext
            first_end = off
        del start_view
    if off != end:
        raise TemplateFormatError(f"record length {end} does not match its content ({off} bytes)")
    rec.other_views = data[first_end:end]


def _check_tail(data: bytes, length: int) -> None:
    if length > len(data):
        raise TemplateFormatError(f"record length {length} exceeds the {len(data)} bytes given")
    if any(data[length:]):
        raise TemplateFormatError("non-zero bytes after the end of the record")


def decode_iso(data: bytes) -> Record:
    if len(data) < 24:
        raise TemplateFormatError(f"{len(data)} bytes is shorter than the 24-byte ISO header")
    (length,) = struct.unpack(">I", data[8:12])
    if length < 24:
        raise TemplateFormatError(f"ISO record length {length} below the header size")
    _check_tail(data, length)
    eq, w, h, rx, ry, nv, _res = struct.unpack(">HHHHHBB", data[12:24])
    if rx == 0 or ry == 0:
        raise TemplateFormatError("zero resolution")
    if nv == 0:
        raise TemplateFormatError("record has no finger view")
    rec = Record(w, h, rx, ry, equipment=eq, n_views=nv, fmt="iso")
    _views(data, 24, nv, 2 * math.pi / 256, rec, length)
    return rec


def decode_ansi(data: bytes) -> Record:
    if len(data) < 26:
        raise TemplateFormatError(f"{len(data)} bytes is shorter than the 26-byte ANSI header")
    (length,) = struct.unpack(">H", data[8:10])
    off = 10
    if length == 0:
        if len(data) < 30:
            raise TemplateFormatError("ANSI header truncated")
        (length,) = struct.unpack(">I", data[10:14])
        off = 14
    if length < off + 16:
        raise TemplateFormatError(f"ANSI record length {length} below the header size")
    _check_tail(data, length)
    product, eq, w, h, rx, ry, nv, _res = struct.unpack(">IHHHHHBB", data[off : off + 16])
    if rx == 0 or ry == 0:
        raise TemplateFormatError("zero resolution")
    if nv == 0:
        raise TemplateFormatError("record has no finger view")
    rec = Record(w, h, rx, ry, equipment=eq, n_views=nv, fmt="ansi", product=product)
    _views(data, off + 16, nv, 2 * math.pi / 180, rec, length)
    return rec


def decode(data: bytes) -> Record:
    """Decode ISO 19794-2:2005 or ANSI 378-2004 (detected from the header); TemplateFormatError otherwise."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TemplateFormatError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if data[:4] != MAGIC:
        raise TemplateFormatError("not a finger minutiae record (format identifier is not 'FMR\\0')")
    if data[4:8] != VERSION:
        raise TemplateFormatError(f"unsupported record version {data[4:8]!r}")
    errors = []
    for fn in (decode_iso, decode_ansi):
        try:
            return fn(data)
        except TemplateFormatError as e:
            errors.append(f"{fn.__name__[7:].upper()}: {e}")
        except (struct.error, IndexError, KeyError) as e:  # pragma: no cover - guarded above
            errors.append(f"{fn.__name__[7:].upper()}: {e}")
    raise TemplateFormatError("; ".join(errors))


def _minutiae_bytes(mins: list[RawMinutia], angle_units: int) -> bytes:
    out = bytearray()
    for m in mins:
        if not (0 <= m.x < 1 << 14 and 0 <= m.y < 1 << 14):
            raise TemplateFormatError(f"minutia position ({m.x}, {m.y}) does not fit 14 bits")
        a = int(round((m.angle % (2 * math.pi)) / (2 * math.pi) * angle_units)) % angle_units
        out += struct.pack(">HHBB", (TYPE_CODES[m.type] << 14) | m.x, m.y, a, max(0, min(100, int(m.quality))))
    return bytes(out)


def _view_bytes(rec: Record, angle_units: int) -> bytes:
    if len(rec.minutiae) > 255:
        raise TemplateFormatError("more than 255 minutiae in one view")
    head = struct.pack(">BBBB", rec.position, (rec.view << 4) | rec.impression, rec.quality, len(rec.minutiae))
    return head + _minutiae_bytes(rec.minutiae, angle_units) + struct.pack(">H", len(rec.extended)) + rec.extended


def encode_iso(rec: Record) -> bytes:
    body = _view_bytes(rec, 256) + (rec.other_views if rec.fmt == "iso" else b"")
    nv = rec.n_views if rec.fmt == "iso" else 1
    length = 24 + len(body)
    head = MAGIC + VERSION + struct.pack(">IHHHHHBB", length, rec.equipment, rec.width, rec.height, rec.res_x, rec.res_y, nv, 0)
    return head + body


def encode_ansi(rec: Record) -> bytes:
    body = _view_bytes(rec, 180)
    length = 26 + len(body)
    if length > 0xFFFF:
        raise TemplateFormatError("record too long for a 2-byte ANSI length")
    head = MAGIC + VERSION + struct.pack(">HIHHHHHBB", length, rec.product, rec.equipment, rec.width, rec.height, rec.res_x, rec.res_y, 1, 0)
    return head + body
