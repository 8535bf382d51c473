"""[kiosk] officer_directions (issue #20 item 6): where a referred traveller goes, per kiosk, in vi, zh and en;
read from TOML or the environment, checked (all three or none), carried by the composition to the app, and
`smartborder doctor` warns when a kiosk has none (the referral screen then gives the generic direction)."""

from __future__ import annotations

import json

import pytest

from smartborder._doctor import check_kiosk_directions
from smartborder.compose.kiosk import KioskDevices, build_kiosk, kiosk_config
from smartborder.settings import SettingsError, load_settings, with_overrides

DIRECTIONS = {"vi": "Quầy số 3, bên trái bạn", "zh": "请到左手边3号柜台", "en": "Counter 3, on your left"}
TOML = '''env = "dev"
data_dir = "{data}"
key_dir = "{keys}"

[kiosk]
id = "hall-kiosk-02"
officer_directions = {{ vi = "Quầy số 3, bên trái bạn", zh = "请到左手边3号柜台", en = "Counter 3, on your left" }}
'''


def _toml(tmp_path, directions_line: str | None = None):
    text = TOML.format(data=tmp_path / "data", keys=tmp_path / "keys")
    if directions_line is not None:
        text = text.replace(text.splitlines()[-1], directions_line)
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_from_the_toml_table_and_from_the_environment(tmp_path):
    assert load_settings(_toml(tmp_path), environ={}).kiosk_officer_directions == DIRECTIONS
    env = {"SMARTBORDER_KIOSK_OFFICER_DIRECTIONS": json.dumps(DIRECTIONS, ensure_ascii=False)}
    assert load_settings(environ=env).kiosk_officer_directions == DIRECTIONS
    # the environment wins over the file, as for every setting
    other = {**DIRECTIONS, "en": "Desk 7, straight ahead"}
    env = {"SMARTBORDER_KIOSK_OFFICER_DIRECTIONS": json.dumps(other, ensure_ascii=False)}
    assert load_settings(_toml(tmp_path), environ=env).kiosk_officer_directions["en"] == "Desk 7, straight ahead"
    # none configured: None (the generic direction), also for an empty table or an empty variable
    assert load_settings(environ={}).kiosk_officer_directions is None
    assert load_settings(_toml(tmp_path, "officer_directions = {}"), environ={}).kiosk_officer_directions is None
    assert load_settings(environ={"SMARTBORDER_KIOSK_OFFICER_DIRECTIONS": ""}).kiosk_officer_directions is None


@pytest.mark.parametrize(("line", "match"), [
    ('officer_directions = { en = "Counter 3, on your left" }', "missing or empty for vi, zh"),
    ('officer_directions = { vi = "Quầy 3", zh = "  ", en = "Counter 3" }', "missing or empty for zh"),
    ('officer_directions = { vi = "Quầy 3", zh = "3号", en = "Counter 3", de = "Schalter 3" }', "unknown language"),
    ('officer_directions = "Counter 3, on your left"', "must be a table of vi, zh and en"),
    ('officer_directions = { vi = 3, zh = "3号", en = "Counter 3" }', "missing or empty for vi"),
])
def test_all_three_languages_or_none(tmp_path, line, match):
    with pytest.raises(SettingsError, match="officer_directions") as e:
        load_settings(_toml(tmp_path, line), environ={})
    assert match in str(e.value)


def test_a_malformed_environment_variable_is_named():
    with pytest.raises(SettingsError, match="SMARTBORDER_KIOSK_OFFICER_DIRECTIONS"):
        load_settings(environ={"SMARTBORDER_KIOSK_OFFICER_DIRECTIONS": "{vi: Counter 3}"})
    with pytest.raises(SettingsError, match="must be a table of vi, zh and en texts .in the environment a JSON"):
        load_settings(environ={"SMARTBORDER_KIOSK_OFFICER_DIRECTIONS": "Counter 3"})
    with pytest.raises(SettingsError, match="missing or empty for zh"):
        load_settings(environ={"SMARTBORDER_KIOSK_OFFICER_DIRECTIONS": json.dumps({"vi": "Quầy 3", "en": "Counter 3"})})


def test_settings_stay_usable_and_whitespace_is_tidied(tmp_path):
    settings = load_settings(environ={"SMARTBORDER_KIOSK_OFFICER_DIRECTIONS": json.dumps(
        {"vi": " Quầy số 3,\n bên trái bạn ", "zh": "请到左手边3号柜台", "en": "Counter 3,  on your left"})})
    assert settings.kiosk_officer_directions == DIRECTIONS
    assert with_overrides(settings, kiosk_id="k2").kiosk_officer_directions == DIRECTIONS
    hash(settings)  # a frozen settings object is still hashable


def test_the_composition_carries_them_to_the_kiosk(tmp_path):
    from devices.sim import FixedMrzSource, SimulatedReader
    from enrollment import Engines

    settings = load_settings(_toml(tmp_path), environ={})
    config = kiosk_config(settings, dev_without_passive_authentication=True)
    assert config.officer_directions == DIRECTIONS
    kiosk = build_kiosk(config, KioskDevices(None, SimulatedReader(), FixedMrzSource(), None),
                        engines=Engines(None, None, None, None))
    assert kiosk.config.officer_directions == DIRECTIONS
    assert kiosk_config(load_settings(environ={}, data_dir=tmp_path / "d", key_dir=tmp_path / "k"),
                        dev_without_passive_authentication=True).officer_directions is None


def test_kiosk_app_hands_them_to_the_app(tmp_path, monkeypatch):
    """kiosk_app (the one place `kiosk run` builds the app) passes the directions, the consent notice and the
    language to kiosk.create_app (Kivy is not started here: the headless tests run the app itself)."""
    import kiosk
    from devices.sim import FixedMrzSource, SimulatedReader
    from enrollment import Engines
    from smartborder.compose.kiosk import kiosk_app

    seen = {}
    monkeypatch.setattr(kiosk, "create_app", lambda workflow, **kw: seen.update(kw, workflow=workflow) or "app")
    settings = load_settings(_toml(tmp_path), environ={}, language="zh")
    built = build_kiosk(kiosk_config(settings, dev_without_passive_authentication=True),
                        KioskDevices("camera", SimulatedReader(), FixedMrzSource(), "scanner"),
                        engines=Engines(None, None, None, None))
    assert kiosk_app(built, sim=None, voice=False) == "app"
    assert seen["directions"] == DIRECTIONS and seen["default_lang"] == "zh" and seen["voice"] is False
    assert seen["consent"] is built.consent and seen["workflow"] is built.workflow
    assert seen["camera"] == "camera" and seen["scanner"] == "scanner"


def test_doctor_warns_without_directions_and_fails_on_bad_ones(tmp_path):
    check = check_kiosk_directions(environ={})
    assert check.status == "warn" and "officer_directions" in check.detail and "staffed desk" in check.detail
    ok = check_kiosk_directions(_toml(tmp_path), environ={})
    assert ok.status == "ok" and "Counter 3, on your left" in ok.detail
    bad = check_kiosk_directions(_toml(tmp_path, 'officer_directions = { en = "Counter 3" }'), environ={})
    assert bad.status == "fail" and "missing or empty for vi, zh" in bad.detail
