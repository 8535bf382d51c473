"""The kiosk on a libfprint scanner (issue #21 item 4): ``[kiosk] scanner = "libfprint"`` opens the sensor in
``real_devices`` (the production composition), the enrolment plans flat fingers for a single-finger scanner,
an enrolment runs to the back office through the real library (libfprint's virtual_image device fed FVC
images), and ``smartborder doctor`` names the scanner it finds."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from devices import ImageFingerprintScanner, LibfprintScanner, list_fingerprint_scanners, load_gray
from enrollment import FLAT_PLAN, SLAP_PLAN, Engines, Outcome, enrol_headless, finger_check_from_report
from smartborder.compose.kiosk import (
    KioskConfigError,
    KioskDevices,
    build_kiosk,
    finger_plan,
    kiosk_config,
    real_devices,
)
from smartborder.settings import SettingsError, load_settings
from tests.conftest import shared_path
from tests.devices.virtual_sensor import libfprint_or_skip
from tests.enrollment.conftest import FRAME, Script, backoffice, client_for, issued, td3, trust_for  # noqa: F401

FVC = ("101_1.tif", "102_1.tif", "103_1.tif", "104_1.tif")
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def settings(tmp_path, **over):
    return load_settings(environ={}, data_dir=tmp_path / "data", key_dir=tmp_path / "keys", **over)




def test_the_setting_selects_the_scanner_and_the_plan_follows_it(tmp_path, sensor):
    config = kiosk_config(settings(tmp_path, kiosk_scanner="libfprint"))
    assert config.scanner == "libfprint"
    devices = real_devices(config)  # the production composition: the libfprint sensor, opened
    try:
        assert isinstance(devices.scanner, LibfprintScanner) and devices.scanner.info.driver == "virtual_image"
        assert devices.scanner.slap is False and finger_plan(devices.scanner) == FLAT_PLAN
        kiosk = build_kiosk(config, devices, trust=object(), engines=Engines(None, None, None, None))
        assert kiosk.workflow.policy.finger_plan == FLAT_PLAN and kiosk.workflow.policy.min_fingers == 2
        assert [t.positions for t in kiosk.workflow.policy.finger_plan] == [(2,), (3,), (7,), (8,)]
    finally:
        for close in devices.closers:
            close()
    assert devices.scanner._device is None  # the kiosk's closers release the sensor

    # finger_dir alone (scanner "auto") keeps the images standing in for a slap scanner in dev
    (tmp_path / "fingers").mkdir()
    (tmp_path / "fingers" / "a.png").write_bytes(_png())
    images = kiosk_config(settings(tmp_path), finger_dir=tmp_path / "fingers")
    devices = real_devices(images)
    assert isinstance(devices.scanner, ImageFingerprintScanner) and finger_plan(devices.scanner) == SLAP_PLAN
    assert finger_plan(None) == SLAP_PLAN  # a scanner that does not say is a slap scanner, as before


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64), 200, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_configuration_errors_name_what_is_missing(tmp_path, monkeypatch):
    libfprint_or_skip()
    with pytest.raises(KioskConfigError, match="scanner = \"images\" needs finger_dir"):
        real_devices(kiosk_config(settings(tmp_path, kiosk_scanner="images")))
    with pytest.raises(SettingsError, match="kiosk_scanner"):
        settings(tmp_path, kiosk_scanner="usb")
    monkeypatch.delenv("FP_VIRTUAL_IMAGE", raising=False)
    monkeypatch.delenv("FP_VIRTUAL_DEVICE", raising=False)
    if list_fingerprint_scanners():
        pytest.skip("a real fingerprint scanner is plugged into this machine")
    with pytest.raises(KioskConfigError, match="scanner = \"libfprint\": no fingerprint scanner found"):
        real_devices(kiosk_config(settings(tmp_path)))  # the default: libfprint


def _engines(seen: list, templated: list) -> Engines:
    """The scripted face engines (no face models) with the real fingerprint quality and ISO/IEC 19794-2 templates."""
    from biometrics import finger as bfinger

    def finger_quality(img, dpi):
        seen.append((np.array(img, copy=True), dpi))
        return finger_check_from_report(bfinger.assess_quality(img, dpi=dpi))

    def finger_template(img, dpi, position):
        templated.append(position)
        return "iso19794_2", bfinger.FingerprintTemplate(img, dpi=dpi, position=position).to_bytes()

    return dataclasses.replace(Script().engines(), finger_quality=finger_quality, finger_template=finger_template,
                               segment_slap=None)


def test_an_enrolment_through_the_libfprint_scanner_reaches_the_back_office(tmp_path, sensor, backoffice):  # noqa: F811
    fingers = [load_gray(shared_path("fingerprints", "fvc2002_DB1", name)) for name in FVC]
    mrz = td3()
    doc = issued(mrz)
    config = kiosk_config(settings(tmp_path, kiosk_scanner="libfprint"))
    real = real_devices(config)
    scanner = real.scanner
    scanner.on_finger_needed = sensor.finger_needed  # the traveller: each finger when the sensor asks for one
    for image in fingers:
        sensor.queue_image(image)

    class Camera:
        def frames(self):
            while True:
                yield FRAME

    from devices.sim import FixedMrzSource, SimulatedReader

    seen: list = []
    templated: list = []
    devices = KioskDevices(Camera(), SimulatedReader(doc), FixedMrzSource(mrz), scanner, real.closers)
    kiosk = build_kiosk(config, devices, trust=trust_for(doc), engines=_engines(seen, templated))
    kiosk.workflow.submitter = client_for(backoffice)  # the real back office, in process
    try:
        result = enrol_headless(kiosk.workflow, devices.camera, devices.scanner, language="en")
    finally:
        kiosk.close()
    assert result.outcome is Outcome.ACCEPTED and result.backoffice_status == "accepted", result
    assert result.captures == 4 and sensor.sent == ["image 388x374"] * 4 and sensor.pending == 0
    assert templated == [2, 3, 7, 8]  # right index, right middle, left index, left middle
    assert len(seen) == 4 and all(dpi == 500 for _img, dpi in seen)
    assert all(np.array_equal(img, fed) for (img, _dpi), fed in zip(seen, fingers, strict=True))
    assert scanner._device is None  # kiosk.close() released the sensor


def test_doctor_names_the_virtual_scanner(sensor, monkeypatch):
    from click.testing import CliRunner

    from smartborder import _doctor
    from smartborder.cli import main

    checks = {c.name: c for c in _doctor.check_fingerprint_scanners()}
    assert checks["libfprint"].status == "ok" and "FPrint" in checks["libfprint"].detail
    virtual = checks["fingerprint_scanner:virtual_image"]
    assert virtual.status == "ok" and virtual.group == "scanner" and "gives images" in virtual.detail

    res = CliRunner().invoke(main, ["doctor", "--json", "--skip-models"])
    report = json.loads(res.output)
    assert any(c["name"] == "fingerprint_scanner:virtual_image" and c["status"] == "ok" for c in report["checks"])

    monkeypatch.delenv("FP_VIRTUAL_IMAGE")
    monkeypatch.setenv("FP_VIRTUAL_DEVICE", str(sensor.path.with_name("virtual-device.sock")))
    checks = {c.name: c for c in _doctor.check_fingerprint_scanners()}
    assert checks["fingerprint_scanner:virtual_device"].status == "warn"
    assert "match-on-chip" in checks["fingerprint_scanner:virtual_device"].detail
    monkeypatch.delenv("FP_VIRTUAL_DEVICE")
    if not list_fingerprint_scanners():
        checks = {c.name: c for c in _doctor.check_fingerprint_scanners()}
        assert checks["fingerprint_scanner"].status == "warn" and "no fingerprint scanner" in checks[
            "fingerprint_scanner"].detail


def test_doctor_fails_without_the_library(monkeypatch):
    import sys

    from smartborder import _doctor

    monkeypatch.setitem(sys.modules, "gi", None)
    (check,) = _doctor.check_fingerprint_scanners()
    assert check.name == "libfprint" and check.status == "fail" and "make setup" in check.detail
