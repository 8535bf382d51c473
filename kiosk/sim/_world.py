"""The simulated kiosk hardware: a virtual passport on a simulated reader, its MRZ on the page
scanner, a camera playing photos of the same person, a fingerprint scanner playing FVC images.

Development data comes from ``../shared/data`` (or ``$SMARTBORDER_SHARED_DATA``); it is never
copied into the repository.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import threading
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


#: what a first-time traveller takes to read an instruction and start acting on it (s), drawn per action
REACTION_S = (0.8, 1.5)
#: a blink on request: eyelids closing, shut, opening (s); a whole human blink lasts 100-400 ms
BLINK_S = ((0.04, 0.08), (0.03, 0.12), (0.08, 0.16))
#: a head turn: out, held, back (s), and how far (degrees) people turn when asked, 30-40, rendered 1.2x: the face
#: mesh reads the renderer's warp of a still as ~0.7x its angle (a 36-degree render measures ~26 degrees)
TURN_S = ((0.5, 1.0), (0.2, 0.5), (0.5, 1.0))
TURN_DEG = (36.0, 48.0)
#: how long a traveller waits after acting before doing it again while the screen still asks (s)
PATIENCE_S = (1.0, 1.8)
ACTIONS = ("blink", "turn_left", "turn_right")


def _ease(x: float) -> float:
    """0 -> 1 along a smooth (cosine) profile: a limb starts and stops slowly."""
    import math

    x = min(1.0, max(0.0, x))
    return 0.5 - 0.5 * math.cos(math.pi * x)


class TravellerCamera:
    """A simulated traveller in front of the camera who follows the kiosk's liveness instructions.

    One real photo is re-rendered under head rotation and eyelid closure by the face-mesh warp of
    ``biometrics.face`` (its bona fide simulation, the same the PAD evaluation uses), with small sway
    and camera noise. The traveller acts in real time, on the camera's clock (``frame_time``), like a person:
    ``follow(key)`` (what the screen shows) makes them read it and start after a reaction time
    (:data:`REACTION_S`), finishing what they were doing first; a blink lasts 150-360 ms (:data:`BLINK_S`), a
    head turn of 30-40 degrees out and back in 1.2-2.5 s (:data:`TURN_S`, :data:`TURN_DEG`); while the screen still asks for the same
    thing after they acted, they wait (:data:`PATIENCE_S`) and do it again. ``reseed(seed)``: another traveller's
    timings, sway and sensor noise. ``responsive = False``: a face that does nothing asked of it (fail-closed
    tests). Implements the ``Camera`` port; ``frame_time`` is ``time.monotonic()`` at capture, or ``i / 15`` for
    the i-th frame when ``fps`` is 0 (frames as fast as asked: a replay faster than real time behaves alike).
    """

    NOMINAL_FPS = 15.0

    def __init__(self, photos: list[Path], fps: float = 15.0, *, crop: float = 0.7, seed: int = 0,
                 render_in_process: bool = True) -> None:
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
        self._chosen = chosen
        self._noise = camera_noise
        self._proc = None  # the renderer's own process (kiosk.sim._render_proc), started with frames()
        self.render_in_process = render_in_process
        self.fps = fps
        self.responsive = True
        self._lock = threading.Lock()
        self._closed = False
        self.frame_count = 0
        self.frame_time: float | None = None
        self.pose: tuple[float, float] = (0.0, 0.0)  # (yaw, closure) of the last frame, without the sway
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Another traveller: their timings, sway and sensor noise from ``seed``; nothing under way."""
        import numpy as np

        self.seed = seed
        self._rng = np.random.default_rng([seed, 0])  # sensor noise
        if getattr(self, "_proc", None) is not None:
            self._proc.reseed(seed)
        self._acts = np.random.default_rng([seed, 1])  # how this traveller moves
        self._sway_phase = float(self._acts.uniform(0, 2 * np.pi))
        self._actions: list[tuple[float, float, str, tuple[float, ...]]] = []  # (start, end, kind, timings)
        self._busy_until = -math.inf  # when the last action scheduled ends
        self.instruction: str | None = None
        self.performed: list[tuple[float, str]] = []  # (start, kind) of every action (tests, bench)

    def _u(self, lo_hi: tuple[float, float]) -> float:
        return float(self._acts.uniform(*lo_hi))

    def _now(self) -> float:
        import time

        return time.monotonic() if self.fps > 0 else self.frame_count / self.NOMINAL_FPS

    def _schedule(self, kind: str, start: float) -> None:
        if kind == "blink":
            timings: tuple[float, ...] = tuple(self._u(r) for r in BLINK_S)
        else:
            timings = (*(self._u(r) for r in TURN_S), self._u(TURN_DEG) * (1.0 if kind == "turn_left" else -1.0))
        end = start + sum(timings[:3])
        with self._lock:
            self._actions.append((start, end, kind, timings))
            self._busy_until = max(self._busy_until, end)
        self.performed.append((start, kind))

    def follow(self, instruction: str | None) -> None:
        """What the screen shows now (a catalogue key, ``liveness.blink``...; None or "" when nothing is asked)."""
        key = (instruction or "").removeprefix("liveness.")
        now = self._now()
        if key == "look_at_camera":
            return  # looking already; what was asked before still stands
        if key not in ACTIONS or not self.responsive:
            self.instruction = None
            return
        if key != self.instruction:
            # a new instruction: read it, then do it (after finishing what they were doing)
            self.instruction = key
            self._patience = self._u(PATIENCE_S)
            self._schedule(key, max(now + self._u(REACTION_S), self._busy_until))
        elif not self._actions and now > self._busy_until + self._patience:
            # done, and the screen still asks the same: do it again, a little more deliberately
            self._patience = self._u(PATIENCE_S)
            self._schedule(key, now + 0.5 * self._u(REACTION_S))

    def _pose(self, t: float) -> tuple[float, float]:
        yaw = closure = 0.0
        for start, end, kind, timings in list(self._actions):
            if not start <= t <= end:
                continue
            x = t - start
            if kind == "blink":
                close, shut, opening = timings
                closure = max(closure, _ease(x / close) if x < close else 1.0 if x < close + shut
                              else 1.0 - _ease((x - close - shut) / opening))
            else:
                out, hold, back, amplitude = timings
                yaw += amplitude * (_ease(x / out) if x < out else 1.0 if x < out + hold
                                    else 1.0 - _ease((x - out - hold) / back))
        with self._lock:  # follow() runs on the UI thread, frames() on the camera's
            self._actions = [a for a in self._actions if a[1] >= t]
        return yaw, closure

    def frames(self):
        import math
        import time

        period = 1.0 / self.fps if self.fps > 0 else 0.0
        next_t = time.monotonic()
        while not self._closed:
            if period:
                delay = next_t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                next_t = max(next_t + period, time.monotonic() - period)
            t = self._now()
            i = self.frame_count
            self.frame_count += 1
            yaw, closure = self._pose(t)
            self.pose = (yaw, closure)
            sway = 1.5 * math.sin(0.9 * 2 * math.pi * t + self._sway_phase)
            shift = (2 * math.sin(i / 7), 1.5 * math.cos(i / 9))
            if self._proc is None and self.render_in_process:
                self._start_renderer()
            proc = self._proc
            if proc is not None:
                try:
                    frame = proc.render(yaw + sway, closure, shift)
                except (EOFError, OSError, ValueError):
                    if self._closed:
                        return
                    raise
            else:
                frame = self._noise(self._renderer.render(yaw + sway, 0.0, closure, shift=shift), self._rng)
            self.frame_time = t  # the capture time: the scene as it was at ``t``
            yield frame

    def _start_renderer(self) -> None:
        from kiosk.sim._render_proc import RenderProcess

        still, face = self._chosen
        try:
            self._proc = RenderProcess(still, face.landmarks, face.inter_eye_distance, face.box, self.seed)
        except OSError:
            self.render_in_process = False  # render here instead

    def close(self) -> None:
        self._closed = True
        if self._proc is not None:
            self._proc.close()
            self._proc = None


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
