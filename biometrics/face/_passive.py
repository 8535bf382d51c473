"""Passive presentation-attack detection: one verdict from the frames the gate captures anyway.

    >>> from biometrics.face import assess_passive_liveness, PassiveLivenessSession   # doctest: +SKIP
    >>> r = assess_passive_liveness(frames, t=timestamps)                            # doctest: +SKIP
    >>> r.decision, r.score, r.reasons                                               # doctest: +SKIP
    ('live', 0.97, ())

No instruction is shown and nothing is asked of the traveller: the frames are those of the face capture
while the chip is read. Each frame goes through the face mesh (tracking mode); the cues are

* ``texture``: the probability-like output (higher = live) of the texture/frequency model
  (:mod:`biometrics.face._pad_texture`, model ``face_pad_texture``: a missing or altered file raises
  ``TextureModelError`` when the session starts), median over the frames it ran on (every third frame
  with a face, so a first verdict from face frame 1 on). The evaluation replays the verdict at every face
  frame 1-15 of its presentations (``_pad_passive.prefix_decisions``): no simulated print, screen or replay
  is ``live`` at any of them on either half (0/264 each A -> B, 95 % CI 0-1.4 %; 0/233 each B -> A, 0-1.6 %;
  also by texture alone, no veto), so a gate may take ``live`` at any frame up to 15: it takes the verdict
  at frame 6 and feeds a ``doubt`` on to frame 12 (``gate.FaceStep.passive_max_frames``). 240/264 bona fide
  are ``live`` at face frame 6 (~0.4 s at 15 fps), 244 by frame 12; 5/264 are called ``attack``, which the gate
  refers at once (its BPCER, 1.9 %). A bona fide ``doubt`` is mostly systematic, not frame noise: frames 6 -> 12
  turn 10 of the 46 evaluation doubts of both halves into ``live`` (figures in docs/ARCHITECTURE.md);
* ``moire``, ``parallax``, ``foreshortening``: the cues of :mod:`biometrics.face._liveness`, measured the
  same way. ``parallax`` and ``foreshortening`` need the head to move by >= 8 degrees of yaw, which a
  traveller standing at the reader rarely does: they are usually unmeasured (None) here and then do
  not count.

``score`` is the texture model's probability times the scores of the measured geometric cues (each 0-1,
0.5 at its own threshold, as in ``LivenessSession.passive_score``): independent evidence multiplies, so
several borderline cues together reject. The moire peak is one of the texture model's features; on its
own it counts only when the model is absent, and a failing moire cue (peak > 4) keeps the verdict from
"live" (reason ``moire``). The decision bands are :data:`PASSIVE_THRESHOLDS`:

* ``attack``: score < ``attack_below``; ``live``: score >= ``live_at_or_above``; ``doubt`` between them
  (the gate's policy then runs the active challenge);
* ``unknown``: not enough evidence - fewer than :data:`MIN_FACE_FRAMES` frames with one face, no
  measured cue, or a second person in view. Fail closed: the policy treats it as doubt at best.

Cost (``bench/pad.py``, one core): ``feed`` 7-9 ms median, 13-16 ms p95 on the frames that run the model.
Evaluated in ISO/IEC 30107-3 terms on simulated attacks only: ``biometrics.face.evaluation._pad_passive``.

Bad input (not an RGB/grey uint8 image, timestamps not finite or going back, a timestamp count not
matching the frames) raises :class:`PassiveLivenessError`, never a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from biometrics.face._liveness import (
    MOTION_DEG,
    PARALLAX_POINTS,
    LivenessSession,
    _homography_residual,
    moire_peak,
)
from biometrics.face._mesh import FaceMesher, FaceMeshResult, FrameError, as_rgb

__all__ = [
    "DECISIONS",
    "MIN_FACE_FRAMES",
    "PASSIVE_THRESHOLDS",
    "PassiveLiveness",
    "PassiveLivenessError",
    "PassiveLivenessSession",
    "assess_passive_liveness",
    "verdict",
]

DECISIONS = ("live", "doubt", "attack", "unknown")
#: frames with a face needed before any decision other than "unknown" (0.33 s at 15 fps)
MIN_FACE_FRAMES = 5
#: decision bands on ``score`` (see the module doc), calibrated with the shipped texture model on identity
#: half A of lfw-dev (out-of-fold scores; ``_pad_passive render --n 600 --seed 3`` then ``train --half A``):
#: ``live_at_or_above`` one logit above the highest simulated attack's score, ``attack_below`` the 1st
#: percentile of bona fide scores. The figures they give are reported on half B (docs/ARCHITECTURE.md).
PASSIVE_THRESHOLDS = {"attack_below": 0.55747, "live_at_or_above": 0.983544}
#: cues that can tell a print from a face; a "live" decision needs at least one of them measured
LIVE_EVIDENCE = ("texture", "parallax", "foreshortening")
CUE_EVERY = 3  # moire (and texture) on every third frame with a face: ~1/3 of their cost, 5 samples a second
FPS = 15.0


class PassiveLivenessError(ValueError):
    """Bad input to passive liveness: not an image, or timestamps not matching the frames / going back."""


@dataclass(frozen=True)
class PassiveLiveness:
    """The passive verdict: ``score`` 0-1 (higher = live; None when nothing was measured), ``decision``
    one of :data:`DECISIONS`, ``reasons`` (named: the failing cues, or why nothing was decided), the cue
    values, and how many frames were seen / had a face."""

    score: float | None
    decision: str
    reasons: tuple[str, ...]
    cues: dict[str, float | None] = field(default_factory=dict)
    n_frames: int = 0
    n_face_frames: int = 0

    def to_dict(self) -> dict:
        return {"score": self.score, "decision": self.decision, "reasons": list(self.reasons),
                "cues": dict(self.cues), "n_frames": self.n_frames, "n_face_frames": self.n_face_frames}


def cue_scores(cues: dict[str, float | None]) -> dict[str, float]:
    """Each measured cue's 0-1 score (0.5 at its threshold)."""
    out = {}
    for name, value in cues.items():
        if value is None:
            continue
        if name == "texture":
            out[name] = float(value)
        else:
            s = LivenessSession.passive_score({name: value})
            if s is not None:
                out[name] = s
    return out


def decide(score: float | None, thresholds: dict[str, float] | None = None) -> str:
    """The band of ``score`` (None -> "unknown")."""
    th = thresholds or PASSIVE_THRESHOLDS
    if score is None or not math.isfinite(score):
        return "unknown"
    if score < th["attack_below"]:
        return "attack"
    return "live" if score >= th["live_at_or_above"] else "doubt"


def verdict(cues: dict[str, float | None], n_frames: int, n_face_frames: int, *, multiple_faces: bool = False,
            thresholds: dict[str, float] | None = None, min_face_frames: int = MIN_FACE_FRAMES) -> PassiveLiveness:
    """The verdict from the cue values (the one rule the session and the evaluation both use)."""
    scores = cue_scores(cues)
    # the texture model already has the moire peak among its features: moire counts on its own only
    # without the model, and otherwise as a veto (a failing moire cue keeps the verdict from "live")
    fused = [v for k, v in scores.items() if k != "moire" or "texture" not in scores]
    score = round(float(np.prod(fused)), 6) if fused else None
    n, nf = n_frames, n_face_frames
    if multiple_faces:
        return PassiveLiveness(score, "unknown", ("multiple_faces",), cues, n, nf)
    if nf == 0:
        return PassiveLiveness(None, "unknown", ("no_face",), cues, n, nf)
    if nf < min_face_frames:
        return PassiveLiveness(score, "unknown", ("too_few_frames",), cues, n, nf)
    if score is None:
        return PassiveLiveness(None, "unknown", ("no_cue_measured",), cues, n, nf)
    decision = decide(score, thresholds)
    reasons: tuple[str, ...] = ()
    if decision != "live":
        failing = tuple(k for k, v in scores.items() if v < 0.5)
        reasons = failing or ("combined",)
    elif not any(k in scores for k in LIVE_EVIDENCE):
        # moire alone sees screens, not prints: without a cue that sees prints, never "live"
        decision, reasons = "doubt", ("print_cue_unmeasured",)
    elif scores.get("moire", 1.0) < 0.5:
        decision, reasons = "doubt", ("moire",)
    return PassiveLiveness(score, decision, reasons, cues, n, nf)


class PassiveLivenessSession:
    """Feed frames as they arrive (``feed(frame, t)`` returns the verdict so far); ``result()`` at the end.

    ``mesher``: a tracking :class:`FaceMesher` to share (default: the session's own, two faces so that a
    second person is noticed); ``texture``: the texture model (default: the shipped one if built, else
    None and the cue is unmeasured); ``thresholds``: decision bands (default :data:`PASSIVE_THRESHOLDS`).
    """

    def __init__(self, *, mesher: FaceMesher | None = None, texture: object | None = None,
                 thresholds: dict[str, float] | None = None, min_face_frames: int = MIN_FACE_FRAMES) -> None:
        self._mesher = mesher or FaceMesher(static=False, max_faces=2)
        self._own_mesher = mesher is None
        self._texture = texture if texture is not None else _default_texture()
        self.thresholds = dict(thresholds or PASSIVE_THRESHOLDS)
        self.min_face_frames = int(min_face_frames)
        self._t_last: float | None = None
        self.n_frames = 0
        self.n_face_frames = 0
        self._multiple = False
        self._moire: list[float] = []
        self._texture_scores: list[float] = []
        self._ref: tuple[np.ndarray, float, float] | None = None  # points, ied, yaw
        self._yaws: list[float] = []
        self._aspect0: list[float] = []
        self._parallax: float | None = None
        self._foreshortening: list[float] = []

    def feed(self, frame: np.ndarray, t: float | None = None) -> PassiveLiveness:
        try:
            rgb = as_rgb(frame)
        except FrameError as e:
            raise PassiveLivenessError(f"frame {self.n_frames}: {e}") from e
        t = self.n_frames / FPS if t is None else t
        try:
            t = float(t)
        except (TypeError, ValueError) as e:
            raise PassiveLivenessError(f"frame {self.n_frames}: timestamp {t!r} is not a number") from e
        if not math.isfinite(t) or (self._t_last is not None and t < self._t_last):
            raise PassiveLivenessError(f"timestamps must be finite and non-decreasing (got {t} after {self._t_last})")
        self._t_last = t
        self.n_frames += 1
        faces = self._mesher.process(rgb)
        if any(LivenessSession._other_person(faces[0], f) for f in faces[1:]):
            self._multiple = True
        if faces:
            self._observe(rgb, faces[0])
        return self.result()

    def cues(self) -> dict[str, float | None]:
        fs = float(np.median(self._foreshortening)) if len(self._foreshortening) >= 2 else None
        return {
            "texture": round(float(np.median(self._texture_scores)), 6) if self._texture_scores else None,
            "moire": round(float(np.median(self._moire)), 4) if self._moire else None,
            "parallax": None if self._parallax is None else round(self._parallax, 4),
            "foreshortening": None if fs is None else round(fs, 4),
        }

    def result(self) -> PassiveLiveness:
        return verdict(self.cues(), self.n_frames, self.n_face_frames, multiple_faces=self._multiple,
                       thresholds=self.thresholds, min_face_frames=self.min_face_frames)

    def close(self) -> None:
        if self._own_mesher:
            self._mesher.close()

    def __enter__(self) -> PassiveLivenessSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- internals
    def _observe(self, rgb: np.ndarray, face: FaceMeshResult) -> None:
        self.n_face_frames += 1
        if self.n_face_frames % CUE_EVERY == 1:
            moire = moire_peak(rgb, face)
            self._moire.append(moire)
            if self._texture is not None:
                self._texture_scores.append(float(self._texture.score(rgb, face, moire)))
        yaw, ied = face.pose.yaw, face.inter_eye_distance
        pts = face.landmarks[PARALLAX_POINTS, :2]
        eyes = (face.landmarks[468, :2] + face.landmarks[473, :2]) / 2
        mouth = (face.landmarks[13, :2] + face.landmarks[14, :2]) / 2
        aspect = ied / max(float(np.linalg.norm(mouth - eyes)), 1e-6)
        if len(self._yaws) < 3:  # baseline: the first frames with a face
            self._yaws.append(yaw)
            self._aspect0.append(aspect)
            mid = float(np.median(self._yaws))
            if self._ref is None or abs(yaw - mid) < abs(self._ref[2] - mid):
                self._ref = (pts, ied, yaw)
            return
        if self._ref is not None and abs(yaw - self._ref[2]) >= MOTION_DEG:
            res = _homography_residual(self._ref[0], pts, self._ref[1])
            self._parallax = res if self._parallax is None else max(self._parallax, res)
        yaw0 = float(np.median(self._yaws))
        if abs(yaw - yaw0) >= MOTION_DEG:
            expected = math.cos(math.radians(yaw - yaw0))
            self._foreshortening.append(aspect / float(np.median(self._aspect0)) / expected)


def _default_texture() -> object:
    """The shipped texture model (raises :class:`~biometrics.face._pad_texture.TextureModelError` when its
    file is missing or altered: no silent fallback)."""
    from biometrics.face._pad_texture import load_texture_model

    return load_texture_model()


def assess_passive_liveness(frames: Sequence[np.ndarray], *, t: Sequence[float] | None = None,
                            mesher: FaceMesher | None = None, texture: object | None = None,
                            thresholds: dict[str, float] | None = None) -> PassiveLiveness:
    """The passive verdict over a recorded sequence (``t``: capture times in seconds; default 15 fps)."""
    if t is not None and len(t) != len(frames):
        raise PassiveLivenessError(f"{len(frames)} frames but {len(t)} timestamps")
    session = PassiveLivenessSession(mesher=mesher, texture=texture, thresholds=thresholds)
    try:
        result = session.result()
        for i, frame in enumerate(frames):
            result = session.feed(frame, None if t is None else t[i])
        return result
    finally:
        session.close()
