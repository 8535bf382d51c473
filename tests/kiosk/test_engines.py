"""The kiosk's engines: biometrics only, a named error without them, test doubles off the runtime path."""

from __future__ import annotations

import logging
import subprocess
import sys
import types

import numpy as np
import pytest

from kiosk import EnginesUnavailable, build_engines
from tests.conftest import REPO, shared_path


def test_engines_are_the_biometric_engines_and_send_whole_templates():
    from PIL import Image

    from biometrics.face import FaceTemplate, load_image
    from biometrics.finger import FingerprintTemplate

    engines = build_engines()
    assert engines.name == "biometrics" and set(engines.sources.values()) == {"biometrics"}
    photo = load_image(shared_path("faces", "lfw-dev", "Abdullah_Gul", "Abdullah_Gul_0001.jpg").read_bytes())
    raw = engines.face_template(photo)
    template = FaceTemplate.from_bytes(raw)  # the face engine's bytes: both parts, as the back office compares them
    assert isinstance(raw, bytes) and template.sface is not None and template.to_bytes() == raw
    image = np.asarray(Image.open(shared_path("fingerprints", "fvc2002_DB1", "101_1.tif")).convert("L"))
    fmt, record = engines.finger_template(image, 500, 2)
    assert fmt == "iso19794_2" and FingerprintTemplate.from_bytes(record).position == 2


def test_without_biometrics_the_kiosk_does_not_start(monkeypatch):
    monkeypatch.setitem(sys.modules, "biometrics.face", None)  # "not installed"
    with pytest.raises(EnginesUnavailable, match="biometrics.face") as e:
        build_engines()
    assert isinstance(e.value.__cause__, ImportError)
    monkeypatch.setitem(sys.modules, "biometrics.face", types.SimpleNamespace(assess_quality=1, extract_template=1))
    with pytest.raises(EnginesUnavailable, match="LivenessSession"):
        build_engines()


def test_liveness_is_the_real_challenge_or_explicitly_off(caplog):
    with pytest.raises(ValueError, match="with_head_movement_liveness"):
        build_engines(liveness="fallback")  # no silent relaxation
    with caplog.at_level(logging.WARNING, logger="kiosk"):
        off = build_engines(liveness="off")
    assert off.liveness is None and off.sources["liveness"] == "off" and "liveness is OFF" in caplog.text
    assert build_engines().liveness().__class__.__name__ == "_RealLiveness"


def test_the_simulators_head_movement_check_is_visible(caplog):
    from kiosk.testing import SIMULATED_LIVENESS, MotionLiveness, with_head_movement_liveness

    engines = build_engines()
    with caplog.at_level(logging.WARNING, logger="kiosk"):
        relaxed = with_head_movement_liveness(engines)
    assert isinstance(relaxed.liveness(), MotionLiveness)
    assert relaxed.sources["liveness"] == SIMULATED_LIVENESS and SIMULATED_LIVENESS in relaxed.name
    assert "not a presentation-attack check" in caplog.text
    assert engines.sources["liveness"] == "biometrics"  # the original is left as it was


def test_building_the_engines_loads_no_test_double_nor_the_simulator():
    """What runtime code imports is an import-linter contract (pyproject.toml: simulators, test doubles and
    evaluation harnesses are imported only by simulation code and the CLI's commands); this checks what
    building the engines loads at run time, importlib included."""
    assert not (REPO / "kiosk" / "_fallback.py").exists()
    code = "import sys, kiosk; kiosk.build_engines(); print('kiosk.testing' in sys.modules, 'kiosk.sim' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False False", out.stderr
