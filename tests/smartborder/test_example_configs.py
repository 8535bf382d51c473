"""The example configurations under config/ are what a deployment starts from: each parses, names only
known settings, relaxes nothing, and builds its role's configuration (secrets from the environment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartborder.settings import load_settings
from tests.conftest import REPO

SECRETS = {"SMARTBORDER_SECRET_KEY": "k" * 40, "SMARTBORDER_KEK": "q" * 44, "SMARTBORDER_DEVICE_TOKEN": "t" * 40}


@pytest.mark.parametrize("role", ["gate", "kiosk", "backoffice"])
def test_example_configuration_loads_as_production(role):
    settings = load_settings(REPO / "config" / f"{role}.example.toml", environ=SECRETS)
    assert settings.env == "prod"
    assert not Path(settings.key_dir).resolve().is_relative_to(Path(settings.data_dir).resolve())


def test_example_gate_relaxes_nothing_and_names_its_devices():
    from smartborder.compose.gate import gate_config

    config = gate_config(load_settings(REPO / "config" / "gate.example.toml", environ=SECRETS))
    assert config.relaxations() == [] and config.door_port and config.trust_path
    assert config.backoffice_url and config.token == SECRETS["SMARTBORDER_DEVICE_TOKEN"]


def test_example_kiosk_requires_its_trust_store():
    from smartborder.compose.kiosk import kiosk_config

    config = kiosk_config(load_settings(REPO / "config" / "kiosk.example.toml", environ=SECRETS))
    assert config.trust_path and not config.dev_without_passive_authentication and config.liveness == "active"
