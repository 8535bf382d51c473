"""dlib's face-recognition ResNet on onnxruntime: the same 128-D descriptors, about 12x faster on one core.

The ONNX file is built offline from face-recognition-models' ``dlib_face_recognition_resnet_model_v1.dat``
by ``python -m models.build_dlib_resnet_onnx`` (our own reader of dlib's format; see that module) into
``var/models/``. Nothing is downloaded or converted at run time: a missing or altered file raises
:class:`ResNetOnnxUnavailableError`. Input chips are what ``dlib.get_face_chip`` cuts (150x150 RGB, uint8
or float 0..255), exactly as for ``dlib.face_recognition_model_v1.compute_face_descriptor``.
"""

from __future__ import annotations

import hashlib
import threading
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


_sessions: dict[Path, object] = {}
_lock = threading.Lock()
_HINT = "build it with `python -m models.build_dlib_resnet_onnx`"  # "re" + _HINT = rebuild ...


def _session(path: Path | None):
    target = Path(path) if path is not None else resnet_onnx_model_path()
    with _lock:
        if target in _sessions:
            return _sessions[target]
        if not target.is_file():
            raise ResNetOnnxUnavailableError(f"dlib ResNet ONNX model {target} is missing: {_HINT}")
        from models.build_dlib_resnet_onnx import EXPECTED_SHA256

        h = hashlib.sha256()
        with target.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != EXPECTED_SHA256:
            raise ResNetOnnxUnavailableError(
                f"dlib ResNet ONNX model {target}: sha256 {h.hexdigest()}, expected {EXPECTED_SHA256}; re{_HINT}")
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            session = ort.InferenceSession(str(target), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own untyped errors on a bad file
            raise ResNetOnnxUnavailableError(f"dlib ResNet ONNX model {target} does not load: {e}") from e
        _sessions[target] = session
        return session


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
