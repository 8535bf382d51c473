"""Shared fixtures. Development data lives in ../shared/data and is never copied into the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SMARTBORDER_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"development data not available: {path} (../shared/data is not part of this checkout)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of ../shared/data; skips when it is absent."""
    return shared_path()


@pytest.fixture()
def sensor(tmp_path, monkeypatch):
    """libfprint's virtual_image device on a socket in tmp_path (tests/devices/virtual_sensor.py; the variable is
    read when a libfprint context enumerates): the devices, kiosk and gate scanner tests feed it images."""
    from tests.devices.virtual_sensor import VirtualImageSensor, libfprint_or_skip

    libfprint_or_skip()
    monkeypatch.delenv("FP_VIRTUAL_DEVICE", raising=False)
    path = tmp_path / "virtual-image.sock"
    monkeypatch.setenv("FP_VIRTUAL_IMAGE", str(path))
    feeder = VirtualImageSensor(path)
    yield feeder
    feeder.close()
