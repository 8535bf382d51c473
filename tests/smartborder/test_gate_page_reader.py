"""The gate's page reader (issue #25 item 4): ``[gate] mrz_reader`` selects it in ``real_devices`` (the production
composition) and the lane's document step reads the MRZ from a serial reader on a pseudo-terminal; "both" keeps
the page camera's OCR after it, "page_reader" alone drops the camera; wrong settings are named errors."""

from __future__ import annotations

import pytest

from devices import SerialMrzReader
from gate import DocumentStep
from smartborder.compose.gate import GateConfigError, gate_config, real_devices
from smartborder.settings import SettingsError, load_settings
from tests.devices.mrz_specimens import TD3
from tests.devices.test_mrz_serial import Pty


def settings(tmp_path, **over):
    trust = tmp_path / "trust"
    trust.mkdir(exist_ok=True)
    return load_settings(environ={}, data_dir=tmp_path / "data", key_dir=tmp_path / "keys", gate_trust=trust,
                         gate_door_port="loop://", gate_fingerprints="off", **over)


@pytest.fixture()
def pty():
    p = Pty()
    yield p
    p.close()


def test_the_lanes_document_step_reads_the_page_reader(tmp_path, pty):
    config = gate_config(settings(tmp_path, gate_mrz_reader="page_reader", gate_mrz_reader_device=pty.path,
                                  gate_page_camera="1"))
    devices = real_devices(config)
    try:
        assert isinstance(devices.mrz_source, SerialMrzReader) and devices.page_camera is None
        step = DocumentStep(mrz_source=devices.mrz_source, page_camera=devices.page_camera)
        pty.send("\x02" + "\r\n".join(TD3) + "\r\n\x03")
        presentation = step()
        assert presentation.source == "mrz" and presentation.document_number == "L898902C3"
    finally:
        for close in devices.closers:
            close()
    assert devices.mrz_source._serial is None  # released with the lane's devices


def test_both_keeps_the_page_camera_and_camera_stays_the_default(tmp_path, pty):
    both = real_devices(gate_config(settings(tmp_path, gate_mrz_reader="both", gate_mrz_reader_device=pty.path,
                                             gate_page_camera="1")))
    try:
        assert isinstance(both.mrz_source, SerialMrzReader) and both.page_camera is not None
    finally:
        for close in both.closers:
            close()
    default = real_devices(gate_config(settings(tmp_path, gate_page_camera="1")))
    assert default.mrz_source is None and default.page_camera is not None  # OCR of the page camera, as before
    for close in default.closers:
        close()


def test_wrong_gate_settings_are_named(tmp_path):
    with pytest.raises(SettingsError, match="gate_mrz_reader must be one of camera, page_reader, both"):
        settings(tmp_path, gate_mrz_reader="swipe")
    with pytest.raises(GateConfigError, match="needs mrz_reader_device"):
        gate_config(settings(tmp_path, gate_mrz_reader="page_reader"))
    with pytest.raises(GateConfigError, match="\"both\" needs page_camera"):
        gate_config(settings(tmp_path, gate_mrz_reader="both", gate_mrz_reader_device="/dev/ttyACM0"))
    with pytest.raises(GateConfigError, match=r"\[gate\] mrz_reader = \"page_reader\" \(serial page reader .*cannot open"):
        real_devices(gate_config(settings(tmp_path, gate_mrz_reader="page_reader",
                                          gate_mrz_reader_device=str(tmp_path / "ttyACM9"))))

