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


#: set (to anything but "" or "0") where a missing PostgreSQL server must fail the tests that need one, not
#: skip them: `make test` sets it, so CI cannot go green without having run them.
REQUIRE_POSTGRES = "SMARTBORDER_REQUIRE_POSTGRES"


def postgres_bin_or_skip():
    """The PostgreSQL server binaries' directory; skips the test when there are none, fails it instead when
    SMARTBORDER_REQUIRE_POSTGRES is set."""
    from storage.testing import find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        reason = ("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found under /usr/lib/postgresql/*/bin "
                  "or on PATH; install the Debian package 'postgresql' (make setup as root)")
        if os.environ.get(REQUIRE_POSTGRES, "") not in ("", "0"):
            pytest.fail(f"{reason}; {REQUIRE_POSTGRES} is set, so this fails instead of skipping")
        pytest.skip(reason)
    return bin_dir


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster for the session (storage.testing.postgres_cluster: initdb in a temporary
    directory, a free port of 127.0.0.1, fsync off, run as the `postgres` user under root), stopped and removed
    at the end. ``postgres.url`` is its application database; tests that write use ``postgres_db``."""
    from storage.testing import postgres_cluster

    with postgres_cluster(bin_dir=postgres_bin_or_skip()) as cluster:
        yield cluster


@pytest.fixture()
def postgres_db(postgres):
    """A fresh database and role of their own on the session's cluster (dropped after the test): its URL."""
    import secrets

    name = f"t_{secrets.token_hex(6)}"
    url = postgres.create_database(name)
    yield url
    postgres.drop_database(name, name)


@pytest.fixture()
def postgres_keys_db(postgres):
    """The vault's key store on PostgreSQL: a second database and role of their own on the session's cluster (as
    docs/DEPLOYMENT.md lays it out), the role granted what the key store's scrub needs (``pg_checkpoint``, EXECUTE
    on ``pg_switch_wal``); dropped after the test. Its URL."""
    import secrets

    name = f"k_{secrets.token_hex(6)}"
    from storage.testing import keys_database

    yield keys_database(postgres, name)
    postgres.drop_database(name, name)


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist the longest files first (tests/xdist_support.py); otherwise collection order."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        from tests.xdist_support import longest_first

        longest_first(items)
