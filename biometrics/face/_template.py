"""Face templates: dlib's ResNet-29 metric network (face-recognition-models), 128-D, versioned bytes.

The network runs on onnxruntime from ``var/models/dlib_resnet_v1.onnx``, which ``make setup`` converts
from the .dat (``models/build_dlib_resnet_onnx.py``; outputs equal dlib's within 4e-7); without it,
through dlib itself (same templates, ~12x slower).

A template is the L2-normalised mean of the embeddings of the aligned chip and of its mirror image
(flip test-time augmentation: measured on lfw-dev it lowers FNMR at low FMR, see ``bench/face.py``).

Byte format (little endian), version 1::

    magic  b"SBFT"            4 bytes   smartborder face template
    version                   1 byte    = 1
    algorithm                 1 byte    = 1 (dlib ResNet v1, 5-point chip 150 px, flip-averaged)
    dimensions                2 bytes   = 128
    vector                    4*dims    float32, unit norm
    crc32                     4 bytes   of everything before it
"""

from __future__ import annotations

import logging
import struct
import threading
import zlib
from dataclasses import dataclass

import numpy as np

from models import model_path

from ._align import face_chip
from ._detect import FaceDetection, FaceError, as_rgb, detect_single_face

__all__ = ["FaceTemplate", "TemplateFormatError", "extract_template", "templates_from_chips",
           "TEMPLATE_VERSION", "ALGORITHM_DLIB_RESNET_FLIP"]

log = logging.getLogger(__name__)

MAGIC = b"SBFT"
TEMPLATE_VERSION = 1
ALGORITHM_DLIB_RESNET_FLIP = 1
DIMENSIONS = 128
_HEADER = struct.Struct("<4sBBH")


class TemplateFormatError(FaceError):
    """Bytes that are not a face template this version can read (wrong magic, version, length, CRC)."""


@dataclass(frozen=True, eq=False)
class FaceTemplate:
    """A 128-D unit-norm face embedding. Compare two with :func:`biometrics.face.compare`."""

    vector: np.ndarray
    algorithm: int = ALGORITHM_DLIB_RESNET_FLIP

    def __post_init__(self) -> None:
        v = np.asarray(self.vector, dtype=np.float32).reshape(-1)
        if v.shape != (DIMENSIONS,) or not np.isfinite(v).all():
            raise TemplateFormatError(f"a face template is {DIMENSIONS} finite floats, got shape {v.shape}")
        n = float(np.linalg.norm(v))
        if n < 1e-6:
            raise TemplateFormatError("a face template cannot be the zero vector")
        v = v / n
        v.setflags(write=False)
        object.__setattr__(self, "vector", v)

    def to_bytes(self) -> bytes:
        body = _HEADER.pack(MAGIC, TEMPLATE_VERSION, self.algorithm, DIMENSIONS) + self.vector.astype("<f4").tobytes()
        return body + struct.pack("<I", zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes) -> FaceTemplate:
        data = bytes(data)
        if len(data) < _HEADER.size + 4:
            raise TemplateFormatError(f"face template too short ({len(data)} bytes)")
        magic, version, algorithm, dims = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise TemplateFormatError("not a face template (bad magic)")
        if version != TEMPLATE_VERSION:
            raise TemplateFormatError(f"face template version {version} is not supported (expected {TEMPLATE_VERSION})")
        if algorithm != ALGORITHM_DLIB_RESNET_FLIP:
            raise TemplateFormatError(f"face template algorithm {algorithm} is not supported")
        if dims != DIMENSIONS or len(data) != _HEADER.size + 4 * dims + 4:
            raise TemplateFormatError(f"face template length {len(data)} does not match {dims} dimensions")
        (crc,) = struct.unpack_from("<I", data, len(data) - 4)
        if zlib.crc32(data[:-4]) != crc:
            raise TemplateFormatError("face template checksum mismatch (corrupt bytes)")
        vector = np.frombuffer(data, dtype="<f4", count=dims, offset=_HEADER.size).astype(np.float32)
        return cls(vector=vector, algorithm=algorithm)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FaceTemplate) and self.algorithm == other.algorithm and \
            bool(np.array_equal(self.vector, other.vector))

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:  # never print biometric data
        return f"FaceTemplate(algorithm={self.algorithm}, dimensions={DIMENSIONS})"


_lock = threading.Lock()
_net = None


def _resnet():
    global _net
    with _lock:
        if _net is None:
            import dlib

            _net = dlib.face_recognition_model_v1(str(model_path("dlib_face_recognition_resnet")))
        return _net


def _descriptors(batch: list[np.ndarray]) -> np.ndarray:
    """dlib's ResNet descriptors of 150x150 chips: on onnxruntime (the converted model, same outputs,
    ~12x faster), or through dlib when the converted model has not been built."""
    global _onnx_missing
    if not _onnx_missing:
        from ._resnet_onnx import ResNetOnnxUnavailableError, descriptors

        try:
            return descriptors(batch)
        except ResNetOnnxUnavailableError as e:
            _onnx_missing = True
            log.warning("face templates through dlib (slow): %s", e)
    net = _resnet()
    with _lock:
        return np.asarray([np.asarray(v) for v in net.compute_face_descriptor(batch)], dtype=np.float32)


_onnx_missing = False


def templates_from_chips(chips: list[np.ndarray], *, flip: bool = True) -> list[FaceTemplate]:
    """Templates of aligned 150x150 RGB chips (one ResNet batch, with their mirrors when ``flip``)."""
    if not chips:
        return []
    batch = [np.ascontiguousarray(c) for c in chips]
    if flip:
        batch += [np.ascontiguousarray(c[:, ::-1]) for c in chips]
    vecs = _descriptors(batch)
    n = len(chips)
    if flip:
        a = vecs[:n] / np.linalg.norm(vecs[:n], axis=1, keepdims=True)
        b = vecs[n:] / np.linalg.norm(vecs[n:], axis=1, keepdims=True)
        vecs = a + b
    return [FaceTemplate(vector=v) for v in vecs]


def extract_template(image: np.ndarray, detection: FaceDetection | None = None, *,
                     flip: bool = True) -> FaceTemplate:
    """The template of the one face in an RGB image (or of ``detection`` in it).

    Without ``detection`` the image must hold exactly one usable face: raises
    :class:`~biometrics.face.NoFaceError`, :class:`~biometrics.face.MultipleFacesError` or
    :class:`~biometrics.face.FaceTooSmallError` otherwise.
    """
    rgb = as_rgb(image)
    if detection is None:
        detection = detect_single_face(rgb)
    return templates_from_chips([face_chip(rgb, detection)], flip=flip)[0]
