"""The gate's face engine port: the functions :class:`gate.FaceStep` needs, taken from ``biometrics.face`` by
:meth:`FaceEngine.default` (tests and benches hand in their own)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gate._workflow import StepError

__all__ = ["FaceEngine", "FaceNotAcquired", "decode_image", "encode_jpeg"]


def decode_image(data: bytes) -> np.ndarray:
    """JPEG / JPEG 2000 / PNG bytes -> RGB array."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def encode_jpeg(frame: np.ndarray, quality: int = 90) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class FaceNotAcquired(Exception):
    """The engine found no usable face in the live frames; ``faces`` > 1 when several people were in
    front of the camera (a tailgating cue)."""

    def __init__(self, message: str, faces: int = 0) -> None:
        super().__init__(message)
        self.faces = faces


@dataclass
class FaceEngine:
    """The face functions the gate needs (its engine port); :meth:`default` takes them from ``biometrics.face``.

    ``quality(frame) -> report`` with ``.passed``, ``.score`` and ``.guidance``;
    ``verify(reference_rgb, frames[, detections=...]) -> result`` with ``.score``, ``.threshold``,
    ``.matched``, raising :class:`FaceNotAcquired` when no live frame has exactly one usable face;
    ``session()`` -> an active liveness session fed frame by frame (``feed(frame, t)`` -> state with
    ``instruction_key``, ``done``, ``passed``, ``reason``): the lane display shows each instruction;
    ``passive()`` -> a passive PAD session (``feed(frame, t)`` -> verdict with ``score``, ``decision`` in
    :data:`PASSIVE_DECISIONS`, ``reasons``; ``close()``), :class:`biometrics.face.PassiveLivenessSession`.
    """

    quality: Callable[[np.ndarray], Any]
    verify: Callable[[np.ndarray, Sequence[np.ndarray]], Any]
    session: Callable[[], Any] | None = None
    #: the chip photo's template (raises StepError when the photo is unusable), passed to ``verify``/``match``
    reference: Callable[[np.ndarray], Any] | None = None
    #: with ``match``: ``probe(frame, face, check_others) -> template`` per good frame, made on a
    #: worker thread as frames arrive (the first also searched for a second person: FaceNotAcquired
    #: with ``faces`` > 1), and ``match(reference_template, templates) -> result`` (like ``verify``'s)
    probe: Callable[[np.ndarray, Any], Any] | None = None
    match: Callable[[Any, Sequence[Any]], Any] | None = None
    passive: Callable[[], Any] | None = None
    passive_thresholds: dict[str, float] = field(default_factory=dict)  # the PAD module's bands (for the record)
    #: ``near(score, threshold)``: the fused score is too close to decide on (the face module's calibrated band,
    #: ``biometrics.face.near_threshold``); None: within :data:`MATCH_DOUBT_MARGIN`
    near: Callable[[float, float], bool] | None = None

    @classmethod
    def default(cls, *, threshold: str = "fmr_5e-4", active_liveness: bool = False,
                passive_liveness: bool = False) -> FaceEngine:
        from biometrics import face

        def quality(frame):
            return face.assess_quality(frame, purpose="verification")

        def reference(image):
            # the chip photo on its own: a problem there is the document's, never "tailgating"
            try:
                return face.reference_template(image)
            except face.FaceError as e:
                raise StepError(f"chip photo unusable for matching: {type(e).__name__}") from e

        def verify(ref, frames, detections=None):
            ref = reference(ref)  # a template passes through
            try:
                return face.verify(ref, list(frames), threshold=threshold, detections=detections)
            except face.MultipleFacesError as e:
                raise FaceNotAcquired(str(e), faces=e.count) from e
            except face.FaceError as e:
                raise FaceNotAcquired(type(e).__name__) from e

        def probe(frame, detection, check_others=True):
            try:
                return face.probe_template(frame, detection, check_others=check_others)
            except face.MultipleFacesError as e:
                raise FaceNotAcquired(str(e), faces=e.count) from e
            except face.FaceError as e:
                raise FaceNotAcquired(type(e).__name__) from e

        def match(ref, templates):
            return face.verify_templates(ref, templates, threshold=threshold)

        # an active challenge needs a lane display and a live camera; without one configured the
        # gate records liveness as "not checked" (never as passed)
        session = face.LivenessSession if active_liveness else None  # random blink + turn, secure RNG
        passive = face.PassiveLivenessSession if passive_liveness else None
        return cls(quality, verify, session=session, reference=reference, probe=probe, match=match,
                   passive=passive, passive_thresholds=dict(face.PASSIVE_THRESHOLDS) if passive else {},
                   near=getattr(face, "near_threshold", None))
