"""Wiring of an e-gate: devices (real or simulated) -> gate steps -> workflow -> sync loop.

A simulation directory (``smartborder gate run --sim DIR``) holds:

- ``travellers.json``: ``[{"id", "document": "docs/<id>", "frames": [image paths], "fingers":
  [image paths], "expect": "open" | "refer:<reason>", "page": data-page image, "qr": QR text}]``
  (paths relative to DIR). With ``page`` the page reader gives no MRZ line and the gate OCRs the
  image; with ``qr`` (a Vietnamese chip ID card) neither is there and the gate derives the key from
  the QR code;
- ``docs/<id>/``: virtual documents as written by ``smartborder chip issue`` (emrtd.IssuedDocument);
- ``trust/``: the CSCA certificates, CRLs or Master Lists the gate trusts (emrtd.TrustStore);
- ``watchlist.json`` (optional): a change feed (``{"version", "changes": [...]}``, backoffice/API.md)
  that seeds the gate's copy when it runs without a back office.

Each traveller's document is placed on the simulated reader and its MRZ on the page reader,
the camera plays their frames, and the gate decides through the very same code as with real devices.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SimError", "SimTraveller", "GateRig", "load_sim", "build_rig", "run_sim", "seed_watchlist"]


class SimError(ValueError):
    """The simulation directory is incomplete or malformed (the file and field are named)."""


@dataclass(frozen=True)
class SimTraveller:
    id: str
    document: Path
    frames: tuple[Path, ...]
    fingers: tuple[Path, ...] = ()
    expect: str = ""
    page: Path | None = None
    qr: str | None = None
    camera: str = "sequence"  # "sequence": frames as given; "traveller": a rendered person following the lane display


def load_sim(directory: str | Path) -> list[SimTraveller]:
    root = Path(directory)
    try:
        items = json.loads((root / "travellers.json").read_text())
    except (OSError, ValueError) as e:
        raise SimError(f"{root / 'travellers.json'}: {e}") from e
    out = []
    for i, t in enumerate(items):
        try:
            out.append(SimTraveller(str(t["id"]), root / t["document"], tuple(root / f for f in t["frames"]),
                                    tuple(root / f for f in t.get("fingers", ())), str(t.get("expect", "")),
                                    root / t["page"] if t.get("page") else None, t.get("qr"),
                                    str(t.get("camera", "sequence"))))
        except (KeyError, TypeError) as e:
            raise SimError(f"travellers.json entry {i}: missing or bad field {e}") from e
    return out


class _PageSlot:
    """The page reader's camera (OCR source) and QR reader: what the current traveller shows."""

    def __init__(self) -> None:
        self.page: Path | None = None
        self.qr: str | None = None

    def capture_page(self):
        from devices import MrzSourceError, load_rgb

        if self.page is None:
            raise MrzSourceError("no data page on the reader's glass")
        return load_rgb(self.page)

    def read_qr(self) -> str:
        from devices import MrzSourceError

        if not self.qr:
            raise MrzSourceError("no QR code presented")
        return self.qr


class _SwitchableCamera:
    """The simulated camera in front of the gate: plays the current traveller's frames."""

    fps = 0.0  # frames come as fast as they are asked for; the liveness clock counts frames

    def __init__(self) -> None:
        self.frames_of: Any = None

    def frames(self) -> Iterator:
        if self.frames_of is None:
            return iter(())
        return self.frames_of.frames()

    def follow(self, instruction: str | None) -> None:
        follow = getattr(self.frames_of, "follow", None)
        if follow is not None:
            follow(instruction)

    def close(self) -> None:
        pass


@dataclass
class GateRig:
    """Everything a running gate holds; ``present(traveller)`` stages the simulated devices."""

    workflow: Any
    store: Any
    reader: Any
    mrz: Any
    camera: Any
    door: Any
    scanner: Any = None
    enrolments: dict[str, list[bytes]] = field(default_factory=dict)
    client: Any = None
    page: Any = None

    def present(self, t: SimTraveller) -> None:
        import emrtd
        from devices import ImageSequenceCamera

        doc = emrtd.IssuedDocument.load(t.document)
        self.reader.present(doc)
        self.mrz.place(None if (t.page or t.qr) else doc.mrz)
        if self.page is not None:
            self.page.page, self.page.qr = t.page, (None if t.page else t.qr)
        self.camera.frames_of = None
        if t.frames and t.camera == "traveller":
            try:  # the simulated traveller re-rendered from their photos, following the lane display
                from kiosk import TravellerCamera

                self.camera.frames_of = TravellerCamera(list(t.frames), fps=0, crop=1.0)
            except Exception:  # noqa: BLE001 - no face engine or no usable face: play the frames as they are
                self.camera.frames_of = None
        if t.frames and self.camera.frames_of is None:
            self.camera.frames_of = ImageSequenceCamera(list(t.frames), fps=0, loop=True)
        if self.scanner is not None:
            from devices import ImageFingerprintScanner

            self.scanner.inner = ImageFingerprintScanner(list(t.fingers)) if t.fingers else None

    def sync(self):
        from gate import sync_once

        return sync_once(self.store, self.client) if self.client is not None else None


class _ScannerSlot:
    def __init__(self) -> None:
        self.inner: Any = None

    def capture(self):
        if self.inner is None:
            from devices import FingerprintScannerError

            raise FingerprintScannerError("no finger on the scanner")
        return self.inner.capture()


def gate_sealer(db_path: str | Path | None, kek_path: str | Path | None = None):
    """The privacy vault that seals the gate's outbox: beside the database, under a KEK from
    ``SMARTBORDER_GATE_KEK`` or a key file (created 0600 on first use); in memory for in-memory gates."""
    import os

    from gate import VaultSealer
    from privacy import EnvKek, FileKek, RawKek, Vault

    if os.environ.get("SMARTBORDER_GATE_KEK"):
        kek = EnvKek("SMARTBORDER_GATE_KEK")
    elif db_path is None:
        kek = RawKek(os.urandom(32), label="ephemeral")
    else:
        path = Path(kek_path or f"{db_path}.kek")
        kek = FileKek(path) if path.exists() else FileKek.generate(path)
    if db_path is None:
        import sqlite3

        return VaultSealer(Vault(sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None), kek))
    return VaultSealer(Vault(f"{db_path}.vault", kek))


def _face_engine(active_liveness: bool, seed: int | None):
    """The real face engine; in a reproducible simulation the challenges come from a seeded sequence
    (a real gate draws them from the system's secure random source)."""
    from gate import FaceEngine

    engine = FaceEngine.default(active_liveness=active_liveness)
    if active_liveness and seed is not None:
        import itertools

        from biometrics.face import LivenessSession

        counter = itertools.count(seed)
        engine.session = lambda: LivenessSession(rng=next(counter))
    return engine


def build_rig(*, trust: Any, db_path: str | Path | None = None, gate_id: str = "gate-01",
              backoffice_url: str | None = None, token: str | None = None, face_engine: Any = None,
              finger_engine: Any = None, sealer: Any = None, policy: Any = None,
              clock: Callable[[], dt.datetime] | None = None, direction: str = "entry",
              active_liveness: bool = False, liveness_seed: int | None = None) -> GateRig:
    """A gate on simulated devices (reader, page reader, camera, scanner, door)."""
    from devices import FixedMrzSource, LoggingDoor, SimulatedReader
    from gate import (
        ChipStep,
        DocumentStep,
        FaceStep,
        FingerEngine,
        FingerOutcome,
        FingerStep,
        GateSteps,
        GateStore,
        GateWorkflow,
        HttpBackofficeClient,
        LocalWatchlist,
    )

    kw = {"clock": clock} if clock else {}
    store = GateStore(db_path, sealer=sealer or gate_sealer(db_path), **kw)
    reader, mrz, camera, door, scanner = SimulatedReader(), FixedMrzSource(), _SwitchableCamera(), LoggingDoor(), _ScannerSlot()
    page = _PageSlot()
    enrolments: dict[str, list[bytes]] = {}
    client = HttpBackofficeClient(backoffice_url, token) if backoffice_url and token else None
    if finger_engine is None:
        try:
            finger_engine = FingerEngine.default()
        except ImportError:
            finger_engine = None
    if finger_engine is not None:
        # online: 1:1 in the back office (enrolled templates never reach the gate); else a local table
        finger = FingerStep(scanner, finger_engine, lookup=lambda number: enrolments.get(number),
                            remote=client.verify_fingers if client is not None else None)
    else:
        def finger(p):
            return FingerOutcome(enrolled=False)

    steps = GateSteps(document=DocumentStep(mrz_source=mrz, page_camera=page, qr_source=page), chip=ChipStep(reader, trust, card_wait_s=1.0),
                      face=FaceStep(camera, face_engine or _face_engine(active_liveness, liveness_seed)), finger=finger,
                      watchlist=LocalWatchlist(store))
    wf = GateWorkflow(steps, door, store, gate_id=gate_id, policy=policy, direction=direction, **kw)
    return GateRig(wf, store, reader, mrz, camera, door, scanner, enrolments, client, page)


def seed_watchlist(rig: GateRig, directory: str | Path) -> int:
    """Load ``watchlist.json`` from the simulation directory into the gate's copy (offline runs)."""
    path = Path(directory) / "watchlist.json"
    if not path.is_file():
        return 0
    try:
        feed = json.loads(path.read_text())
        return rig.store.apply_watchlist_changes(feed["changes"], int(feed["version"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SimError(f"{path}: {e}") from e


def run_sim(rig: GateRig, travellers: list[SimTraveller], *, sync_every: int = 1,
            on_result: Callable[[SimTraveller, Any], None] | None = None) -> list[dict[str, Any]]:
    """Serve every traveller; sync with the back office after every ``sync_every`` of them."""
    results = []
    for n, t in enumerate(travellers, 1):
        rig.present(t)
        r = rig.workflow.process()
        row = {"id": t.id, "outcome": str(r.decision.outcome), "reasons": [str(x) for x in r.decision.reasons],
               "expect": t.expect, "timings_ms": r.timings_ms, "transaction_id": r.transaction_id,
               "document_source": r.document_source}
        row["as_expected"] = (not t.expect) or t.expect == row["outcome"] or (
            t.expect.startswith("refer:") and row["outcome"] == "refer" and t.expect[6:] in row["reasons"])
        results.append(row)
        if on_result:
            on_result(t, r)
        if rig.client is not None and n % sync_every == 0:
            rig.sync()
    return results
