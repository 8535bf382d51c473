"""Wire the enrolment engines: ``biometrics`` where it provides a function, the fallback otherwise.

Looked up by name at start-up (the biometrics package is optional at import time):
``biometrics.face.assess_quality(image, purpose="enrolment")``, ``biometrics.face.extract_template``,
``biometrics.face.LivenessSession``, ``biometrics.finger.assess_quality(image, dpi)``,
``biometrics.finger.segment_slap``, ``biometrics.finger.FingerprintTemplate(image, dpi=...)``.
"""

from __future__ import annotations

import importlib
import logging

import numpy as np

from enrollment import Engines, face_check_from_report, finger_check_from_report
from kiosk import _fallback as fb

__all__ = ["build_engines", "engine_sources"]

log = logging.getLogger("kiosk")


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _vector(template) -> list[float]:
    for attr in ("vector", "embedding", "values"):
        v = getattr(template, attr, None)
        if v is not None:
            return [float(x) for x in np.asarray(v, dtype=np.float64).ravel()]
    try:
        return [float(x) for x in np.asarray(template, dtype=np.float64).ravel()]
    except (TypeError, ValueError):
        raw = template.to_bytes()
        return [float(x) for x in np.frombuffer(raw[len(raw) % 4:], dtype="<f4")]


class _RealLiveness:
    """Adapts ``biometrics.face.LivenessSession`` (``feed(frame, t) -> LivenessState``) to enrollment.Liveness."""

    def __init__(self, session) -> None:
        import time

        self.session = session
        self._clock = time.monotonic
        self.challenge = "liveness.look_at_camera"
        self.reason: str | None = None

    def observe(self, frame: np.ndarray) -> bool | None:
        state = self.session.feed(frame, self._clock())
        if state.instruction_key:
            self.challenge = f"liveness.{state.instruction_key}"
        if not state.done:
            return None
        self.reason = state.reason
        return bool(state.passed)


def build_engines(prefer: str = "auto", *, liveness: str = "auto") -> Engines:
    """``prefer``: "auto" (biometrics where available), "fallback" (never biometrics).
    ``liveness``: "auto", "fallback" (the head-movement check, for a simulated camera that cannot
    perform the real challenges), or "off"."""
    bface = _module("biometrics.face") if prefer != "fallback" else None
    bfinger = _module("biometrics.finger") if prefer != "fallback" else None
    det = fb.FaceDetector()
    sources = {}

    fq = getattr(bface, "assess_quality", None)
    if fq is not None:
        def face_quality(img, _fq=fq):
            return face_check_from_report(_fq(img, purpose="enrolment"))
        sources["face_quality"] = "biometrics"
    else:
        face_quality = fb.HaarFaceQuality(det)
        sources["face_quality"] = "fallback"

    ft = getattr(bface, "extract_template", None)
    if ft is not None:
        def face_template(img, _ft=ft):
            return _vector(_ft(img))
        sources["face_template"] = "biometrics"
    else:
        face_template = fb.DlibFaceTemplate(det)
        sources["face_template"] = "fallback"

    ls = getattr(bface, "LivenessSession", None) if liveness == "auto" else None
    if liveness == "off":
        liveness_factory = None
        sources["liveness"] = "off"
    elif ls is not None:
        def liveness_factory(_ls=ls):
            return _RealLiveness(_ls())
        sources["liveness"] = "biometrics"
    else:
        def liveness_factory():
            return fb.MotionLiveness(det)
        sources["liveness"] = "fallback"

    gq = getattr(bfinger, "assess_quality", None)
    seg = getattr(bfinger, "segment_slap", None)
    assessed: dict[int, object] = {}  # quality the slap segmenter already measured, by image id

    if gq is not None:
        def finger_quality(img, dpi, _gq=gq):
            report = assessed.pop(id(img), None)
            return finger_check_from_report(report if report is not None else _gq(img, dpi=dpi))
        sources["finger_quality"] = "biometrics"
    else:
        finger_quality = fb.finger_quality
        sources["finger_quality"] = "fallback"

    if seg is not None:
        def segment_slap(img, dpi, hand, _seg=seg):
            parts = list(_seg(img, hand=hand, dpi=dpi))
            parts.sort(key=lambda p: getattr(p, "position", 0))  # index finger first, as the task lists them
            assessed.clear()
            out = []
            for p in parts:
                image = np.asarray(getattr(p, "image", p))
                if getattr(p, "quality", None) is not None:
                    assessed[id(image)] = p.quality
                out.append(image)
            return out
        sources["segment_slap"] = "biometrics"
    else:
        segment_slap = fb.segment_slap
        sources["segment_slap"] = "fallback"

    tmpl = getattr(bfinger, "FingerprintTemplate", None)
    if tmpl is not None:
        def finger_template(img, dpi, position, _t=tmpl):
            return "iso19794_2", _t(img, dpi=dpi, position=position).to_bytes()
        sources["finger_template"] = "biometrics"
    else:
        finger_template = fb.orientation_template
        sources["finger_template"] = "fallback"

    kinds = set(sources.values())
    name = kinds.pop() if len(kinds) == 1 else "mixed"
    engines = Engines(face_quality, face_template, finger_quality, finger_template, segment_slap, liveness_factory,
                      name=name, sources=sources)
    log.info("enrolment engines: %s", sources)
    return engines


def engine_sources(engines: Engines) -> dict[str, str]:
    return dict(engines.sources)
