"""`smartborder kiosk run` started the way a deployment starts it: a TOML file, a separate process under
Xvfb, real adapters on virtual devices: the passport's chip behind pcscd + vsmartcard's vpcd, the face
camera and the document scanner's camera fed from video files through OpenCV, fingerprint images
standing in for the slap scanner (no driver is bundled), the real back office on loopback. The
autopilot taps through the app as travellers would: one declines the consent (nothing read from the
chip, nothing sent, nothing kept), the next goes through document (the printed MRZ only), consent, chip,
face with the liveness challenge, three slaps, review; the record reaches the back office, accepted. No
byte the kiosk stored holds the traveller's data in the clear.

As at the gate (tests/smartborder/test_gate_run.py), the challenge is seeded (``liveness_seed``, dev
only) and the recorded traveller follows the very session the kiosk will run: the recording feeds the
session the frames the kiosk's own quality check finds a face on, with the frames' times. The video
opens on an empty hall, so the kiosk's first frames (models loading) carry no face and start no challenge.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emrtd.sim import issue_document
from tests.conftest import REPO, shared_path
from tests.emrtd.test_vpcd import pcscd  # noqa: F401 - the fixture: a running pcscd, or a skip with the reason
from tests.smartborder.test_gate_run import FPS, _td3, _write_video
from tests.xdist_support import kivy_home, xvfb_run

SEED = 11
LEAD_IN = int(4 * FPS)  # seconds of empty hall before the traveller steps up
VPCD_READER = "Virtual PCD 00 01"


def _record(photos: list[Path], path: Path) -> None:
    from biometrics.face import LivenessSession
    from kiosk import build_engines
    from kiosk.sim import TravellerCamera

    engines = build_engines(liveness="off")  # only its quality check: the one the kiosk gates liveness on
    camera = TravellerCamera(photos, fps=0, crop=0.7)
    first = next(iter(camera.frames()))
    hall = np.full_like(first, 90)
    frames = [hall] * LEAD_IN
    session = LivenessSession(rng=SEED)
    state = None
    try:
        it = camera.frames()
        for i in range(LEAD_IN, LEAD_IN + 400):
            frame = next(it)
            frames.append(frame)
            if engines.face_quality(frame).face_found:
                state = session.feed(frame, i / FPS)
                camera.follow(f"liveness.{state.instruction_key}" if state.instruction_key else None)
                if state.done:
                    break
        assert state is not None and state.done and state.passed, f"the recorder's session: {state}"
        for _ in range(int(8 * FPS)):  # facing the camera, still, for the capture
            camera.follow(None)
            frames.append(next(it))
    finally:
        session.close()
        camera.close()
    _write_video(path, frames)


@pytest.mark.slow
def test_kiosk_run_enrols_one_traveller_end_to_end_on_virtual_devices(pcscd, tmp_path):  # noqa: F811
    import emrtd
    from emrtd.sim import VPCD_PORT, VpcdCard, VpcdError
    from smartborder.sim.backoffice import SimBackoffice
    from smartborder.sim.demo import _enrolable

    if not os.environ.get("DISPLAY") and shutil.which("xvfb-run") is None:
        pytest.skip("no display and no xvfb-run")
    faces = shared_path("faces", "lfw-dev")
    fingers = sorted(shared_path("fingerprints", "fvc2000_DB2").glob("*.tif"))[:4]
    person = next(imgs for d in sorted(faces.iterdir()) if d.is_dir()
                  and len(imgs := sorted(d.glob("*.jpg"))) >= 4 and _enrolable(imgs[1:4]))

    doc = issue_document(_td3("C8880001"), person[0].read_bytes(), aa="ec")
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "csca.der").write_bytes(doc.csca_certificate)
    (trust / "csca.crl").write_bytes(doc.crl)
    _record(person[1:4], tmp_path / "face.avi")
    page = np.asarray(emrtd.render_mrz_image(emrtd.parse_mrz(doc.mrz).lines()).convert("RGB"))
    _write_video(tmp_path / "page.avi", [page] * 8)
    scanner = tmp_path / "scanner"
    scanner.mkdir()
    for f in fingers:
        shutil.copy(f, scanner / f.name)

    with SimBackoffice() as backoffice:
        config = tmp_path / "kiosk.toml"
        config.write_text(f"""
env = "dev"
data_dir = "{tmp_path / 'data'}"
key_dir = "{tmp_path / 'keys'}"
backoffice_url = "{backoffice.url}"
device_token = "{backoffice.kiosk_token}"
reader = "{VPCD_READER}"
[kiosk]
trust = "{trust}"
camera = "{tmp_path / 'face.avi'}"
page_camera = "{tmp_path / 'page.avi'}"
finger_dir = "{scanner}"
liveness_seed = {SEED}
""")
        try:
            card = VpcdCard(doc.chip(), port=VPCD_PORT + 1).start()
        except VpcdError as e:
            pytest.skip(f"vpcd not reachable: {e}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTBORDER_")}
        env.update(KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1", KIVY_NO_FILELOG="1", KIVY_HOME=str(kivy_home()))
        cmd = [sys.executable, "-m", "smartborder", "kiosk", "run", "--config", str(config), "--autopilot",
               "decline,en"]
        if not os.environ.get("DISPLAY"):
            cmd = xvfb_run(*cmd)
        try:
            proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
        finally:
            card.stop()
        assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
        result = json.loads(proc.stdout[proc.stdout.index("{"):])
        run = result["runs"]["en"]
        assert result["ok"] and run["backoffice_status"] == "accepted", run
        assert result["engines"]["liveness"] == "biometrics"  # the active challenge ran, and passed
        # the face step read past the empty hall to the traveller (counted in frames the camera delivered: the
        # previews drawn depend on the UI loop's speed, and a loaded machine drew 59 of more than 60 read)
        assert run["face_frames_read"] > LEAD_IN and run["face_frames_shown"] >= 3, run
        # consent first: the printed MRZ before consent, the chip after it; the notice states the retention
        # policy's own rule
        from privacy import DEFAULT_POLICIES

        assert run["screens"][:4] == ["document", "consent", "chip", "face"], run["screens"]
        assert run["at_consent"]["printed_mrz"] and not run["at_consent"]["chip_read"]
        assert run["at_consent"]["retention_text"] == DEFAULT_POLICIES["enrolment_record"].describe("en")
        declined = result["runs"]["decline"]
        assert declined["outcome"] == "abandoned" and declined["reason_code"] == "consent_refused", declined
        assert declined["screens"][:3] == ["document", "consent", "done"] and not declined["at_consent"]["chip_read"]
        assert not declined["session_left"] and not declined["mrz_left"]
        enrolments = backoffice.app.state.ctx.store.query("SELECT status FROM enrolments")
        assert [r["status"] for r in enrolments] == ["accepted"]
    # the outbox is sealed under a key kept outside the data directory, readable by the kiosk's user only
    kek = tmp_path / "keys" / "kiosk.kek"
    assert kek.is_file() and (kek.stat().st_mode & 0o077) == 0
    # the enrolment record was delivered, then blanked and its key shredded (the session's event, no personal
    # data, may wait) in the kiosk's outbox database, next to its vault
    outbox = tmp_path / "data" / "kiosk" / "outbox.db"
    # (the vault's key store is key material: in the key directory, 0600, never beside the outbox)
    vault = tmp_path / "keys" / "kiosk-outbox-vault.db"
    assert outbox.is_file() and vault.is_file() and (vault.stat().st_mode & 0o777) == 0o600
    assert not (tmp_path / "data" / "kiosk" / "outbox-vault.db").exists()
    rows = sqlite3.connect(outbox).execute("SELECT kind, delivered_at, length(payload) FROM devicelink_outbox").fetchall()
    assert [(d is not None, n) for k, d, n in rows if k == "enrolment"] == [(True, 0)]
    # the kiosk keeps the back office's signed ledger heads as its witness (the composition's wiring)
    from devicelink import stored_ledger_heads

    assert stored_ledger_heads(outbox)
    # nothing the kiosk stored (its data and key directories: databases with their -wal/-shm, the KEK) holds the
    # travellers' data in the clear: not the document number, the names, the birth date, the MRZ lines, nor an
    # image (PNG, JPEG 2000; JPEG's 3-byte magic is left to the decline test, tests/kiosk/test_consent.py, as
    # sealed records could hold it by chance)
    printed = emrtd.parse_mrz(doc.mrz)
    secrets = [printed.document_number.encode(), printed.primary_identifier.encode(),
               printed.secondary_identifier.encode(), printed.date_of_birth_mrz.encode(), doc.mrz[:44].encode(),
               doc.mrz[44:].encode(), b"\x89PNG\r\n\x1a\n", b"\x00\x00\x00\x0cjP  \r\n\x87\n"]
    for root in (tmp_path / "data", tmp_path / "keys"):
        for p in root.rglob("*"):
            if p.is_file():
                data = p.read_bytes()
                assert not [s for s in secrets if s in data], p
