"""`smartborder demo` end to end (what `make demo` runs): back office on loopback, virtual documents,
kiosk enrolment, the gate's decisions, guard review, purge, ledger, HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smartborder.sim import demo as _demo


def _run(tmp_path, capsys) -> dict:
    rc = _demo.run_demo(as_json=True, workdir=tmp_path / "demo")
    out = capsys.readouterr().out
    summary = json.loads(out[out.index("{"):])
    assert rc == 0, json.dumps(summary, indent=1, default=str)[:3000]
    return summary


def test_demo_end_to_end_on_the_development_faces(tmp_path, capsys):
    if not _demo.SHARED_FACES.is_dir():
        pytest.skip("development faces not available (../shared/data/faces/lfw-dev)")
    s = _run(tmp_path, capsys)
    results = {r["id"]: r for r in s["stages"]["gate"]["results"]}
    assert all(r["as_expected"] for r in results.values())
    reasons = {tuple(r["reasons"]) for r in results.values() if r["outcome"] == "refer"}
    for reason in ("face_mismatch", "chip_pa_failed", "chip_cloned", "document_expired", "watchlist_hit",
                   "liveness_failed", "fingerprint_mismatch"):
        assert (reason,) in reasons
    assert {r["document_source"] for r in results.values()} >= {"mrz", "ocr", "qr"}
    assert s["stages"]["gate"]["outbox_pending"] == 0 and s["stages"]["review"]["ledger_ok"]
    assert s["stages"]["review"]["resolved"] == s["stages"]["review"]["exceptions"] >= 5
    report = Path(s["report"]).read_text()
    assert report.count("data:image/png") >= 10  # chip photo beside live capture for each referral
    _replay_agrees(tmp_path / "demo" / "sim", results)


def _replay_agrees(sim_dir: Path, results: dict) -> None:
    """`smartborder gate run --sim DIR` (the same composition, its own back office on loopback seeded
    from DIR) decides every traveller as the demo did."""
    from click.testing import CliRunner

    from smartborder.cli import main

    r = CliRunner().invoke(main, ["gate", "run", "--sim", str(sim_dir), "--json"])
    assert r.exit_code == 0, r.output[-3000:]
    replay = {row["id"]: row for row in map(json.loads, (line for line in r.stdout.splitlines() if line.startswith("{")))}
    assert set(replay) == set(results)
    for tid, row in results.items():
        assert (replay[tid]["outcome"], sorted(replay[tid]["reasons"])) == (row["outcome"], sorted(row["reasons"])), tid


def test_smaller_demo_without_development_data(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(_demo, "SHARED_FACES", tmp_path / "absent")
    monkeypatch.setattr(_demo, "SHARED_FINGERS", tmp_path / "absent")
    s = _run(tmp_path, capsys)
    assert s["stages"]["gate"]["travellers"] == 6 and s["stages"]["gate"]["as_expected"] == 6
    _replay_agrees(tmp_path / "demo" / "sim", {r["id"]: r for r in s["stages"]["gate"]["results"]})
