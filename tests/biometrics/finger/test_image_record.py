"""Finger images as border systems exchange them: WSQ decoded by NBIS (the wsq package) against SourceAFIS's own
conversion of the same file, and ISO/IEC 19794-4:2005 records written and read back byte for byte (raw, PNG)
or within WSQ's loss, with every malformation named."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics.finger import (
    THRESHOLDS,
    FingerImageData,
    FingerImageFormatError,
    FingerprintMatcher,
    FingerprintTemplate,
    decode_wsq,
    encode_wsq,
    finger_image_record,
    read_finger_image_record,
)
from tests.conftest import shared_path


def _gray(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.uint8)


def test_the_sourceafis_wsq_decodes_to_its_published_conversion():
    original = shared_path("fingerprints", "sourceafis", "wsq-original.wsq").read_bytes()
    converted = _gray(shared_path("fingerprints", "sourceafis", "wsq-converted.png"))
    decoded = decode_wsq(original)
    assert isinstance(decoded, FingerImageData) and decoded.compression == "wsq"
    assert decoded.ppi == 500 and decoded.image.shape == (768, 832) == converted.shape
    assert np.array_equal(decoded.image, converted)  # pixel for pixel
    assert "shape=(768, 832)" in repr(decoded) and "array" not in repr(decoded)


def test_wsq_round_trip_keeps_the_ridges():
    finger = _gray(shared_path("fingerprints", "fvc2002_DB1", "101_1.tif"))
    data = encode_wsq(finger)
    assert data[:2] == b"\xff\xa0" and len(data) < finger.size / 5  # compressed
    back = decode_wsq(data)
    assert back.image.shape == finger.shape and back.ppi == 500
    mse = ((back.image.astype(float) - finger) ** 2).mean()
    assert 10 * np.log10(255**2 / mse) > 28  # lossy, close (PSNR in dB)
    score = FingerprintMatcher(FingerprintTemplate(finger, dpi=500)).match(FingerprintTemplate(back.image, dpi=500))
    assert score >= THRESHOLDS["fmr_5e-4"]  # still the same finger to the matcher


def test_damaged_wsq_is_named():
    with pytest.raises(FingerImageFormatError, match="not a WSQ image"):
        decode_wsq(b"\x89PNG\r\n")
    with pytest.raises(FingerImageFormatError, match="damaged WSQ"):
        decode_wsq(b"\xff\xa0garbage")


@pytest.mark.parametrize("compression", ["raw", "png", "wsq"])
def test_iso_19794_4_records_round_trip(compression):
    right_index = _gray(shared_path("fingerprints", "fvc2002_DB1", "101_1.tif"))
    left_index = _gray(shared_path("fingerprints", "fvc2002_DB1", "102_1.tif"))
    record = finger_image_record([(2, right_index), (7, left_index)], compression=compression)
    assert record[:8] == b"FIR\x00010\x00" and int.from_bytes(record[8:14], "big") == len(record)
    views = read_finger_image_record(record)
    assert [(v.position, v.ppi, v.compression) for v in views] == [(2, 500, compression), (7, 500, compression)]
    for view, image in zip(views, (right_index, left_index), strict=True):
        if compression == "wsq":
            assert np.abs(view.image.astype(int) - image).mean() < 6  # WSQ's loss
        else:
            assert np.array_equal(view.image, image)


def test_a_hand_built_raw_record_is_read_as_the_standard_lays_it_out():
    """Fields at the offsets of ISO/IEC 19794-4:2005 (general header 32 bytes, view header 14), written here
    by hand rather than by our own writer."""
    image = np.arange(40 * 50, dtype=np.uint32).astype(np.uint8).reshape(50, 40)
    view = ((14 + image.size).to_bytes(4, "big") + bytes([3, 1, 1, 80, 1]) + (40).to_bytes(2, "big")
            + (50).to_bytes(2, "big") + b"\x00" + image.tobytes())
    length = 32 + len(view)
    general = (b"FIR\x00" + b"010\x00" + length.to_bytes(6, "big") + b"\x00\x00" + (31).to_bytes(2, "big")
               + bytes([1, 2]) + (197).to_bytes(2, "big") * 4 + bytes([8, 0]) + b"\x00\x00")
    (v,) = read_finger_image_record(general + view)
    assert (v.position, v.quality, v.impression, v.ppi, v.compression) == (3, 80, 1, 500, "raw")  # 197 ppcm
    assert np.array_equal(v.image, image)


def test_malformed_records_are_named():
    record = finger_image_record([(2, np.full((64, 64), 128, np.uint8))], compression="raw")
    with pytest.raises(FingerImageFormatError, match="not an ISO/IEC 19794-4"):
        read_finger_image_record(b"FMR\x00" + record[4:])
    with pytest.raises(FingerImageFormatError, match="the record says"):
        read_finger_image_record(record[:-1])
    with pytest.raises(FingerImageFormatError, match="at least 32 bytes"):
        read_finger_image_record(record[:20])
    bad_compression = record[:29] + b"\x07" + record[30:]  # byte 29: the compression algorithm
    with pytest.raises(FingerImageFormatError, match="compression 7"):
        read_finger_image_record(bad_compression)
    with pytest.raises(FingerImageFormatError, match="writing 'jpeg'"):
        finger_image_record([(2, np.zeros((64, 64), np.uint8))], compression="jpeg")


def test_a_missing_codec_is_named(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "_wsq", None)  # the wsq package not installed
    with pytest.raises(FingerImageFormatError, match="package wsq.*make setup"):
        decode_wsq(b"\xff\xa0\xff\xa8")
