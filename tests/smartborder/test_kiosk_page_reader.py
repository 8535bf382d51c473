"""The kiosk's document step on a real page reader (issue #25 item 4), built through the deployment's composition
(``kiosk_config`` from the settings, ``real_devices``, ``build_kiosk``): a serial reader on a pseudo-terminal
sends the document's MRZ, the kiosk reads it, and the enrolment goes on to the chip (a simulated chip at the
reader port) and to the back office; a keyboard wedge likewise through /dev/uinput where it exists, and over a
stand-in event device here. ``[kiosk] mrz_reader`` chooses the page reader, the camera or both; unknown values
and a missing device are named configuration errors."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from devices import (
    CallableMrzSource,
    KeyboardWedgeMrzReader,
    MrzCheckDigitFailed,
    PageReaderThenCamera,
    SerialMrzReader,
)
from enrollment import Outcome, Step, enrol_headless
from smartborder.compose.kiosk import KioskConfigError, KioskDevices, build_kiosk, kiosk_config, real_devices
from smartborder.settings import SettingsError, load_settings
from tests.devices.test_mrz_serial import Pty
from tests.enrollment.conftest import FRAME, Script, backoffice, client_for, issued, td3, trust_for  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def settings(tmp_path, **over):
    fingers = tmp_path / "fingers"
    if not fingers.is_dir():
        fingers.mkdir()
        from PIL import Image

        Image.fromarray(np.full((200, 400), 200, np.uint8)).save(fingers / "slap.png")
    # dev: the images stand in for the fingerprint scanner (a libfprint sensor is tested in test_kiosk_libfprint)
    return load_settings(environ={}, data_dir=tmp_path / "data", key_dir=tmp_path / "keys",
                         kiosk_finger_dir=fingers, **over)


class Camera:
    def frames(self):
        while True:
            yield FRAME


def kiosk_on(config, doc, real, *, card_timeout_s: float = 5.0):
    """The kiosk as ``kiosk run`` builds it, with the real page reader and scanner of ``real_devices``; the face
    camera and the chip reader are simulators at their ports (no camera or PC/SC reader here)."""
    from devices.sim import SimulatedReader

    devices = KioskDevices(Camera(), SimulatedReader(doc), real.mrz_source, real.scanner, real.closers)
    kiosk = build_kiosk(config, devices, trust=trust_for(doc), engines=Script().engines())
    kiosk.workflow.policy = dataclasses.replace(kiosk.workflow.policy, card_timeout_s=card_timeout_s)
    return kiosk


def lines_of(mrz: str) -> list[str]:
    return [mrz[:44], mrz[44:]]


def test_a_serial_page_reader_on_a_pty_feeds_the_kiosks_document_step_and_the_chip_is_read(tmp_path):
    pty = Pty()
    mrz = td3()
    doc = issued(mrz)
    config = kiosk_config(settings(tmp_path, kiosk_mrz_reader="page_reader", kiosk_mrz_reader_device=pty.path,
                                   kiosk_mrz_reader_baud=115200))
    real = real_devices(config)
    try:
        assert isinstance(real.mrz_source, SerialMrzReader) and real.mrz_source.baudrate == 115200
        kiosk = kiosk_on(config, doc, real)
        wf = kiosk.workflow
        pty.send("\r\n".join(lines_of(td3(number="X9999999"))) + "\r\n")  # the last traveller's swipe, unread
        time.sleep(0.1)
        wf.start("en")  # a new traveller: nothing placed before counts
        # the traveller first swipes badly (a cut line), then again: the step asks the reader until its time-out
        pty.send_later([lines_of(mrz)[0][:25] + "\r\n"], 0.3)
        pty.send_later(["\x02" + "\r\n".join(lines_of(mrz)) + "\r\n\x03"], 1.5)
        feedback = wf.read_document()
        assert feedback.ok and feedback.message == "document.read_ok", feedback
        assert wf.step is Step.CONSENT and wf.session.printed_mrz.document_number == "C1234567"
        wf.consent(True)
        chip = wf.read_chip()  # the chip read with the key from the page reader's MRZ
        assert chip.ok and chip.message == "chip.read_ok" and wf.step is Step.FACE, chip
        assert chip.document.mrz.document_number == "C1234567"
        wf.abandon()
    finally:
        for close in real.closers:
            close()
        pty.close()
    assert real.mrz_source._serial is None  # the kiosk's closers release the port


def test_a_whole_enrolment_from_the_page_reader_to_the_back_office(tmp_path, backoffice):  # noqa: F811
    pty = Pty()
    mrz = td3(number="C7654321")
    doc = issued(mrz)
    config = kiosk_config(settings(tmp_path, kiosk_mrz_reader="page_reader", kiosk_mrz_reader_device=pty.path))
    real = real_devices(config)
    kiosk = kiosk_on(config, doc, real)
    kiosk.workflow.submitter = client_for(backoffice)
    pty.send_later(["".join(line + "\r\n" for line in lines_of(mrz))], 0.2)
    try:
        result = enrol_headless(kiosk.workflow, kiosk.devices.camera, kiosk.devices.scanner, language="en")
    finally:
        kiosk.close()
        pty.close()
    assert result.outcome is Outcome.ACCEPTED and result.backoffice_status == "accepted", result


def test_a_failing_check_digit_is_never_taken_and_the_step_says_unreadable(tmp_path):
    pty = Pty()
    mrz = td3()
    bad = mrz[:53] + str((int(mrz[53]) + 1) % 10) + mrz[54:]  # the document number's check digit misread
    config = kiosk_config(settings(tmp_path, kiosk_mrz_reader="page_reader", kiosk_mrz_reader_device=pty.path))
    real = real_devices(config)
    try:
        kiosk = kiosk_on(config, issued(mrz), real, card_timeout_s=1.0)
        kiosk.workflow.start("en")
        pty.send("\r\n".join(lines_of(bad)) + "\r\n")
        feedback = kiosk.workflow.read_document()
        assert not feedback.ok and feedback.message == "document.mrz_unreadable"
        assert kiosk.workflow.session.printed_mrz is None and kiosk.workflow.step is Step.DOCUMENT
        assert kiosk.workflow.last_failure == "document:MrzCheckDigitFailed"  # for the officer: why, not the wait
        pty.send("\r\n".join(lines_of(bad)) + "\r\n")  # what the reader made of it, asked directly
        with pytest.raises(MrzCheckDigitFailed, match="document_number"):
            real.mrz_source.read_mrz()
    finally:
        for close in real.closers:
            close()
        pty.close()


def test_an_abandoned_travellers_read_stops_and_never_takes_the_next_travellers_document(tmp_path):
    pty = Pty()
    mrz = td3()
    config = kiosk_config(settings(tmp_path, kiosk_mrz_reader="page_reader", kiosk_mrz_reader_device=pty.path))
    real = real_devices(config)
    try:
        wf = kiosk_on(config, issued(mrz), real, card_timeout_s=10.0).workflow
        wf.start("en")
        first: dict = {}
        reading = threading.Thread(target=lambda: first.update(feedback=wf.read_document()), daemon=True)
        reading.start()
        time.sleep(0.3)  # the first traveller's document step waits for a document
        t0 = time.monotonic()
        wf.abandon()  # walks away; the next traveller starts at once
        wf.start("en")
        reading.join(3.0)
        assert not reading.is_alive() and time.monotonic() - t0 < 1.0  # the abandoned read was cancelled
        assert not first["feedback"].ok
        pty.send("\r\n".join(lines_of(mrz)) + "\r\n")  # the next traveller's document: theirs alone
        feedback = wf.read_document()
        assert feedback.ok and wf.session.printed_mrz.document_number == "C1234567", feedback
    finally:
        for close in real.closers:
            close()
        pty.close()


def test_both_reads_the_page_reader_first_and_the_camera_when_it_reads_nothing(tmp_path):
    pty = Pty()
    config = kiosk_config(settings(tmp_path, kiosk_mrz_reader="both", kiosk_mrz_reader_device=pty.path))
    real = real_devices(config)
    try:
        source = real.mrz_source
        assert isinstance(source, PageReaderThenCamera) and isinstance(source.page_reader, SerialMrzReader)
        assert isinstance(source.camera, CallableMrzSource)  # the document camera's OCR, as with "camera"
        asked = []
        source.camera = CallableMrzSource(lambda: asked.append("camera") or td3())
        source.page_reader.timeout_s = 0.2
        pty.send("\r\n".join(lines_of(td3(number="B0000001"))) + "\r\n")
        assert source.read_mrz() == td3(number="B0000001") and asked == []
        t0 = time.monotonic()
        assert source.read_mrz() == td3() and asked == ["camera"]  # nothing on the page reader within its time-out
        assert time.monotonic() - t0 >= 0.2
        pty.unplug()
        assert source.read_mrz() == td3() and asked == ["camera"] * 2  # the reader gone: the camera still reads
    finally:
        for close in real.closers:
            close()
        pty.close()


def test_the_default_is_the_camera_and_wrong_settings_are_named(tmp_path):
    config = kiosk_config(settings(tmp_path))
    assert config.mrz_reader == "camera"
    real = real_devices(config)
    assert isinstance(real.mrz_source, CallableMrzSource)  # what deployments had: OCR of the page camera
    for close in real.closers:
        close()
    with pytest.raises(SettingsError, match="kiosk_mrz_reader must be one of camera, page_reader, both"):
        settings(tmp_path, kiosk_mrz_reader="scanner")
    with pytest.raises(SettingsError, match="kiosk_mrz_reader_kind must be one of serial, keyboard"):
        settings(tmp_path, kiosk_mrz_reader_kind="usb")
    with pytest.raises(KioskConfigError, match="mrz_reader must be camera, page_reader or both"):
        kiosk_config(settings(tmp_path), mrz_reader="ocr")  # a configuration built by hand is checked too
    with pytest.raises(KioskConfigError, match="needs mrz_reader_device"):
        kiosk_config(settings(tmp_path, kiosk_mrz_reader="page_reader"))
    for baud in (0, 9601, True, 10**30):  # a bool is an int to Python, a huge one overflowed pyserial
        with pytest.raises(KioskConfigError, match="mrz_reader_baud must be a standard rate"):
            kiosk_config(settings(tmp_path, kiosk_mrz_reader="page_reader", kiosk_mrz_reader_device="/dev/ttyACM0",
                                  kiosk_mrz_reader_baud=baud))
    missing = tmp_path / "ttyACM7"
    with pytest.raises(KioskConfigError, match=f"serial page reader {missing}.*cannot open"):
        real_devices(kiosk_config(settings(tmp_path, kiosk_mrz_reader="both", kiosk_mrz_reader_device=str(missing))))
    with pytest.raises(KioskConfigError, match="keyboard page reader .*cannot open the keyboard-wedge"):
        real_devices(kiosk_config(settings(tmp_path, kiosk_mrz_reader="page_reader", kiosk_mrz_reader_kind="keyboard",
                                           kiosk_mrz_reader_device=str(missing))))


# -- the keyboard wedge ---------------------------------------------------------------------------------------
def _wedge_enrolment_document_step(tmp_path, device: str, send) -> None:
    mrz = td3(number="K1234567")
    doc = issued(mrz)
    config = kiosk_config(settings(tmp_path, kiosk_mrz_reader="page_reader", kiosk_mrz_reader_kind="keyboard",
                                   kiosk_mrz_reader_device=device))
    real = real_devices(config)
    try:
        assert isinstance(real.mrz_source, KeyboardWedgeMrzReader)
        kiosk = kiosk_on(config, doc, real)
        wf = kiosk.workflow
        wf.start("en")
        threading.Timer(0.3, send, (lines_of(mrz),)).start()
        feedback = wf.read_document()
        assert feedback.ok and wf.step is Step.CONSENT, feedback
        wf.consent(True)
        chip = wf.read_chip()
        assert chip.ok and chip.document.mrz.document_number == "K1234567", chip
        wf.abandon()
    finally:
        for close in real.closers:
            close()


def test_a_keyboard_wedge_through_uinput_feeds_the_kiosks_document_step(tmp_path):
    from tests.devices.wedge_keys import strokes, type_on, uinput_keyboard

    ui = uinput_keyboard()
    try:
        time.sleep(0.2)  # udev creates the event node
        _wedge_enrolment_document_step(tmp_path, ui.device.path,
                                       lambda lines: type_on(ui, strokes("".join(line + "\r" for line in lines))))
    finally:
        ui.close()


def test_a_keyboard_wedge_over_a_stand_in_event_device_feeds_the_kiosks_document_step(tmp_path, monkeypatch):
    """The same through the composition and the workflow where /dev/uinput is absent: the event device is a pipe
    (tests/devices/wedge_keys.PipeDevice) carrying real evdev InputEvents."""
    from tests.devices.wedge_keys import PipeDevice, evdev, typed

    PipeDevice.instances.clear()
    PipeDevice.busy = False
    monkeypatch.setattr(evdev, "InputDevice", PipeDevice)
    path = "/dev/input/by-id/usb-Test_MRZ_Reader-event-kbd"
    _wedge_enrolment_document_step(tmp_path, path, lambda lines: PipeDevice.instances[-1].send(typed(lines)))
    dev = PipeDevice.instances[-1]
    assert dev.closed and not dev.grabbed  # grabbed while the kiosk ran, released by its closers

