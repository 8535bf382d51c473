"""Fixtures: scripted engines (no biometric models), a virtual passport, the real back office in-process."""

from __future__ import annotations

import datetime as dt
import secrets
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pytest
from PIL import Image, ImageDraw

from devicelink import BackofficeClient, Outbox, VaultSealer
from devices.sim import FixedMrzSource, SimulatedReader
from emrtd.sim import IssuedDocument, issue_document, trust_for_issued_document
from enrollment import SLAP_PLAN, Engines, EnrolmentWorkflow, FaceCheck, FingerCheck, Policy

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")


def td3(number="C1234567", expiry=None, surname="NGUYEN", given="VAN DUC") -> str:
    from kiosk.sim import td3_mrz

    expiry = expiry or dt.date.today().replace(year=dt.date.today().year + 5)
    return td3_mrz(surname, given, number, "VNM", dt.date(1985, 3, 14), "M", expiry)


def face_photo() -> Image.Image:
    im = Image.new("RGB", (360, 480), (205, 205, 210))
    d = ImageDraw.Draw(im)
    d.ellipse((90, 100, 270, 360), fill=(222, 180, 150))
    d.ellipse((135, 190, 165, 210), fill=(50, 40, 30))
    d.ellipse((195, 190, 225, 210), fill=(50, 40, 30))
    return im


def face_template(seed: int = 1) -> bytes:
    """The face engine's template bytes (version 3: dlib + SFace parts) of random embeddings."""
    from biometrics.face import FaceTemplate

    rng = np.random.default_rng(seed)
    return FaceTemplate(vector=rng.normal(size=128), sface=rng.normal(size=128)).to_bytes()


def finger_record(seed: int, position: int) -> bytes:
    """An ISO/IEC 19794-2 record of random minutiae (one finger of one scripted traveller)."""
    from biometrics.finger import FingerprintTemplate, Minutia

    rng = np.random.default_rng(1000 * seed + position)
    minutiae = [Minutia(int(x), int(y), float(a), "ending", 70)
                for x, y, a in zip(rng.integers(20, 380, 30), rng.integers(20, 380, 30), rng.uniform(0, 6.28, 30),
                                   strict=True)]
    return FingerprintTemplate.from_minutiae(minutiae, width=400, height=400, position=position).to_bytes()


@dataclass
class Script:
    """Scripted engine answers: each list is consumed in order, the last value repeats. ``seed`` makes the
    traveller's templates (the engines' real formats, so the back office accepts them)."""

    face: list[bool] = field(default_factory=lambda: [True])
    liveness: list[bool | None] | None = None
    finger: list[bool] = field(default_factory=lambda: [True])
    chip_match: list[bool] = field(default_factory=lambda: [True])  # the live face against the chip photo
    template: bytes | None = None
    seed: int = 1
    calls: dict = field(default_factory=lambda: {"face": 0, "finger": 0, "template": 0})

    def __post_init__(self) -> None:
        if self.template is None:
            self.template = face_template(self.seed)

    @staticmethod
    def _next(seq):
        return seq.pop(0) if len(seq) > 1 else seq[0]

    def engines(self) -> Engines:
        script = self

        class _Live:
            challenge = "liveness.turn_head"

            def observe(self, frame, t=None):
                return Script._next(script.liveness)

        def face_quality(img):
            script.calls["face"] += 1
            ok = Script._next(script.face)
            return FaceCheck(ok, () if ok else ("face.move_closer",), {"score": 80.0 if ok else 20.0})

        def face_template(img):
            script.calls["template"] += 1
            return script.template

        def finger_quality(img, dpi):
            script.calls["finger"] += 1
            ok = Script._next(script.finger)
            return FingerCheck(ok, 60.0 if ok else 10.0, () if ok else ("finger.low_contrast",))

        def finger_template(img, dpi, position):
            return "iso19794_2", finger_record(script.seed, position)

        def face_verify(chip, template):
            assert chip and template == script.template
            return (0.9, 0.6) if Script._next(script.chip_match) else (0.1, 0.6)

        def segment_slap(img, dpi, hand):
            return list(np.array_split(img, 4, axis=1))

        return Engines(face_quality, face_template, finger_quality, finger_template, segment_slap,
                       (lambda: _Live()) if self.liveness is not None else None, face_verify=face_verify,
                       name="scripted")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Capture:
    image: np.ndarray
    dpi: int = 500
    kind: str = "slap"


FRAME = np.full((120, 120, 3), 128, np.uint8)


def slap() -> Capture:
    return Capture(np.full((200, 400), 200, np.uint8))


@pytest.fixture()
def backoffice(tmp_path):
    """The real back-office app in-process, built as ``backoffice serve`` builds it (the composition,
    so with the engines' matchers); yields (TestClient, kiosk token, app)."""
    from fastapi.testclient import TestClient

    from smartborder.compose.backoffice import build_backoffice
    from smartborder.settings import load_settings

    data = tmp_path / "backoffice"
    data.mkdir(mode=0o700, parents=True, exist_ok=True)  # it holds the vault's key store: private to this user
    app = build_backoffice(load_settings(environ={}, data_dir=str(data)), environ={}, db_path=data / "bo.db",
                           argon2_time_cost=1, argon2_memory_kib=1024)
    _, token = app.state.ctx.auth.issue_device("kiosk-01", "kiosk", "Kiosk 1", "Hall")
    client = TestClient(app, raise_server_exceptions=False)
    yield client, token, app
    client.close()


class SpyReader:
    """The reader port with a log of what was asked of it: ``calls`` holds "wait_for_card" and "transmit"
    in order (the chip's answers are the simulated reader's)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def wait_for_card(self, timeout: float = 30.0) -> None:
        self.calls.append("wait_for_card")
        return self.inner.wait_for_card(timeout)

    def transmit(self, apdu: bytes) -> bytes:
        self.calls.append("transmit")
        return self.inner.transmit(apdu)

    @property
    def transmitted(self) -> int:
        return self.calls.count("transmit")

    def __getattr__(self, name):
        return getattr(self.inner, name)


@dataclass
class Rig:
    workflow: EnrolmentWorkflow
    reader: SimulatedReader
    mrz: FixedMrzSource
    outbox: Outbox
    script: Script
    clock: Clock
    document: IssuedDocument
    key: bytes
    spy: SpyReader


_DOCS: dict[tuple, IssuedDocument] = {}


def issued(mrz: str, faults: Iterable[str] = ()) -> IssuedDocument:
    key = (mrz, tuple(faults))
    if key not in _DOCS:  # issuing generates keys: reuse within the session
        _DOCS[key] = issue_document(mrz, face_photo(), aa="ec", faults=tuple(faults))
    return _DOCS[key]


def trust_for(doc):
    return trust_for_issued_document(doc)


def make_rig(tmp_path, submitter=None, *, script=None, policy=None, mrz=None, faults=(), present=True) -> Rig:
    mrz = mrz or td3()
    doc = issued(mrz, faults)
    reader, source = SimulatedReader(), FixedMrzSource(mrz)
    if present:
        reader.present(doc)
    script = script or Script()
    clock = Clock()
    key = secrets.token_bytes(32)
    outbox = sealed_outbox(tmp_path, key)
    spy = SpyReader(reader)
    wf = EnrolmentWorkflow(script.engines(), outbox, submitter, reader=spy, mrz_source=source, trust=trust_for(doc),
                           policy=policy or Policy(card_timeout_s=0.05, finger_plan=SLAP_PLAN), clock=clock)
    return Rig(wf, reader, source, outbox, script, clock, doc, key, spy)


def sealed_outbox(directory, key: bytes) -> Outbox:
    """The kiosk's outbox as the composition builds it: ``outbox.db`` beside its vault, under ``key``."""
    from privacy import RawKek, Vault

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # the vault's key store lies here: private
    return Outbox(directory / "outbox.db", sealer=VaultSealer(Vault(directory / "outbox-vault.db", RawKek(key))))


def client_for(backoffice) -> BackofficeClient:
    client, token, _ = backoffice
    return BackofficeClient(token=token, http=client)
