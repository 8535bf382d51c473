"""read_document: PACE preferred, BAC fallback, file reading (short/extended, odd INS), result objects."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from emrtd import AccessControlError, BacKey, CanKey, InProcessTransport, VirtualChip, read_document
from emrtd._reader import _dg1_fields
from emrtd._secinfo import PaceInfo, SecurityInfos, pace_oid
from emrtd._tlv import encode_tlv
from tests.emrtd.test_chip import CAN, KEY, MRZ, _rsa_key, make_chip


def test_pace_preferred_when_offered():
    res = read_document(InProcessTransport(make_chip()), KEY)
    assert res.access_protocol == "PACE" and res.access.password == "MRZ"
    assert res.valid
    assert res.check("access_control").passed and res.check("mrz_consistency").passed


def test_bac_when_no_card_access():
    res = read_document(InProcessTransport(make_chip(pace=None)), KEY)
    assert res.access_protocol == "BAC" and "EF.CardAccess" not in res.files


def test_bac_fallback_when_pace_suite_unsupported():
    chip = make_chip()
    chip.files["EF.CardAccess"] = SecurityInfos([PaceInfo(pace_oid("ECDH", "IM", "AES", 128), 2, 10)]).encode()
    res = read_document(InProcessTransport(chip), KEY)
    assert res.access_protocol == "BAC" and "no supported PACE" in res.pace_fallback_reason


def test_bac_fallback_when_pace_fails():
    chip = make_chip()
    chip.can = None
    chip.bac_key = KEY

    class PaceBreaker:
        """Refuses MSE:Set AT once, like a chip whose PACE is broken."""

        def transmit(self, apdu):
            if apdu[1] == 0x22 and apdu[2] == 0xC1:
                return b"\x6a\x80"
            return chip.transmit(apdu)

    res = read_document(PaceBreaker(), KEY)
    assert res.access_protocol == "BAC" and "PACE failed" in res.pace_fallback_reason


def test_can_on_a_bac_only_chip_is_refused():
    with pytest.raises(AccessControlError) as e:
        read_document(InProcessTransport(make_chip(pace=None)), CanKey(CAN))
    assert e.value.reason == "bac"


def test_wrong_mrz_is_refused():
    with pytest.raises(AccessControlError) as e:
        read_document(InProcessTransport(make_chip(pace=None)), BacKey("L898902C3", "740812", "120416"))
    assert e.value.reason == "bac"
    with pytest.raises(AccessControlError):
        read_document(InProcessTransport(make_chip()), CanKey("999999"))


@pytest.mark.parametrize(("extended", "max_read"), [(False, None), (True, None), (False, 0x40), (True, 0x7FFF)])
def test_large_file_short_and_extended(extended, max_read):
    chip = make_chip(dg2_size=70000, pace=None)
    t = InProcessTransport(chip, keep_log=True)
    res = read_document(t, KEY, extended_length=extended, max_read=max_read)
    assert res.files["DG2"] == chip.files["DG2"]
    odd = [c for c, _ in t.log if c[1] == 0xB1]
    assert odd, "offsets beyond 32767 need odd-INS READ BINARY"
    if not extended:
        assert all(len(c) <= 5 + 255 + 1 for c, _ in t.log)  # short APDUs only


def test_extended_reads_need_fewer_apdus():
    chip = make_chip(dg2_size=18000)
    short = read_document(InProcessTransport(chip), KEY)
    chip.reset()
    ext = read_document(InProcessTransport(chip), KEY, extended_length=True)
    assert ext.apdu_count < short.apdu_count / 4


def test_mrz_mismatch_is_a_failed_check():
    other = MRZ.replace("L898902C36", "L898902D34")
    chip = VirtualChip(make_chip(mrz=other).files, bac_key=KEY, can=CAN)
    res = read_document(InProcessTransport(chip), KEY)
    check = res.check("mrz_consistency")
    assert check.passed is False and "document_number" in check.reason
    assert not res.valid


def test_files_subset_and_result_json(tmp_path):
    chip = make_chip(aa_key=_rsa_key(), ca_key=ec.generate_private_key(ec.SECP256R1()))
    res = read_document(InProcessTransport(chip), KEY, files=["DG1", "DG15"])
    assert set(res.files) == {"EF.CardAccess", "DG1", "DG15"}
    d = json.loads(json.dumps(res.to_dict()))
    assert d["valid"] is True and d["access"]["protocol"] == "PACE" and d["active_authentication"]["succeeded"]
    written = res.save(tmp_path)
    assert sorted(p.name for p in written) == sorted(["DG15.bin", "DG1.bin", "EF_CardAccess.bin"])
    assert (tmp_path / "DG1.bin").read_bytes() == chip.files["DG1"]


def test_unreadable_files_are_reported():
    chip = make_chip()
    chip.files["EF.COM"] = encode_tlv(0x60, encode_tlv(0x5C, bytes([0x61, 0x63])))  # lists DG3 (EAC)
    res = read_document(InProcessTransport(chip), KEY)
    assert "DG3" in res.unreadable and "6982" in res.unreadable["DG3"]


def test_dg1_field_extraction():
    assert _dg1_fields(encode_tlv(0x61, encode_tlv(0x5F1F, MRZ.encode()))) == ("L898902C3", "740812", "120415")
    td1 = "I<UTOD231458907<<<<<<<<<<<<<<<7408122F1204159UTO<<<<<<<<<<<6ERIKSSON<<ANNA<MARIA<<<<<<<<<<"
    assert _dg1_fields(encode_tlv(0x61, encode_tlv(0x5F1F, td1.encode()))) == ("D23145890", "740812", "120415")
    assert _dg1_fields(b"\x61\x03\x5f\x1f\x00") is None


def test_extended_reader_falls_back_on_a_short_only_chip():
    chip = make_chip(dg2_size=5000, extended_length=False)
    t = InProcessTransport(chip, keep_log=True)
    res = read_document(t, KEY, extended_length=True)
    assert res.files["DG2"] == chip.files["DG2"] and res.valid
    assert any(r[-2:] == b"\x67\x00" for _, r in t.log)  # one refused extended read, then short ones
