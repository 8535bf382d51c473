"""PACE GM-ECDH (Doc 9303 Part 11 §4.4) against the virtual chip on NIST and brainpool curves."""

from __future__ import annotations

import pytest

from emrtd import BacKey, CanKey, PaceError
from emrtd._apdu import CommandApdu
from emrtd._bac import AccessKeyError
from emrtd._pace import choose_pace_info, perform_pace, supported_pace_info
from emrtd._secinfo import PaceInfo, SecurityInfos, pace_oid
from emrtd._tlv import encode_tlv
from emrtd.sim import InProcessTransport, VirtualChip
from tests.emrtd.test_chip import CAN, KEY, make_chip

SUITES = [
    ("AES", 128, 13),  # brainpoolP256r1
    ("AES", 128, 12),  # NIST P-256
    ("AES", 192, 15),  # NIST P-384
    ("AES", 192, 16),  # brainpoolP384r1
    ("AES", 256, 17),  # brainpoolP512r1
    ("AES", 256, 18),  # NIST P-521
    ("AES", 128, 11),  # brainpoolP224r1 (not in `cryptography`: our own arithmetic)
    ("3DES", 112, 9),  # brainpoolP192r1
    ("AES", 256, 14),  # brainpoolP320r1
]


@pytest.mark.parametrize(("cipher", "bits", "param"), SUITES)
@pytest.mark.parametrize("key", [KEY, CanKey(CAN)], ids=["mrz", "can"])
def test_pace_suite(cipher, bits, param, key):
    chip = make_chip(pace=(pace_oid("ECDH", "GM", cipher, bits), param))
    t = InProcessTransport(chip)
    res = perform_pace(t, key, SecurityInfos.parse(chip.files["EF.CardAccess"]))
    assert (res.cipher, res.key_bits, res.parameter_id) == (cipher, bits, param)
    assert len(res.ks_enc) == (16 if cipher == "3DES" else bits // 8)
    assert chip.session == "PACE"
    # secure messaging works with the agreed keys
    sm = res.sm
    assert sm.unprotect(t.transmit(sm.protect(CommandApdu(0x00, 0xA4, 0x04, 0x0C, bytes.fromhex("A0000002471001"))))).ok
    assert sm.unprotect(t.transmit(sm.protect(CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x01\x01")))).ok
    dg1 = sm.unprotect(t.transmit(sm.protect(CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=0xDF))))
    assert dg1.data == chip.files["DG1"]


def test_choose_prefers_the_first_supported_info():
    infos = SecurityInfos([
        PaceInfo(pace_oid("DH", "GM", "AES", 128), 2, 7),  # no such DH group
        PaceInfo(pace_oid("ECDH", "IM", "AES", 128), 2, 10),  # P-224: p = 1 mod 4, no IM point encoding
        PaceInfo(pace_oid("ECDH", "GM", "AES", 256), 2, 12),
    ])
    assert choose_pace_info(infos).parameter_id == 12
    assert not supported_pace_info(PaceInfo(pace_oid("ECDH", "GM", "AES", 128), 2, None))
    assert choose_pace_info(SecurityInfos([])) is None


def test_unsupported_suite_is_a_named_error():
    with pytest.raises(PaceError) as e:
        perform_pace(InProcessTransport(make_chip()), KEY, SecurityInfos([PaceInfo(pace_oid("ECDH", "IM"), 2, 10)]))
    assert e.value.reason == "unsupported"


def test_chip_without_password_refuses_mse():
    chip = VirtualChip(make_chip().files, bac_key=None, can=None)
    with pytest.raises(PaceError) as e:
        perform_pace(InProcessTransport(chip), KEY, SecurityInfos.parse(chip.files["EF.CardAccess"]))
    assert e.value.reason == "mse_set_at"


class _EvilChip:
    """Answers PACE with a point that is not on the curve (invalid-curve attack)."""

    def __init__(self):
        self.step = 0

    def transmit(self, apdu: bytes) -> bytes:
        self.step += 1
        if self.step == 1:
            return b"\x90\x00"
        if self.step == 2:
            return encode_tlv(0x7C, encode_tlv(0x80, bytes(16))) + b"\x90\x00"
        return encode_tlv(0x7C, encode_tlv(0x82, b"\x04" + bytes(64))) + b"\x90\x00"


def test_invalid_chip_point_is_refused():
    with pytest.raises(PaceError) as e:
        perform_pace(_EvilChip(), KEY, PaceInfo(pace_oid(), 2, 13))
    assert e.value.reason == "mapping"


@pytest.mark.parametrize("can", ["", "12a", "12345678901"])
def test_bad_can(can):
    with pytest.raises(AccessKeyError):
        CanKey(can)


def test_bad_mrz_key():
    with pytest.raises(AccessKeyError):
        BacKey("L898902C3", "7408", "120415")
    with pytest.raises(AccessKeyError):
        BacKey("L89#", "740812", "120415")


@pytest.mark.parametrize(("cipher", "bits", "param"), [("AES", 128, 0), ("3DES", 112, 1), ("AES", 256, 2)])
def test_pace_dh_generic_mapping(cipher, bits, param):
    chip = make_chip(pace=(pace_oid("DH", "GM", cipher, bits), param))
    res = read_document_for(chip)
    assert (res.access.cipher, res.access.parameter_id) == (cipher, param)


def read_document_for(chip):
    from emrtd import read_document

    res = read_document(InProcessTransport(chip), KEY)
    assert res.access_protocol == "PACE" and res.valid and res.files["DG1"] == chip.files["DG1"]
    return res


def test_dh_public_values_are_validated():
    from emrtd._crypto import CryptoError
    from emrtd._pace import DH_GROUPS

    g = DH_GROUPS[2]
    for bad in (b"\x01", (g.p - 1).to_bytes(256, "big"), b"\x02" + bytes(255), bytes(257)):
        with pytest.raises(CryptoError):
            g.decode_point(bad)
    assert g.decode_point(g.encode_point(g.mul(12345, g.g))) == g.mul(12345, g.g)
