"""The face at the gate: captured while the chip is read, the lane's liveness policy, 1:1 against DG2.

The traveller stands at the reader facing the camera, so the face is captured *while the chip is read*
(:meth:`FaceStep.capture`, on a thread of the workflow); the chip photo is known only when the chip read
ends, then :meth:`FaceStep.finish` matches. Both results must be present for an open; any failure on
either side refers (the workflow stops the capture when the chip fails).

The liveness policy (``FaceStep.liveness``, the lane's ``[gate] liveness``):

==============================  ===========================================================================
``passive+challenge-on-doubt``  passive PAD on every traveller (:class:`biometrics.face.PassiveLivenessSession`
                                over the frames captured anyway); ``live`` -> no challenge (path ``passive``);
                                ``doubt`` / ``unknown`` (or no passive engine) -> the active challenge (blink +
                                turn) must pass (path ``passive+challenge``, or ``challenge``); ``attack`` ->
                                refer at once, no challenge (path ``passive``).
``challenge-all``               (the default) passive PAD on every traveller, and the challenge for everyone
                                (an ``attack`` still refers at once). ``passive+challenge-on-doubt`` is an
                                explicit lane choice (the PAD model is evaluated on simulated attacks only).
``active``                      the earlier setting: the challenge for everyone, no passive PAD (path
                                ``challenge``).
``off``                         neither (an explicit relaxation; path ``off``).
==============================  ===========================================================================

Why an ``attack`` goes straight to referral: the passive verdict is positive evidence of a presentation
attack; a challenge would give the attacker a second try with another instrument (a replayed clip or a
mask that blinks) for no gain to a bona fide traveller, whom an officer sees at once. Fail closed: a
``doubt`` or ``unknown`` verdict never opens without a passed challenge; a lane that cannot run the
challenge (no lane display) leaves liveness missing and refers. After a challenge the frames matched
are those that follow it in the same stream (the face matched is the face that did the challenge).

The passive thresholds are the PAD module's (:data:`biometrics.face.PASSIVE_THRESHOLDS`); the gate uses
its decision bands, never its own. Capture stops as soon as the decision is certain: ``match_frames``
good frames and a passive verdict: ``live`` / ``attack`` after ``passive_frames`` (6); ``unknown`` is fed more
frames up to ``passive_max_frames`` (12), and so is ``doubt`` on the ``passive+challenge-on-doubt`` lane when no
challenge is owed (a doubt is not certain while the chip is still being read: the frames are free). Whatever
the verdict is at the limit, if not ``live`` the challenge decides; ``attack`` at any frame refers at once. A
doubt seen after ``passive_frames`` still counts on a retry (the worst verdict carries over: the retry needs
the challenge). The PAD evaluation supports taking a ``live`` verdict at any frame up to 15: replayed at
every prefix (``biometrics.face.evaluation._pad_passive``), no simulated print, screen or replay is ``live``
at any of its first 15 face frames. What it gains is small, because bona fide doubts are systematic (the
texture output of such a face's frames stays under, or hovers at, the band): on ``bench/gate_throughput.py``'s
41 travellers 1 of the 5 doubts at frame 6 became ``live`` (at frame 7) and 4 (9.8 %) were still challenged,
so the lane's p95 stays a challenged traveller's (~12 s) while its p50 is 6.7 s.

A fused score the engine calls near its threshold (``biometrics.face.near_threshold``, its band calibrated
by cross-validation) asks for ``extra_frames`` more good frames, fused with the first.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gate._face_engine import FaceEngine, FaceNotAcquired, decode_image, encode_jpeg
from gate._workflow import ChipOutcome, FaceOutcome, StepError

__all__ = ["FaceCapture", "FaceEngine", "FaceNotAcquired", "FaceStep", "LIVENESS_POLICIES", "LIVENESS_PATHS",
           "MATCH_DOUBT_MARGIN", "PASSIVE_DECISIONS", "decode_image", "encode_jpeg"]

log = logging.getLogger("smartborder.gate")

#: the lane's ``[gate] liveness`` values ("active" is the earlier name of a challenge-only lane)
LIVENESS_POLICIES = ("passive+challenge-on-doubt", "challenge-all", "active", "off")
#: what the transaction record says was run
LIVENESS_PATHS = ("passive", "passive+challenge", "challenge", "off")
PASSIVE_DECISIONS = ("live", "doubt", "attack", "unknown")
#: for an engine without its own calibrated near-threshold rule (``FaceEngine.near``; the default engine has
#: ``biometrics.face.near_threshold``, whose band is calibrated by cross-validation): a fused face score this
#: close to its threshold is not certain and more good frames are captured and fused. 0.03 is the distance
#: between the fmr_1e-2 and fmr_5e-4 thresholds (0.905 / 0.933 on the fused scale).
MATCH_DOUBT_MARGIN = 0.03


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _workers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gate-face")
        return _pool


@dataclass
class FaceCapture:
    """What the camera gave while the chip was read: the good frames (the match's candidates, their
    templates being made on worker threads), the liveness path taken and its outcome, the stream to go on
    with (more frames when the score is near the threshold)."""

    stream: Iterator[np.ndarray] | None = None
    frames: list[np.ndarray] = field(default_factory=list)  # good frames, in capture order
    scores: list[float] = field(default_factory=list)
    faces: list[Any] = field(default_factory=list)  # the face the quality check found in each
    probes: list[Future] = field(default_factory=list)
    sample: np.ndarray | None = None  # a frame for the record when none was good
    seen: int = 1  # most faces seen in a frame
    guidance: list[str] = field(default_factory=list)
    liveness_passed: bool | None = None
    liveness_reason: str | None = None
    liveness_path: str = "off"
    passive: Any = None  # the passive verdict (PassiveLiveness)
    #: a "doubt" / "unknown" verdict was seen once ``passive_frames`` were in, even if more frames then made it
    #: "live": a retry after this attempt needs the challenge (the worst verdict carries over, fail closed)
    passive_doubted: bool = False
    attempts: int = 1
    frames_used: int = 0  # frames taken from the camera
    stopped: bool = False  # stopped from outside (the chip failed): nothing to match

    def cancel(self) -> None:
        for f in self.probes:
            f.cancel()


@dataclass
class FaceStep:
    """Capture frames (quality on each as it arrives; templates of the good ones on worker threads), the
    lane's liveness policy (module doc), the 1:1 of the best frames against the chip photo with fusion.
    The best live frame goes into the outcome (memory only; kept only if the traveller is referred)."""

    camera: Any
    engine: FaceEngine
    max_frames: int = 8
    min_good_frames: int = 2
    match_frames: int = 3  # good frames matched (fusion) when the score is certain
    display: Callable[[str | None], None] | None = None  # the lane screen (instruction keys)
    max_liveness_frames: int = 240  # 16 s at 15 fps: the session's own challenge time-outs end it sooner
    settle_frames: int = 12  # extra frames allowed after a challenge while the traveller faces the camera again
    attempts: int = 2  # a traveller who misses a challenge or is not captured well gets one more try
    #: the lane's liveness policy (:data:`LIVENESS_POLICIES`); None: what the engine offers (its challenge
    #: session: "active"; else its passive PAD: "challenge-all" (fail closed: no challenge to run refers); else "off")
    liveness: str | None = None
    passive_frames: int = 6  # frames fed to passive PAD before its verdict is taken (live / attack)
    #: a verdict still "doubt" (on the passive+challenge-on-doubt lane) or "unknown" after ``passive_frames`` is
    #: fed more frames up to here, then taken (not "live": the challenge). The PAD evaluation replays every prefix
    #: up to its presentations' 15 frames (``_pad_passive.N_FRAMES``): no simulated attack "live" at any of them
    passive_max_frames: int = 12
    #: more good frames when the fused score is near its threshold: 3 + 1 = the 4 frames the face module's frame
    #: fusion is calibrated for (``FUSION["frames"]["max_frames"]``)
    extra_frames: int = 1
    certain_margin: float = MATCH_DOUBT_MARGIN

    def __post_init__(self) -> None:
        if self.liveness is not None and self.liveness not in LIVENESS_POLICIES:
            raise ValueError(f"liveness must be one of {', '.join(LIVENESS_POLICIES)}, not {self.liveness!r}")

    @property
    def policy(self) -> str:
        if self.liveness is not None:
            return self.liveness
        if self.engine.session is not None:
            return "active"
        return "challenge-all" if self.engine.passive is not None else "off"

    # -- the sequential form (a step called with the chip's outcome) ---------------------------------------
    def __call__(self, chip: ChipOutcome) -> FaceOutcome:
        pending = _workers().submit(self._reference, chip) if self.engine.reference is not None else None
        try:
            return self.finish(chip, self.capture(), pending)
        finally:
            if pending is not None:
                pending.cancel()

    # -- capture: while the chip is read ------------------------------------------------------------------
    def capture(self, stop: threading.Event | None = None) -> FaceCapture:
        """Capture until the decision is certain (or ``stop`` is set: the chip failed). Runs on the workflow's
        capture thread while the chip is read; a camera fault propagates (the workflow refers with it)."""
        stop = stop or threading.Event()
        must_challenge = False
        cap = self._capture_once(stop)
        for attempt in range(2, self.attempts + 1):
            if (stop.is_set() or cap.seen > 1 or _decision(cap.passive) == "attack"
                    or (len(cap.frames) >= self.min_good_frames and cap.liveness_passed is not False)):
                break
            # the worst verdict carries over (fail closed): after a doubt / unknown passive verdict (even one
            # that more frames then made "live") or a failed challenge, a later passive "live" never suffices
            # again in this transaction
            must_challenge = (must_challenge or cap.passive_doubted or cap.liveness_passed is False
                              or _decision(cap.passive) in ("doubt", "unknown", "error"))
            cap.cancel()
            if self.display is not None:
                self.display("retry")
            cap = replace(self._capture_once(stop, must_challenge=must_challenge), attempts=attempt)
        return cap

    def _capture_once(self, stop: threading.Event, must_challenge: bool = False) -> FaceCapture:
        policy = self.policy
        stream = iter(self.camera.frames())
        cap = FaceCapture(stream=stream)
        passive, verdict = None, None
        if policy in ("passive+challenge-on-doubt", "challenge-all") and self.engine.passive is not None:
            try:
                passive = self.engine.passive()
            except Exception as e:  # noqa: BLE001 - no PAD engine is no verdict: the challenge decides
                log.warning("passive liveness unavailable: %s", type(e).__name__)
                verdict = _PassiveError(f"passive_error: {type(e).__name__}")
        if passive is None and policy != "off" and self.engine.session is not None:
            # the challenge decides whatever the capture shows first: straight to it (path "challenge")
            cap.passive, cap.liveness_path = verdict, "passive+challenge" if verdict is not None else "challenge"
            self._challenge(cap, stop)
            return cap
        t0, fps = time.monotonic(), float(getattr(self.camera, "fps", 0.0) or 0.0)
        limit = max(self.max_frames, self.passive_max_frames if passive is not None else 0)
        # only where a passive "live" can open (this lane, no challenge owed) is a doubt worth more frames
        more_on_doubt = policy == "passive+challenge-on-doubt" and not must_challenge
        try:
            for frame in stream:
                if stop.is_set():
                    cap.stopped = True
                    return cap
                t = self._frame_time(cap.frames_used, t0, fps)
                cap.frames_used += 1
                self._assess(frame, cap)
                if passive is not None and (verdict is None or _decision(verdict) != "error"):
                    verdict = _feed_passive(passive, frame, t)
                    if cap.frames_used >= self.passive_frames and _decision(verdict) in ("doubt", "unknown", "error"):
                        cap.passive_doubted = True
                if self._certain(cap, passive is not None, verdict, more_on_doubt) or cap.frames_used >= limit:
                    break
        finally:
            if passive is not None and hasattr(passive, "close"):
                passive.close()
        cap.passive = verdict
        decision = _decision(verdict)
        if policy == "off":
            cap.liveness_path = "off"
        elif decision == "attack":  # positive evidence of an attack: referred at once, no challenge (module doc)
            cap.liveness_path, cap.liveness_passed = "passive", False
            cap.liveness_reason = "passive_attack: " + (",".join(getattr(verdict, "reasons", ()) or ()) or "score")
        elif decision == "live" and policy == "passive+challenge-on-doubt" and not must_challenge:
            cap.liveness_path, cap.liveness_passed = "passive", True
        else:  # doubt, unknown, no passive verdict, or a lane that challenges everyone
            cap.liveness_path = "passive+challenge" if verdict is not None else "challenge"
            if self.engine.session is None:
                cap.liveness_reason = (f"passive verdict {decision or 'none'} needs the active challenge, "
                                       "which this lane cannot run")
            else:
                self._challenge(cap, stop)
        return cap

    def _certain(self, cap: FaceCapture, with_passive: bool, verdict: Any, more_on_doubt: bool = False) -> bool:
        """Enough to decide: ``match_frames`` good frames and, with passive PAD, its verdict: "live" or "attack"
        after ``passive_frames``; "doubt" there too, unless ``more_on_doubt`` (the passive+challenge-on-doubt lane,
        no challenge owed): then, like "unknown", not before ``passive_max_frames`` (a doubt is not certain while
        the chip is still being read: more frames may settle it; "attack" at any point still ends it)."""
        if with_passive:
            d, n = _decision(verdict), cap.frames_used
            if d == "attack" and n >= self.passive_frames:
                return True
            settled = ("live",) if more_on_doubt else ("live", "doubt")
            if not (d == "error" or (d in settled and n >= self.passive_frames) or n >= self.passive_max_frames):
                return False
        return len(cap.frames) >= self.match_frames

    def _assess(self, frame: np.ndarray, cap: FaceCapture, probe_limit: int | None = None) -> None:
        """Quality now; a good frame's template on a worker thread while the next frame is assessed (the
        first good frame is also searched for a second person: a tailgating cue)."""
        probe_limit = self.match_frames if probe_limit is None else probe_limit
        q = self.engine.quality(frame)
        cap.seen = max(cap.seen, int(getattr(q, "faces", 1) or 1))
        if cap.sample is None:
            cap.sample = frame
        if q.passed:
            cap.frames.append(frame)
            cap.scores.append(float(getattr(q, "score", 0.0)))
            cap.faces.append(getattr(q, "face", None))
            if self._pipeline and len(cap.probes) < probe_limit:
                cap.probes.append(_workers().submit(self.engine.probe, frame, cap.faces[-1], not cap.probes))
        else:
            cap.guidance.extend(g for g in (getattr(q, "guidance", None) or []) if g not in cap.guidance)

    @property
    def _pipeline(self) -> bool:
        return self.engine.probe is not None and self.engine.match is not None

    def _challenge(self, cap: FaceCapture, stop: threading.Event) -> None:
        """The active challenge on the same stream; the frames matched are those that follow it."""
        cap.cancel()
        cap.frames, cap.scores, cap.faces, cap.probes = [], [], [], []
        passed, why, used = self._active_liveness(cap.stream, stop)
        cap.frames_used += used
        cap.liveness_passed, cap.liveness_reason = passed, why
        if stop.is_set():
            cap.stopped = True
            return
        # after the last movement the traveller turns back to the camera: frames mid-turn fail the pose
        # measures, so capture goes on until enough are good (or the limit)
        for n, frame in enumerate(cap.stream, 1):
            if stop.is_set():
                cap.stopped = True
                return
            cap.frames_used += 1
            self._assess(frame, cap)
            if len(cap.frames) >= self.match_frames or n >= self.max_frames + self.settle_frames:
                break

    def _active_liveness(self, frames_iter: Iterator[np.ndarray], stop: threading.Event) -> tuple[bool, str | None, int]:
        """Run the challenge: each instruction goes to the lane display (and to a simulated traveller's
        camera). Returns the outcome and the frames it took."""
        session = self.engine.session()
        follow = getattr(self.camera, "follow", None)
        fps = float(getattr(self.camera, "fps", 0.0) or 0.0)
        t0, state, used = time.monotonic(), None, 0
        try:
            for i, frame in enumerate(frames_iter):
                used += 1
                state = session.feed(frame, self._frame_time(i, t0, fps))
                key = state.instruction_key
                if self.display is not None:
                    self.display(key)
                if follow is not None:
                    follow(key)
                if state.done or i + 1 >= self.max_liveness_frames or stop.is_set():
                    break
        finally:
            if hasattr(session, "close"):
                session.close()
        passed = bool(state is not None and state.done and state.passed)
        reason = None if passed else (getattr(state, "reason", None) or "challenge not completed")
        return passed, reason, used

    def _frame_time(self, i: int, t0: float, fps: float) -> float:
        """The i-th frame's capture time: the camera's own clock (``frame_time``: the device's grab time,
        a video's stream position, a sequence's i / fps) where it has one; else wall time for a live
        camera, or i / 15 for frames served as fast as asked."""
        t = getattr(self.camera, "frame_time", None)
        if t is not None:
            return float(t)
        return time.monotonic() - t0 if fps > 0 else i / 15.0

    # -- finish: once the chip photo is known --------------------------------------------------------------
    def finish(self, chip: ChipOutcome, cap: FaceCapture, pending: Future | None = None) -> FaceOutcome:
        """Match the captured frames against the chip photo; near the threshold, capture and fuse more."""
        live = dict(liveness_passed=cap.liveness_passed, liveness_reason=cap.liveness_reason,
                    liveness_path=cap.liveness_path, attempts=cap.attempts,
                    passive_decision={"error": "unknown"}.get(_decision(cap.passive), _decision(cap.passive)),
                    passive_score=_score(cap.passive),
                    frames_captured=cap.frames_used)
        if pending is None and self.engine.reference is not None:
            pending = _workers().submit(self._reference, chip)
        sample = cap.frames[int(np.argmax(cap.scores))] if cap.frames else cap.sample
        image = encode_jpeg(sample) if sample is not None else None
        if len(cap.frames) < self.min_good_frames:
            cap.cancel()
            if pending is not None:
                pending.cancel()
            if cap.seen > 1:  # several people in front of the camera kept the traveller from being captured
                return FaceOutcome(acquired=False, faces_seen=cap.seen, live_image=image, **live)
            return FaceOutcome(acquired=False, guidance=tuple(str(g) for g in cap.guidance[:3]), live_image=image,
                               **live)
        reference = pending.result() if pending is not None else self._chip_photo(chip)
        if not self._pipeline:
            return self._verify(reference, cap, image, live)
        templates, faces_seen, error = [], 1, None
        for i, f in enumerate(cap.probes):
            try:
                templates.append(f.result())
            except FaceNotAcquired as e:
                faces_seen, error = max(faces_seen, e.faces), e
                if i == 0 and e.faces > 1:  # someone beside the traveller when the capture began
                    cap.cancel()
                    return FaceOutcome(acquired=False, faces_seen=e.faces, live_image=image, **live)
        if not templates:
            if faces_seen > 1:
                return FaceOutcome(acquired=False, faces_seen=faces_seen, live_image=image, **live)
            return FaceOutcome(acquired=False, guidance=(str(error),), live_image=image, **live)
        result = self.engine.match(reference, templates)
        extra = 0
        if self._near(result) and cap.liveness_passed is not False and cap.stream is not None:
            more, extra = self._more(cap)
            if more:
                templates += more
                result = self.engine.match(reference, templates)
        return FaceOutcome(acquired=True, score=float(result.score), threshold=float(result.threshold),
                           live_image=image, extra_frames=extra, **live)

    def _near(self, result: Any) -> bool:
        try:
            score, threshold = float(result.score), float(result.threshold)
        except (TypeError, ValueError, AttributeError):
            return False
        if self.extra_frames <= 0 or not (math.isfinite(score) and math.isfinite(threshold)):
            return False
        if self.engine.near is not None:
            return bool(self.engine.near(score, threshold))
        return abs(score - threshold) < self.certain_margin

    def _more(self, cap: FaceCapture) -> tuple[list[Any], int]:
        """Up to ``extra_frames`` more good frames from the same stream, their templates (a frame whose
        template fails is left out: fusion of what was acquired). Returns the templates and frames taken."""
        start, first, used = len(cap.frames), len(cap.probes), 0
        for frame in cap.stream:
            used += 1
            self._assess(frame, cap, first + self.extra_frames)
            if len(cap.frames) - start >= self.extra_frames or used >= 2 * self.extra_frames + self.max_frames:
                break
        out = []
        for f in cap.probes[first:]:
            try:
                out.append(f.result())
            except FaceNotAcquired:
                continue
        return out, used

    def _verify(self, reference: Any, cap: FaceCapture, image: bytes | None, live: dict) -> FaceOutcome:
        """An engine without per-frame templates: the best frames by quality, verified in one call."""
        order = [int(i) for i in np.argsort(cap.scores)[::-1][: self.match_frames]]
        detections = [cap.faces[i] for i in order]
        extra = {"detections": detections} if all(d is not None for d in detections) else {}
        try:
            result = self.engine.verify(reference, [cap.frames[i] for i in order], **extra)
        except FaceNotAcquired as e:
            if e.faces > 1:  # several people in front of the camera
                return FaceOutcome(acquired=False, faces_seen=e.faces, live_image=image, **live)
            return FaceOutcome(acquired=False, guidance=(str(e),), live_image=image, **live)
        return FaceOutcome(acquired=True, score=float(result.score), threshold=float(result.threshold),
                           live_image=encode_jpeg(cap.frames[order[0]]), **live)

    def _reference(self, chip: ChipOutcome) -> Any:
        return self.engine.reference(self._chip_photo(chip))

    @staticmethod
    def _chip_photo(chip: ChipOutcome) -> np.ndarray:
        try:
            return decode_image(chip.dg2_image or b"")
        except (OSError, ValueError) as e:
            raise StepError(f"chip photo cannot be decoded: {type(e).__name__}") from e


class _PassiveError:
    """A passive engine that failed: its verdict is "unknown" (fail closed: the challenge decides)."""

    decision = "error"
    score = None

    def __init__(self, reason: str) -> None:
        self.reasons = (reason,)


def _feed_passive(session: Any, frame: np.ndarray, t: float) -> Any:
    try:
        return session.feed(frame, t)
    except Exception as e:  # noqa: BLE001 - a failed PAD engine is no verdict: the challenge decides
        log.warning("passive liveness failed: %s", type(e).__name__)
        return _PassiveError(f"passive_error: {type(e).__name__}")


def _decision(verdict: Any) -> str | None:
    """The verdict's decision, any value outside :data:`PASSIVE_DECISIONS` read as "unknown"."""
    if verdict is None:
        return None
    d = getattr(verdict, "decision", None)
    if d == "error":
        return "error"
    return d if d in PASSIVE_DECISIONS else "unknown"


def _score(verdict: Any) -> float | None:
    s = getattr(verdict, "score", None)
    try:
        s = float(s)
    except (TypeError, ValueError):
        return None
    return s if math.isfinite(s) else None
