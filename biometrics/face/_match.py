"""1:1 comparison and the verification decision, with named thresholds and multi-frame fusion.

``compare`` is the cosine similarity of two unit-norm templates (higher = same person; 1.0 for
identical templates). The decision compares a score with a named threshold from
:data:`THRESHOLDS`, each calibrated on lfw-dev for a target false-match rate (FMR, ISO/IEC
19795-1): ``"fmr_1e-2"`` (1 %), ``"fmr_1e-3"`` (0.1 %), ``"fmr_5e-4"`` (0.05 %, the EU EES target
for automated border control). ``python -m biometrics.face.evaluation._calibration --lfw DIR`` recalibrates.

A live capture gives several frames. :func:`verify` templates every frame that holds exactly one
usable face and fuses the frame scores by the calibrated frame rule (``_fusion.FRAME_RULE``, e.g. the
mean of the best ``k`` frame scores, k = 3: one blinked or blurred frame does not sink a genuine
traveller, and averaging several frames, instead of taking the single maximum, keeps the impostor
score distribution close to the single-comparison one that the thresholds were calibrated on).
:class:`~biometrics.face.FrameFusion` decides frame by frame and asks for more good frames while the
fused score is near the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ._align import face_chip
from ._detect import (
    MIN_INTER_EYE_DISTANCE,
    FaceDetection,
    FaceError,
    MultipleFacesError,
    NoFaceError,
    as_rgb,
    detect_faces,
    detect_single_face,
)
from ._template import FaceTemplate, extract_template, second_part_check, templates_from_chips, templates_of
from ._thresholds import THRESHOLDS, THRESHOLDS_DLIB

__all__ = ["THRESHOLDS", "THRESHOLDS_DLIB", "DEFAULT_THRESHOLD", "FUSION_TOP_K", "FaceVerification", "compare", "verify",
           "threshold_value", "reference_template", "probe_template", "verify_templates", "fuse", "fuse_with"]

DEFAULT_THRESHOLD = "fmr_5e-4"
FUSION_TOP_K = 3
PROBE_FLIP = True
#: Live frames' SFace part is not mirror-averaged (references' is): measured on lfw-dev (chip protocol,
#: fused, FNMR at FMR 5e-4) it gives the same 1.0 % and saves one SFace pass (~31 ms) per frame.
PROBE_SFACE_FLIP = False


@dataclass(frozen=True)
class FaceVerification:
    """The outcome of a 1:1 verification: fused ``score`` vs the named ``threshold``.

    ``per_frame_scores`` has one entry per live frame: its score, or ``None`` when the frame was not
    usable (its reason is in ``frame_errors`` under the frame's index).
    """

    score: float
    threshold_name: str
    threshold: float
    matched: bool
    frames_used: int
    per_frame_scores: tuple[float | None, ...]
    frame_errors: dict[int, str] = field(default_factory=dict)
    models: str = "dlib"  # "dlib+sface" when the scores are fused


def compare(a: FaceTemplate, b: FaceTemplate) -> float:
    """Similarity of two templates; higher = same person.

    dlib-only templates (or one of them): the cosine of the 128-D embeddings, in [-1, 1]. Both with an
    SFace part: score fusion on the same scale, ``m + s * ((1 - w) z_dlib + w z_sface)``, each cosine
    z-normalised by its impostor mean and deviation on lfw-dev and ``(m, s)`` dlib's, so a fused score
    reads like a dlib cosine (w = 0.6; see ``_sface``). A version 2 template's FaceNet part is not
    scored: such pairs compare by the dlib cosine. Use :func:`is_fused` to pick the thresholds
    (:func:`threshold_value`)."""
    if not isinstance(a, FaceTemplate) or not isinstance(b, FaceTemplate):
        raise TypeError("compare() takes two FaceTemplate objects")
    cos_dlib = float(np.clip(np.dot(a.vector, b.vector), -1.0, 1.0))
    if not is_fused(a, b):
        return cos_dlib
    cos_sface = float(np.clip(np.dot(a.sface, b.sface), -1.0, 1.0))
    return fuse(cos_dlib, cos_sface)


def is_fused(a: FaceTemplate, b: FaceTemplate) -> bool:
    """Whether :func:`compare` fuses the two templates' scores (both carry SFace embeddings)."""
    return a.sface is not None and b.sface is not None


def fuse(cos_dlib, cos_sface):  # noqa: ANN001, ANN201 - floats or arrays alike
    """The fused score of dlib and SFace cosines, on dlib's cosine scale (see :func:`compare`)."""
    from ._thresholds import FUSION

    return fuse_with(cos_dlib, cos_sface, FUSION["weight"], FUSION["impostor_stats"])


def fuse_with(cos_dlib, cos_sface, weight: float, stats: dict):  # noqa: ANN001, ANN201
    """:func:`fuse` with given parameters (the calibration fits them): ``stats`` maps "dlib" and "sface"
    to their impostor (mean, deviation)."""
    (md, sd), (ms, ss) = stats["dlib"], stats["sface"]
    z = (1 - weight) * (cos_dlib - md) / sd + weight * (cos_sface - ms) / ss
    return md + sd * z


def threshold_value(threshold: str | float, *, fused: bool = True) -> tuple[str, float]:
    """(name, value) of a named threshold for fused (default) or dlib-only scores; a float is
    accepted as a custom threshold named ``"custom"``."""
    if isinstance(threshold, str):
        table = THRESHOLDS if fused else THRESHOLDS_DLIB
        if threshold not in table:
            raise KeyError(f"unknown threshold {threshold!r}; known: {', '.join(table)}")
        return threshold, float(table[threshold])
    return "custom", float(threshold)


def reference_template(reference: FaceTemplate | np.ndarray | bytes) -> FaceTemplate:
    """The template of a reference: a template, its bytes, an RGB image, or image bytes (e.g. DG2 JPEG 2000).

    A portrait's subject is its one usable face, or its dominant one (see :func:`_portrait_template`)."""
    if isinstance(reference, FaceTemplate):
        return reference
    if isinstance(reference, bytes | bytearray | memoryview):
        data = bytes(reference)
        if data[:4] == b"SBFT":
            return FaceTemplate.from_bytes(data)
        from ._detect import load_image

        return _portrait_template(load_image(data))
    return _portrait_template(as_rgb(reference))


def _portrait_template(rgb: np.ndarray) -> FaceTemplate:
    """The template of a reference portrait's subject: its one usable face, or, when the photo also
    shows someone smaller in the background, the dominant face (1.5x the next one's inter-eye distance).
    Comparable faces are :class:`MultipleFacesError`: which one is the holder cannot be told."""
    try:
        return extract_template(rgb)
    except MultipleFacesError:
        faces = sorted((f for f in detect_faces(rgb) if f.inter_eye_distance >= MIN_INTER_EYE_DISTANCE),
                       key=lambda f: -f.inter_eye_distance)
        if len(faces) >= 2 and faces[0].inter_eye_distance >= 1.5 * faces[1].inter_eye_distance:
            return extract_template(rgb, faces[0])
        raise


def verify(reference: FaceTemplate | np.ndarray | bytes, live_frames: Sequence[np.ndarray], *,
           threshold: str | float = DEFAULT_THRESHOLD, top_k: int = FUSION_TOP_K,
           detections: Sequence[FaceDetection | None] | None = None,
           probe_flip: bool = PROBE_FLIP, rule: str | None = None) -> FaceVerification:
    """Is the person in ``live_frames`` the one of ``reference``? Multi-frame fusion, named threshold.

    Frames without exactly one usable face are skipped (their reason is recorded). When no frame is
    usable the error is raised: :class:`~biometrics.face.MultipleFacesError` if any frame showed
    several people (a tailgating cue the gate must see), otherwise that of the last frame.

    ``detections`` (one per frame, e.g. ``QualityReport.face`` from the quality check that already
    found the face) skips the detector for those frames; ``None`` entries are detected here.
    ``probe_flip`` averages each live template's dlib part with its mirror's, as references are (twice
    the network time per frame; the thresholds are calibrated for the default); the SFace part of a
    live template is never mirror-averaged (``PROBE_SFACE_FLIP``).
    ``rule`` is the frame rule (default the calibrated ``_fusion.FRAME_RULE``; see :func:`verify_templates`).
    """
    ref = reference_template(reference)
    if isinstance(live_frames, np.ndarray) and live_frames.ndim == 3:
        live_frames = [live_frames]
    frames = list(live_frames)
    given = list(detections) if detections is not None else [None] * len(frames)
    if len(given) != len(frames):
        raise ValueError(f"{len(given)} detections for {len(frames)} frames")
    errors: dict[int, str] = {}
    last_error: FaceError | None = None
    multiple: MultipleFacesError | None = None
    faces: dict[int, tuple[np.ndarray, FaceDetection]] = {}
    for i, frame in enumerate(frames):
        try:
            rgb = as_rgb(frame)
            if given[i] is not None:
                det = given[i]
                _alone(rgb)
            else:
                det = detect_single_face(rgb)
            face_chip(rgb, det)  # a face the aligner or FaceNet cannot use is this frame's error, found here
            if ref.sface is not None:
                second_part_check(rgb, det)
            faces[i] = (rgb, det)
        except FaceError as e:
            errors[i] = f"{type(e).__name__}: {e}"
            last_error = e
            if isinstance(e, MultipleFacesError):
                multiple = e
    # one network batch for every usable frame (the SFace part only when the reference has one)
    if ref.sface is not None:
        made = templates_of(list(faces.values()), flip=probe_flip, sface_flip=PROBE_SFACE_FLIP)
    else:
        made = templates_from_chips([face_chip(rgb, det) for rgb, det in faces.values()], flip=probe_flip)
    templates = dict(zip(faces, made, strict=True))
    if not templates:
        if multiple is not None:
            raise multiple
        if last_error is not None:
            raise last_error
        raise NoFaceError("no live frame given")
    result = verify_templates(ref, [templates.get(i) for i in range(len(frames))], threshold=threshold, top_k=top_k,
                              rule=rule)
    return replace(result, frame_errors=errors)


def probe_template(frame: np.ndarray, detection: FaceDetection | None = None, *,
                   probe_flip: bool = PROBE_FLIP, check_others: bool = True) -> FaceTemplate:
    """The template of one live frame's face (``detection``, e.g. ``QualityReport.face``, or the one
    face found here), as :func:`verify` makes it: for pipelines that template each frame as it
    arrives and decide with :func:`verify_templates`. With a given detection the frame is still
    searched for a second person (MTCNN; :class:`MultipleFacesError`) unless ``check_others`` is
    False (a caller that checks one frame per capture)."""
    rgb = as_rgb(frame)
    if detection is not None:
        if check_others:
            _alone(rgb)
        det = detection
    else:
        det = detect_single_face(rgb)
    second_part_check(rgb, det)
    return templates_of([(rgb, det)], flip=probe_flip, sface_flip=PROBE_SFACE_FLIP)[0]


#: faces at least this large (box side, pixels) are searched for beside the traveller's: a face with
#: the matcher's minimum inter-eye distance (24 px) has a box of about 55 px
_OTHERS_MIN_FACE = 40


def _alone(rgb: np.ndarray) -> None:
    """Raise :class:`MultipleFacesError` when the frame shows more than one usable face (the MTCNN
    detector, as :func:`detect_single_face` counts them): a face found by another detector (the
    quality check's face mesh) does not prove there is no second person at the lane."""
    usable = [f for f in detect_faces(rgb, min_face=_OTHERS_MIN_FACE)
              if f.inter_eye_distance >= MIN_INTER_EYE_DISTANCE]
    if len(usable) > 1:
        raise MultipleFacesError(f"{len(usable)} faces found; exactly one person must face the camera",
                                 count=len(usable))


def verify_templates(reference: FaceTemplate | np.ndarray | bytes, probes: Sequence[FaceTemplate | None], *,
                     threshold: str | float = DEFAULT_THRESHOLD, top_k: int = FUSION_TOP_K,
                     rule: str | None = None, qualities: Sequence[float | None] | None = None) -> FaceVerification:
    """The decision of :func:`verify` from live templates already made (``None`` = an unusable frame).

    ``rule`` is the frame rule (``_fusion.FRAME_RULES``; default the calibrated ``FRAME_RULE``; ``top_k``
    is the k of ``"best_k_mean"``), ``qualities`` one quality per probe for ``"quality_mean"``."""
    from ._fusion import FRAME_RULE, fuse_frame_scores, mean_template

    rule = FRAME_RULE if rule is None else rule
    ref = reference_template(reference)
    probes = list(probes)
    scores: list[float | None] = [compare(ref, t) if t is not None else None for t in probes]
    if not any(s is not None for s in scores):
        raise NoFaceError("no usable live template")
    if rule == "template_mean":
        score = compare(ref, mean_template(probes))
    else:
        score = fuse_frame_scores(scores, qualities, rule=rule, k=top_k)
    usable = [s for s in scores if s is not None]
    fused = all(is_fused(ref, t) for t in probes if t is not None)
    name, value = threshold_value(threshold, fused=fused)
    return FaceVerification(score=score, threshold_name=name, threshold=value, matched=score >= value,
                            frames_used=len(usable), per_frame_scores=tuple(scores),
                            models="dlib+sface" if fused else "dlib")
