"""The gate on a libfprint scanner: ``[gate] scanner`` selects it in ``real_devices`` (the production
composition) and the lane's fingerprint step sends the back office the template of the finger the real library
captured (libfprint's virtual_image device fed an FVC image); a lane without its sensor does not start."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from devices import LibfprintScanner, list_fingerprint_scanners, load_gray
from gate import FingerEngine, FingerStep
from smartborder.compose.gate import GateConfigError, gate_config, real_devices
from smartborder.settings import load_settings
from tests.conftest import shared_path
from tests.devices.virtual_sensor import libfprint_or_skip


def settings(tmp_path, **over):
    trust = tmp_path / "trust"
    trust.mkdir(exist_ok=True)
    return load_settings(environ={}, data_dir=tmp_path / "data", key_dir=tmp_path / "keys", gate_trust=trust,
                         gate_door_port="loop://", **over)




def test_the_lane_captures_its_probe_through_libfprint(tmp_path, sensor):
    from biometrics.finger import FingerprintTemplate

    finger = load_gray(shared_path("fingerprints", "fvc2002_DB1", "101_1.tif"))
    config = gate_config(settings(tmp_path))  # scanner "auto", fingerprints checked: libfprint
    devices = real_devices(config)
    try:
        scanner = devices.scanner
        assert isinstance(scanner, LibfprintScanner) and scanner.info.driver == "virtual_image"
        scanner.on_finger_needed = sensor.finger_needed
        sensor.queue_image(finger)
        asked: list = []

        def back_office(number, state, probes):  # the 1:1 runs there; the gate only sends its probe
            asked.append(probes)
            if not probes:
                return {"fingerprint_check": "no_probe"}
            return {"fingerprint_check": "done", "score": 0.9, "threshold": 0.1}

        step = FingerStep(scanner, FingerEngine.default(), remote=back_office)
        outcome = step(SimpleNamespace(document_number="C1234567", issuing_state="VNM"))
    finally:
        for close in devices.closers:
            close()
    assert outcome.enrolled is True and outcome.score == 0.9 and sensor.sent == ["image 388x374"]
    ((position, probe),) = asked[1]
    assert position == 2 and probe == FingerprintTemplate(finger, dpi=500).to_bytes()  # the fed finger's template


def test_a_lane_without_its_sensor_does_not_start_unless_it_checks_no_fingerprints(tmp_path, monkeypatch):
    libfprint_or_skip()
    monkeypatch.delenv("FP_VIRTUAL_IMAGE", raising=False)
    monkeypatch.delenv("FP_VIRTUAL_DEVICE", raising=False)
    with pytest.raises(GateConfigError, match="scanner = \"images\" needs finger_dir"):
        real_devices(gate_config(settings(tmp_path, gate_scanner="images")))
    no_fingers = real_devices(gate_config(settings(tmp_path, gate_fingerprints="off")))
    assert no_fingers.scanner is None  # the lane checks no fingerprints: it needs no sensor
    for close in no_fingers.closers:
        close()
    if list_fingerprint_scanners():
        pytest.skip("a real fingerprint scanner is plugged into this machine")
    with pytest.raises(GateConfigError, match="no fingerprint scanner found.*fingerprints = \"off\""):
        real_devices(gate_config(settings(tmp_path)))
