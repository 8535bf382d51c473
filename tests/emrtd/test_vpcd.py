"""The virtual chip served to pcscd through vsmartcard's vpcd and read through pyscard (PcscTransport)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from emrtd import CanKey, PcscTransport, TransportError, read_document
from emrtd.sim import VpcdCard, VpcdError
from tests.emrtd.test_chip import KEY, MRZ, make_chip

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")


def _pcscd_alive() -> bool:
    pid_file = PCSCD_SOCKET.parent / "pcscd.pid"
    if not PCSCD_SOCKET.exists() or not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_bytes().strip(b"\x00\n "))
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0
    except (ValueError, OSError):
        return False


@pytest.fixture(scope="module")
def pcscd():
    """Use a running pcscd, or start one in the foreground (root only); skip with the reason otherwise.

    pcscd and vpcd's slots are one per machine: under pytest-xdist (`make test` runs two workers) a module that
    takes this fixture holds the machine's PC/SC lock (tests/xdist_support.py) until its last test is done."""
    from tests.xdist_support import pcsc_lock

    with pcsc_lock():
        yield from _pcscd()


def _pcscd():
    proc = None
    if not _pcscd_alive():
        exe = shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None)
        if exe is None:
            pytest.skip("pcscd is not installed (Debian package pcscd)")
        if not VPCD_DRIVER.exists():
            pytest.skip("vsmartcard vpcd driver is not installed (Debian package vsmartcard-vpcd)")
        if os.geteuid() != 0:
            pytest.skip("pcscd is not running and starting it needs root")
        proc = subprocess.Popen([exe, "--foreground"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _pcscd_alive():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.skip("pcscd did not start")
            time.sleep(0.1)
    yield
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def _connect(reader: str, timeout: float = 10.0) -> PcscTransport:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return PcscTransport(reader).connect()
        except TransportError as e:
            if time.monotonic() > deadline:
                pytest.skip(f"virtual card did not appear in {reader!r}: {e}")
            time.sleep(0.2)


def test_vpcd_handles_control_messages_without_pcscd():
    chip = make_chip()
    card = VpcdCard(chip)
    assert card.handle(b"\x04") == chip.atr
    assert card.handle(b"\x01") is None
    assert card.handle(bytes.fromhex("00A4020C02011C")) == b"\x90\x00"
    with pytest.raises(VpcdError):
        VpcdCard(chip, port=1).connect(timeout=0.5)


@pytest.mark.parametrize("key", [KEY, CanKey("123456")], ids=["mrz", "can"])
def test_read_virtual_passport_through_pcscd(pcscd, key):
    chip = make_chip(dg2_size=15000)
    try:
        card = VpcdCard(chip).start()
    except VpcdError as e:
        pytest.skip(f"vpcd not reachable: {e}")
    try:
        transport = _connect("Virtual PCD 00 00")
        try:
            assert transport.atr == chip.atr
            result = read_document(transport, key, extended_length=True)
        finally:
            transport.close()
    finally:
        card.stop()
    assert card.error is None
    assert result.valid and result.access_protocol == "PACE"
    assert result.files["DG2"] == chip.files["DG2"]
    assert card.apdu_count == result.apdu_count


def test_cli_chip_read_through_pcsc(pcscd, tmp_path):
    """``smartborder chip read --reader pcsc:NAME`` against the virtual chip behind vpcd."""
    import json

    from click.testing import CliRunner

    from smartborder.cli import main

    chip = make_chip(dg2_size=4000)
    try:
        card = VpcdCard(chip).start()
    except VpcdError as e:
        pytest.skip(f"vpcd not reachable: {e}")
    try:
        _connect("Virtual PCD 00 00").close()  # wait until pcscd sees the card
        r = CliRunner().invoke(main, ["chip", "read", "--reader", "pcsc:Virtual PCD 00 00", "--can", "123456",
                                      "--json", "--save", str(tmp_path)])
    finally:
        card.stop()
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["access"]["protocol"] == "PACE"
    assert (tmp_path / "DG2.bin").read_bytes() == chip.files["DG2"]


def _outcome(res) -> dict:
    return {"files": res.files, "unreadable": sorted(res.unreadable), "checks": [(c.name, c.passed) for c in res.checks],
            "sod_data_groups": res.sod_data_groups, "verified": {d: res.data_group_verified(d) for d in ("DG1", "DG2", "DG14", "DG15")},
            "ca": res.chip_authentication_offered, "aa": res.active_authentication_offered}


@pytest.mark.parametrize("faults", [("no_sod", "no_dg2"), ("hidden_dg14_dg15",)], ids=["no_sod+no_dg2", "hidden_dg14_dg15"])
def test_clone_faults_read_the_same_through_pcscd(pcscd, tmp_path, faults):
    """A faulty document loaded from disk answers pyscard through vpcd exactly as it answers in process."""
    from emrtd.sim import (
        InProcessTransport,
        IssuedDocument,
        background_photo,
        issue_document,
        trust_for_issued_document,
    )

    doc = IssuedDocument.load(issue_document(MRZ, background_photo(), can="123456", aa="ec", faults=faults)
                              .save(tmp_path / "doc"))
    trust = trust_for_issued_document(doc)
    in_process = read_document(InProcessTransport(doc.chip()), doc.access_key, trust=trust, extended_length=True)
    chip = doc.chip()
    try:
        card = VpcdCard(chip).start()
    except VpcdError as e:
        pytest.skip(f"vpcd not reachable: {e}")
    try:
        transport = _connect("Virtual PCD 00 00")
        try:
            result = read_document(transport, doc.access_key, trust=trust, extended_length=True)
        finally:
            transport.close()
    finally:
        card.stop()
    assert card.error is None
    assert _outcome(result) == _outcome(in_process)
    assert not result.valid
    if "no_sod" in faults:
        assert {"EF.SOD", "DG2"} <= set(result.unreadable) and result.check("passive_authentication").passed is False
    else:
        assert result.chip_authentication_offered is None and result.active_authentication_offered is None
        assert {"DG14", "DG15"} <= set(result.unreadable) and {"DG14", "DG15"} <= set(result.sod_data_groups)


def test_pcsc_transport_handles_t0_status_words():
    """61xx (GET RESPONSE) and 6Cxx (repeat with the right Le), as T=0 readers answer."""

    class FakeConnection:
        def __init__(self):
            self.sent = []

        def transmit(self, apdu):
            self.sent.append(bytes(apdu))
            if apdu[1] == 0xB0 and apdu[-1] != 4:
                return [], 0x6C, 0x04
            if apdu[1] == 0xB0:
                return [1, 2], 0x61, 0x02
            return [3, 4], 0x90, 0x00

    t = PcscTransport("fake")
    t._conn = FakeConnection()
    assert t.transmit(bytes.fromhex("00B0000000")) == bytes([1, 2, 3, 4, 0x90, 0x00])
    assert t._conn.sent == [bytes.fromhex("00B0000000"), bytes.fromhex("00B0000004"), bytes.fromhex("00C0000002")]


def test_pcsc_transport_refuses_a_6cxx_retry_of_an_extended_apdu():
    """Review of #23: the 6Cxx retry rewrote the last byte only, which for an extended APDU (2-byte Le) sent a
    malformed APDU. Extended: a named refusal, nothing resent; short case 4: the Le byte (the last) is repaired."""
    from emrtd import ExtendedLengthRetryError

    class FakeConnection:
        def __init__(self):
            self.sent = []

        def transmit(self, apdu):
            self.sent.append(bytes(apdu))
            return ([], 0x6C, 0x04) if len(self.sent) == 1 else ([1, 2, 3, 4], 0x90, 0x00)

    t = PcscTransport("fake")
    t._conn = FakeConnection()
    with pytest.raises(ExtendedLengthRetryError, match="extended-length"):
        t.transmit(bytes.fromhex("00B00000000100"))  # case 2E, Le = 0x0100
    assert t._conn.sent == [bytes.fromhex("00B00000000100")]
    t._conn = FakeConnection()
    assert t.transmit(bytes.fromhex("00B1000003540100" + "00")) == bytes([1, 2, 3, 4, 0x90, 0x00])  # case 4S
    assert t._conn.sent[1] == bytes.fromhex("00B1000003540100" + "04")
    t._conn = FakeConnection()  # case 3S: no Le to repair, the status is the caller's
    assert t.transmit(bytes.fromhex("00D600000201 02".replace(" ", ""))) == bytes([0x6C, 0x04])
    assert len(t._conn.sent) == 1
