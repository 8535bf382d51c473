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
    _scan_the_stores(tmp_path / "demo", Path(summary["report"]))
    return summary


#: image signatures long enough not to occur by chance in megabytes of ciphertext
_IMAGE_MAGIC = {"PNG": b"\x89PNG\r\n\x1a\n", "JPEG/JFIF": b"JFIF\x00", "JPEG/Exif": b"Exif\x00\x00",
                "JPEG SOI+APP0": b"\xff\xd8\xff\xe0", "JPEG SOI+DQT": b"\xff\xd8\xff\xdb",
                "JPEG 2000": b"\x00\x00\x00\x0cjP  \r\n\x87\n", "J2K codestream": b"\xff\x4f\xff\x51\x00"}


def _scan_the_stores(work: Path, report: Path) -> None:
    """What a privacy auditor finds in the files after the demo: every store (the back office's, the gate's,
    the kiosk's, their WAL/SHM) holds no image, document number, name or MRZ in clear and no plaintext data
    key; every file is its owner's alone; the simulator's documents and the report are outside the data."""
    import os
    import sqlite3
    import stat

    from privacy import FileKek, KekError
    from privacy._vault import Vault

    data, keys = work / "data", work / "data-keys"
    stores = sorted(p for p in data.rglob("*") if p.is_file())
    names = {p.name for p in stores}
    assert {"backoffice.db", "gate.db"} <= names and any(n.startswith("outbox.db") for n in names), names
    assert not report.resolve().is_relative_to(data.resolve()) and not (work / "sim").resolve().is_relative_to(
        data.resolve())
    assert stat.S_IMODE(report.stat().st_mode) == 0o600 and "Personal data" in report.read_text()
    needles: dict[str, bytes] = dict(_IMAGE_MAGIC)
    # a watchlisted document's number is the watchlist itself (kept in clear to be matched, while listed)
    listed = {(c.get("data") or {}).get("document_number")
              for c in json.loads((work / "sim" / "watchlist.json").read_text())["changes"]}
    for chip in (work / "sim" / "docs").glob("*/chip.json"):
        mrz = json.loads(chip.read_text())["mrz"].replace("\n", "")
        width = 30 if len(mrz) == 90 else 44  # TD1 (ID card) or TD3 (passport)
        lines = [mrz[i:i + width] for i in range(0, len(mrz), width)]
        number = (lines[0][5:14] if width == 30 else lines[1][:9]).rstrip("<")
        if number not in listed:
            needles[f"document number {number}"] = number.encode()
        for k, line in enumerate(lines):  # the names, the number, the date of birth
            needles[f"MRZ line {k + 1} of {chip.parent.name}"] = line.encode()
    # the data keys, unwrapped with the KEK files: none may appear in clear anywhere
    keks = []
    for f in keys.glob("*.kek"):
        try:
            keks.append(FileKek(f))
        except KekError:
            pass
    n_keys = n_rows = 0
    for store in keys.glob("*.db"):
        with sqlite3.connect(store) as conn:
            rows = conn.execute("SELECT key_id, subject_id, wrapped FROM vault_keys").fetchall()
        for key_id, subject, wrapped in rows:
            n_rows += 1
            aad = Vault._dek_aad(None, key_id, subject)
            for kek in keks:
                try:
                    needles[f"data key {key_id}"] = kek.unwrap(bytes(wrapped), aad)
                    n_keys += 1
                    break
                except KekError:
                    continue
    assert n_keys > 0  # the back office's templates and records are sealed under keys that still exist
    assert n_keys == n_rows  # every data key in every key store unwrapped, so every one is searched for
    for path in [*stores, *sorted(keys.iterdir())]:
        raw = path.read_bytes()
        for what, needle in needles.items():
            assert needle not in raw, f"{what} in clear in {path}"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    for d in (data, keys):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d


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
    assert s["stages"]["gate"]["outbox_rejected"] == 0
    # the kiosk enrolled both fingerprint travellers (T04's referral at the gate depends on it)
    enrolment = s["stages"]["enrolment"]
    assert enrolment["enrolled"] == 2 and [st.split(": ")[0] for st in enrolment["statuses"]] == ["T03", "T04"], enrolment
    referred = sum(r["outcome"] != "open" for r in results.values())
    assert s["stages"]["review"]["resolved"] == s["stages"]["review"]["exceptions"] == referred >= 5
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
