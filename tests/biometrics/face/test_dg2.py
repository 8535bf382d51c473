"""The chip protocol: a DG2-like reference (480x600 ICAO crop, JPEG 2000 <= 20 KB) still matches."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics.face import (
    DG2_HEIGHT,
    DG2_MAX_BYTES,
    DG2_WIDTH,
    THRESHOLDS,
    ImageDecodeError,
    compare,
    decode_reference_dg2_image,
    detect_single_face,
    encode_reference_dg2_image,
    extract_template,
    load_image,
    verify,
)
from tests.conftest import shared_path


def _lfw(name: str, n: int) -> np.ndarray:
    return load_image(shared_path("faces", "lfw-dev", name, f"{name}_{n:04d}.jpg"))


@pytest.fixture(scope="module")
def dg2_bytes() -> bytes:
    return encode_reference_dg2_image(_lfw("Hugo_Chavez", 1))


def test_encoding_fits_the_chip(dg2_bytes):
    assert dg2_bytes.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n")  # JP2 signature box (ISO/IEC 15444-1)
    assert len(dg2_bytes) <= DG2_MAX_BYTES
    assert len(dg2_bytes) > 0.8 * DG2_MAX_BYTES  # the budget is used, not wasted
    portrait = decode_reference_dg2_image(dg2_bytes)
    assert portrait.shape == (DG2_HEIGHT, DG2_WIDTH, 3) and portrait.dtype == np.uint8


def test_portrait_has_icao_geometry(dg2_bytes):
    face = detect_single_face(decode_reference_dg2_image(dg2_bytes))
    eye_l, eye_r = face.landmarks[:2]
    assert face.inter_eye_distance == pytest.approx(DG2_WIDTH / 4, rel=0.12)
    assert abs((eye_l[0] + eye_r[0]) / 2 - DG2_WIDTH / 2) < 15
    assert abs((eye_l[1] + eye_r[1]) / 2 - 0.46 * DG2_HEIGHT) < 20
    assert abs(eye_l[1] - eye_r[1]) < 8  # levelled


def test_dg2_reference_matches_another_image_of_the_holder(dg2_bytes):
    reference = extract_template(decode_reference_dg2_image(dg2_bytes))
    same = compare(reference, extract_template(_lfw("Hugo_Chavez", 2)))
    other = compare(reference, extract_template(_lfw("Jacques_Chirac", 1)))
    assert same >= THRESHOLDS["fmr_5e-4"] > other
    result = verify(decode_reference_dg2_image(dg2_bytes), [_lfw("Hugo_Chavez", 3)])
    assert result.matched and result.threshold_name == "fmr_5e-4"


def test_smaller_budget_and_size_are_honoured():
    data = encode_reference_dg2_image(_lfw("Hugo_Chavez", 1), width=240, height=300, max_bytes=6000)
    assert len(data) <= 6000
    assert decode_reference_dg2_image(data).shape == (300, 240, 3)


def test_corrupt_dg2_bytes_are_named(dg2_bytes):
    with pytest.raises(ImageDecodeError):
        decode_reference_dg2_image(b"GIF89a not a portrait")
    with pytest.raises(ImageDecodeError):
        decode_reference_dg2_image(dg2_bytes[:40])
    with pytest.raises(ImageDecodeError):
        decode_reference_dg2_image(b"")
