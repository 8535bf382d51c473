"""``smartborder doctor`` lists the page readers it finds (serial ports through pyserial, keyboards through
evdev) and says whether the configured ``[kiosk]`` / ``[gate] mrz_reader_device`` is present (issue #25 item 4)."""

from __future__ import annotations

import json
import sys
import time

import pytest

from smartborder import _doctor
from tests.devices.test_mrz_serial import Pty


def checks(**environ) -> dict[str, _doctor.Check]:
    return {c.name: c for c in _doctor.check_page_readers(environ=environ)}


def test_the_serial_ports_pyserial_finds_are_listed(monkeypatch):
    from serial.tools import list_ports, list_ports_common

    port = list_ports_common.ListPortInfo("/dev/ttyACM0", skip_link_detection=True)
    port.description, port.hwid = "Full Page Reader", "USB VID:PID=1234:5678 SER=42"
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: [port])  # no USB reader on this machine
    found = checks()
    assert found["pyserial"].status == "ok" and "1 serial device(s)" in found["pyserial"].detail
    listed = found["page_reader:serial:/dev/ttyACM0"]
    assert listed.status == "ok" and listed.group == "page_reader"
    assert listed.detail == "serial /dev/ttyACM0: Full Page Reader (USB VID:PID=1234:5678 SER=42)"
    assert found["evdev"].status == "ok" and "keyboard device(s)" in found["evdev"].detail
    assert not any(name.endswith("_mrz_reader_device") for name in found)  # the camera (default) needs no reader


def test_the_configured_reader_present_or_not():
    pty = Pty()
    try:
        here = checks(SMARTBORDER_KIOSK_MRZ_READER="page_reader", SMARTBORDER_KIOSK_MRZ_READER_DEVICE=pty.path)
        assert here["kiosk_mrz_reader_device"].status == "ok"
        assert here["kiosk_mrz_reader_device"].detail.endswith(f"serial page reader {pty.path} is present")
    finally:
        pty.close()
    gone = checks(SMARTBORDER_GATE_MRZ_READER="both", SMARTBORDER_GATE_MRZ_READER_DEVICE="/dev/input/by-id/nothing",
                  SMARTBORDER_GATE_MRZ_READER_KIND="keyboard")
    assert gone["gate_mrz_reader_device"].status == "fail"
    assert "keyboard page reader /dev/input/by-id/nothing is not present: the gate does not start" in gone[
        "gate_mrz_reader_device"].detail
    url = checks(SMARTBORDER_GATE_MRZ_READER="page_reader", SMARTBORDER_GATE_MRZ_READER_DEVICE="socket://10.0.0.5:4001")
    assert url["gate_mrz_reader_device"].status == "ok" and "pyserial URL" in url["gate_mrz_reader_device"].detail
    bad = checks(SMARTBORDER_KIOSK_MRZ_READER="scanner")
    assert bad["mrz_reader"].status == "fail" and "kiosk_mrz_reader must be one of" in bad["mrz_reader"].detail


def test_a_missing_library_is_a_failure(monkeypatch):
    monkeypatch.setitem(sys.modules, "evdev", None)
    monkeypatch.setitem(sys.modules, "serial.tools", None)
    found = checks()
    assert found["evdev"].status == "fail" and "evdev is not installed" in found["evdev"].detail
    assert found["pyserial"].status == "fail" and "pyserial is not installed" in found["pyserial"].detail


def test_a_keyboard_wedge_on_uinput_is_listed_with_its_name():
    from tests.devices.wedge_keys import uinput_keyboard

    ui = uinput_keyboard(name="Test MRZ Swipe Reader")
    try:
        time.sleep(0.2)
        found = checks()
        listed = found[f"page_reader:keyboard:{ui.device.path}"]
        assert "Test MRZ Swipe Reader" in listed.detail and "usb 1234:5678" in listed.detail
    finally:
        ui.close()


def test_doctor_reports_the_page_readers_in_its_json(monkeypatch):
    from click.testing import CliRunner

    from smartborder.cli import main

    pty = Pty()
    try:
        monkeypatch.setenv("SMARTBORDER_KIOSK_MRZ_READER", "page_reader")
        monkeypatch.setenv("SMARTBORDER_KIOSK_MRZ_READER_DEVICE", pty.path)
        monkeypatch.delenv("SMARTBORDER_CONFIG", raising=False)
        res = CliRunner().invoke(main, ["doctor", "--json", "--skip-models"])
    finally:
        pty.close()
    report = json.loads(res.output)
    names = {c["name"]: c for c in report["checks"] if c["group"] == "page_reader"}
    assert {"pyserial", "evdev", "kiosk_mrz_reader_device"} <= set(names)
    assert names["kiosk_mrz_reader_device"]["status"] == "ok"


@pytest.fixture(autouse=True)
def _no_config(monkeypatch):
    for name in ("SMARTBORDER_CONFIG", "SMARTBORDER_KIOSK_MRZ_READER", "SMARTBORDER_GATE_MRZ_READER"):
        monkeypatch.delenv(name, raising=False)
