"""``smartborder chip issue`` and ``smartborder chip read`` end to end through the click app."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from smartborder.cli import main
from tests.conftest import shared_path

L1 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
L2 = "L898902C36UTO7408122F1204159ZE184226B<<<<<10"


@pytest.fixture(scope="module")
def photo():
    return str(next(iter(sorted(shared_path("faces", "lfw-dev").rglob("*.jpg")))))


def _issue(tmp_path, photo, *extra):
    out = tmp_path / "doc"
    r = CliRunner().invoke(main, ["chip", "issue", "--mrz", L1, "--mrz", L2, "--photo", photo, "--out", str(out),
                                  "--can", "123456", "--json", *extra])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["document_type"] == "TD3"
    return out


def test_issue_then_read_with_mrz_and_save(tmp_path, photo):
    out = _issue(tmp_path, photo)
    dump = tmp_path / "dump"
    r = CliRunner().invoke(main, ["chip", "read", "--reader", f"virtual:{out}", "--mrz", f"{L1}\n{L2}",
                                  "--json", "--save", str(dump)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["valid"] and d["access"]["protocol"] == "PACE" and d["access"]["password"] == "MRZ"
    assert d["chip_authentication"]["succeeded"] and d["active_authentication"]["succeeded"]
    assert (dump / "DG1.bin").read_bytes() == (out / "DG1.bin").read_bytes()
    assert (dump / "EF_SOD.bin").exists() and (dump / "EF_COM.bin").exists()
    # the holder's data and photo in clear: the reader's alone
    assert dump.stat().st_mode & 0o777 == 0o700
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in dump.iterdir())


def test_read_with_can_and_extended_text_output(tmp_path, photo):
    out = _issue(tmp_path, photo, "--no-bac")
    r = CliRunner().invoke(main, ["chip", "read", "--reader", f"virtual:{out}", "--can", "123456", "--extended"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("PACE: read") and "ok   chip_authentication" in r.output


def test_faulty_document_exits_non_zero_with_the_failed_check(tmp_path, photo):
    out = _issue(tmp_path, photo, "--faults", "clone_ca,mrz_mismatch")
    r = CliRunner().invoke(main, ["chip", "read", "--reader", f"virtual:{out}", "--mrz", L1, "--mrz", L2, "--json"])
    assert r.exit_code == 1
    failed = {c["name"] for c in json.loads(r.output)["failures"]}
    assert failed == {"chip_authentication", "mrz_consistency"}


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--can", "999999"], "PACE failed"), (["--reader-x"], "No such option"), ([], "give --mrz, --can"),
     (["--mrz", "P<UTO"], "MRZ must be")],
)
def test_read_errors(tmp_path, photo, args, message):
    out = _issue(tmp_path, photo)
    r = CliRunner().invoke(main, ["chip", "read", "--reader", f"virtual:{out}", *args])
    assert r.exit_code != 0 and message in r.output


def test_bad_reader_and_missing_directory(tmp_path):
    r = CliRunner().invoke(main, ["chip", "read", "--reader", "nfc:0", "--can", "123456"])
    assert r.exit_code != 0 and "pcsc[:NAME]" in r.output
    r = CliRunner().invoke(main, ["chip", "read", "--reader", f"virtual:{tmp_path}", "--can", "123456"])
    assert r.exit_code == 1 and "cannot load" in r.output


def test_issue_rejects_unknown_fault(tmp_path, photo):
    r = CliRunner().invoke(main, ["chip", "issue", "--mrz", L1 + L2, "--photo", photo, "--out", str(tmp_path / "x"),
                                  "--faults", "melted"])
    assert r.exit_code == 1 and "unknown fault" in r.output
