"""Secure messaging (Doc 9303 Part 11 §9.8): terminal <-> chip round trips, MAC/SSC refusal, hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emrtd._apdu import CommandApdu, ResponseApdu
from emrtd._crypto import SmCipher
from emrtd._sm import (
    ChipSecureMessaging,
    SecureMessaging,
    SecureMessagingError,
    SmFormatError,
    SmMacError,
    SmSessionAborted,
)

SUITES = [("3DES", 16), ("AES", 16), ("AES", 24), ("AES", 32)]


def _pair(cipher="AES", klen=16, ssc=5):
    c = SmCipher(cipher, bytes(range(klen)), bytes(range(100, 100 + klen)))
    return SecureMessaging(c, ssc), ChipSecureMessaging(c, ssc)


@pytest.mark.parametrize(("cipher", "klen"), SUITES)
@pytest.mark.parametrize(
    "cmd",
    [
        CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x01\x1e"),
        CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=4),
        CommandApdu(0x00, 0xB0, 0x7F, 0xFF, ne=0xDF),
        CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=0x1000),
        CommandApdu(0x00, 0xB1, 0x00, 0x00, b"\x54\x02\x80\x00", ne=256),
        CommandApdu(0x00, 0x88, 0x00, 0x00, bytes(8), ne=256),
        CommandApdu(0x00, 0xD6, 0x00, 0x00, bytes(400)),
    ],
)
def test_round_trip(cipher, klen, cmd):
    term, chip = _pair(cipher, klen)
    raw = term.protect(cmd)
    assert raw[0] & 0x0C == 0x0C
    assert chip.unprotect_command(raw) == cmd
    resp = ResponseApdu(b"\x53\x03abc" if cmd.ins & 1 else bytes(range(50)), 0x9000)
    assert term.unprotect(chip.protect_response(resp, odd_ins=bool(cmd.ins & 1))) == resp
    # error status words travel protected too
    assert term.unprotect(chip.protect_response(ResponseApdu(b"", 0x6A82))).sw == 0x6A82
    assert term.ssc == chip.ssc


def test_extended_length_forced_and_automatic():
    term, chip = _pair()
    forced = term.protect(CommandApdu(0x00, 0xB0, 0, 0, ne=8), extended=True)
    assert forced[4] == 0x00 and forced[-2:] == b"\x00\x00"
    assert chip.unprotect_command(forced).ne == 8
    raw = term.protect(CommandApdu(0x00, 0xB0, 0, 0, ne=0x1000))
    assert raw[4] == 0x00 and raw[-2:] == b"\x00\x00"  # extended Lc and Le
    assert chip.unprotect_command(raw).ne == 0x1000


def test_every_flipped_bit_of_a_command_is_refused():
    term, _ = _pair("3DES")
    raw = term.protect(CommandApdu(0x00, 0xB0, 0x00, 0x04, ne=0x12))
    for i in range(len(raw)):
        for bit in (0x01, 0x80):
            bad = bytearray(raw)
            bad[i] ^= bit
            chip = ChipSecureMessaging(term.cipher, term.ssc - 1)
            with pytest.raises(SecureMessagingError):
                got = chip.unprotect_command(bytes(bad))
                # a flipped bit in Le (last byte) is outside the MAC and is the only harmless change
                if i == len(raw) - 1:
                    assert got.ne == 0x12
                    raise SmMacError("Le is not MAC-protected")


def test_replayed_command_wrong_ssc_is_refused():
    term, chip = _pair()
    raw = term.protect(CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=4))
    chip.unprotect_command(raw)
    with pytest.raises(SmMacError):
        chip.unprotect_command(raw)  # SSC has moved on


def test_response_checks():
    term, chip = _pair()
    term.protect(CommandApdu(0x00, 0xB0, 0, 0, ne=4))
    with pytest.raises(SmSessionAborted) as e:
        term.unprotect(bytes.fromhex("6988"))
    assert e.value.sw == 0x6988
    with pytest.raises(SmFormatError):
        term.unprotect(bytes.fromhex("9000"))
    with pytest.raises(SmFormatError):
        term.unprotect(bytes.fromhex("990290009000"))  # no MAC
    term2, chip2 = _pair()
    chip2.ssc += 1
    resp = chip2.protect_response(ResponseApdu(b"data", 0x9000))
    term2.ssc += 1
    with pytest.raises(SmMacError):
        term2.unprotect(resp[:-2][:-1] + bytes([resp[-3] ^ 1]) + resp[-2:])


def test_protect_refuses_already_protected_cla():
    term, _ = _pair()
    with pytest.raises(SmFormatError):
        term.protect(CommandApdu(0x0C, 0xB0, 0, 0, ne=4))


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_to_terminal_unprotect_raise_named_errors(raw):
    term, _ = _pair()
    try:
        term.unprotect(raw)
    except SecureMessagingError:
        pass


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_to_chip_unprotect_raise_named_errors(raw):
    _, chip = _pair("3DES")
    with pytest.raises(SecureMessagingError):
        chip.unprotect_command(b"\x0c" + raw)


@given(st.integers(0, 80))
def test_truncated_protected_response(n):
    term, chip = _pair()
    chip.ssc += 1
    full = chip.protect_response(ResponseApdu(bytes(40), 0x9000))
    term.ssc += 0
    if n >= len(full):
        return
    with pytest.raises(SecureMessagingError):
        term.unprotect(full[:n])
