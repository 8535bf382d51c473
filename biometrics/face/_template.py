"""Face templates: dlib's ResNet-29 metric network (face-recognition-models), 128-D, plus SFace, versioned bytes.

The dlib network runs on onnxruntime from ``var/models/dlib_resnet_v1.onnx``, which ``make setup``
converts from the .dat (``models/build_dlib_resnet_onnx.py``; outputs equal dlib's within 4e-7);
without it, through dlib itself (same templates, ~12x slower).

A template is the L2-normalised mean of the embeddings of the aligned chip and of its mirror image
(flip test-time augmentation: measured on lfw-dev it lowers FNMR at low FMR, see ``bench/face.py``).

A template also carries a second embedding, SFace's (128-D, ``_sface``, the same flip averaging): two
templates that both have one are compared by score fusion (``_match.compare``). It is made whenever
the SFace model is installed (``make setup``); without it templates are dlib-only and compared by
cosine. Version 2 templates (dlib + FaceNet, made before SFace replaced FaceNet) are still read; their
FaceNet part is kept in the bytes but not scored (no version 3 template has one to compare with).

Byte format (little endian), version 1 (dlib only), 2 (dlib + FaceNet) and 3 (dlib + SFace)::

    magic  b"SBFT"            4 bytes   smartborder face template
    version                   1 byte    = 1 | 2 | 3
    algorithm                 1 byte    = 1 (dlib ResNet v1, 5-point chip 150 px, flip-averaged)
                                        | 2 (the same + FaceNet 20180408, landmark box, fixed standardisation)
                                        | 3 (the same dlib part + SFace 2021dec, ArcFace 112 px alignment, flip-averaged)
    dimensions                2 bytes   = 128
    [dimensions2              2 bytes   = 512 | 128]     versions 2 and 3
    vector                    4*dims    float32, unit norm
    [vector2                  4*dims2   float32, unit norm]  versions 2 and 3
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

__all__ = ["FaceTemplate", "TemplateFormatError", "extract_template", "templates_from_chips", "templates_of",
           "sface_parts", "second_part_check", "TEMPLATE_VERSION", "TEMPLATE_VERSION_FUSED",
           "TEMPLATE_VERSION_SFACE", "ALGORITHM_DLIB_RESNET_FLIP", "ALGORITHM_DLIB_FACENET", "ALGORITHM_DLIB_SFACE"]

log = logging.getLogger(__name__)

MAGIC = b"SBFT"
TEMPLATE_VERSION = 1
TEMPLATE_VERSION_FUSED = 2
TEMPLATE_VERSION_SFACE = 3
ALGORITHM_DLIB_RESNET_FLIP = 1
ALGORITHM_DLIB_FACENET = 2
ALGORITHM_DLIB_SFACE = 3
DIMENSIONS = 128
FACENET_DIMENSIONS = 512
SFACE_DIMENSIONS = 128
#: version -> (algorithm, dimensions of the second part or 0)
_LAYOUT = {TEMPLATE_VERSION: (ALGORITHM_DLIB_RESNET_FLIP, 0),
           TEMPLATE_VERSION_FUSED: (ALGORITHM_DLIB_FACENET, FACENET_DIMENSIONS),
           TEMPLATE_VERSION_SFACE: (ALGORITHM_DLIB_SFACE, SFACE_DIMENSIONS)}
_VERSION_OF = {algorithm: version for version, (algorithm, _) in _LAYOUT.items()}
_HEADER = struct.Struct("<4sBBH")


class TemplateFormatError(FaceError):
    """Bytes that are not a face template this version can read (wrong magic, version, length, CRC)."""


@dataclass(frozen=True, eq=False)
class FaceTemplate:
    """A 128-D unit-norm face embedding (dlib), with an optional second one: SFace's 128-D (``sface``,
    what templates are made with) or, read from version 2 bytes, FaceNet's 512-D (``facenet``).
    Compare two with :func:`biometrics.face.compare`."""

    vector: np.ndarray
    algorithm: int = ALGORITHM_DLIB_RESNET_FLIP
    facenet: np.ndarray | None = None
    sface: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.facenet is not None and self.sface is not None:
            raise TemplateFormatError("a face template has one second embedding: FaceNet or SFace, not both")
        object.__setattr__(self, "vector", _unit(self.vector, DIMENSIONS))
        algorithm = ALGORITHM_DLIB_RESNET_FLIP
        if self.facenet is not None:
            object.__setattr__(self, "facenet", _unit(self.facenet, FACENET_DIMENSIONS))
            algorithm = ALGORITHM_DLIB_FACENET
        if self.sface is not None:
            object.__setattr__(self, "sface", _unit(self.sface, SFACE_DIMENSIONS))
            algorithm = ALGORITHM_DLIB_SFACE
        object.__setattr__(self, "algorithm", algorithm)

    @property
    def version(self) -> int:
        return _VERSION_OF[self.algorithm]

    @property
    def second(self) -> np.ndarray | None:
        return self.sface if self.sface is not None else self.facenet

    def dlib_only(self) -> FaceTemplate:
        """The same template without its second part (what a v1 reader or the 1:N index uses)."""
        return FaceTemplate(vector=self.vector)

    def to_bytes(self) -> bytes:
        second = self.second
        body = _HEADER.pack(MAGIC, self.version, self.algorithm, DIMENSIONS)
        if second is not None:
            body += struct.pack("<H", len(second))
        body += self.vector.astype("<f4").tobytes()
        if second is not None:
            body += second.astype("<f4").tobytes()
        return body + struct.pack("<I", zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes) -> FaceTemplate:
        data = bytes(data)
        if len(data) < _HEADER.size + 4:
            raise TemplateFormatError(f"face template too short ({len(data)} bytes)")
        magic, version, algorithm, dims = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise TemplateFormatError("not a face template (bad magic)")
        if version not in _LAYOUT:
            raise TemplateFormatError(f"face template version {version} is not supported (expected 1, 2 or 3)")
        expected_algorithm, expected_dims2 = _LAYOUT[version]
        if algorithm != expected_algorithm:
            raise TemplateFormatError(f"face template algorithm {algorithm} is not supported in version {version}")
        offset, dims2 = _HEADER.size, 0
        if expected_dims2:
            if len(data) < offset + 2 + 4:
                raise TemplateFormatError(f"face template too short ({len(data)} bytes)")
            (dims2,) = struct.unpack_from("<H", data, offset)
            offset += 2
            if dims2 != expected_dims2:
                raise TemplateFormatError(f"face template second part has {dims2} dimensions, not {expected_dims2}")
        if dims != DIMENSIONS or len(data) != offset + 4 * (dims + dims2) + 4:
            raise TemplateFormatError(f"face template length {len(data)} does not match {dims}+{dims2} dimensions")
        (crc,) = struct.unpack_from("<I", data, len(data) - 4)
        if zlib.crc32(data[:-4]) != crc:
            raise TemplateFormatError("face template checksum mismatch (corrupt bytes)")
        vector = np.frombuffer(data, dtype="<f4", count=dims, offset=offset).astype(np.float32)
        second = None
        if dims2:
            second = np.frombuffer(data, dtype="<f4", count=dims2, offset=offset + 4 * dims).astype(np.float32)
        if version == TEMPLATE_VERSION_SFACE:
            return cls(vector=vector, sface=second)
        return cls(vector=vector, facenet=second)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FaceTemplate) or self.algorithm != other.algorithm:
            return False
        same_second = self.second is None or bool(np.array_equal(self.second, other.second))
        return bool(np.array_equal(self.vector, other.vector)) and same_second

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:  # never print biometric data
        second = self.second
        dims = DIMENSIONS if second is None else f"{DIMENSIONS}+{len(second)}"
        return f"FaceTemplate(algorithm={self.algorithm}, dimensions={dims})"


def _unit(values, dims: int) -> np.ndarray:  # noqa: ANN001 - array-like
    v = np.array(values, dtype=np.float32).reshape(-1)  # a copy: the caller's array stays writable
    if v.shape != (dims,) or not np.isfinite(v).all():
        raise TemplateFormatError(f"a face template part is {dims} finite floats, got shape {v.shape}")
    n = float(np.linalg.norm(v))
    if n < 1e-6:
        raise TemplateFormatError("a face template cannot be the zero vector")
    if abs(n - 1.0) > 1e-5:  # a unit vector is kept bit for bit, so bytes round-trip exactly
        v = v / n
    v.setflags(write=False)
    return v


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


def sface_parts(faces: list[tuple[np.ndarray, FaceDetection]], *, flip: bool = True) -> list[np.ndarray | None]:
    """SFace embeddings of (RGB image, detection) pairs, or Nones when the SFace model is not installed
    (templates are then dlib-only; logged once)."""
    global _sface_missing
    if not faces or _sface_missing:
        return [None] * len(faces)
    from ._sface import SFaceUnavailableError, sface_embeddings

    try:
        return list(sface_embeddings(faces, flip=flip))
    except SFaceUnavailableError as e:
        _sface_missing = True
        log.warning("face templates without SFace (dlib only, no score fusion): %s", e)
        return [None] * len(faces)


_sface_missing = False


def second_part_check(rgb: np.ndarray, det: FaceDetection) -> None:
    """Raise :class:`FaceError` when the second model cannot take this face (SFace needs its 5 landmarks)."""
    from ._sface import sface_input

    sface_input(rgb, det)


def templates_of(faces: list[tuple[np.ndarray, FaceDetection]], *, flip: bool = True,
                 sface_flip: bool | None = None) -> list[FaceTemplate]:
    """Full templates (dlib, and SFace when installed) of the given faces: (RGB image, detection) pairs.
    ``flip`` mirror-averages the dlib part, ``sface_flip`` (default: ``flip``) the SFace part."""
    dlib_parts = templates_from_chips([face_chip(rgb, det) for rgb, det in faces], flip=flip)
    second = sface_parts(faces, flip=flip if sface_flip is None else sface_flip)
    return [FaceTemplate(vector=t.vector, sface=f) for t, f in zip(dlib_parts, second, strict=True)]


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
    return templates_of([(rgb, detection)], flip=flip)[0]
