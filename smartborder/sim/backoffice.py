"""The real back office on loopback for simulations: the demo's, and the one ``gate run --sim DIR``
starts when no back office is given, seeded with what DIR says the back office knows.

Nothing here is a stand-in: the app is :func:`smartborder.compose.backoffice.build_backoffice`, served
by uvicorn on 127.0.0.1, reached by the gate's own HTTP client. Seeding goes through the HTTP API as a
supervisor (the watchlist) and an enrolment kiosk (enrolments) would.

- ``watchlist.json``: ``{"version", "changes": [{"id", "kind": "document"|"person", "op", "data"}]}``
  (the back office's change feed, backoffice/API.md);
- ``enrolments.json``: ``[{"document": {"document_number", "issuing_state", ...}, "photo": path,
  "fingers": [{"position": 2, "image": path}]}]``: the face template is made from the photo and the
  finger templates from the images by the engines, as an enrolment kiosk makes them; paths relative
  to DIR or absolute. Only images are referenced: no biometric template is ever written to DIR.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

__all__ = ["LoopbackServer", "SimBackoffice", "free_port"]

_DOCUMENT_FIELDS = {"id", "document_number", "issuing_state", "document_type", "reason"}
_PERSON_FIELDS = {"id", "name", "aliases", "name_hanzi", "name_pinyin", "date_of_birth", "nationality", "reason"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackServer:
    """An ASGI app under uvicorn in a thread, on 127.0.0.1."""

    def __init__(self, app, port: int | None = None) -> None:
        import uvicorn

        port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    access_log=False))
        self.thread = threading.Thread(target=self.server.run, name="backoffice", daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the back office did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class SimBackoffice:
    """A fresh back office (database in a temporary directory, random keys) on loopback, with a gate
    and a kiosk credential. Use as a context manager; :meth:`seed` loads a simulation directory."""

    def __init__(self) -> None:
        from smartborder.compose.backoffice import build_backoffice
        from smartborder.settings import load_settings

        self._tmp = tempfile.TemporaryDirectory(prefix="smartborder-sim-backoffice-")
        work = Path(self._tmp.name)
        settings = load_settings(environ={}, data_dir=work)
        self.app = build_backoffice(settings, db_path=work / "backoffice.db", secret_key=_random(),
                                    kek=os.urandom(32), argon2_time_cost=1, argon2_memory_kib=8192)
        auth = self.app.state.ctx.auth
        self._password = _random()
        auth.create_user("sim-supervisor", self._password, "supervisor", display_name="simulation")
        _, self.gate_token = auth.issue_device("gate-sim", "gate", "Simulated gate", "simulation")
        _, self.kiosk_token = auth.issue_device("kiosk-sim", "kiosk", "Simulated kiosk", "simulation")
        self.server = LoopbackServer(self.app)
        self.url = self.server.url

    def __enter__(self) -> SimBackoffice:
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.server.stop()
        self._tmp.cleanup()

    def _http(self):
        import httpx

        return httpx.Client(base_url=self.url, timeout=60)

    def seed(self, directory: str | Path) -> dict[str, int]:
        """Load ``watchlist.json`` and ``enrolments.json`` of a simulation directory through the API."""
        root = Path(directory)
        counts = {"watchlist": 0, "enrolments": 0}
        with self._http() as http:
            path = root / "watchlist.json"
            if path.is_file():
                counts["watchlist"] = self._seed_watchlist(http, _json(path))
            path = root / "enrolments.json"
            if path.is_file():
                counts["enrolments"] = self._seed_enrolments(http, root, _json(path))
        return counts

    def _seed_watchlist(self, http, feed: Any) -> int:
        r = http.post("/api/v1/auth/token", json={"username": "sim-supervisor", "password": self._password})
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        n = 0
        for change in feed.get("changes", []):
            if change.get("op", "upsert") != "upsert" or not change.get("data"):
                continue
            kind = change["kind"]
            fields = _DOCUMENT_FIELDS if kind == "document" else _PERSON_FIELDS
            body = {k: v for k, v in {**change["data"], "id": change.get("id")}.items() if k in fields and v is not None}
            r = http.post(f"/api/v1/watchlist/{kind}s", headers=headers, json=body)
            if r.status_code >= 400:
                raise ValueError(f"watchlist.json: entry {change.get('id')!r} refused: {r.status_code} {r.text[:200]}")
            n += 1
        return n

    def _seed_enrolments(self, http, root: Path, items: Any) -> int:
        from biometrics import face, finger
        from devices import load_gray

        headers = {"Authorization": f"Bearer {self.kiosk_token}"}
        now = dt.datetime.now(dt.UTC).isoformat()
        n = 0
        for item in items:
            photo = _rooted(root, item["photo"])
            template = face.reference_template(face.load_image(photo)).to_bytes()
            fingers = []
            for f in item.get("fingers", []):
                image = load_gray(_rooted(root, f["image"]))
                record = finger.FingerprintTemplate(image, dpi=int(f.get("dpi", 500))).to_bytes()
                fingers.append({"position": int(f["position"]), "format": "iso19794_2",
                                "data": base64.b64encode(record).decode("ascii")})
            body = {"captured_at": now, "document": item["document"],
                    "face_template": base64.b64encode(template).decode("ascii"), "finger_templates": fingers,
                    "consent": {"given": True, "purposes": ["enrolment", "enrolment_duplicate_check"],
                                "text_version": "sim-1", "language": "en", "at": now}}
            r = http.post("/api/v1/enrolments", headers={**headers, "Idempotency-Key": str(uuid.uuid4())}, json=body)
            if r.status_code >= 400:
                raise ValueError(f"enrolments.json: {item['document'].get('document_number')!r} refused: "
                                 f"{r.status_code} {r.text[:200]}")
            n += 1
        return n


def _random() -> str:
    return base64.urlsafe_b64encode(os.urandom(24)).decode()


def _rooted(root: Path, p: str) -> Path:
    path = Path(p)
    return path if path.is_absolute() else root / path


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from e
