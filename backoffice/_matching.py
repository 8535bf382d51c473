"""The biometric engines as the back office uses them: template formats, comparisons, thresholds.

The back office accepts a closed set of template formats and compares them with the engines' own
functions and calibrated thresholds, never with numbers of its own:

- face: the face engine's versioned template bytes (``biometrics.face.FaceTemplate``, ``SBFT``,
  versions 1-3; version 3 = dlib + SFace), compared by ``biometrics.face.compare`` (score fusion
  when both templates carry SFace, dlib cosine otherwise) against ``THRESHOLDS`` /
  ``THRESHOLDS_DLIB`` under one threshold name;
- fingerprint: ISO/IEC 19794-2:2005 finger minutiae records that ``biometrics.finger`` decodes,
  compared by ``FingerprintMatcher`` (MCC LSA-R scores in [0, 1]) against ``THRESHOLDS``.

:class:`FaceMatching` and :class:`FingerprintMatching` carry the threshold with the matcher; the
entry point's composition builds them with :meth:`from_engine` (``smartborder.compose``). Anything
outside the set is refused with :class:`TemplateRefused` (422, a named reason).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backoffice._errors import Invalid

__all__ = ["DEFAULT_THRESHOLD", "FaceMatching", "FingerprintMatching", "TemplateRefused", "FINGER_FORMAT"]

DEFAULT_THRESHOLD = "fmr_5e-4"
FINGER_FORMAT = "iso19794_2"
_ISO_HEADER = 24  # ISO/IEC 19794-2:2005 §7.1: "FMR\0", " 20\0", 4-byte record length, ...


class TemplateRefused(Invalid):
    """A biometric template outside the accepted formats (or corrupt): ``reason`` names why."""

    slug, title = "template-refused", "Biometric template refused"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason


@dataclass(frozen=True)
class FaceMatching:
    """The face engine's comparison with its calibrated thresholds under one name.

    ``threshold`` applies to fused scores (both templates carry an SFace part), ``threshold_dlib`` to
    dlib-only comparisons (a version 1 or 2 template on either side), as ``biometrics.face`` defines.
    ``shortlist``: how many gallery templates the 1:N pre-filter hands to the exact comparison
    (see :class:`backoffice._galleries.FaceGallery`)."""

    threshold_name: str
    threshold: float
    threshold_dlib: float
    shortlist: int = 512

    def __post_init__(self) -> None:
        for name in ("threshold", "threshold_dlib"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:  # the engine's scores read like cosines
                raise ValueError(f"face {name} {value} is not on the face engine's cosine scale")
        if self.shortlist < 1:
            raise ValueError("shortlist must be positive")

    @classmethod
    def from_engine(cls, threshold_name: str = DEFAULT_THRESHOLD, *, shortlist: int = 512) -> FaceMatching:
        """The calibrated thresholds of ``biometrics.face`` named ``threshold_name`` (``fmr_5e-4``...)."""
        from biometrics.face import THRESHOLDS, THRESHOLDS_DLIB

        if threshold_name not in THRESHOLDS or threshold_name not in THRESHOLDS_DLIB:
            raise KeyError(f"unknown face threshold {threshold_name!r}; known: {', '.join(THRESHOLDS)}")
        return cls(threshold_name, float(THRESHOLDS[threshold_name]), float(THRESHOLDS_DLIB[threshold_name]),
                   shortlist=shortlist)

    @staticmethod
    def parse(data: bytes) -> Any:
        """A ``biometrics.face.FaceTemplate`` from its bytes; :class:`TemplateRefused` otherwise."""
        from biometrics.face import FaceTemplate, TemplateFormatError

        if data[:4] != b"SBFT":
            raise TemplateRefused("face_template is not a face engine template (SBFT bytes)",
                                  reason="face_template_format")
        try:
            return FaceTemplate.from_bytes(data)
        except TemplateFormatError as e:
            raise TemplateRefused(f"face_template: {e}", reason="face_template_format") from e

    @staticmethod
    def compare(a: Any, b: Any) -> float:
        from biometrics.face import compare

        return float(compare(a, b))

    def threshold_for(self, a: Any, b: Any) -> float:
        """The threshold of :meth:`compare`'s score for this pair (fused or dlib-only)."""
        return self.threshold if a.sface is not None and b.sface is not None else self.threshold_dlib


@dataclass(frozen=True)
class FingerprintMatching:
    """The fingerprint engine's matcher with its calibrated thresholds (scores in [0, 1]).

    ``verify_threshold`` decides the gates' 1:1 (``POST /enrolments/verify``), ``duplicate_threshold``
    the enrolment duplicate check; ``threshold_name`` names the calibration point they come from."""

    threshold_name: str
    verify_threshold: float
    duplicate_threshold: float

    def __post_init__(self) -> None:
        for name in ("verify_threshold", "duplicate_threshold"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"fingerprint {name} {value} is not on the fingerprint engine's 0-1 scale")

    @classmethod
    def from_engine(cls, threshold_name: str = DEFAULT_THRESHOLD, *,
                    duplicate_threshold_name: str | None = None) -> FingerprintMatching:
        """``biometrics.finger.THRESHOLDS[threshold_name]`` for the gates' 1:1, and for the duplicate
        check too unless ``duplicate_threshold_name`` names another calibration point."""
        from biometrics.finger import THRESHOLDS

        for name in (threshold_name, duplicate_threshold_name or threshold_name):
            if name not in THRESHOLDS:
                raise KeyError(f"unknown fingerprint threshold {name!r}; known: {', '.join(THRESHOLDS)}")
        return cls(threshold_name, float(THRESHOLDS[threshold_name]),
                   float(THRESHOLDS[duplicate_threshold_name or threshold_name]))

    @staticmethod
    def parse(data: bytes, fmt: str = FINGER_FORMAT, *, what: str = "finger template") -> Any:
        """A ``biometrics.finger.FingerprintTemplate`` from an ISO/IEC 19794-2:2005 record;
        :class:`TemplateRefused` for another format or a record that does not decode."""
        from biometrics.finger import FingerprintTemplate, TemplateFormatError

        if fmt != FINGER_FORMAT:
            raise TemplateRefused(f"{what}: format {fmt!r} is not accepted (only {FINGER_FORMAT!r})",
                                  reason="finger_template_format")
        # the engine also reads ANSI INCITS 378 (same magic): only ISO's 4-byte record length is accepted
        if len(data) < _ISO_HEADER or data[:8] != b"FMR\x00 20\x00" or struct.unpack(">I", data[8:12])[0] != len(data):
            raise TemplateRefused(f"{what} is not an ISO/IEC 19794-2:2005 record", reason="finger_template_format")
        try:
            template = FingerprintTemplate.from_bytes(data)
        except TemplateFormatError as e:
            raise TemplateRefused(f"{what}: {e}", reason="finger_template_format") from e
        if len(template) == 0:
            raise TemplateRefused(f"{what} has no minutiae", reason="finger_template_empty")
        return template

    @staticmethod
    def matcher(probe: Any) -> Any:
        """A ``biometrics.finger.FingerprintMatcher`` for ``probe`` (``.match(candidate) -> score``)."""
        from biometrics.finger import FingerprintMatcher

        return FingerprintMatcher(probe)

    @staticmethod
    def fuse(scores: Sequence[float | None]) -> float:
        """Several fingers' scores in one (the engine's rule: the mean of the fingers compared)."""
        from biometrics.finger import fuse_scores

        return float(fuse_scores(scores))
