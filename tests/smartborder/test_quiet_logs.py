"""Issue #20 item 7: `smartborder demo` prints only its own lines unless --verbose (mediapipe's and TensorFlow
Lite's native log lines kept quiet at their source, the project's logging configured once), and the chip
reader's missing pcscd, missing reader and wrong MRZ are each one line that says what to do, no traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from smartborder.cli import main

REPO = Path(__file__).resolve().parents[2]

#: the demo's own lines (smartborder/sim/demo.py): a stage "[n/6] ...", or a detail indented under one
OWN_LINE = re.compile(r"^(\[[1-6]/6\] \S|  +\S)")

# the smaller demo (no development faces or fingerprints), as test_demo's test_smaller_demo_without_development_data
_DEMO = ("import sys; from pathlib import Path; from smartborder.sim import demo as d; "
         "d.SHARED_FACES = d.SHARED_FINGERS = Path(sys.argv[1]); "
         "from smartborder.cli import main; main(['demo', *sys.argv[2:]])")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SMARTBORDER_VERBOSE", "KIVY_LOG_MODE")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def _demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _DEMO, str(tmp_path / "absent"), *args], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=900)


def test_demo_prints_only_its_own_lines(tmp_path):
    r = _demo(tmp_path)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    foreign = [line for line in r.stdout.splitlines() if not OWN_LINE.match(line)]
    assert foreign == [], foreign
    assert r.stderr == ""  # no mediapipe/absl/TFLite line, no log record, no warning
    assert r.stdout.splitlines()[-1].startswith("[6/6] report:") and r.stdout.rstrip().endswith("-> OK")


def test_demo_verbose_shows_the_log(tmp_path):
    r = _demo(tmp_path, "--verbose")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert all(OWN_LINE.match(line) for line in r.stdout.splitlines())
    assert " smartborder.gate INFO transaction " in r.stderr  # the project's log, in the one format


# ICAO Doc 9303 Part 4 Appendix A's worked example (check digits right)
L1 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
L2 = "L898902C36UTO7408122F1204159ZE184226B<<<<<10"


def _one_line_error(r, *needles: str) -> str:
    code = r.returncode if isinstance(r, subprocess.CompletedProcess) else r.exit_code
    assert code == 1, (code, r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in r.stderr, r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_chip_read_without_pcscd_says_start_pcscd(tmp_path):
    # the PC/SC client library talks to pcscd on this socket: none there, as on a machine without pcscd
    r = subprocess.run([sys.executable, "-m", "smartborder", "chip", "read", "--reader", "pcsc", "--mrz", L1, L2],
                       env=_env(PCSCLITE_CSOCK_NAME=str(tmp_path / "no-pcscd.comm")), capture_output=True, text=True,
                       timeout=120)
    assert r.stdout == ""
    _one_line_error(r, "pcscd is not running", "systemctl start pcscd")


def test_chip_read_without_a_reader_says_plug_it_in(monkeypatch):
    monkeypatch.setattr("smartcard.System.readers", lambda *a, **k: [])
    r = CliRunner().invoke(main, ["chip", "read", "--reader", "pcsc", "--mrz", L2])
    _one_line_error(r, "no PC/SC reader connected", "plug the reader in")


@pytest.mark.parametrize(("mrz", "needles"), [
    ([L1, L2.replace("L898902C36", "L898902C37")], ("wrong MRZ", "document number", "check digit")),
    ([L2.replace("7408122", "7408123")], ("wrong MRZ", "date of birth", "check digit")),
    ([L1], ("wrong MRZ", "give the second line")),
    (["P<UTOERIKSSON"], ("wrong MRZ", "13 characters", "2x44 (passport)")),
])
def test_chip_read_with_a_wrong_mrz_says_which_field(mrz, needles):
    args = ["chip", "read", "--reader", "pcsc"]
    for line in mrz:
        args += ["--mrz", line]
    _one_line_error(CliRunner().invoke(main, args), *needles)


def test_chip_read_takes_the_mrz_lines_as_mrz_parse_does(tmp_path):
    """`--mrz LINE1 LINE2` (the second line an argument, as `mrz parse LINE1 LINE2`), and a passport's second
    line alone, both open the chip (BAC/PACE with the MRZ key)."""
    import numpy as np
    from PIL import Image
    from skimage import data

    photo = tmp_path / "face.png"
    Image.fromarray(np.asarray(data.astronaut())[:400, 100:400]).save(photo)
    out = tmp_path / "doc"
    r = CliRunner().invoke(main, ["chip", "issue", "--mrz", L1, "--mrz", L2, "--photo", str(photo), "--out", str(out)])
    assert r.exit_code == 0, r.output
    for mrz in ([L1, L2], [L2]):
        r = CliRunner().invoke(main, ["chip", "read", "--reader", f"virtual:{out}", "--mrz", *mrz])
        assert r.output.startswith(("PACE: read", "BAC: read")), r.output
