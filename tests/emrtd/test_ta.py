"""Terminal Authentication v1 (BSI TR-03110) after Chip Authentication, against the in-process virtual chip:
DG3/DG4 open only to a terminal whose chain (CVCA -> DV -> IS) the chip verifies and whose CHATs grant them;
every refusal is named (a forged certificate, an expired one, a CHAT without DG3, a forged TA signature, no
credentials, no Chip Authentication)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from emrtd import read_document
from emrtd._apdu import CommandApdu, ResponseApdu
from emrtd._cvc import READ_DG3, READ_DG4
from emrtd._ta import TerminalCredentials, TerminalCredentialsError
from emrtd._tlv import encode_tlv
from emrtd.sim import (
    EacPki,
    InProcessTransport,
    IssuedDocument,
    IssuerPki,
    issue_document,
    trust_for_issued_document,
)
from tests.gate.test_gate_emrtd import EXPIRY, photo_png, td3


def finger_record(seed: int = 3) -> bytes:
    from biometrics.finger import finger_image_record

    rng = np.random.default_rng(seed)
    return finger_image_record([(2, (rng.random((64, 64)) * 255).astype(np.uint8))], compression="raw")


@pytest.fixture(scope="module")
def eac():
    return EacPki.make("UT")


@pytest.fixture(scope="module")
def doc(eac):
    return issue_document(td3("C1234567", "900315", EXPIRY), photo_png(), eac=eac, dg3=[finger_record()], aa=None,
                          pki=IssuerPki.make("UT"))


def read(doc, terminal, **kw):
    return read_document(InProcessTransport(doc.chip()), doc.access_key, trust=trust_for_issued_document(doc),
                         terminal=terminal, **kw)


@pytest.mark.parametrize("pace", [True, False], ids=["PACE", "BAC"])
def test_a_terminal_of_the_chips_cvca_reads_dg3_and_dg4(doc, eac, pace):
    res = read(doc, eac.terminal(), prefer_pace=pace)
    assert res.access_protocol == ("PACE" if pace else "BAC")
    ta = res.check("terminal_authentication")
    assert ta.passed is True, ta.reason
    assert res.terminal_authentication.data_groups == ("DG3", "DG4")
    assert res.finger_records == (finger_record(),)  # the 19794-4 record, opaque to emrtd
    assert res.data_group_verified("DG3") is True and res.data_group_verified("DG4") is True
    assert res.valid and "DG3" in res.sod_data_groups
    assert res.to_dict()["terminal_authentication"]["succeeded"] is True


def test_without_credentials_dg3_stays_closed_and_ta_is_not_performed(doc):
    res = read(doc, None)
    ta = res.check("terminal_authentication")
    assert ta.passed is None and "no terminal credentials" in ta.reason
    assert "DG3" not in res.files and "6982" in res.unreadable["DG3"] and "not performed" in res.unreadable["DG3"]
    assert res.finger_records == ()


def test_a_chain_whose_chat_does_not_grant_dg3_reads_dg4_only(doc, eac):
    res = read(doc, eac.terminal(rights=READ_DG4))
    assert res.check("terminal_authentication").passed is True
    assert "DG4" in res.files and "DG3" not in res.files
    assert "does not grant DG3" in res.unreadable["DG3"]
    # the IS certificate asks for both, its DV grants DG4 only: the intersection decides
    res = read(doc, eac.terminal(rights=READ_DG3 | READ_DG4, dv_rights=READ_DG4))
    assert "DG3" not in res.files and "does not grant DG3" in res.unreadable["DG3"]


@pytest.mark.parametrize(("kind", "reason"), [
    ("forged", "chip refused the IS certificate UTISGATE00001: status word 6300"),
    ("expired", "expired on"),
    ("signature", "terminal's signature (EXTERNAL AUTHENTICATE)"),
])
def test_a_refused_terminal_fails_ta_with_its_reason_and_dg3_stays_closed(doc, eac, kind, reason):
    if kind == "forged":
        terminal = eac.terminal(forged=True)
    elif kind == "expired":
        terminal = eac.terminal(expired=True)
    else:  # the right chain, but the signature made with another key
        terminal = eac.terminal()
        object.__setattr__(terminal, "private_key", ec.generate_private_key(ec.BrainpoolP256R1()))
    res = read(doc, terminal)
    ta = res.check("terminal_authentication")
    assert ta.passed is False and reason in ta.reason, ta.reason
    assert ta.code == "chip_refused" and res.terminal_authentication.trust_points == ("UTCVCA00001",)
    assert not res.valid
    assert "DG3" not in res.files and "DG4" not in res.files
    assert "Terminal Authentication failed" in res.unreadable["DG3"]


def test_a_foreign_cvca_is_ta_not_performed_and_the_passport_stays_valid(doc, eac):
    """EF.CVCA names the CVCA the chip trusts: a gate holding chains of other states only does not try them (the
    chip would answer 6A88 at MSE:Set DST): TA not performed, named, and PA/CA decide ``valid``."""
    res = read(doc, [EacPki.make("XX").terminal(), EacPki.make("YY").terminal()])
    ta = res.check("terminal_authentication")
    assert ta.passed is None and ta.code == "no_terminal_chain_for_cvca" and "UTCVCA00001" in ta.reason
    assert res.valid and res.check("passive_authentication").passed is True
    assert "DG3" not in res.files and "Terminal Authentication not performed" in res.unreadable["DG3"]


def test_ef_cvca_picks_the_chain_of_the_chips_cvca_among_several(doc, eac):
    res = read(doc, [EacPki.make("XX").terminal(), eac.terminal()])
    assert res.check("terminal_authentication").passed is True and res.finger_records == (finger_record(),)


def test_ef_cvca_round_trips_and_a_malformed_one_is_refused_by_name():
    from emrtd._ta import encode_ef_cvca, parse_ef_cvca

    raw = encode_ef_cvca(["UTCVCA00001", "UTCVCA00002"])
    assert len(raw) == 36 and parse_ef_cvca(raw) == ("UTCVCA00001", "UTCVCA00002")
    for bad in (b"", bytes(36), b"\x41\x0bUTCVCA00001".ljust(36, b"\x00"), b"\x42\x0bUTCVCA",
                encode_ef_cvca(["UTCVCA00001"])[:-1] + b"\x01"):
        with pytest.raises(ValueError, match="EF.CVCA"):
            parse_ef_cvca(bad)


def test_a_chip_without_ef_cvca_is_tried_with_the_first_chain_and_a_refusal_fails(doc, eac):
    chip = doc.chip()
    del chip.files["EF.CVCA"]
    res = read_document(InProcessTransport(chip), doc.access_key, trust=trust_for_issued_document(doc),
                        terminal=EacPki.make("XX").terminal())
    ta = res.check("terminal_authentication")
    assert ta.passed is False and "MSE:Set DST" in ta.reason and "EF.CVCA unusable" in ta.reason
    assert not res.valid and "DG3" not in res.files


def test_ta_needs_chip_authentication_first(eac):
    doc = issue_document(td3("C1234567", "900315", EXPIRY), photo_png(), eac=eac, dg3=[finger_record()], aa=None,
                         faults=["clone_ca"])
    res = read(doc, eac.terminal())
    assert res.check("chip_authentication").passed is False
    ta = res.check("terminal_authentication")
    assert ta.passed is None and "Chip Authentication did not succeed" in ta.reason
    assert ta.code == "chip_authentication_not_succeeded"
    assert "DG3" not in res.files


def test_the_chip_refuses_dg3_and_ta_commands_outside_their_order(doc):
    from emrtd._bac import perform_bac
    from emrtd._lds import LDS_AID

    chip = doc.chip()
    chip.transmit(CommandApdu(0x00, 0xA4, 0x04, 0x0C, LDS_AID).encode())

    class Ch:
        def transmit(self, apdu):
            return chip.transmit(apdu)

    sm = perform_bac(Ch(), doc.access_key).sm

    def send(cmd):
        return sm.unprotect(chip.transmit(sm.protect(cmd)))

    assert send(CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x01\x03")).sw == 0x9000  # SELECT DG3 under BAC alone,
    assert send(CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=4)).sw == 0x6982  # but not READ BINARY
    assert send(CommandApdu(0x00, 0xB0, 0x83, 0x00, ne=4)).sw == 0x6982  # nor by its short EF identifier
    assert send(CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x01\x01")).sw == 0x9000  # DG1 is fine
    # MSE:Set DST before Chip Authentication: TA v1 binds to the CA session
    assert send(CommandApdu(0x00, 0x22, 0x81, 0xB6, bytes.fromhex("830B") + b"UTCVCA00001")).sw == 0x6985
    assert isinstance(send(CommandApdu(0x00, 0x2A, 0x00, 0xBE, b"\x7f\x4e\x00")), ResponseApdu)


def test_credentials_load_save_and_refuse_a_key_of_another_certificate(tmp_path, eac):
    terminal = eac.terminal()
    terminal.save(tmp_path / "is.pem", tmp_path / "chain.cvcert")
    loaded = TerminalCredentials.load(tmp_path / "is.pem", tmp_path / "chain.cvcert")
    assert loaded.chain == terminal.chain and loaded.issuing_state == "UT"
    assert (tmp_path / "is.pem").stat().st_mode & 0o077 == 0
    with pytest.raises(TerminalCredentialsError, match="does not belong"):
        TerminalCredentials(ec.generate_private_key(ec.BrainpoolP256R1()), terminal.chain)
    (tmp_path / "cut.cvcert").write_bytes((tmp_path / "chain.cvcert").read_bytes()[:-5])
    with pytest.raises(TerminalCredentialsError, match="truncated"):
        TerminalCredentials.load(tmp_path / "is.pem", tmp_path / "cut.cvcert")
    assert terminal.expired(dt.date.today()) == []
    assert eac.terminal(expired=True).expired(dt.date.today())


def test_the_saved_is_key_is_never_readable_by_others(tmp_path, eac, monkeypatch):
    """The key file is created 0600 (not written under the umask, then chmodded): at no write is a file holding
    the private key readable by group or others."""
    import os
    import pathlib

    seen, write = [], pathlib.Path.write_bytes

    def spy(self, data):
        n = write(self, data)
        seen.extend(os.stat(f).st_mode & 0o077 for f in tmp_path.iterdir() if b"PRIVATE KEY" in f.read_bytes())
        return n

    monkeypatch.setattr(pathlib.Path, "write_bytes", spy)
    old = os.umask(0o022)
    try:
        eac.terminal().save(tmp_path / "is.pem", tmp_path / "chain.cvcert")
    finally:
        os.umask(old)
    assert seen and not any(seen) and os.stat(tmp_path / "is.pem").st_mode & 0o777 == 0o600
    assert sorted(f.name for f in tmp_path.iterdir()) == ["chain.cvcert", "is.pem"]  # no temporary file left


def test_a_saved_document_keeps_its_trust_point_and_date(tmp_path, doc, eac):
    doc.save(tmp_path / "doc")
    again = IssuedDocument.load(tmp_path / "doc")
    assert again.cvca == doc.cvca and again.chip_date == doc.chip_date
    res = read(again, eac.terminal())
    assert res.finger_records == (finger_record(),)


def test_the_chip_follows_a_cvca_link_certificate(doc, eac):
    from emrtd._cvc import ROLE_CVCA, ROLE_DV_DOMESTIC, ROLE_IS
    from emrtd.sim import issue_cv_certificate

    today, far = dt.date.today(), dt.date.today() + dt.timedelta(days=200)
    new_cvca, dv_key, is_key = (ec.generate_private_key(ec.BrainpoolP256R1()) for _ in range(3))
    link = issue_cv_certificate(eac.cvca_key, eac.cvca.chr, new_cvca, "UTCVCA00002", ROLE_CVCA, READ_DG3 | READ_DG4,
                                today, far, domain_parameters=True)
    dv = issue_cv_certificate(new_cvca, link.chr, dv_key, "UTDVTEST00002", ROLE_DV_DOMESTIC, READ_DG3, today, far)
    is_ = issue_cv_certificate(dv_key, dv.chr, is_key, "UTISGATE00002", ROLE_IS, READ_DG3 | READ_DG4, today, far)
    res = read(doc, TerminalCredentials(is_key, (link, dv, is_)))
    assert res.check("terminal_authentication").passed is True
    assert res.terminal_authentication.data_groups == ("DG3",) and "DG3" in res.files and "DG4" not in res.files
    # without the link certificate the chip does not know the new CVCA's key: no chain for the CVCA it trusts
    res = read(doc, TerminalCredentials(is_key, (dv, is_)))
    assert res.check("terminal_authentication").code == "no_terminal_chain_for_cvca"


def test_dg3_and_dg4_parse_as_cbeff_groups_and_a_truncated_dg3_is_named(doc):
    from emrtd import LdsError, parse_lds_file

    dg3 = parse_lds_file("DG3", doc.files["DG3"])
    assert dg3.encode() == doc.files["DG3"] and dg3.templates[0].header.format_type == 0x0007
    (view,) = dg3.fingers  # emrtd's own view of the 19794-4 header: the finger position, size, compression
    assert (view.position, view.width, view.height, view.compression) == (2, 64, 64, 0)
    dg4 = parse_lds_file("DG4", doc.files["DG4"])
    assert doc.files["DG4"][0] == 0x76 and dg4.encode() == doc.files["DG4"]
    assert dg4.templates[0].header.format_type == 0x0009 and dg4.templates[0].data[:4] == b"IIR\x00"
    with pytest.raises(LdsError, match="DG3"):
        parse_lds_file("DG3", doc.files["DG3"][:-7])


def test_cli_issues_an_eac_passport_and_reads_dg3_with_the_terminal(tmp_path):
    import json

    from click.testing import CliRunner

    from smartborder.cli import main

    (tmp_path / "photo.png").write_bytes(photo_png())
    (tmp_path / "finger.fir").write_bytes(finger_record())
    mrz = td3("C1234567", "900315", EXPIRY)
    out = tmp_path / "doc"
    r = CliRunner().invoke(main, ["chip", "issue", "--mrz", mrz, "--photo", str(tmp_path / "photo.png"), "--out",
                                  str(out), "--eac", "--dg3", str(tmp_path / "finger.fir"), "--aa", "none"])
    assert r.exit_code == 0, r.output
    base = ["chip", "read", "--reader", f"virtual:{out}", "--mrz", mrz, "--trust", str(out / "trust" / "csca.pem"),
            "--json"]
    with_eac = CliRunner().invoke(main, [*base, "--eac-key", str(out / "eac" / "is.pem"), "--eac-chain",
                                         str(out / "eac" / "chain.cvcert")])
    assert with_eac.exit_code == 0, with_eac.output
    got = json.loads(with_eac.output)
    assert got["terminal_authentication"]["succeeded"] is True and "DG3" in got["files"]
    without = json.loads(CliRunner().invoke(main, base).output)
    assert "DG3" not in without["files"] and "not performed" in without["unreadable"]["DG3"]
    r = CliRunner().invoke(main, [*base, "--eac-key", str(out / "eac" / "is.pem")])
    assert r.exit_code != 0 and "go together" in r.output


def test_dg14_carries_terminal_authentication_info_and_round_trips(doc):
    from emrtd._secinfo import ID_TA, SecurityInfoError, SecurityInfos, TerminalAuthenticationInfo

    tai = SecurityInfos.parse_dg14(doc.files["DG14"]).terminal_authentication_info
    assert tai == TerminalAuthenticationInfo(1) and tai.protocol == ID_TA == "0.4.0.127.0.7.2.2.2"
    with_fid = TerminalAuthenticationInfo(1, bytes.fromhex("30040402011C"))  # efCVCA FileID: fid 011C
    raw = SecurityInfos([with_fid]).encode()
    assert raw == bytes.fromhex("3115" "3013" "060804007F0007020202" "020101" "30040402011C")
    again = SecurityInfos.parse(raw)
    assert again.encode() == raw and again.terminal_authentication_info.ef_cvca_fid == 0x011C
    head = bytes.fromhex("060804007F0007020202" "020101")
    for optional in (bytes.fromhex("0500"), bytes.fromhex("3003040101"), bytes.fromhex("3000") * 2):
        bad = encode_tlv(0x31, encode_tlv(0x30, head + optional))  # not a FileID / a 1-byte fid / two of them
        with pytest.raises(SecurityInfoError, match="TerminalAuthenticationInfo"):
            SecurityInfos.parse(bad).terminal_authentication_info.ef_cvca_fid  # noqa: B018


def test_a_chip_whose_dg14_offers_no_ta_is_not_asked_and_dg3_stays_closed(doc, eac):
    from emrtd._secinfo import SecurityInfos, TerminalAuthenticationInfo

    chip = doc.chip()
    infos = SecurityInfos.parse_dg14(chip.files["DG14"])
    infos.infos = [i for i in infos.infos if not isinstance(i, TerminalAuthenticationInfo)]
    chip.files["DG14"] = infos.encode_dg14()
    res = read_document(InProcessTransport(chip), doc.access_key, terminal=eac.terminal())
    ta = res.check("terminal_authentication")
    assert ta.passed is None and ta.code == "ta_not_offered" and "TerminalAuthenticationInfo" in ta.reason
    assert "DG3" not in res.files
