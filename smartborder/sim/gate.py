"""A gate on simulated devices, built by the production composition (:func:`smartborder.compose.gate.build_gate`).

A simulation directory (``smartborder gate run --sim DIR``) holds:

- ``travellers.json``: ``[{"id", "document": "docs/<id>", "frames": [image paths], "fingers":
  [image paths], "expect": "open" | "refer:<reason>", "page": data-page image, "qr": QR text,
  "camera": "sequence" | "traveller"}]`` (paths relative to DIR). With ``page`` the page reader gives no
  MRZ line and the gate OCRs the image; with ``qr`` (a Vietnamese chip ID card) neither is there and
  the gate derives the key from the QR code; ``camera: traveller`` re-renders the photos as a person
  who follows the lane display's instructions (the liveness challenge);
- ``docs/<id>/``: virtual documents as written by ``smartborder chip issue`` (emrtd.sim.IssuedDocument);
- ``trust/``: the CSCA certificates, CRLs or Master Lists the gate trusts (emrtd.TrustStore);
- ``gate.toml`` (optional): the lane's configuration, as a deployed gate's ``[gate]`` section
  (``liveness``, ``liveness_seed``, ``fingerprints``, ...); paths in it are relative to DIR;
- ``watchlist.json`` and ``enrolments.json`` (optional): what the back office knows, for runs
  without one: :mod:`smartborder.sim.backoffice` starts the real back office on loopback with these.

Only the devices are simulated: the reader serves each traveller's virtual chip to the real emrtd
code, the camera plays (or renders) their frames, the scanner serves their fingerprint images, the
door logs. Everything else is the gate a deployment runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SimError", "SimTraveller", "SimStage", "load_sim", "sim_config", "run_sim", "expected", "seed_watchlist"]


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


def sim_config(directory: str | Path, environ: dict[str, str] | None = None, **overrides: Any):
    """The gate configuration of a simulation directory: its ``gate.toml`` (if any) over the defaults,
    an in-memory gate database, the directory's ``trust/``; ``overrides`` as for ``gate_config``."""
    from smartborder.compose.gate import gate_config
    from smartborder.settings import SettingsError, load_settings

    root = Path(directory)
    toml = root / "gate.toml"
    try:
        settings = load_settings(toml if toml.is_file() else None, environ=environ if environ is not None else {})
    except SettingsError as e:
        raise SimError(str(e)) from e

    def rooted(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else root / p)

    trust = overrides.pop("trust_path", None) or rooted(settings.gate_trust) or root / "trust"
    values: dict[str, Any] = {"trust_path": trust, "db_path": None, "kek_file": None}
    values.update(overrides)
    if settings.env != "dev":
        raise SimError(f"{toml}: a simulation runs in env = \"dev\" only (its documents, PKI and seeded "
                       "challenges are test material)")
    config = gate_config(settings, **{k: v for k, v in values.items() if k not in ("db_path", "kek_file")})
    from dataclasses import replace

    return replace(config, db_path=values["db_path"], kek_file=values["kek_file"])


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

    fps = 0.0  # frames come as fast as they are asked for; the clock is the frames' own (frame_time)

    def __init__(self) -> None:
        self.frames_of: Any = None

    @property
    def frame_time(self) -> float | None:
        return getattr(self.frames_of, "frame_time", None)

    def frames(self) -> Iterator:
        if self.frames_of is None:
            return iter(())
        return self.frames_of.frames()

    def follow(self, instruction: str | None) -> None:
        follow = getattr(self.frames_of, "follow", None)
        if follow is not None:
            follow(instruction)

    def close(self) -> None:
        close = getattr(self.frames_of, "close", None)
        if close is not None:
            close()


class _ScannerSlot:
    def __init__(self) -> None:
        self.inner: Any = None

    def capture(self):
        if self.inner is None:
            from devices import FingerprintScannerError

            raise FingerprintScannerError("no finger on the scanner")
        return self.inner.capture()


class SimStage:
    """The simulated devices of one gate; :meth:`present` stages a traveller on them."""

    def __init__(self) -> None:
        from devices.sim import FixedMrzSource, LoggingDoor, SimulatedReader

        self.reader, self.mrz, self.page = SimulatedReader(), FixedMrzSource(), _PageSlot()
        self.camera, self.door, self.scanner = _SwitchableCamera(), LoggingDoor(), _ScannerSlot()
        self.instructions: list[str] = []

    def devices(self):
        from smartborder.compose.gate import GateDevices

        return GateDevices(self.reader, self.camera, self.door, mrz_source=self.mrz, page_camera=self.page,
                           qr_source=self.page, scanner=self.scanner, display=self._show)

    def _show(self, key: str | None) -> None:
        if key and (not self.instructions or self.instructions[-1] != key):
            self.instructions.append(key)

    def present(self, t: SimTraveller) -> None:
        from devices import ImageFingerprintScanner
        from devices.sim import ImageSequenceCamera
        from emrtd.sim import IssuedDocument

        doc = IssuedDocument.load(t.document)
        self.reader.present(doc)
        self.mrz.place(None if (t.page or t.qr) else doc.mrz)
        self.page.page, self.page.qr = t.page, (None if t.page else t.qr)
        self.camera.close()
        self.camera.frames_of = None
        if t.frames and t.camera == "traveller":
            try:  # the simulated traveller re-rendered from their photos, following the lane display
                from kiosk.sim import TravellerCamera

                self.camera.frames_of = TravellerCamera(list(t.frames), fps=0, crop=1.0)
            except Exception:  # noqa: BLE001 - no face engine or no usable face: play the frames as they are
                self.camera.frames_of = None
        if t.frames and self.camera.frames_of is None:
            self.camera.frames_of = ImageSequenceCamera(list(t.frames), fps=0, loop=True)
        self.scanner.inner = ImageFingerprintScanner(list(t.fingers)) if t.fingers else None

    def take_document(self) -> None:
        """The traveller takes the document back."""
        self.reader.remove()


def seed_watchlist(store, directory: str | Path) -> int:
    """Offline runs: load ``watchlist.json`` into the gate's copy, as a gate that synced earlier has it."""
    path = Path(directory) / "watchlist.json"
    if not path.is_file():
        return 0
    try:
        feed = json.loads(path.read_text())
        return store.apply_watchlist_changes(feed["changes"], int(feed["version"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SimError(f"{path}: {e}") from e


def expected(t: SimTraveller, outcome: str, reasons: list[str]) -> bool:
    """Does a result meet the traveller's ``expect`` ("open", "refer" or "refer:<reason>")?"""
    return (not t.expect) or t.expect == outcome or (
        t.expect.startswith("refer:") and outcome == "refer" and t.expect[6:] in reasons)


def run_sim(gate, stage: SimStage, travellers: list[SimTraveller], *, sync_every: int = 1,
            on_result: Callable[[SimTraveller, Any], None] | None = None) -> list[dict[str, Any]]:
    """Serve every traveller on the gate; sync with its back office after every ``sync_every``."""
    results = []
    for n, t in enumerate(travellers, 1):
        stage.present(t)
        r = gate.workflow.process()
        stage.take_document()
        row = {"id": t.id, "outcome": str(r.decision.outcome), "reasons": [str(x) for x in r.decision.reasons],
               "expect": t.expect, "timings_ms": r.timings_ms, "transaction_id": r.transaction_id,
               "document_source": r.document_source}
        row["as_expected"] = expected(t, row["outcome"], row["reasons"])
        results.append(row)
        if on_result:
            on_result(t, r)
        if gate.client is not None and n % sync_every == 0:
            gate.sync()
    stage.camera.close()
    return results
