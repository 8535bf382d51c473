"""Liveness (presentation attack detection): active challenges over a frame sequence plus passive cues.

Active part: the traveller is asked, in an order the session draws at random, to blink and to turn
the head left or right. Each frame goes through the mediapipe face mesh in tracking mode.

* **blink**: the eyelid gap *relative to the eye-to-mouth distance* (``eye_opening_face``) drops
  below 65 % of the open-eye baseline (the 80th percentile of the frames so far) and recovers above
  85 % within 1 s. The ratio, unlike the eye aspect ratio, does not change when a flat picture is
  tilted (both distances are foreshortened alike), so tilting a print cannot fake a blink.
* **turn_left / turn_right**: the yaw (person's convention, see ``_mesh``) moves at least 20 degrees
  from the baseline in the asked direction and comes back within 10 degrees. Turning the wrong way
  (> 20 degrees) while a turn or a blink is asked fails the session (a replayed clip does the
  actions in its own order). Each challenge has a time-out (default 6 s) from its first frame, or from when
  the kiosk showed its instruction if that was later (``shown(kind, t)``: a screen lagging the camera does
  not shorten the traveller's time; at most one time-out later).

Passive cues (``LivenessResult.cues``), both defensible from geometry or optics:

* **parallax** (3-D consistency): the best-fitting homography between the baseline frame's
  landmarks and each frame's (36 well-defined points: eye corners, brows, nose, nostrils, mouth,
  chin) explains a flat object's motion exactly - a print moved, rotated or seen in perspective is a
  plane. A real head turning 20 degrees leaves a residual of several % of the inter-eye distance
  (the nose and brows sit in front of the eye-mouth plane). The cue is the largest RMS residual
  (in IED units) over frames whose yaw differs from the baseline by >= 8 degrees; sessions with no
  such frame leave it unmeasured. Pass >= 0.065. Caveat: the mesh is a learnt 3-D prior, so on a
  strongly rotated print its landmarks drift off the homography too (simulated prints: 0.03-0.06,
  bent prints up to 0.12; simulated bona fide turns: 0.08-0.12) - a weak cue on its own.
* **foreshortening** (3-D consistency of the turn): a head turning by yaw ``a`` narrows the
  eye-line by ~cos(a) but keeps the eyes-to-mouth height; a print must be rotated much further than
  the yaw it fakes (55-70 degrees for ~20), narrowing the eye-line by ~cos(60). The cue is the
  median, over frames with >= 8 degrees of yaw, of (IED / eyes-to-mouth) relative to the baseline,
  divided by cos(yaw change). Simulated turns 0.81-1.03, simulated prints 0.46-0.85 (one 1.01).
  Pass >= 0.75.
* **moire** (screen replay): re-capturing a screen aliases its pixel grid into a periodic pattern,
  a narrow peak in the spectrum. The cue is the largest ratio, at radii 0.15-0.5 cycles/pixel
  (excluding the JPEG 8x8 harmonics and the axes), between the high-passed, Hann-windowed face
  crop's spectral magnitude and its local 9x9 mean, median over every third frame. A natural face
  (or a print) under sensor noise has a smooth spectrum: 3.0-3.3 (the largest of ~8000
  Rayleigh-like ratios); simulated screen replays gave 5-14. Pass <= 4.0.

Thresholds were set on one simulated run (``evaluation._pad_eval --seed 3``); the figures reported in
``evaluation._pad_eval`` come from other seeds (other identities and attack draws).

``passive_score`` is 0-1: the *product* of the measured cues' logistic scores (each 0.5 at its
threshold), so that several borderline cues together reject (independent evidence multiplies);
the session passes when every challenge is done and the passive score is >= 0.5 (or unmeasured).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from biometrics.face._mesh import FaceMesher, FaceMeshResult, as_rgb

__all__ = [
    "CHALLENGE_KINDS",
    "INSTRUCTIONS",
    "ActiveChallenge",
    "ChallengeOutcome",
    "LivenessError",
    "LivenessResult",
    "LivenessSession",
    "LivenessState",
    "check_liveness",
]

CHALLENGE_KINDS = ("blink", "turn_left", "turn_right")
#: instruction key -> English text shown by the kiosk/gate (translate by key)
INSTRUCTIONS = {
    "blink": "blink your eyes",
    "turn_left": "turn your head to your left, then back",
    "turn_right": "turn your head to your right, then back",
    "look_at_camera": "look at the camera",
    "one_person_only": "only one person in front of the camera",
}

TURN_DEG, RETURN_DEG, MOTION_DEG = 20.0, 10.0, 8.0
BLINK_CLOSED, BLINK_OPEN, BLINK_MAX_S = 0.78, 0.9, 1.0
PARALLAX_PASS, FORESHORTENING_PASS, MOIRE_PASS = 0.065, 0.75, 4.0
PARALLAX_POINTS = np.array([33, 133, 263, 362, 70, 105, 107, 300, 334, 336, 168, 6, 197, 195, 5, 4, 1, 2,
                            98, 327, 61, 291, 0, 17, 13, 14, 152, 199, 159, 145, 386, 374, 55, 285, 50, 280])


class LivenessError(ValueError):
    """Bad liveness input: unknown challenge, timestamps not matching the frames or going back."""


@dataclass(frozen=True)
class ActiveChallenge:
    kind: str
    timeout_s: float = 6.0

    def __post_init__(self) -> None:
        if self.kind not in CHALLENGE_KINDS:
            raise LivenessError(f"unknown challenge {self.kind!r}; expected one of {CHALLENGE_KINDS}")
        if not self.timeout_s > 0:
            raise LivenessError("challenge timeout must be positive")

    @property
    def instruction(self) -> str:
        return INSTRUCTIONS[self.kind]


@dataclass
class ChallengeOutcome:
    kind: str
    passed: bool = False
    reason: str | None = None
    started_t: float | None = None
    done_t: float | None = None
    shown_t: float | None = None  # when the kiosk displayed the instruction (``LivenessSession.shown``)

    def clock_start(self, timeout_s: float) -> float | None:
        """Where the challenge's time-out runs from: its first frame, or the moment its instruction was shown
        when that was later (at most one time-out later: a screen that never shows it does not hold it open)."""
        if self.started_t is None:
            return None
        if self.shown_t is None:
            return self.started_t
        return min(max(self.started_t, self.shown_t), self.started_t + timeout_s)


@dataclass(frozen=True)
class LivenessState:
    """What to show after a frame: ``instruction_key`` (None once done), progress 0-1, the verdict, and the
    current challenge's countdown: ``time_left_s`` until its deadline (its start plus its ``timeout_s``, on the
    frames' clock, at the last frame fed; None once done)."""

    instruction_key: str | None
    progress: float
    done: bool
    passed: bool | None
    reason: str | None
    face_found: bool
    time_left_s: float | None = None
    timeout_s: float | None = None

    @property
    def instruction(self) -> str | None:
        return INSTRUCTIONS.get(self.instruction_key) if self.instruction_key else None


@dataclass(frozen=True)
class LivenessResult:
    passed: bool
    reason: str | None
    per_challenge: list[ChallengeOutcome]
    passive_score: float | None
    cues: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "reason": self.reason,
            "passive_score": self.passive_score,
            "cues": dict(self.cues),
            "per_challenge": [vars(c).copy() for c in self.per_challenge],
        }


def _as_challenges(challenges: Sequence[ActiveChallenge | str]) -> list[ActiveChallenge]:
    out = [c if isinstance(c, ActiveChallenge) else ActiveChallenge(str(c)) for c in challenges]
    if not out:
        raise LivenessError("at least one challenge is needed")
    return out


def random_challenges(rng: random.Random | np.random.Generator | int | None = None) -> list[ActiveChallenge]:
    """A blink and one head turn (left or right), in random order."""
    if isinstance(rng, np.random.Generator):
        r = random.Random(int(rng.integers(0, 2**63 - 1)))
    elif isinstance(rng, random.Random):
        r = rng
    else:
        r = random.SystemRandom() if rng is None else random.Random(rng)
    kinds = ["blink", r.choice(["turn_left", "turn_right"])]
    r.shuffle(kinds)
    return [ActiveChallenge(k) for k in kinds]


def _homography_residual(ref: np.ndarray, cur: np.ndarray, ied: float) -> float:
    h, _ = cv2.findHomography(ref.astype(np.float64), cur.astype(np.float64), 0)
    if h is None:
        return 0.0
    proj = cv2.perspectiveTransform(ref.reshape(-1, 1, 2).astype(np.float64), h).reshape(-1, 2)
    return float(np.sqrt(((proj - cur) ** 2).sum(axis=1).mean())) / ied


_JPEG_MASK: dict[int, np.ndarray] = {}


def moire_peak(frame: np.ndarray, face: FaceMeshResult, size: int = 128) -> float:
    """Largest spectral peak of the face crop relative to its 9x9 spectral neighbourhood (see module doc)."""
    x0, y0, x1, y1 = face.box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(16, int(0.35 * min(x1 - x0, y1 - y0)))
    h, w = frame.shape[:2]
    xa, ya = max(0, int(cx - half)), max(0, int(cy - half))
    crop = frame[ya:min(h, int(cy + half)), xa:min(w, int(cx + half))]
    if min(crop.shape[:2]) < 16:
        return 0.0
    g = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    if max(g.shape) > size:  # never upsample; shrink only large crops (area averaging)
        g = cv2.resize(g, (size, size), interpolation=cv2.INTER_AREA)
    else:
        g = cv2.resize(g, (size, size), interpolation=cv2.INTER_NEAREST) if g.shape != (size, size) else g
    g = g - cv2.GaussianBlur(g, (0, 0), 2.0)
    win = np.outer(np.hanning(size), np.hanning(size)).astype(np.float32)
    spec = np.abs(np.fft.fftshift(np.fft.fft2(g * win)))
    if size not in _JPEG_MASK:
        f = np.fft.fftshift(np.fft.fftfreq(size))
        fy, fx = np.meshgrid(f, f, indexing="ij")
        r = np.hypot(fx, fy)
        near8 = lambda v: np.abs(v * 8 - np.round(v * 8)) < 1.5 * 8 / size  # noqa: E731
        axes = (np.abs(fx) < 1.5 / size) | (np.abs(fy) < 1.5 / size)
        _JPEG_MASK[size] = (r >= 0.15) & (r <= 0.5) & ~(near8(fx) & near8(fy)) & ~axes
    spec = spec.astype(np.float32)
    local = cv2.blur(spec, (9, 9))  # the smooth spectral envelope around each frequency
    return float((spec / np.maximum(local, 1e-6))[_JPEG_MASK[size]].max())


def _logistic01(value: float, mid: float, width: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, (value - mid) / width))))


class LivenessSession:
    """Feed frames one by one (``feed(frame, t)``); read the state to drive the screen.

    ``challenges``: kinds or :class:`ActiveChallenge`, in order; None draws a blink and a random
    turn in random order from ``rng`` (an int seed, ``random.Random`` or numpy Generator; None =
    the system's CSPRNG, which is what a gate must use).
    """

    def __init__(self, challenges: Sequence[ActiveChallenge | str] | None = None,
                 rng: random.Random | np.random.Generator | int | None = None, *,
                 mesher: FaceMesher | None = None, require_passive: bool = True) -> None:
        self.challenges = _as_challenges(challenges) if challenges is not None else random_challenges(rng)
        self.outcomes = [ChallengeOutcome(c.kind) for c in self.challenges]
        self._mesher = mesher or FaceMesher(static=False, max_faces=2)
        self._own_mesher = mesher is None
        self.require_passive = require_passive
        self._i = 0
        self._t_last: float | None = None
        self._n = 0
        self._eyes: list[float] = []
        self._yaws: list[float] = []
        self._ref: tuple[np.ndarray, float, float] | None = None  # points, ied, yaw
        self._parallax: float | None = None
        self._aspect0: list[float] = []
        self._foreshortening: list[float] = []
        self._moire: list[float] = []
        self._closed_at: float | None = None
        self._turned = False
        self._done = False
        self._passed: bool | None = None
        self._reason: str | None = None
        self._face = False

    # ---------------------------------------------------------------- public
    def feed(self, frame: np.ndarray, t: float) -> LivenessState:
        rgb = as_rgb(frame)
        t = float(t)
        if not math.isfinite(t) or (self._t_last is not None and t < self._t_last):
            raise LivenessError(f"timestamps must be finite and non-decreasing (got {t} after {self._t_last})")
        self._t_last = t
        if self._done:
            return self.state
        cur = self.outcomes[self._i]
        if cur.started_t is None:
            cur.started_t = t
        faces = self._mesher.process(rgb)
        self._face = bool(faces)
        if any(self._other_person(faces[0], f) for f in faces[1:]):
            return self._finish(False, "multiple_faces")
        if faces:
            self._observe(rgb, faces[0], t)
        if not self._done:
            timeout = self.challenges[self._i].timeout_s
            if t - cur.clock_start(timeout) > timeout:
                cur.reason = "timeout"
                return self._finish(False, f"timeout:{cur.kind}")
        return self.state

    @property
    def state(self) -> LivenessState:
        if self._done:
            key = None
        elif not self._face:
            key = "look_at_camera"
        else:
            key = self.challenges[self._i].kind
        progress = sum(o.passed for o in self.outcomes) / len(self.outcomes)
        left = timeout = None
        if not self._done:
            timeout = self.challenges[self._i].timeout_s
            started = self.outcomes[self._i].clock_start(timeout)
            left = timeout if started is None or self._t_last is None else min(timeout, max(0.0, started + timeout - self._t_last))
        return LivenessState(key, progress, self._done, self._passed, self._reason, self._face, left, timeout)

    def shown(self, kind: str, t: float) -> None:
        """The kiosk displayed the instruction for ``kind`` at ``t`` (the frames' clock). When that is later than
        the challenge's first frame (the screen lags the camera by the time a frame takes to check), its time-out
        runs from then, so the traveller has the whole time to act on what they saw (see
        :meth:`ChallengeOutcome.clock_start`). Only the current challenge's first showing counts."""
        if self._done or self.challenges[self._i].kind != kind or not math.isfinite(float(t)):
            return
        out = self.outcomes[self._i]
        if out.shown_t is None:
            out.shown_t = float(t)

    def result(self) -> LivenessResult:
        """The verdict so far (a session that did not finish fails with reason "incomplete")."""
        cues = self.cues()
        passive = self.passive_score(cues)
        if not self._done:
            return LivenessResult(False, "incomplete", list(self.outcomes), passive, cues)
        return LivenessResult(bool(self._passed), self._reason, list(self.outcomes), passive, cues)

    def cues(self) -> dict[str, float | None]:
        moire = float(np.median(self._moire)) if self._moire else None
        fs = float(np.median(self._foreshortening)) if len(self._foreshortening) >= 2 else None
        return {"parallax": self._parallax, "foreshortening": fs, "moire": moire}

    @staticmethod
    def passive_score(cues: dict[str, float | None]) -> float | None:
        scores = []
        if cues.get("parallax") is not None:
            scores.append(_logistic01(cues["parallax"], PARALLAX_PASS, 0.008))
        if cues.get("foreshortening") is not None:
            scores.append(_logistic01(cues["foreshortening"], FORESHORTENING_PASS, 0.03))
        if cues.get("moire") is not None:
            scores.append(_logistic01(-cues["moire"], -MOIRE_PASS, 0.25))
        return round(float(np.prod(scores)), 4) if scores else None

    @classmethod
    def _cue_fails(cls, name: str, value: float) -> bool:
        score = cls.passive_score({name: value})
        return score is not None and score < 0.5

    def close(self) -> None:
        if self._own_mesher:
            self._mesher.close()

    # ---------------------------------------------------------------- internals
    @staticmethod
    def _other_person(main: FaceMeshResult, other: FaceMeshResult) -> bool:
        """A second, comparably large face that is not a duplicate detection of the first."""
        x0, y0, x1, y1 = main.box
        cx, cy = (other.box[0] + other.box[2]) / 2, (other.box[1] + other.box[3]) / 2
        inside = x0 <= cx <= x1 and y0 <= cy <= y1
        return not inside and other.inter_eye_distance > 0.5 * main.inter_eye_distance

    def _finish(self, passed: bool, reason: str | None) -> LivenessState:
        self._done, self._passed, self._reason = True, passed, reason
        return self.state

    def _observe(self, rgb: np.ndarray, face: FaceMeshResult, t: float) -> None:
        self._n += 1
        eye, yaw = face.eye_opening_face, face.pose.yaw
        ied = face.inter_eye_distance
        pts = face.landmarks[PARALLAX_POINTS, :2]
        eyes = (face.landmarks[468, :2] + face.landmarks[473, :2]) / 2
        mouth = (face.landmarks[13, :2] + face.landmarks[14, :2]) / 2
        aspect = ied / max(float(np.linalg.norm(mouth - eyes)), 1e-6)
        if self._n % 3 == 1:
            self._moire.append(moire_peak(rgb, face))
        if len(self._yaws) < 3:  # baseline: the first frames with a face
            self._eyes.append(eye)
            self._yaws.append(yaw)
            self._aspect0.append(aspect)
            if self._ref is None or abs(yaw - float(np.median(self._yaws))) < abs(self._ref[2] - float(np.median(self._yaws))):
                self._ref = (pts, ied, yaw)
            return
        yaw0 = float(np.median(self._yaws[:5]))
        if self._ref is not None and abs(yaw - self._ref[2]) >= MOTION_DEG:
            res = _homography_residual(self._ref[0], pts, self._ref[1])
            self._parallax = res if self._parallax is None else max(self._parallax, res)
        if abs(yaw - yaw0) >= MOTION_DEG:
            expected = math.cos(math.radians(yaw - yaw0))
            self._foreshortening.append(aspect / float(np.median(self._aspect0)) / expected)
        open_level = float(np.percentile(self._eyes, 80))
        kind = self.challenges[self._i].kind
        d = yaw - yaw0
        if kind == "blink":
            if abs(d) > TURN_DEG:
                self._fail_current("wrong_action")
                return
            if self._closed_at is None and eye < BLINK_CLOSED * open_level:
                self._closed_at = t
            elif self._closed_at is not None and eye > BLINK_OPEN * open_level:
                if t - self._closed_at <= BLINK_MAX_S:
                    self._pass_current(t)
                self._closed_at = None
            elif self._closed_at is not None and t - self._closed_at > BLINK_MAX_S:
                self._closed_at = None  # eyes kept shut: not a blink
        else:
            sign = 1.0 if kind == "turn_left" else -1.0
            if sign * d < -TURN_DEG:
                self._fail_current("wrong_action")
                return
            if sign * d >= TURN_DEG:
                self._turned = True
            elif self._turned and abs(d) <= RETURN_DEG:
                self._pass_current(t)
        if eye >= BLINK_OPEN * open_level and abs(d) < RETURN_DEG:
            self._eyes.append(eye)  # open, frontal frames keep the baseline current

    def _fail_current(self, reason: str) -> None:
        out = self.outcomes[self._i]
        out.reason = reason
        self._finish(False, f"{reason}:{out.kind}")

    def _pass_current(self, t: float) -> None:
        out = self.outcomes[self._i]
        out.passed, out.done_t = True, t
        self._closed_at, self._turned = None, False
        self._i += 1
        if self._i < len(self.challenges):
            return
        cues = self.cues()
        score = self.passive_score(cues)
        if self.require_passive and score is not None and score < 0.5:
            failed = [k for k, v in cues.items() if v is not None and self._cue_fails(k, v)]
            self._finish(False, "passive:" + (",".join(failed) or "combined"))
        else:
            self._finish(True, None)


def check_liveness(frames: Sequence[np.ndarray], timestamps: Sequence[float],
                   challenges: Sequence[ActiveChallenge | str], *, require_passive: bool = True) -> LivenessResult:
    """Run a whole recorded sequence through a :class:`LivenessSession` with the given challenges."""
    if len(frames) != len(timestamps):
        raise LivenessError(f"{len(frames)} frames but {len(timestamps)} timestamps")
    if len(frames) == 0:
        raise LivenessError("no frames")
    session = LivenessSession(challenges, require_passive=require_passive)
    try:
        for frame, t in zip(frames, timestamps, strict=True):
            state = session.feed(frame, t)
            if state.done:
                break
        return session.result()
    finally:
        session.close()
