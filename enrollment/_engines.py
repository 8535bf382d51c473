"""The biometric engines the workflow needs, as small injected callables (no import of biometrics).

The entry point adapts ``biometrics.face`` / ``biometrics.finger`` into :class:`Engines` (tests hand
in doubles). Results are normalised into :class:`FaceCheck` / :class:`FingerCheck`, whose
``guidance`` holds message keys the kiosk translates (``face.too_dark``, ``finger.press_harder``...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = ["FaceCheck", "FingerCheck", "Liveness", "Engines", "face_check_from_report", "finger_check_from_report"]


@dataclass(frozen=True)
class FaceCheck:
    passed: bool
    guidance: tuple[str, ...] = ()  # message keys, most important first
    measures: dict[str, float] = field(default_factory=dict)
    face_found: bool = True


@dataclass(frozen=True)
class FingerCheck:
    passed: bool
    score: float
    reasons: tuple[str, ...] = ()  # message keys


class Liveness(Protocol):
    """A liveness challenge: ``challenge`` is a message key ("liveness.turn_left"...); ``observe``
    returns None while undecided, then True (live) or False (failed)."""

    challenge: str

    def observe(self, frame: np.ndarray, t: float | None = None) -> bool | None:
        """One frame; ``t`` its capture time on the camera's clock (seconds), None: now.

        Optional, where an engine has them: ``time_left_s`` / ``timeout_s`` (the current challenge's countdown,
        read after ``observe``) and ``shown(challenge, t)`` (the screen showed it at ``t``: its time runs from
        then); the workflow works without them."""


@dataclass
class Engines:
    """``face_quality(rgb)``, ``face_template(rgb) -> bytes`` (the face engine's whole template,
    ``biometrics.face.FaceTemplate.to_bytes()``, as the back office accepts it), ``finger_quality(gray, dpi)``,
    ``finger_template(gray, dpi, position) -> (format, bytes)`` (``"iso19794_2"``, an ISO/IEC 19794-2
    record), ``segment_slap(gray, dpi, hand) -> [gray, ...]`` (hand "right"/"left"; index to little finger),
    ``liveness() -> Liveness`` (None = no liveness step), ``face_verify(chip_image, live_template) ->
    (score, threshold)`` (the live face 1:1 against the chip's DG2 photo, the engine's calibrated threshold;
    None = no such check, and a kiosk whose policy requires it refers every traveller)."""

    face_quality: Callable[[np.ndarray], FaceCheck]
    face_template: Callable[[np.ndarray], bytes]
    finger_quality: Callable[[np.ndarray, int], FingerCheck]
    finger_template: Callable[[np.ndarray, int, int], tuple[str, bytes]]
    segment_slap: Callable[[np.ndarray, int, str], list[np.ndarray]] | None = None
    liveness: Callable[[], Liveness] | None = None
    face_verify: Callable[[bytes, bytes], tuple[float, float]] | None = None
    name: str = "custom"
    sources: dict[str, str] = field(default_factory=dict)  # which implementation backs each callable
    #: the score from which ``finger_quality`` accepts an impression (the engine's own threshold; None: not
    #: known). The kiosk grades quality against it in words (poor / acceptable / good), never as a number.
    finger_threshold: float | None = None


def _key(item: Any, prefix: str) -> str:
    key = getattr(item, "guidance_key", None) or getattr(item, "key", None) or (item if isinstance(item, str) else None)
    key = str(key or "retry")
    return key if key.startswith(prefix) else f"{prefix}{key}"


def face_check_from_report(report: Any) -> FaceCheck:
    """Normalise a quality report into a :class:`FaceCheck`: ``passed``, ``guidance_keys`` (or
    ``guidance`` items carrying a ``guidance_key``), ``measures`` (a dict, or a list of objects with
    ``name`` and ``value``) and an overall ``score``."""
    guidance = getattr(report, "guidance_keys", None)
    if guidance is None:
        guidance = getattr(report, "guidance", ()) or ()
    if isinstance(guidance, str | bytes) or hasattr(guidance, "guidance_key"):
        guidance = [guidance]
    measures = getattr(report, "measures", {}) or {}
    if isinstance(measures, list | tuple):
        measures = {getattr(m, "name", str(i)): getattr(m, "value", 0.0) for i, m in enumerate(measures)}
    elif not isinstance(measures, dict):
        measures = dict(getattr(measures, "__dict__", {}))
    clean = {k: float(v) for k, v in measures.items() if isinstance(v, int | float | np.floating | np.integer)}
    if isinstance(getattr(report, "score", None), int | float):
        clean.setdefault("score", float(report.score))
    keys = tuple(_key(g, "face.") for g in guidance)
    found = getattr(report, "face_found", None)
    if found is None:
        found = "face.face_not_found" not in keys and bool(clean.get("faces", 1))
    return FaceCheck(bool(report.passed), keys, clean, bool(found))


def finger_check_from_report(report: Any) -> FingerCheck:
    reasons = getattr(report, "reasons", ()) or ()
    return FingerCheck(bool(report.passed), float(getattr(report, "score", 0.0)),
                       tuple(_key(r, "finger.") for r in reasons))
