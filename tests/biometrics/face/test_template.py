"""FaceTemplate: versioned bytes, named errors for bad bytes, deterministic extraction."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from biometrics.face import (
    FaceError,
    FaceTemplate,
    TemplateFormatError,
    compare,
    extract_template,
    load_image,
)
from tests.conftest import shared_path


def _template(seed: int = 0) -> FaceTemplate:
    return FaceTemplate(vector=np.random.default_rng(seed).normal(size=128))


def test_round_trip_is_exact_and_versioned():
    t = _template()
    data = t.to_bytes()
    assert data[:4] == b"SBFT" and data[4] == 1 and data[5] == 1
    assert struct.unpack_from("<H", data, 6)[0] == 128
    assert len(data) == 8 + 128 * 4 + 4
    back = FaceTemplate.from_bytes(data)
    assert back == t
    assert back.to_bytes() == data
    assert compare(t, back) == pytest.approx(1.0, abs=1e-6)


def test_fused_template_round_trip_is_version_2_and_v1_stays_readable():
    rng = np.random.default_rng(7)
    t = FaceTemplate(vector=rng.normal(size=128), facenet=rng.normal(size=512))
    data = t.to_bytes()
    assert data[4] == 2 and data[5] == 2 and struct.unpack_from("<HH", data, 6) == (128, 512)
    assert len(data) == 10 + (128 + 512) * 4 + 4
    back = FaceTemplate.from_bytes(data)
    assert back == t and back.to_bytes() == data and back.facenet is not None
    assert "512" in repr(back) and "0." not in repr(back)
    v1 = t.dlib_only()
    assert v1.facenet is None and FaceTemplate.from_bytes(v1.to_bytes()) == v1
    assert compare(v1, t) == pytest.approx(1.0, abs=1e-6)  # one side dlib-only: cosine of the dlib parts
    with pytest.raises(TemplateFormatError, match="512"):
        FaceTemplate(vector=rng.normal(size=128), facenet=rng.normal(size=128))
    with pytest.raises(TemplateFormatError, match="length"):
        FaceTemplate.from_bytes(_with_crc(data[:-8]))


def test_sface_template_round_trip_is_version_3_and_v2_stays_readable():
    rng = np.random.default_rng(11)
    t = FaceTemplate(vector=rng.normal(size=128), sface=rng.normal(size=128))
    data = t.to_bytes()
    assert data[4] == 3 and data[5] == 3 and struct.unpack_from("<HH", data, 6) == (128, 128)
    assert len(data) == 10 + (128 + 128) * 4 + 4
    back = FaceTemplate.from_bytes(data)
    assert back == t and back.to_bytes() == data and back.sface is not None and back.facenet is None
    v2 = FaceTemplate(vector=t.vector, facenet=rng.normal(size=512))
    assert FaceTemplate.from_bytes(v2.to_bytes()) == v2 and v2 != t
    # a version 2 template's FaceNet part is not scored against an SFace one: the dlib cosine
    assert compare(v2, t) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(TemplateFormatError, match="not both"):
        FaceTemplate(vector=t.vector, facenet=rng.normal(size=512), sface=rng.normal(size=128))
    with pytest.raises(TemplateFormatError, match="128"):
        FaceTemplate(vector=t.vector, sface=rng.normal(size=512))
    forged = bytearray(data)
    forged[5] = 2  # version 3 with the FaceNet algorithm number
    with pytest.raises(TemplateFormatError, match="algorithm"):
        FaceTemplate.from_bytes(_with_crc(bytes(forged[:-4])))
    wrong_dims = bytearray(data)
    wrong_dims[8:10] = struct.pack("<H", 512)
    with pytest.raises(TemplateFormatError, match="dimensions"):
        FaceTemplate.from_bytes(_with_crc(bytes(wrong_dims[:-4])))


def test_vector_is_unit_norm_and_read_only():
    t = FaceTemplate(vector=np.arange(1, 129, dtype=np.float64))
    assert float(np.linalg.norm(t.vector)) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError):
        t.vector[0] = 0.0


def test_repr_shows_no_biometric_data():
    assert "0." not in repr(_template())


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("mutate, message", [
    (lambda d: b"XXXX" + d[4:], "magic"),
    (lambda d: _with_crc(d[:4] + b"\x03" + d[5:-4]), "version"),
    (lambda d: _with_crc(d[:4] + b"\x02" + d[5:-4]), "algorithm 1 is not supported in version 2"),
    (lambda d: _with_crc(d[:5] + b"\x09" + d[6:-4]), "algorithm"),
    (lambda d: d[:100], "length"),
    (lambda d: d[:10] + bytes([d[10] ^ 0x01]) + d[11:], "checksum"),
    (lambda d: b"", "short"),
])
def test_bad_bytes_raise_template_format_error(mutate, message):
    data = _template().to_bytes()
    with pytest.raises(TemplateFormatError, match=message):
        FaceTemplate.from_bytes(mutate(data))


def test_bad_vectors_are_refused():
    with pytest.raises(TemplateFormatError):
        FaceTemplate(vector=np.zeros(128))
    with pytest.raises(TemplateFormatError):
        FaceTemplate(vector=np.ones(64))
    with pytest.raises(TemplateFormatError):
        FaceTemplate(vector=np.full(128, np.nan))
    assert issubclass(TemplateFormatError, FaceError)


def test_extraction_is_deterministic_on_a_real_image():
    image = load_image(shared_path("faces", "lfw-dev", "Tony_Blair", "Tony_Blair_0001.jpg"))
    a, b = extract_template(image), extract_template(image)
    assert a == b
    assert FaceTemplate.from_bytes(a.to_bytes()) == a
    # the flip-averaged template stays close to the plain one (same face, mirrored)
    assert compare(a, extract_template(image, flip=False)) > 0.97


@pytest.mark.parametrize("seed", range(8))
def test_bytes_round_trip_exactly_for_any_vector(seed):
    rng = np.random.default_rng(seed)
    for t in (FaceTemplate(vector=rng.normal(size=128)),
              FaceTemplate(vector=rng.normal(size=128), facenet=rng.normal(size=512)),
              FaceTemplate(vector=rng.normal(size=128), sface=rng.normal(size=128))):
        back = FaceTemplate.from_bytes(t.to_bytes())
        assert back == t and back.to_bytes() == t.to_bytes() and hash(back) == hash(t)
    mine = rng.normal(size=128).astype(np.float32)
    FaceTemplate(vector=mine)
    mine[0] = 1.0  # the caller's array is not frozen by the template
