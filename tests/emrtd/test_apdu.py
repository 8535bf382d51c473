"""Command/response APDUs: the seven ISO/IEC 7816-3 cases, named status words, hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emrtd._apdu import (
    ApduError,
    AuthenticationFailed,
    CommandApdu,
    FileNotFound,
    ResponseApdu,
    SecurityStatusNotSatisfied,
    StatusWordError,
    UnknownStatusWord,
    raise_for_status,
    status_error,
)

H = bytes.fromhex


@pytest.mark.parametrize(
    ("apdu", "raw"),
    [
        (CommandApdu(0x00, 0xA4, 0x04, 0x0C), "00A4040C"),
        (CommandApdu(0x00, 0x84, 0x00, 0x00, ne=8), "0084000008"),
        (CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=256), "00B0000000"),
        (CommandApdu(0x00, 0xA4, 0x02, 0x0C, H("011E")), "00A4020C02011E"),
        (CommandApdu(0x00, 0x82, 0x00, 0x00, bytes(40), ne=40), "0082000028" + "00" * 40 + "28"),
        (CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=65536), "00B00000000000"),
        (CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=0x1234), "00B00000001234"),
        (CommandApdu(0x00, 0xD6, 0x00, 0x00, bytes(300)), "00D6000000012C" + "00" * 300),
        (CommandApdu(0x0C, 0xB0, 0x00, 0x00, bytes(300), ne=65536), "0CB0000000012C" + "00" * 300 + "0000"),
    ],
)
def test_encode_and_parse_each_case(apdu, raw):
    assert apdu.encode() == H(raw)
    assert CommandApdu.parse(H(raw)) == apdu


def test_forced_extended_and_refused_short():
    apdu = CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=4)
    assert apdu.encode(extended=True) == H("00B00000000004")
    with pytest.raises(ApduError):
        CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=300).encode(extended=False)


@pytest.mark.parametrize("raw", ["", "00A4", "00A404", "00A4040C05AABB", "00A4040C0000", "00A4040C000003AA", "00A4040C0000010102"])
def test_malformed_commands_raise(raw):
    with pytest.raises(ApduError):
        CommandApdu.parse(H(raw))


def test_bad_fields():
    with pytest.raises(ApduError):
        CommandApdu(0x100, 0, 0, 0)
    with pytest.raises(ApduError):
        CommandApdu(0, 0, 0, 0, ne=0)
    with pytest.raises(ApduError):
        CommandApdu(0, 0, 0, 0, bytes(70000))


def test_response_and_named_status_words():
    r = ResponseApdu.parse(H("0102039000"))
    assert r.data == H("010203") and r.ok and r.check() is r
    with pytest.raises(ApduError):
        ResponseApdu.parse(b"\x90")
    with pytest.raises(SecurityStatusNotSatisfied):
        ResponseApdu.parse(H("6982")).check()
    with pytest.raises(FileNotFound):
        raise_for_status(0x6A82)
    assert isinstance(status_error(0x63C2), AuthenticationFailed)
    assert isinstance(status_error(0x6F00), UnknownStatusWord)
    assert status_error(0x6982).sw == 0x6982


@given(st.binary(max_size=600))
def test_random_command_bytes_parse_or_raise_apdu_error(raw):
    try:
        apdu = CommandApdu.parse(raw)
    except ApduError:
        return
    assert CommandApdu.parse(apdu.encode(extended=apdu.needs_extended() or None)) == apdu


@given(st.binary(max_size=300))
def test_random_response_bytes(raw):
    try:
        r = ResponseApdu.parse(raw)
    except ApduError:
        assert len(raw) < 2
        return
    assert r.encode() == raw
    try:
        r.check()
    except StatusWordError as e:
        assert e.sw == r.sw != 0x9000


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=70), st.one_of(st.none(), st.integers(1, 65536)))
def test_roundtrip_property(ins, p1, data, ne):
    apdu = CommandApdu(0x00, ins, p1, 0x00, data, ne)
    assert CommandApdu.parse(apdu.encode()) == apdu
