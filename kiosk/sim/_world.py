"""The simulated kiosk hardware: a virtual passport on a simulated reader, its MRZ on the page
scanner, a camera playing photos of the same person, a fingerprint scanner playing FVC images.

Development data comes from ``../shared/data`` (or ``$SMARTBORDER_SHARED_DATA``); it is never
copied into the repository.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from devices import ImageFingerprintScanner
from devices.sim import FixedMrzSource, ImageSequenceCamera, SimulatedReader
from emrtd import check_digit
from emrtd.sim import IssuedDocument, issue_document, trust_for_issued_document

__all__ = ["SimWorld", "SimDataMissing", "build_sim", "shared_data_dir", "td3_mrz"]

REPO = Path(__file__).resolve().parents[2]
#: an LFW identity several of whose photos pass the enrolment quality gate once framed closer
DEFAULT_IDENTITY = "Juan_Pablo_Montoya"


class SimDataMissing(FileNotFoundError):
    """The development data (../shared/data) needed by the simulator is not there."""


def shared_data_dir() -> Path:
    return Path(os.environ.get("SMARTBORDER_SHARED_DATA", REPO.parent / "shared" / "data"))


def _field(text: str, n: int) -> str:
    return (text.upper().replace(" ", "<").replace("-", "<") + "<" * n)[:n]


def td3_mrz(surname: str, given: str, number: str, nationality: str, dob: dt.date, sex: str, expiry: dt.date,
            issuing_state: str = "VNM", optional: str = "") -> str:
    """A TD3 MRZ with correct check digits (ICAO Doc 9303 Part 4 §4.2.2)."""
    l1 = _field("P<" + issuing_state + _field(surname, 39).split("<<")[0] + "<<" + given.replace(" ", "<"), 44)
    num, d, e, opt = _field(number, 9), dob.strftime("%y%m%d"), expiry.strftime("%y%m%d"), _field(optional, 14)
    body = num + check_digit(num) + nationality + d + check_digit(d) + sex + e + check_digit(e) + opt + check_digit(opt)
    l2 = body + check_digit(body[0:10] + body[13:20] + body[21:43])
    return l1 + l2


def _ramp(n: int, a: float, b: float) -> list[float]:
    return [a + (b - a) * (i + 1) / n for i in range(n)]


class TravellerCamera:
    """A simulated traveller in front of the camera who follows the kiosk's liveness instructions.

    One real photo is re-rendered under head rotation and eyelid closure by the face-mesh warp of
    ``biometrics.face`` (its bona fide simulation, the same the PAD evaluation uses), with small sway
    and camera noise. ``follow("liveness.turn_left")`` makes the traveller react after ~0.4 s: a
    ~36 degree turn and back, or a blink. Implements the ``Camera`` port.
    """

    def __init__(self, photos: list[Path], fps: float = 15.0, *, crop: float = 0.7, seed: int = 0) -> None:
        import numpy as np

        from biometrics.face import FaceMesher, assess_quality
        from biometrics.face.sim import FaceRenderer, camera_noise, prepare_still
        from devices import CameraError, load_rgb

        mesher = FaceMesher(static=True)  # closed here: a mediapipe graph holds ~30 MB until closed
        try:
            chosen = None
            for p in photos:
                img = load_rgb(p)
                h, w = img.shape[:2]
                img = img[int(h * (1 - crop) / 2):int(h * (1 + crop) / 2), int(w * (1 - crop) / 2):int(w * (1 + crop) / 2)]
                still = prepare_still(img)
                faces = mesher.process(still)
                if faces and (chosen is None or assess_quality(still, purpose="enrolment").passed):
                    chosen = (still, faces[0])
                    if assess_quality(still, purpose="enrolment").passed:
                        break
        finally:
            mesher.close()
        if chosen is None:
            raise CameraError("no usable face among the simulator's photos")
        self._renderer = FaceRenderer(*chosen)
        self._noise = camera_noise
        self._rng = np.random.default_rng(seed)
        self.fps = fps
        self.instruction: str | None = None
        self._performed: str | None = None
        self._performed_at = 0  # frame count when the last instruction was acted on
        self._queue: list[tuple[float, float]] = []
        self._closed = False
        self.frame_count = 0

    def follow(self, instruction: str | None) -> None:

        key = (instruction or "").removeprefix("liveness.")
        rate = self.fps if self.fps > 0 else 15.0  # motion is scripted in frames at the nominal rate
        # "again" on the camera's clock (frames at the nominal rate), so a replay faster than real
        # time behaves like one in real time
        again = key == self._performed and not self._queue and self.frame_count - self._performed_at > 2.0 * rate
        if key in ("blink", "turn_left", "turn_right") and (key != self._performed or again):
            # a traveller does what the screen says, and does it again when the screen still says so
            self._performed, self._performed_at = key, self.frame_count
            idle = [(0.0, 0.0)] * int(0.4 * rate)
            if key == "blink":
                motion = [(0.0, c) for c in _ramp(2, 0.3, 1.0) + [1.0] * int(0.4 * rate) + _ramp(2, 0.7, 0.0)]
            else:
                a = 36.0 if key == "turn_left" else -36.0
                n = int(0.5 * rate)
                motion = [(y, 0.0) for y in _ramp(n, 0.0, a) + [a] * int(0.3 * rate) + _ramp(n, a, 0.0)]
            self._queue = idle + motion
        elif not key:
            self._performed = None

    def frames(self):
        import math
        import time

        period = 1.0 / self.fps if self.fps > 0 else 0.0
        next_t = time.monotonic()
        while not self._closed:
            i = self.frame_count
            self.frame_count += 1
            yaw, closure = self._queue.pop(0) if self._queue else (0.0, 0.0)
            sway = 1.5 * math.sin(0.9 * i / 15 * 2 * math.pi)
            frame = self._renderer.render(yaw + sway, 0.0, closure, shift=(2 * math.sin(i / 7), 1.5 * math.cos(i / 9)))
            frame = self._noise(frame, self._rng)
            if period:
                delay = next_t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_t = max(next_t + period, time.monotonic() - period)
            yield frame

    def close(self) -> None:
        self._closed = True


@dataclass
class SimWorld:
    reader: SimulatedReader
    mrz_source: FixedMrzSource
    camera: ImageSequenceCamera
    scanner: ImageFingerprintScanner
    document: IssuedDocument
    trust: object
    identity: str

    @property
    def follows_instructions(self) -> bool:
        """True when the simulated traveller can perform the real liveness challenges."""
        return isinstance(self.camera, TravellerCamera)

    def present_document(self) -> None:
        self.mrz_source.place(self.document.mrz)
        self.reader.present(self.document)

    def close(self) -> None:
        self.camera.close()
        self.reader.close()


def _trust(doc: IssuedDocument):
    """The verifier's trust store for the test issuer (CSCA + CRL)."""
    return trust_for_issued_document(doc)


def _identity(faces: Path, name: str | None) -> tuple[str, list[Path]]:
    root = faces / "lfw-dev"
    if name:
        imgs = sorted((root / name).glob("*.jpg"))
        if len(imgs) < 2:
            raise SimDataMissing(f"no photos for {name} in {root}")
        return name, imgs
    if (root / DEFAULT_IDENTITY).is_dir():
        return _identity(faces, DEFAULT_IDENTITY)
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        imgs = sorted(d.glob("*.jpg"))
        if len(imgs) >= 4:
            return d.name, imgs
    raise SimDataMissing(f"no identity with 4 photos in {root}")


def build_sim(data_dir: str | Path | None = None, *, identity: str | None = None, fps: float = 15.0,
              expired: bool = False, faults: tuple[str, ...] = (), finger_db: str = "fvc2000_DB2",
              slap: bool = True, frame_size: tuple[int, int] | None = (480, 480), number: str = "C1234567",
              place_document: bool = True, sway: float = 0.05, crop: float = 0.7, hold: int = 8,
              camera: str = "auto") -> SimWorld:
    """``camera``: "traveller" (a rendered traveller following the liveness instructions, needs
    ``biometrics.face``), "sequence" (the photos played in turn), or "auto" (traveller when possible)."""
    data = Path(data_dir) if data_dir else shared_data_dir()
    faces, fingers = data / "faces", data / "fingerprints" / finger_db
    if not faces.is_dir() or not fingers.is_dir():
        raise SimDataMissing(f"development data not found under {data} (set SMARTBORDER_SHARED_DATA)")
    name, photos = _identity(faces, identity)
    given, _, surname = name.replace("_", " ").rpartition(" ")
    today = dt.date.today()
    expiry = today - dt.timedelta(days=30) if expired else today.replace(year=today.year + 8)
    mrz = td3_mrz(surname or name, given or "X", number, "VNM", dt.date(1985, 3, 14), "M", expiry)
    doc = issue_document(mrz, photos[0], faults=faults)
    reader = SimulatedReader()
    mrz_source = FixedMrzSource()
    cam = None
    if camera in ("auto", "traveller"):
        try:
            cam = TravellerCamera(photos[1:], fps=fps, crop=crop)
        except ImportError:
            if camera == "traveller":
                raise
    if cam is None:
        cam = ImageSequenceCamera(photos[1:], fps=fps, size=frame_size, sway=sway, crop=crop, hold=hold)
    world = SimWorld(reader, mrz_source, cam,
                     ImageFingerprintScanner(sorted(fingers.glob("*.tif")), dpi=500, slap=slap),
                     doc, _trust(doc), name)
    if place_document:
        world.present_document()
    return world
