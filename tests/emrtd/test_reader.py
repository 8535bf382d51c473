"""read_document: PACE preferred, BAC fallback, file reading (short/extended, odd INS), result objects."""

from __future__ import annotations

import json
from functools import cache

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from emrtd import AccessControlError, BacKey, CanKey, EfCom, read_document
from emrtd._reader import _dg1_fields
from emrtd._secinfo import PaceInfo, SecurityInfos, pace_oid
from emrtd._tlv import encode_tlv
from emrtd.sim import (
    InProcessTransport,
    IssuedDocument,
    IssuerPki,
    VirtualChip,
    background_photo,
    issue_document,
    trust_for_issued_document,
)
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


# --- EF.SOD first, data groups the SOD lists, and what the SOD says (Doc 9303 Part 11 §5.1) ---------------


@cache
def _pki():
    return IssuerPki.make()


@cache
def _issued(**kw) -> IssuedDocument:
    kw.setdefault("aa", "ec")  # EC keys: fast to make
    return issue_document(MRZ, background_photo(), can=CAN, pki=_pki(), **kw)


def _read(doc, chip=None, **kw):
    chip = chip or doc.chip()
    return read_document(InProcessTransport(chip), doc.access_key, trust=trust_for_issued_document(doc), **kw)


class _FileSpy:
    """Records, in order, each file the chip is asked to read and the session it was read under."""

    def __init__(self, chip):
        self.chip, self.seen = chip, []

    def transmit(self, apdu):
        resp = self.chip.transmit(apdu)
        ef = self.chip._ef
        if ef and (not self.seen or self.seen[-1][0] != ef):
            self.seen.append((ef, self.chip.session))
        return resp


def test_sod_is_read_before_chip_authentication():
    doc = _issued()
    spy = _FileSpy(doc.chip())
    res = read_document(spy, doc.access_key, trust=trust_for_issued_document(doc))
    assert res.valid
    # (CA proves the new session keys with a SELECT of EF.COM, hence EF.COM twice)
    assert spy.seen == [("EF.CardAccess", ""), ("EF.COM", "PACE"), ("EF.SOD", "PACE"), ("DG14", "PACE"),
                        ("EF.COM", "PACE+CA"), ("DG1", "PACE+CA"), ("DG2", "PACE+CA"), ("DG15", "PACE+CA")]


def test_data_groups_hidden_from_ef_com_are_still_read():
    doc = _issued()
    chip = doc.chip()
    chip.files["EF.COM"] = EfCom.for_files(["DG1"]).encode()  # EF.COM is not signed: a clone may rewrite it
    res = _read(doc, chip)
    assert {"DG2", "DG14", "DG15"} <= set(res.files) and res.unreadable == {}
    assert res.data_group_verified("DG2") is True and res.chip_authentication.succeeded
    assert res.valid


def test_files_given_explicitly_are_read_as_asked():
    doc = _issued()
    spy = _FileSpy(doc.chip())
    res = read_document(spy, doc.access_key, files=["DG1", "EF.SOD", "DG14"])
    assert [ef for ef, _ in spy.seen] == ["EF.CardAccess", "DG14", "EF.COM", "DG1", "EF.SOD"]
    assert "DG2" not in res.files and "DG2" not in res.unreadable  # listed in the SOD, but not asked for


@pytest.mark.parametrize("sod", [encode_tlv(0x77, b"sod"), b"\x30\x03abc", b"\x77\x82\xff\xff\x00"],
                         ids=["not-cms", "not-77", "truncated"])
def test_a_malformed_sod_does_not_stop_the_read(sod):
    doc = _issued(aa=None, ca=False)
    chip = doc.chip()
    chip.files["EF.SOD"] = sod
    res = _read(doc, chip)
    assert {"DG1", "DG2"} <= set(res.files)
    assert res.sod_data_groups == () and res.data_group_verified("DG1") is None
    pa = res.check("passive_authentication")
    assert pa.passed is False and "EF.SOD" in pa.reason


def test_no_sod_fails_passive_authentication_even_without_a_trust_store():
    doc = _issued(aa=None, ca=False, faults=("no_sod",))
    res = read_document(InProcessTransport(doc.chip()), doc.access_key)
    pa = res.check("passive_authentication")
    assert pa.passed is False and "EF.SOD could not be read" in pa.reason and "6A82" in pa.reason
    assert not res.valid
    # asked for explicitly and refused: failed; left out of ``files``: not performed
    asked = read_document(InProcessTransport(doc.chip()), doc.access_key, files=["DG1", "EF.SOD"])
    assert asked.check("passive_authentication").passed is False
    skipped = read_document(InProcessTransport(doc.chip()), doc.access_key, files=["DG1"])
    assert skipped.check("passive_authentication").passed is None and skipped.valid
    off = read_document(InProcessTransport(doc.chip()), doc.access_key, passive_authentication=False)
    assert off.check("passive_authentication") is None


def test_sod_data_groups():
    assert _read(_issued()).sod_data_groups == ("DG1", "DG2", "DG14", "DG15")
    assert _read(_issued(aa=None, ca=False)).sod_data_groups == ("DG1", "DG2")
    assert _read(_issued(faults=("no_sod",))).sod_data_groups == ()
    res = _read(_issued(faults=("hidden_dg14_dg15",)))
    assert res.sod_data_groups == ("DG1", "DG2", "DG14", "DG15")
    assert res.to_dict()["sod_data_groups"] == ["DG1", "DG2", "DG14", "DG15"]


def test_data_group_verified():
    doc = _issued(aa=None, ca=False)
    res = _read(doc)
    assert res.data_group_verified("DG1") is True and res.data_group_verified("DG2") is True
    assert res.data_group_verified("DG3") is None  # not read (not on the chip)
    assert res.data_group_verified("EF.COM") is None
    assert _read(_issued(aa=None, ca=False, faults=("tampered_dg",))).data_group_verified("DG2") is False
    chip = doc.chip()
    chip.files["DG11"] = encode_tlv(0x6B, encode_tlv(0x5C, b"\x5f\x0e") + encode_tlv(0x5F0E, b"ANNA"))
    chip.files["EF.COM"] = EfCom.for_files(["DG1", "DG2", "DG11"]).encode()
    extra = _read(doc, chip)
    assert "DG11" in extra.files and extra.data_group_verified("DG11") is False  # read, but the SOD has no hash
    chip = doc.chip()
    del chip.files["DG2"]
    assert _read(doc, chip).data_group_verified("DG2") is None  # listed, refused
    assert _read(_issued(aa=None, ca=False, faults=("no_sod",))).data_group_verified("DG1") is None


def test_chip_authentication_offered():
    assert _read(_issued()).chip_authentication_offered is True
    assert _read(_issued(aa=None, ca=False)).chip_authentication_offered is False  # no DG14 at all
    assert _read(_issued(ca=False)).chip_authentication_offered is False  # DG14 holds only the AA info
    doc = _issued()
    chip = doc.chip()
    del chip.files["DG14"]
    hidden = _read(doc, chip)
    assert hidden.chip_authentication_offered is None  # the SOD lists it: unknown, and CA fails
    assert hidden.check("chip_authentication").passed is False
    chip = doc.chip()
    chip.files["DG14"] = encode_tlv(0x6E, encode_tlv(0x31, b"\x02\x01\x00"))  # read, but not SecurityInfos
    broken = _read(doc, chip)
    assert "DG14" in broken.files and broken.chip_authentication_offered is None
    assert broken.check("chip_authentication").passed is False
    assert read_document(InProcessTransport(doc.chip()), doc.access_key,  # not asked for, but the SOD lists it
                         files=["EF.SOD", "DG1"]).chip_authentication_offered is None


def test_active_authentication_offered():
    assert _read(_issued()).active_authentication_offered is True
    assert _read(_issued(aa=None)).active_authentication_offered is False
    doc = _issued()
    chip = doc.chip()
    del chip.files["DG15"]
    hidden = _read(doc, chip)
    assert hidden.active_authentication_offered is None
    assert hidden.check("active_authentication").passed is False
    assert "DG15 is listed in the SOD" in hidden.check("active_authentication").reason
    no_aa = read_document(InProcessTransport(chip), doc.access_key, active_authentication=False)
    assert no_aa.check("active_authentication") is None  # not asked for: no check, still unknown
    assert no_aa.active_authentication_offered is None
