"""Face detection, quality, liveness and 1:1 verification.

This file has two sections, each owned by one part of the engine; edit only your own.
"""

from __future__ import annotations

__all__: list[str] = []

# ===== section: detection, templates and matching =====
# Nothing heavy here: every model loads on first use (models.model_path checks its sha256).
from ._align import face_chip, icao_crop  # noqa: E402
from ._detect import (  # noqa: E402
    DEFAULT_DETECTOR,
    DETECTORS,
    MIN_INTER_EYE_DISTANCE,
    FaceDetection,
    FaceError,
    FaceTooSmallError,
    ImageDecodeError,
    MultipleFacesError,
    NoFaceError,
    detect_faces,
    detect_single_face,
    load_image,
)
from ._dg2 import DG2_HEIGHT, DG2_MAX_BYTES, DG2_WIDTH, decode_reference_dg2_image, encode_reference_dg2_image  # noqa: E402
from ._fusion import FrameDecision, FrameFusion, near_threshold  # noqa: E402
from ._match import (  # noqa: E402
    THRESHOLDS,
    THRESHOLDS_DLIB,
    FaceVerification,
    compare,
    probe_template,
    reference_template,
    verify,
    verify_templates,
)
from ._template import FaceTemplate, TemplateFormatError, extract_template  # noqa: E402

__all__ += [
    "DEFAULT_DETECTOR", "DETECTORS", "MIN_INTER_EYE_DISTANCE", "FaceDetection", "FaceError", "NoFaceError",
    "MultipleFacesError", "FaceTooSmallError", "ImageDecodeError", "detect_faces", "detect_single_face",
    "load_image", "face_chip", "icao_crop", "FaceTemplate", "TemplateFormatError", "extract_template",
    "compare", "THRESHOLDS", "THRESHOLDS_DLIB", "verify", "FaceVerification", "reference_template", "probe_template",
    "verify_templates", "FrameFusion", "FrameDecision", "near_threshold",
    "DG2_WIDTH", "DG2_HEIGHT", "DG2_MAX_BYTES", "encode_reference_dg2_image", "decode_reference_dg2_image",
]
# ===== end of section: detection, templates and matching =====

# ===== section: quality and liveness =====
from ._liveness import (  # noqa: E402
    CHALLENGE_KINDS,
    INSTRUCTIONS,
    ActiveChallenge,
    ChallengeOutcome,
    LivenessError,
    LivenessResult,
    LivenessSession,
    LivenessState,
    check_liveness,
)
from ._mesh import FaceMesher, FaceMeshResult, FaceMeshUnavailableError, FrameError, HeadPose  # noqa: E402
from ._passive import (  # noqa: E402
    MIN_FACE_FRAMES,
    PASSIVE_THRESHOLDS,
    PassiveLiveness,
    PassiveLivenessError,
    PassiveLivenessSession,
    assess_passive_liveness,
)
from ._quality import GUIDANCE, PURPOSES, QualityMeasure, QualityReport, UnknownPurposeError, assess_quality  # noqa: E402

__all__ += [
    "FaceMesher", "FaceMeshResult", "FaceMeshUnavailableError", "FrameError", "HeadPose",
    "GUIDANCE", "PURPOSES", "QualityMeasure", "QualityReport", "UnknownPurposeError", "assess_quality",
    "CHALLENGE_KINDS", "INSTRUCTIONS", "ActiveChallenge", "ChallengeOutcome", "LivenessError", "LivenessResult",
    "LivenessSession", "LivenessState", "check_liveness",
    "MIN_FACE_FRAMES", "PASSIVE_THRESHOLDS", "PassiveLiveness", "PassiveLivenessError", "PassiveLivenessSession",
    "assess_passive_liveness",
]
# ===== end of section: quality and liveness =====
