"""ISO/IEC 19794-2:2005 and ANSI INCITS 378-2004 finger minutiae records."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biometrics.finger import FingerprintTemplate, Minutia, TemplateFormatError
from tests.conftest import shared_path


def _sourceafis(name: str) -> bytes:
    return shared_path("fingerprints", "sourceafis", name).read_bytes()


def test_sourceafis_iso_template_imports_and_round_trips_byte_for_byte():
    data = _sourceafis("iso-probe.dat")
    t = FingerprintTemplate.from_bytes(data)
    assert (t.width, t.height, t.dpi) == (224, 288, 500)
    assert len(t.minutiae) == 38
    first = t.minutiae[0]
    assert (first.x, first.y, first.type) == (78, 13, "ending")
    assert first.direction == pytest.approx(0x1E * 2 * math.pi / 256)
    assert {m.type for m in t.minutiae} == {"ending", "bifurcation"}
    length = struct.unpack(">I", data[8:12])[0]
    assert t.to_bytes() == data[:length]  # the file is zero-padded after the record


def test_sourceafis_nonmatching_template_differs():
    a = FingerprintTemplate.from_bytes(_sourceafis("iso-probe.dat"))
    b = FingerprintTemplate.from_bytes(_sourceafis("iso-nonmatching.dat"))
    assert [(m.x, m.y) for m in a.minutiae] != [(m.x, m.y) for m in b.minutiae]


def _ansi_record() -> bytes:
    """A hand-built ANSI INCITS 378-2004 record: 2 minutiae, 500 dpi (197 px/cm), right index."""
    mins = struct.pack(">HHBB", (1 << 14) | 100, 200, 45, 60) + struct.pack(">HHBB", (2 << 14) | 150, 120, 179, 80)
    view = struct.pack(">BBBB", 2, 0, 70, 2) + mins + struct.pack(">H", 0)
    length = 26 + len(view)
    head = b"FMR\x00 20\x00" + struct.pack(">HIHHHHHBB", length, 0x00330001, 0, 300, 400, 197, 197, 1, 0)
    return head + view


def test_ansi_378_record_imports():
    t = FingerprintTemplate.from_bytes(_ansi_record())
    assert (t.width, t.height, t.dpi, t.position, t.quality) == (300, 400, 500, 2, 70)
    a, b = t.minutiae
    assert (a.x, a.y, a.type, a.quality) == (100, 200, "ending", 60)
    assert a.direction == pytest.approx(math.radians(90))  # 45 units of 2 degrees
    assert (b.x, b.y, b.type) == (150, 120, "bifurcation")
    assert b.direction == pytest.approx(math.radians(358))
    # re-encoded as ISO: same minutiae, angle in 1.40625-degree units
    iso = FingerprintTemplate.from_bytes(t.to_bytes())
    assert [(m.x, m.y, m.type) for m in iso.minutiae] == [(100, 200, "ending"), (150, 120, "bifurcation")]
    assert iso.minutiae[0].direction == pytest.approx(math.radians(90))


def test_iso_to_ansi_and_back_keeps_minutiae():
    t = FingerprintTemplate.from_bytes(_sourceafis("iso-probe.dat"))
    ansi = t.to_ansi_bytes()
    assert struct.unpack(">H", ansi[8:10])[0] == len(ansi)
    back = FingerprintTemplate.from_bytes(ansi)
    assert [(m.x, m.y, m.type) for m in back.minutiae] == [(m.x, m.y, m.type) for m in t.minutiae]
    for m, n in zip(back.minutiae, t.minutiae, strict=True):
        assert abs((m.direction - n.direction + math.pi) % (2 * math.pi) - math.pi) <= math.radians(1.01)


def test_built_template_round_trips_byte_for_byte():
    mins = [Minutia(10, 20, 1.0, "ending", 50), Minutia(300, 17, 6.0, "bifurcation", 99), Minutia(0, 0, 0.0, "other", 0)]
    t = FingerprintTemplate.from_minutiae(mins, width=400, height=500, dpi=500, quality=77, position=7)
    data = t.to_bytes()
    assert data[:8] == b"FMR\x00 20\x00" and struct.unpack(">I", data[8:12])[0] == len(data) == 24 + 4 + 18 + 2
    assert FingerprintTemplate.from_bytes(data).to_bytes() == data


@pytest.mark.parametrize(
    "data",
    [b"", b"FMR", b"XYZ\x00 20\x00" + bytes(30), b"FMR\x00 21\x00" + bytes(30), "FMR", None],
)
def test_garbage_is_a_named_error(data):
    with pytest.raises(TemplateFormatError):
        FingerprintTemplate.from_bytes(data)


def test_every_truncation_is_a_named_error():
    data = _sourceafis("iso-probe.dat")
    record = data[: struct.unpack(">I", data[8:12])[0]]
    for cut in range(len(record)):
        with pytest.raises(TemplateFormatError):
            FingerprintTemplate.from_bytes(record[:cut])
    with pytest.raises(TemplateFormatError):
        FingerprintTemplate.from_bytes(record + b"\x01")  # non-zero bytes after the record


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(blob):
    for data in (blob, b"FMR\x00 20\x00" + blob):
        try:
            FingerprintTemplate.from_bytes(data)
        except TemplateFormatError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 48 + 30 * 6), st.integers(0, 255))
def test_mutated_records_decode_or_fail_by_name(pos, value):
    mins = [Minutia(10 * k, 5 * k, 0.1 * k, "ending", 40) for k in range(30)]
    data = bytearray(FingerprintTemplate.from_minutiae(mins, width=400, height=400).to_bytes())
    data[pos % len(data)] = value
    try:
        t = FingerprintTemplate.from_bytes(bytes(data))
    except TemplateFormatError:
        return
    assert t.to_bytes() is not None
