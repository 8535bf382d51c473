"""Wire the enrolment engines from ``biometrics``, and nothing else.

``biometrics.face``: ``assess_quality(image, purpose="enrolment")``, ``extract_template`` (the record
carries the whole template, ``FaceTemplate.to_bytes()``: dlib and SFace parts, what the back office
compares), ``LivenessSession`` (the active blink/turn challenge). ``biometrics.finger``:
``assess_quality``, ``segment_slap``, ``FingerprintTemplate(...).to_bytes()`` (ISO/IEC 19794-2).

Without them the kiosk does not start (:class:`EnginesUnavailable`): there is no fallback a
production kiosk could silently run on. Test doubles (and the simulator's relaxed liveness for a
camera that cannot follow instructions) live in :mod:`kiosk.testing`, which runtime code never imports.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np

from enrollment import Engines, face_check_from_report, finger_check_from_report

__all__ = ["LIVENESS_MODES", "EnginesUnavailable", "build_engines", "engine_sources"]

log = logging.getLogger("kiosk")

#: "auto": the active challenge of ``biometrics.face``; "off": no liveness step (explicit, logged)
LIVENESS_MODES = ("auto", "off")

_NEEDED = {"biometrics.face": ("assess_quality", "extract_template", "LivenessSession", "reference_template",
                                "verify_templates", "FaceTemplate"),
           "biometrics.finger": ("assess_quality", "segment_slap", "FingerprintTemplate", "PASS_SCORE")}


class EnginesUnavailable(RuntimeError):
    """The biometric engines the kiosk needs are not installed (or lack a function it needs)."""


def _engines():
    import importlib

    modules = []
    for name, functions in _NEEDED.items():
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            raise EnginesUnavailable(f"the kiosk needs {name} ({e}); run `make setup`") from e
        missing = [f for f in functions if not hasattr(module, f)]
        if missing:
            raise EnginesUnavailable(f"{name} lacks {', '.join(missing)}: this version cannot run the kiosk")
        modules.append(module)
    return modules


class _RealLiveness:
    """Adapts ``biometrics.face.LivenessSession`` (``feed(frame, t) -> LivenessState``) to enrollment.Liveness.

    Besides ``challenge`` and ``reason``: ``time_left_s`` (the current challenge's countdown, from the session's
    own deadline on the frames' clock, as of the last frame) and ``timeout_s`` (that challenge's whole time), both
    None before the first frame and once decided."""

    def __init__(self, session) -> None:
        import time

        self.session = session
        self._clock = time.monotonic
        self.challenge = "liveness.look_at_camera"
        self.reason: str | None = None
        self.time_left_s: float | None = None
        self.timeout_s: float | None = None

    def shown(self, challenge: str, t: float | None = None) -> None:
        """The screen showed ``challenge`` (a message key) at ``t`` on the frames' clock (None: now)."""
        shown = getattr(self.session, "shown", None)
        if shown is not None:
            shown(challenge.removeprefix("liveness."), self._clock() if t is None else t)

    def observe(self, frame: np.ndarray, t: float | None = None) -> bool | None:
        # the camera's own clock where it has one (a dropped or late frame keeps its real time)
        state = self.session.feed(frame, self._clock() if t is None else t)
        if state.instruction_key:
            self.challenge = f"liveness.{state.instruction_key}"
        self.time_left_s = getattr(state, "time_left_s", None)
        self.timeout_s = getattr(state, "timeout_s", None)
        if not state.done:
            return None
        self.reason = state.reason
        self.close()  # decided: its face-mesh graph (~30 MB) is not needed any more
        return bool(state.passed)

    def close(self) -> None:
        """Release the session's face-mesh graph (once; also for a session dropped before it decided)."""
        close, self._close = getattr(self, "_close", getattr(self.session, "close", None)), None
        if close is not None:
            close()


def build_engines(*, liveness: str = "auto", seed: int | None = None) -> Engines:
    """The kiosk's engines from ``biometrics`` (:class:`EnginesUnavailable` without it).

    ``liveness``: "auto" (the active challenge) or "off" (no liveness step: ``sources["liveness"]``
    says so and a warning is logged). ``seed``: the challenges come from a seeded sequence so a
    recorded traveller can be replayed (simulations only; a kiosk draws them from the system's CSPRNG)."""
    if liveness not in LIVENESS_MODES:
        raise ValueError(f"liveness must be one of {', '.join(LIVENESS_MODES)}, not {liveness!r} (the simulator's "
                         "head-movement check is kiosk.testing.with_head_movement_liveness)")
    bface, bfinger = _engines()

    def face_quality(img):
        return face_check_from_report(bface.assess_quality(img, purpose="enrolment"))

    def face_template(img) -> bytes:
        return bface.extract_template(img).to_bytes()

    def face_verify(chip_image: bytes, template: bytes) -> tuple[float, float]:
        # the chip's portrait (JPEG / JPEG 2000) against the live template, at the calibrated threshold
        result = bface.verify_templates(bface.reference_template(chip_image), [bface.FaceTemplate.from_bytes(template)])
        return float(result.score), float(result.threshold)

    seeds = itertools.count(seed) if seed is not None else None

    def liveness_factory():
        return _RealLiveness(bface.LivenessSession(rng=next(seeds) if seeds is not None else None))

    assessed: dict[int, object] = {}  # quality the slap segmenter already measured, by image id

    def finger_quality(img, dpi):
        report = assessed.pop(id(img), None)
        return finger_check_from_report(report if report is not None else bfinger.assess_quality(img, dpi=dpi))

    def segment_slap(img, dpi, hand):
        parts = list(bfinger.segment_slap(img, hand=hand, dpi=dpi))
        parts.sort(key=lambda p: getattr(p, "position", 0))  # index finger first, as the task lists them
        assessed.clear()
        out = []
        for p in parts:
            image = np.asarray(getattr(p, "image", p))
            if getattr(p, "quality", None) is not None:
                assessed[id(image)] = p.quality
            out.append(image)
        return out

    def finger_template(img, dpi, position):
        return "iso19794_2", bfinger.FingerprintTemplate(img, dpi=dpi, position=position).to_bytes()

    sources = dict.fromkeys(("face_quality", "face_template", "face_verify", "finger_quality", "segment_slap",
                             "finger_template"), "biometrics")
    sources["liveness"] = "biometrics" if liveness == "auto" else "off"
    if liveness == "off":
        log.warning("enrolment engines: liveness is OFF (no presentation-attack check at this kiosk)")
    engines = Engines(face_quality, face_template, finger_quality, finger_template, segment_slap,
                      liveness_factory if liveness == "auto" else None, face_verify=face_verify, name="biometrics",
                      sources=sources, finger_threshold=float(bfinger.PASS_SCORE))
    log.info("enrolment engines: %s", sources)
    return engines


def engine_sources(engines: Engines) -> dict[str, str]:
    return dict(engines.sources)
