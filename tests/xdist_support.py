"""What lets `make test` run the suite on two pytest-xdist workers (`pytest -n 2`) without the workers meeting.

Each worker is a process of its own, so in-process state is already apart; what is not are the machine's shared
things. Three are used by the tests:

* pcscd and vsmartcard's vpcd: one system-wide PC/SC daemon on one socket, and vpcd's slots on fixed ports
  (35963, 35964). The ``pcscd`` fixture (module scope) holds an exclusive lock on a file (:func:`pcsc_lock`)
  from before it starts pcscd until after it stops it, so the modules that need them run one at a time across
  the workers, as they do without xdist; a worker that reaches one while the other holds the lock waits. (xdist's
  ``--dist loadgroup`` would send them to one worker instead, but 3.8 sets the group through ``item._nodeid``,
  which pytest 9 no longer reads.)
* Xvfb displays: ``xvfb-run -a`` looks for a free display number from 99 up and is racy when two start at once;
  each worker starts its search at a display range of its own (:func:`xvfb_run`).
* Kivy's home directory (its config.ini is written on first start): one per worker (:func:`kivy_home`).

Scheduling: `make test` runs ``--dist loadfile`` (a file's tests stay on one worker, so a module-scoped fixture
such as the kiosk gallery's three-language run is built once), and the workers take the files longest first
(:data:`LONGEST_FIRST`, :func:`longest_first`): a long file started last would leave one worker running it
alone at the end (the demo's test, 5 minutes, did so when it came in collection order).

Without xdist (``PYTEST_XDIST_WORKER`` unset) everything is as it was: collection order, display search from 99,
``var/kivy``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: the machine's PC/SC lock file (in the temporary directory, shared by every worker of every run)
PCSC_LOCK = Path(tempfile.gettempdir()) / "smartborder-tests-pcsc.lock"


@contextlib.contextmanager
def pcsc_lock():
    """Hold the machine's PC/SC lock (blocking until the other worker releases it; a crashed holder's lock goes
    with its process)."""
    with open(PCSC_LOCK, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


#: files that take longest, in seconds (one file's tests in a row on an idle 2-core machine, `make test`'s
#: --durations at 2eec746 and its first xdist run): started first; any other file weighs 0 and keeps its place
LONGEST_FIRST = {
    "tests/smartborder/test_demo.py": 300,
    "tests/backoffice/test_openapi_contract.py": 280,
    "tests/kiosk/test_gallery.py": 130,
    "tests/kiosk/test_kiosk.py": 90,
    "tests/kiosk/test_liveness_guidance.py": 80,
    "tests/smartborder/test_kiosk_run.py": 75,
    "tests/backoffice/test_serve_workers.py": 60,
    "tests/backoffice/test_failover_http.py": 50,
    "tests/smartborder/test_quiet_logs.py": 50,
    "tests/kiosk/test_kiosk_screens_steps.py": 45,
    "tests/kiosk/test_referral.py": 40,
    "tests/smartborder/test_gate_run.py": 35,
    "tests/backoffice/test_privacy_blackbox.py": 30,
    "tests/backoffice/test_failover.py": 30,
    "tests/kiosk/test_voice.py": 25,
}


def longest_first(items: list) -> None:
    """Sort collected ``items`` in place so the files of :data:`LONGEST_FIRST` come first, heaviest first; a
    file's tests stay together and in their order (a stable sort on the file's weight)."""
    def weight(item) -> int:
        path = Path(str(item.fspath)).resolve()
        try:
            rel = path.relative_to(REPO).as_posix()
        except ValueError:
            return 0
        return LONGEST_FIRST.get(rel, 0)

    items.sort(key=lambda item: -weight(item))


def worker_index() -> int:
    """0 for the first xdist worker (``gw0``) and without xdist; n for ``gw<n>``."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0


def xvfb_run(*cmd: str) -> list[str]:
    """``cmd`` under ``xvfb-run -a`` (1280x800x24), searching for a free display from 99 + 20 x the worker's index."""
    return ["xvfb-run", "-a", "-n", str(99 + 20 * worker_index()), "-s", "-screen 0 1280x800x24", *cmd]


def kivy_home() -> Path:
    """Kivy's home for this worker (created): ``var/kivy`` without xdist, ``var/kivy-gw<n>`` under it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    path = REPO / "var" / (f"kivy-{worker}" if worker else "kivy")
    path.mkdir(parents=True, exist_ok=True)  # Kivy creates only the last level, and exits silently
    return path
