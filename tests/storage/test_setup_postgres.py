"""The Makefile's apt step (issue #24 item 3): installing postgresql must not leave Debian's `main` cluster
on port 5432 (started and enabled on systemd hosts). postgresql-common reads
/etc/postgresql-common/createcluster.d/*.conf, so the step writes `create_main_cluster = false` there
before apt-get runs. The step runs here with dpkg-query, id and apt-get replaced by stubs on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

_STUBS = {
    # every package is missing
    "dpkg-query": "#!/bin/sh\nexit 1\n",
    "id": '#!/bin/sh\necho "$STUB_UID"\n',
    # records, at install time, what the drop-in holds (or that it is absent)
    "apt-get": '#!/bin/sh\necho "apt-get $*" >> "$STUB_LOG"\n'
               'case "$1" in update) exit 0;; esac\n'
               'if [ -f "$STUB_CONF" ]; then echo "conf: $(cat "$STUB_CONF")" >> "$STUB_LOG"; '
               'else echo "conf: absent" >> "$STUB_LOG"; fi\n',
}


@pytest.fixture()
def apt_step(tmp_path):
    """Run `make apt` with the stubs: (packages, uid) -> (result, the drop-in's path, the apt-get log)."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, text in _STUBS.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    conf = tmp_path / "etc" / "createcluster.d" / "smartborder.conf"
    log = tmp_path / "apt.log"

    def run(packages: str, uid: str) -> tuple[subprocess.CompletedProcess, Path, Path]:
        env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "STUB_UID": uid, "STUB_LOG": str(log),
               "STUB_CONF": str(conf)}
        done = subprocess.run(["make", "-s", "-C", str(REPO), "apt", f"APT_PACKAGES={packages}",
                               f"PG_CREATECLUSTER_CONF={conf}"], env=env, capture_output=True, text=True,
                              timeout=60, check=False)
        return done, conf, log

    return run


def test_installing_postgresql_as_root_turns_off_the_main_cluster_first(apt_step):
    done, conf, log = apt_step("xauth postgresql", "0")
    assert done.returncode == 0, done.stderr
    assert conf.read_text() == "create_main_cluster = false\n"
    lines = log.read_text().splitlines()
    install = next(i for i, line in enumerate(lines) if line.startswith("apt-get install"))
    assert "postgresql" in lines[install].split()
    assert lines[install + 1] == "conf: create_main_cluster = false"  # written before apt-get install ran


def test_the_step_is_idempotent(apt_step):
    for _ in range(2):
        done, conf, _log = apt_step("postgresql", "0")
        assert done.returncode == 0, done.stderr
        assert conf.read_text() == "create_main_cluster = false\n"


def test_nothing_is_written_without_root(apt_step):
    done, conf, log = apt_step("postgresql", "1000")
    assert done.returncode == 0, done.stderr
    assert "run 'make setup' as root" in done.stdout
    assert not conf.exists() and not log.exists()


def test_nothing_is_written_when_postgresql_is_not_to_be_installed(apt_step):
    done, conf, log = apt_step("xauth", "0")
    assert done.returncode == 0, done.stderr
    assert not conf.exists()
    assert "conf: absent" in log.read_text()
