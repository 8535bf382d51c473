"""ICAO Doc 9303 Part 11 worked examples replayed byte for byte: Appendix D (BAC + SM) and G.1 (PACE GM)."""

from __future__ import annotations

import json

import pytest

from emrtd import BacKey, read_document
from emrtd._bac import derive_bac_keys, perform_bac
from emrtd._crypto import SmCipher
from emrtd._pace import perform_pace
from emrtd._secinfo import SecurityInfos
from emrtd._sm import ChipSecureMessaging
from emrtd._tlv import encode_tlv
from emrtd.sim import InProcessTransport, VirtualChip
from tests.conftest import shared_path

H = bytes.fromhex


@pytest.fixture(scope="module")
def examples() -> dict:
    return json.loads(shared_path("emrtd", "icao9303_worked_examples.json").read_text())


class ScriptedChip:
    """Answers like the example chip: a prelude of plain answers, then the transcript (commands must be
    byte-identical), then optionally a virtual chip that continues the session."""

    def __init__(self, script, prelude=None, then=None):
        self.script = [(H(c), H(r)) for c, r in script]
        self.prelude = {H(c): H(r) for c, r in (prelude or {}).items()}
        self.then = then
        self.i = 0

    def transmit(self, apdu: bytes) -> bytes:
        if self.i == 0 and apdu in self.prelude:
            return self.prelude[apdu]
        if self.i < len(self.script):
            expected, response = self.script[self.i]
            assert apdu.hex().upper() == expected.hex().upper(), f"APDU {self.i} differs from the transcript"
            self.i += 1
            return response
        assert self.then is not None, f"transcript exhausted, reader sent {apdu.hex().upper()}"
        return self.then.transmit(apdu)

    @property
    def done(self) -> bool:
        return self.i == len(self.script)


def _rng(*values: bytes):
    queue = list(values)

    def rng(n: int) -> bytes:
        value = queue.pop(0)
        assert len(value) == n
        return value

    return rng


def test_appendix_d_key_derivation(examples):
    d = examples["bac_appendix_D"]
    key = BacKey("L898902C", "690806", "940623")
    assert key.mrz_information == d["mrz_information"]["value"]
    assert key.k_seed.hex().upper() == d["k_seed"]["value"]
    k_enc, k_mac = derive_bac_keys(key)
    assert k_enc.hex().upper() == d["k_enc"]["value"]
    assert k_mac.hex().upper() == d["k_mac"]["value"]


def _appendix_d_script(examples):
    d = examples["bac_appendix_D"]
    sm = examples["secure_messaging_appendix_D4"]
    script = [
        ("0084000008", d["rnd_icc"]["value"] + "9000"),
        ("0082000028" + d["ext_auth_cmd_data"]["value"] + "28", d["ext_auth_resp_data"]["value"] + "9000"),
    ]
    script += [(a["protected_command"], a["protected_response"]) for a in sm["apdus"]]
    return script


def test_appendix_d_bac_and_secure_messaging_through_the_reader(examples):
    """The full reader sends the Appendix D APDUs byte for byte and reads EF.COM of D.4."""
    d = examples["bac_appendix_D"]
    chip = ScriptedChip(
        _appendix_d_script(examples),
        prelude={"00A4020C02011C": "6A82", "00A4040C07A0000002471001": "9000"},  # no EF.CardAccess: BAC
    )
    rng = _rng(H(d["rnd_ifd"]["value"]), H(d["k_ifd"]["value"]))
    result = read_document(chip, BacKey("L898902C", "690806", "940623"), rng=rng, files=["EF.COM"])
    assert chip.done
    assert result.access_protocol == "BAC"
    assert result.access.ks_enc.hex().upper() == d["ks_enc"]["value"]
    assert result.access.ks_mac.hex().upper() == d["ks_mac"]["value"]
    assert result.access.ssc.hex().upper() == d["ssc"]["value"]
    assert result.files["EF.COM"].hex().upper() == examples["secure_messaging_appendix_D4"]["expected_EF_COM"]


def test_appendix_d_bac_alone(examples):
    d = examples["bac_appendix_D"]
    chip = ScriptedChip(_appendix_d_script(examples)[:2])
    result = perform_bac(chip, BacKey("L898902C", "690806", "940623"),
                         rng=_rng(H(d["rnd_ifd"]["value"]), H(d["k_ifd"]["value"])))
    assert chip.done
    assert (result.ks_enc + result.ks_mac).hex().upper() == d["ks_enc"]["value"] + d["ks_mac"]["value"]


def test_appendix_d_tampered_response_mac_is_refused(examples):
    """Flip one bit of the first protected response: the reader must refuse it."""
    from emrtd import ReadError

    d = examples["bac_appendix_D"]
    script = _appendix_d_script(examples)
    c, r = script[2]
    bad = bytearray(H(r))
    bad[-3] ^= 0x01  # inside DO'8E'
    script[2] = (c, bad.hex())
    chip = ScriptedChip(script, prelude={"00A4020C02011C": "6A82", "00A4040C07A0000002471001": "9000"})
    with pytest.raises(ReadError) as e:
        read_document(chip, BacKey("L898902C", "690806", "940623"),
                      rng=_rng(H(d["rnd_ifd"]["value"]), H(d["k_ifd"]["value"])), files=["EF.COM"])
    assert e.value.reason == "secure_messaging"


def _g1(examples):
    g = examples["pace_gm_ecdh_appendix_G1"]
    key = BacKey(g["password_mrz"]["document_number"], g["password_mrz"]["date_of_birth"],
                 g["password_mrz"]["date_of_expiry"])
    rng = _rng(H(g["terminal_ephemeral_private_key_mapping"]), H(g["terminal_ephemeral_private_key_agreement"]))
    return g, key, rng, [(a["command"], a["response"]) for a in g["apdus"]]


def test_appendix_g1_pace_gm_brainpool(examples):
    g, key, rng, script = _g1(examples)
    chip = ScriptedChip(script)
    result = perform_pace(chip, key, SecurityInfos.parse(H(g["ef_cardaccess"])), rng=rng)
    assert chip.done
    assert result.ks_enc.hex().upper() == g["ks_enc"]
    assert result.ks_mac.hex().upper() == g["ks_mac"]
    assert (result.mapping, result.cipher, result.key_bits, result.parameter_id) == ("GM", "AES", 128, 13)


def test_appendix_g1_through_the_reader_then_reads_under_its_session_keys(examples):
    """The reader reads EF.CardAccess, prefers PACE, sends the G.1 APDUs byte for byte, then reads DG1
    from a chip holding the example's session keys (so the SM after PACE is checked too)."""
    g, key, rng, script = _g1(examples)
    card_access = H(g["ef_cardaccess"])
    mrz = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<T220001293UTO6408125F1010318<<<<<<<<<<<<<<06"
    dg1 = encode_tlv(0x61, encode_tlv(0x5F1F, mrz.encode()))
    after = VirtualChip({"DG1": dg1, "EF.CardAccess": card_access})
    after._sm = ChipSecureMessaging(SmCipher("AES", H(g["ks_enc"]), H(g["ks_mac"])), 0)
    after._access = "PACE"
    prelude = {"00A4020C02011C": "9000", "00B0000004": card_access[:4].hex() + "9000",
               "00B00004" + "%02X" % (len(card_access) - 4): card_access[4:].hex() + "9000"}
    chip = ScriptedChip(script, prelude=prelude, then=after)
    result = read_document(chip, key, rng=rng, files=["DG1"])
    assert chip.done
    assert result.access_protocol == "PACE"
    assert result.access.ks_enc.hex().upper() == g["ks_enc"]
    assert result.files["DG1"] == dg1
    assert result.check("mrz_consistency").passed is True


def test_appendix_g1_transcript_against_the_virtual_chip_side(examples):
    """Our chip-side PACE run by the reader against itself agrees with the suite of G.1."""
    g, key, _, _ = _g1(examples)
    chip = VirtualChip({"EF.CardAccess": H(g["ef_cardaccess"]), "DG1": encode_tlv(0x61, encode_tlv(0x5F1F, b"x" * 88))},
                       bac_key=key)
    result = read_document(InProcessTransport(chip), key, files=["DG1"])
    assert result.access_protocol == "PACE" and result.access.parameter_id == 13
