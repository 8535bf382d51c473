"""The virtual chip answers like a real one, and refuses what a real one refuses (Doc 9303 Part 10/11)."""

from __future__ import annotations

import os
from functools import cache

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from emrtd import BacKey, CanKey, read_document
from emrtd._apdu import CommandApdu, ResponseApdu
from emrtd._bac import perform_bac
from emrtd._pace import perform_pace
from emrtd._secinfo import (
    ECDSA_PLAIN,
    ActiveAuthenticationInfo,
    ChipAuthenticationInfo,
    ChipAuthenticationPublicKeyInfo,
    PaceInfo,
    SecurityInfos,
    ca_oid,
    encode_dg15,
    pace_oid,
)
from emrtd._tlv import encode_tlv
from emrtd.sim import InProcessTransport, VirtualChip, make_atr

MRZ = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"
KEY = BacKey("L898902C3", "740812", "120415")
CAN = "123456"


def spki(private_key) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@cache
def _rsa_key():
    return rsa.generate_private_key(65537, 1024)


def make_files(*, pace=(pace_oid("ECDH", "GM", "AES", 128), 13), dg2_size=2000, ca_key=None, ca_cipher="AES",
               aa_key=None, mrz=MRZ):
    com_tags = [0x61, 0x75]
    files = {
        "DG1": encode_tlv(0x61, encode_tlv(0x5F1F, mrz.encode())),
        "DG2": encode_tlv(0x75, os.urandom(dg2_size)),
        "DG3": encode_tlv(0x63, b"fingers"),
        "EF.SOD": encode_tlv(0x77, b"sod"),
    }
    if pace:
        files["EF.CardAccess"] = SecurityInfos([PaceInfo(pace[0], 2, pace[1])]).encode()
    infos = []
    if ca_key is not None:
        infos += [ChipAuthenticationPublicKeyInfo("0.4.0.127.0.7.2.2.1.2", spki(ca_key)),
                  ChipAuthenticationInfo(ca_oid("ECDH", ca_cipher, 128))]
    if aa_key is not None:
        files["DG15"] = encode_dg15(spki(aa_key))
        com_tags.append(0x6F)
        if isinstance(aa_key, ec.EllipticCurvePrivateKey):
            infos.append(ActiveAuthenticationInfo(ECDSA_PLAIN + ".3"))
    if infos:
        files["DG14"] = SecurityInfos(infos).encode_dg14()
        com_tags.append(0x6E)
    files["EF.COM"] = encode_tlv(0x60, encode_tlv(0x5F01, b"0107") + encode_tlv(0x5F36, b"040000")
                                 + encode_tlv(0x5C, bytes(com_tags)))
    return files


def make_chip(**kw) -> VirtualChip:
    chip_kw = {k: kw.pop(k) for k in list(kw) if k in ("bac_enabled", "extended_length", "rng")}
    files = make_files(**kw)
    return VirtualChip(files, bac_key=KEY, can=CAN, aa_key=kw.get("aa_key"), ca_key=kw.get("ca_key"), **chip_kw)


def send(chip, hexapdu: str) -> ResponseApdu:
    return ResponseApdu.parse(chip.transmit(bytes.fromhex(hexapdu)))


def test_atr_has_valid_tck():
    atr = make_atr()
    x = 0
    for b in atr[1:]:
        x ^= b
    assert atr[0] == 0x3B and x == 0


def test_plain_commands_and_status_words():
    chip = make_chip()
    assert send(chip, "00A4020C02011C").sw == 0x9000  # EF.CardAccess is free to read
    assert send(chip, "00B0000004").sw == 0x9000
    assert send(chip, "00A4020C02011E").sw == 0x6A82  # EF.COM lives in the LDS application
    assert send(chip, "00A4040C07A0000002471001").sw == 0x9000
    assert send(chip, "00A4040C07A0000002471002").sw == 0x6A82
    assert send(chip, "00A4020C02011E").sw == 0x9000
    assert send(chip, "00B0000004").sw == 0x6982  # unauthenticated read of a protected file
    assert send(chip, "00B0810004").sw == 0x6982  # ... also by SFI
    assert send(chip, "00A4020C020199").sw == 0x6A82
    assert send(chip, "00CA000000").sw == 0x6D00
    assert send(chip, "80B0000004").sw == 0x6E00
    assert send(chip, "0084000004").sw == 0x6700
    assert send(chip, "00A4").sw == 0x6700
    assert send(chip, "0088000008" + "00" * 8 + "00").sw in (0x6982, 0x6D00)


def _bac_session(chip):
    t = InProcessTransport(chip)
    send(chip, "00A4040C07A0000002471001")
    return t, perform_bac(t, KEY).sm


def test_wrong_mac_is_refused_and_the_session_dropped():
    chip = make_chip(pace=None)
    t, sm = _bac_session(chip)
    raw = bytearray(sm.protect(CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x01\x1e")))
    raw[-3] ^= 0x40  # inside DO'8E'
    assert ResponseApdu.parse(t.transmit(bytes(raw))).sw == 0x6988
    assert chip.session == ""
    # the chip dropped its keys: even a correct next command is not accepted
    assert ResponseApdu.parse(t.transmit(sm.protect(CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x01\x1e")))).sw == 0x6987


def test_wrong_ssc_is_refused():
    chip = make_chip(pace=None)
    t, sm = _bac_session(chip)
    sm.ssc += 1  # terminal out of step
    assert ResponseApdu.parse(t.transmit(sm.protect(CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x01\x1e")))).sw == 0x6988
    chip2 = make_chip(pace=None)
    t2, sm2 = _bac_session(chip2)
    cmd = sm2.protect(CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x01\x1e"))
    assert sm2.unprotect(t2.transmit(cmd)).sw == 0x9000
    assert ResponseApdu.parse(t2.transmit(cmd)).sw == 0x6988  # replay


def test_plain_command_ends_secure_messaging():
    chip = make_chip(pace=None)
    t, sm = _bac_session(chip)
    assert sm.unprotect(t.transmit(sm.protect(CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x01\x01")))).ok
    assert send(chip, "00B0000004").sw == 0x6982
    assert chip.session == ""


def test_protected_reads_and_status_words():
    chip = make_chip(pace=None, dg2_size=40000)
    t, sm = _bac_session(chip)

    def ps(cmd):
        return sm.unprotect(t.transmit(sm.protect(cmd)))

    assert ps(CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x01\x02")).ok
    assert ps(CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=4)).data[:2] == b"\x75\x82"
    assert ps(CommandApdu(0x00, 0xB0, 0x7F, 0xFF, ne=2)).ok
    big = ps(CommandApdu(0x00, 0xB1, 0x00, 0x00, b"\x54\x02\x90\x00", ne=16))  # offset 36864 via odd INS
    assert big.ok and big.data[:2] == b"\x53\x10"
    assert ps(CommandApdu(0x00, 0xB0, 0x7F, 0xFF, ne=256)).ok
    assert ps(CommandApdu(0x00, 0xB1, 0x00, 0x00, b"\x54\x03\x01\x00\x00", ne=16)).sw == 0x6B00
    tail = ps(CommandApdu(0x00, 0xB1, 0x00, 0x00, b"\x54\x02\x9C\x40", ne=256))
    assert tail.sw == 0x6282  # fewer than Ne bytes left
    assert ps(CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x01\x03")).ok
    assert ps(CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=4)).sw == 0x6982  # DG3 needs EAC
    assert ps(CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x01\x05")).sw == 0x6A82
    assert ps(CommandApdu(0x00, 0xB0, 0x9E, 0x00, ne=4)).ok  # SFI 1E = EF.COM
    assert chip.session == "BAC"


def test_bac_refused_with_wrong_key_and_when_disabled():
    from emrtd import BacError

    chip = make_chip(pace=None)
    send(chip, "00A4040C07A0000002471001")
    with pytest.raises(BacError) as e:
        perform_bac(InProcessTransport(chip), BacKey("L898902C3", "740812", "120416"))
    assert e.value.reason == "external_authenticate"
    chip = make_chip(bac_enabled=False)
    with pytest.raises(BacError):
        perform_bac(InProcessTransport(chip), KEY)


def test_pace_refused_with_wrong_can():
    from emrtd import PaceError

    chip = make_chip()
    ca = SecurityInfos.parse(chip.files["EF.CardAccess"])
    with pytest.raises(PaceError) as e:
        perform_pace(InProcessTransport(chip), CanKey("654321"), ca)
    assert e.value.reason == "mutual_authentication"
    assert chip.session == ""
    assert perform_pace(InProcessTransport(chip), CanKey(CAN), ca).password == "CAN"
    assert chip.session == "PACE"


def test_pace_steps_out_of_order_are_refused():
    chip = make_chip()
    assert send(chip, "10860000027C0000").sw == 0x6985  # GA without MSE:Set AT
    assert send(chip, "0022C1A412800A04007F0007020204020283010384010D").sw == 0x6A88  # unknown password ref
    assert send(chip, "0022C1A412800A04007F0007020204020483010284010D").sw == 0x6A80  # suite not offered


def test_chip_reads_cleanly_end_to_end():
    chip = make_chip(aa_key=_rsa_key(), ca_key=ec.generate_private_key(ec.SECP256R1()))
    res = read_document(InProcessTransport(chip), KEY)
    assert res.valid and res.access_protocol == "PACE"
    assert set(res.files) >= {"EF.COM", "DG1", "DG2", "DG14", "DG15", "EF.SOD"}
    assert "DG3" not in res.files


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_FUZZ_CHIP = make_chip(aa_key=ec.generate_private_key(ec.SECP256R1()), ca_key=ec.generate_private_key(ec.SECP256R1()))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([0x00, 0x0C, 0x10, 0x80]), st.sampled_from([0xA4, 0xB0, 0xB1, 0x84, 0x82, 0x22, 0x86, 0x88, 0xCA]),
       st.binary(min_size=2, max_size=2), st.binary(max_size=80), st.booleans())
def test_random_commands_never_crash_the_chip(cla, ins, p1p2, body, select_first):
    chip = _FUZZ_CHIP
    chip.reset()
    if select_first:
        chip.transmit(bytes.fromhex("00A4040C07A0000002471001"))
    raw = bytes([cla, ins]) + p1p2 + body
    out = ResponseApdu.parse(chip.transmit(raw))
    assert out.sw != 0x9000 or ins in (0xA4, 0xB0, 0x84, 0x22, 0x86, 0xB1)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_random_protected_commands_in_a_session_are_refused(body):
    chip = make_chip(pace=None)
    t, sm = _bac_session(chip)
    out = ResponseApdu.parse(t.transmit(bytes([0x0C, 0xB0, 0x00, 0x00]) + body))
    assert out.sw in (0x6988, 0x6700) and chip.session == ("" if out.sw == 0x6988 else "BAC")
