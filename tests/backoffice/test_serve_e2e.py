"""``smartborder backoffice serve`` started as a deployment starts it, driven over HTTP for one traveller.

A config file (SMARTBORDER_CONFIG) with env = "test", real secrets and the vault's key in a 0600 file
outside the data directory; device tokens issued with the CLI; an enrolment with a real face template
and real fingerprint templates; a gate's 1:1 with the same finger and with another one.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import REPO, shared_path

SMARTBORDER = REPO / ".venv" / "bin" / "smartborder"


def _deployment(tmp_path: Path, *, kek_mode: int = 0o600) -> dict[str, str]:
    """The environment of a deployed back office: its config file and the key file beside, not in, the data."""
    data, keys = tmp_path / "data", tmp_path / "keys"
    data.mkdir()
    keys.mkdir(mode=0o700)
    kek = keys / "backoffice.kek"
    fd = os.open(kek, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    kek.chmod(kek_mode)
    config = tmp_path / "smartborder.toml"
    config.write_text(f'''env = "test"
data_dir = "{data}"
secret_key = "{secrets.token_urlsafe(32)}"
kek_file = "{kek}"
device_token = "{secrets.token_urlsafe(32)}"
language = "en"

[backoffice]
db = "{data / 'backoffice.db'}"
''')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTBORDER_")}
    env["SMARTBORDER_CONFIG"] = str(config)
    return env


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SMARTBORDER), "backoffice", *args], env=env, capture_output=True, text=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(env: dict, log: Path | None = None, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """``smartborder backoffice serve`` started as a deployment starts it; (the process, its base URL) once
    ``/healthz`` answers. Stop it with :func:`stop_serve`. Its log (stderr) goes to a pipe, or to the file
    ``log`` for a long run (a pipe nobody reads fills up and blocks the server). ``port``: the one a restarted
    back office keeps (a free one by default)."""
    port = port or _free_port()
    sink = open(log, "w") if log is not None else subprocess.PIPE  # noqa: SIM115 (closed by stop_serve)
    proc = subprocess.Popen([str(SMARTBORDER), "backoffice", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=sink, text=True)
    proc.log_file = sink if log is not None else None  # type: ignore[attr-defined]
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, _stderr(proc)
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_serve(proc)
            pytest.fail("the back office did not start")
        time.sleep(0.3)


def _stderr(proc: subprocess.Popen) -> str:
    sink = getattr(proc, "log_file", None)
    if sink is None:
        return proc.stderr.read()
    sink.flush()
    return Path(sink.name).read_text()


def stop_serve(proc: subprocess.Popen) -> str:
    """SIGTERM, as a service manager stops it; its stderr (a process that does not stop fails the test)."""
    proc.send_signal(signal.SIGTERM)
    sink = getattr(proc, "log_file", None)
    try:
        err = proc.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the back office did not stop on SIGTERM")
    if sink is None:
        return err
    sink.close()
    return Path(sink.name).read_text()


def _real_templates() -> tuple[bytes, dict[str, bytes]]:
    from PIL import Image

    from biometrics.face import extract_template, load_image
    from biometrics.finger import FingerprintTemplate

    photo = shared_path("faces", "lfw-dev", "Abdullah_Gul", "Abdullah_Gul_0001.jpg")
    fvc = shared_path("fingerprints", "fvc2002_DB1")
    face = extract_template(load_image(photo.read_bytes())).to_bytes()
    fingers = {name: FingerprintTemplate(np.asarray(Image.open(fvc / f"{name}.tif").convert("L")), dpi=500,
                                         position=2).to_bytes() for name in ("101_1", "101_2", "102_2")}
    return face, fingers


def test_serve_as_deployed_enrols_and_verifies_one_traveller(tmp_path):
    face, fingers = _real_templates()
    env = _deployment(tmp_path)
    tokens = {}
    for device, kind in (("kiosk-01", "kiosk"), ("gate-01", "gate")):
        r = _cli(env, "issue-device", device, "--kind", kind, "--json")
        assert r.returncode == 0, r.stderr
        tokens[kind] = json.loads(r.stdout)["token"]
    proc, base = start_serve(env)
    err = ""
    try:
        http = httpx.Client(base_url=base, timeout=30)
        record = {
            "captured_at": "2026-11-22T09:00:00+07:00",
            "document": {"document_number": "C8880001", "issuing_state": "VNM", "surname": "GUL",
                         "given_names": "ABDULLAH", "nationality": "TUR"},
            "face_template": base64.b64encode(face).decode(),
            "finger_templates": [{"position": 2, "format": "iso19794_2",
                                  "data": base64.b64encode(fingers["101_1"]).decode()}],
            "consent": {"given": True, "purposes": ["e_gate_enrolment"], "text_version": "2026-01",
                        "language": "en", "at": "2026-11-22T09:00:00+07:00"},
        }
        kiosk = {"Authorization": f"Bearer {tokens['kiosk']}", "Idempotency-Key": "enr-e2e-1"}
        r = http.post("/api/v1/enrolments", json=record, headers=kiosk)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "accepted" and r.json()["checks"] == ["face", "fingerprint"]

        def verify(name: str) -> dict:
            probe = {"position": 2, "format": "iso19794_2", "data": base64.b64encode(fingers[name]).decode()}
            r = http.post("/api/v1/enrolments/verify", headers={"Authorization": f"Bearer {tokens['gate']}"},
                          json={"document_number": "C8880001", "issuing_state": "VNM", "finger_templates": [probe]})
            assert r.status_code == 200, r.text
            return r.json()

        same, other = verify("101_2"), verify("102_2")
        assert same["fingerprint_check"] == "done" and same["matched"] is True, same
        assert other["fingerprint_check"] == "done" and other["matched"] is False, other
        assert other["score"] < same["threshold"] <= same["score"] and same["threshold_name"] == "fmr_5e-4"
        http.close()
    finally:
        err = stop_serve(proc)
    # a clean shutdown: uvicorn finishes its lifespan, then re-raises the signal it caught (exit by SIGTERM)
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Application shutdown complete" in err and "Finished server process" in err, err
    serving = [json.loads(line) for line in err.splitlines() if '"event": "serving"' in line]
    assert serving and serving[0]["fingerprint_threshold"][0] == "fmr_5e-4", err
    # the vault's key file stayed out of the data directory; the data holds no template in clear
    assert not any(p.name.endswith(".kek") for p in (tmp_path / "data").iterdir())
    assert fingers["101_1"] not in (tmp_path / "data" / "backoffice.db").read_bytes()


def test_serve_refuses_a_key_file_others_can_read(tmp_path):
    env = _deployment(tmp_path, kek_mode=0o644)
    proc = subprocess.run([str(SMARTBORDER), "backoffice", "serve", "--port", str(_free_port())], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "chmod 600" in proc.stderr, proc.stderr
