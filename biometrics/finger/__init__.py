"""Fingerprint quality, minutiae, ISO templates and matching.

    >>> t = FingerprintTemplate(image, dpi=500)              # doctest: +SKIP
    >>> FingerprintMatcher(t).match(other) >= THRESHOLDS["fmr_1e-3"]   # doctest: +SKIP

Pipeline: segmentation, gradient orientation field, STFT contextual enhancement (ridge
frequency from the local spectrum), thinning, crossing-number minutiae with type, direction and
quality; Minutia Cylinder-Code matching with LSA-R relaxation; ISO/IEC 19794-2:2005 records
(ANSI INCITS 378-2004 import); NFIQ 2-style quality; four-finger slap segmentation; finger images as
WSQ and ISO/IEC 19794-4:2005 records (decode and write).
"""

from ._errors import (
    FingerImageError,
    FingerImageFormatError,
    FingerprintError,
    SlapSegmentationError,
    TemplateFormatError,
)
from ._image_record import (
    FingerImageData,
    decode_wsq,
    encode_wsq,
    finger_image_record,
    read_finger_image_record,
)
from ._matcher import THRESHOLDS, FingerprintIndex, FingerprintMatcher, fuse_scores, search
from ._minutiae import Minutia
from ._quality import PASS_SCORE, FingerQuality, nfiq2_forest_score
from ._quality import assess as assess_quality
from ._slap import FingerImage, segment_slap
from ._template import FingerprintTemplate

__all__ = [
    "FingerprintTemplate",
    "Minutia",
    "FingerprintMatcher",
    "FingerprintIndex",
    "THRESHOLDS",
    "search",
    "fuse_scores",
    "assess_quality",
    "FingerQuality",
    "PASS_SCORE",
    "nfiq2_forest_score",
    "segment_slap",
    "FingerImage",
    "FingerprintError",
    "FingerImageError",
    "TemplateFormatError",
    "SlapSegmentationError",
    "FingerImageFormatError",
    "FingerImageData",
    "decode_wsq",
    "encode_wsq",
    "read_finger_image_record",
    "finger_image_record",
]
