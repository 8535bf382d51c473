"""The kiosk's composition: no record without Passive Authentication unless a visibly marked development
flag says so, and no development stand-in in production."""

from __future__ import annotations

import pytest

from smartborder.compose.kiosk import KioskConfigError, KioskDevices, build_kiosk, kiosk_config
from smartborder.settings import load_settings

STRONG = "s" * 40


def settings(tmp_path, **over):
    return load_settings(environ={}, data_dir=tmp_path / "data", key_dir=tmp_path / "keys", **over)


def prod(tmp_path, **over):
    return settings(tmp_path, env="prod", secret_key=STRONG, kek=STRONG, device_token=STRONG, **over)


def _devices():
    from devices.sim import FixedMrzSource, SimulatedReader

    return KioskDevices(camera=None, reader=SimulatedReader(), mrz_source=FixedMrzSource(), scanner=None)


def test_a_kiosk_without_a_trust_store_refuses_to_start(tmp_path):
    with pytest.raises(KioskConfigError, match="trust store"):
        build_kiosk(kiosk_config(settings(tmp_path)), _devices(), engines=object())


def test_the_development_flag_is_refused_outside_dev_and_relaxes_only_there(tmp_path):
    with pytest.raises(KioskConfigError, match="dev-without-passive-authentication"):
        kiosk_config(prod(tmp_path), dev_without_passive_authentication=True)
    config = kiosk_config(settings(tmp_path), dev_without_passive_authentication=True)
    from enrollment import Engines

    engines = Engines(None, None, None, None)
    kiosk = build_kiosk(config, _devices(), engines=engines)
    assert kiosk.workflow.policy.require_passive_authentication is False
    assert kiosk.workflow.policy.require_chip_face_match is True  # the flag relaxes nothing else
    key = tmp_path / "keys" / "kiosk.kek"
    assert key.is_file() and (key.stat().st_mode & 0o077) == 0  # the outbox key outside the data directory


def test_production_kiosks_take_no_stand_ins(tmp_path):
    (tmp_path / "scanner").mkdir()
    with pytest.raises(KioskConfigError, match="finger_dir"):
        kiosk_config(prod(tmp_path), finger_dir=tmp_path / "scanner")
    with pytest.raises(KioskConfigError, match="liveness_seed"):
        kiosk_config(prod(tmp_path, kiosk_liveness_seed=3))
    with pytest.raises(KioskConfigError, match="https"):
        kiosk_config(prod(tmp_path), backoffice_url="http://192.0.2.7:8080")
