"""`smartborder gate run` started the way a deployment starts it: a TOML file, a separate process, real
adapters on virtual devices: the passport's chip behind pcscd + vsmartcard's vpcd (read through
pyscard), a camera fed from a video file through OpenCV, the page reader's camera from another, the
door controller on a serial line (a fake controller on a pseudo-terminal), fingerprint images
standing in for the scanner (no driver is bundled), and the real back office on loopback holding the
traveller's enrolment. One traveller goes through end to end, liveness challenge and fingerprints
included, and the door opens.

The challenge is seeded (``liveness_seed``, refused outside env = "dev"), so a traveller recorded
following that challenge can be played back from a file (the lane challenges from the first frame,
``liveness = "active"``, as the recording does; passive PAD first would shift it): the recording runs
the same session on the same frames, losslessly encoded, so the gate sees exactly what the recorder saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, shared_path
from tests.devices.fake_door import FakeDoorController
from tests.emrtd.test_vpcd import pcscd  # noqa: F401 - the fixture: a running pcscd, or a skip with the reason

SEED = 7
FPS = 15.0
VPCD_READER = "Virtual PCD 00 01"


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), FPS, (w, h))
    assert writer.isOpened(), "OpenCV cannot write FFV1 here"
    for f in frames:
        writer.write(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))
    writer.release()


def _record_traveller(photos: list[Path], path: Path) -> int:
    """A rendered traveller following the seeded challenge, then facing the camera: written as a video."""
    from biometrics.face import LivenessSession
    from kiosk.sim import TravellerCamera

    camera = TravellerCamera(photos, fps=0, crop=0.7)  # the gate camera frames one person (LFW photos show others)
    session = LivenessSession(rng=SEED)
    frames, state = [], None
    try:
        for i, frame in enumerate(camera.frames()):
            frames.append(frame)
            state = session.feed(frame, i / FPS)
            camera.follow(state.instruction_key)
            if state.done:
                break
            assert i < 400, "the recorded traveller never completed the challenge"
        assert state.passed, f"the recorder's own session failed: {state.reason}"
        it = camera.frames()
        for _ in range(40):  # facing the camera again for the capture
            camera.follow(None)
            frames.append(next(it))
    finally:
        session.close()
        camera.close()
    _write_video(path, frames)
    return len(frames)


def _td3(number: str) -> str:
    from emrtd import check_digit as cd

    name = "NGUYEN<<VAN<AN".ljust(39, "<")
    num, dob, exp, opt = number.ljust(9, "<"), "900315", "341231", "<" * 14
    l2 = num + cd(num) + "VNM" + dob + cd(dob) + "M" + exp + cd(exp) + opt + cd(opt)
    return "P<VNM" + name + l2 + cd(l2[0:10] + l2[13:20] + l2[21:43])


@pytest.mark.slow
def test_gate_run_serves_one_traveller_end_to_end_on_virtual_devices(pcscd, tmp_path):  # noqa: F811
    import emrtd
    from emrtd.sim import VPCD_PORT, VpcdCard, VpcdError, issue_document
    from smartborder.sim.backoffice import SimBackoffice
    from smartborder.sim.demo import _enrolable

    faces = shared_path("faces", "lfw-dev")
    fingers = shared_path("fingerprints", "fvc2002_DB1")
    person = next(imgs for d in sorted(faces.iterdir()) if d.is_dir()
                  and len(imgs := sorted(d.glob("*.jpg"))) >= 4 and _enrolable(imgs[1:4]))

    # the traveller: passport (chip photo = first photo), face video, data page, fingers
    doc = issue_document(_td3("C7770001"), person[0].read_bytes(), aa="ec", ca=True)
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "csca.der").write_bytes(doc.csca_certificate)
    (trust / "csca.crl").write_bytes(doc.crl)
    frames = _record_traveller(person[1:4], tmp_path / "face.avi")
    page = np.asarray(emrtd.render_mrz_image(emrtd.parse_mrz(doc.mrz).lines()).convert("RGB"))
    _write_video(tmp_path / "page.avi", [page] * 3)
    (tmp_path / "scanner").mkdir()
    (tmp_path / "scanner" / "probe.tif").write_bytes((fingers / "101_2.tif").read_bytes())

    # what the back office knows: the traveller's enrolment (face and right index finger)
    (tmp_path / "bo").mkdir()
    (tmp_path / "bo" / "enrolments.json").write_text(json.dumps([{
        "document": {"document_number": "C7770001", "issuing_state": "VNM", "surname": "NGUYEN",
                     "given_names": "VAN AN"},
        "photo": str(person[0]), "fingers": [{"position": 2, "image": str(fingers / "101_1.tif")}]}]))
    with SimBackoffice() as backoffice, FakeDoorController().start() as door:
        assert backoffice.seed(tmp_path / "bo")["enrolments"] == 1
        config = tmp_path / "gate.toml"
        config.write_text(f"""
env = "dev"
data_dir = "{tmp_path / 'data'}"
key_dir = "{tmp_path / 'keys'}"
backoffice_url = "{backoffice.url}"
device_token = "{backoffice.gate_token}"
reader = "{VPCD_READER}"
[gate]
id = "gate-e2e"
trust = "{trust}"
camera = "{tmp_path / 'face.avi'}"
page_camera = "{tmp_path / 'page.avi'}"
door_port = "{door.port}"
finger_dir = "{tmp_path / 'scanner'}"
liveness = "active"
liveness_seed = {SEED}
sync_interval_s = 1
""")
        try:
            card = VpcdCard(doc.chip(), port=VPCD_PORT + 1).start()
        except VpcdError as e:
            pytest.skip(f"vpcd not reachable: {e}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTBORDER_")}
        proc = subprocess.Popen([sys.executable, "-m", "smartborder", "gate", "run", "--config", str(config),
                                 "--max-travellers", "1", "--json"], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()  # the traveller's decision
            time.sleep(0.5)
            card.stop()  # the traveller takes the passport: the gate's loop ends after one traveller
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
            card.stop()
        assert proc.returncode == 0, err[-3000:]
        result = json.loads(line)
        assert result["outcome"] == "open", (result, err[-3000:])
        checks = result["checks"]
        for check in ("passive_authentication", "data_groups", "chip_authenticity", "liveness", "face_match",
                      "fingerprint_match", "watchlist", "watchlist_fresh"):
            assert checks[check] == "passed", (check, checks)
        assert door.commands[:1] == ["OPEN"]
        # the outbox is sealed on disk and its event reached the back office (the last sync at exit)
        # (the vault's key store is key material: in the key directory, 0600)
        assert (tmp_path / "data" / "gate.db").is_file() and not (tmp_path / "data" / "gate.db.vault").exists()
        assert ((tmp_path / "keys" / "gate-vault.db").stat().st_mode & 0o777) == 0o600
        kek = tmp_path / "keys" / "gate.kek"
        assert kek.is_file() and (kek.stat().st_mode & 0o077) == 0
        events = backoffice.app.state.ctx.records.list_events("gate-sim", 0, 10)
        assert len(events) == 1 and events[0]["outcome"] == "admitted"
        # the gate keeps the back office's signed ledger heads as its witness (the composition's wiring)
        from devicelink import stored_ledger_heads

        heads = stored_ledger_heads(tmp_path / "data" / "gate.db")
        ledger = backoffice.app.state.ctx.privacy.ledger
        assert heads and max(h.head.seq for h in heads) <= ledger.head().seq
        assert ledger.verify([h.head.to_dict() for h in heads]).ok
    assert frames > 40
