"""dlib's face-recognition ResNet on onnxruntime: the same 128-D descriptors, about 12x faster on one core.

The ONNX file is built offline from face-recognition-models' ``dlib_face_recognition_resnet_model_v1.dat``
by ``python -m models.build_dlib_resnet_onnx`` (our own reader of dlib's format; see that module) into
``var/models/``. Nothing is downloaded or converted at run time: a missing or altered file raises
:class:`ResNetOnnxUnavailableError`. Input chips are what ``dlib.get_face_chip`` cuts (150x150 RGB, uint8
or float 0..255), exactly as for ``dlib.face_recognition_model_v1.compute_face_descriptor``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._detect import FaceError

__all__ = ["RESNET_DIM", "RESNET_CHIP_SIZE", "ResNetOnnxUnavailableError", "resnet_onnx_model_path", "descriptors"]

RESNET_DIM = 128
RESNET_CHIP_SIZE = 150


class ResNetOnnxUnavailableError(FaceError):
    """The dlib ResNet ONNX file is missing, altered or does not load; rebuild it with the converter."""


def resnet_onnx_model_path() -> Path:
    """Where ``python -m models.build_dlib_resnet_onnx`` writes the model (``var/models/dlib_resnet_v1.onnx``)."""
    from models.build_dlib_resnet_onnx import DEFAULT_OUT

    return DEFAULT_OUT


def _session(path: Path | None):
    """The onnxruntime session (one per file and process), after checking the file's sha256."""
    from models.build_dlib_resnet_onnx import EXPECTED_SHA256

    from ._onnx import onnx_session

    target = Path(path) if path is not None else resnet_onnx_model_path()
    return onnx_session(target, sha256=EXPECTED_SHA256, error=ResNetOnnxUnavailableError, what="dlib ResNet ONNX model",
                        builder="models.build_dlib_resnet_onnx")


def descriptors(chips: Sequence[np.ndarray], *, model: Path | None = None, batch: int = 8) -> np.ndarray:
    """(N, 128) float32: dlib's face descriptor of each 150x150 RGB chip (not normalised, as dlib returns it).

    Raises :class:`FaceError` for a chip of the wrong shape and :class:`ResNetOnnxUnavailableError` when the
    model file is missing. An empty list gives a (0, 128) array without loading the model.
    """
    arrays = []
    for i, chip in enumerate(chips):
        a = np.asarray(chip)
        if a.shape != (RESNET_CHIP_SIZE, RESNET_CHIP_SIZE, 3):
            raise FaceError(f"chip {i} has shape {a.shape}, expected ({RESNET_CHIP_SIZE}, {RESNET_CHIP_SIZE}, 3) RGB")
        arrays.append(a)
    out = np.zeros((len(arrays), RESNET_DIM), dtype=np.float32)
    if not arrays:
        return out
    session = _session(model)
    for start in range(0, len(arrays), max(1, batch)):
        x = np.stack(arrays[start:start + batch]).astype(np.float32, copy=False)
        out[start:start + len(x)] = session.run(None, {"chips": x})[0]
    return out
