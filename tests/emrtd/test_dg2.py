"""DG2/DG3 biometric templates: ISO/IEC 19794-5 and 39794-5 faces (JPEG, JPEG 2000), 19794-4 fingers."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from emrtd import BiometricGroup, FaceImage, LdsError, image_format
from emrtd._dg2 import FORMAT_ISO19794_5, FORMAT_ISO39794_5, encode_19794_5, parse_19794_5, parse_39794_5
from emrtd._tlv import encode_tlv, read_tlv
from emrtd.sim import PORTRAIT_SIZE, encode_face_jp2
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def sample():
    d = shared_path("emrtd", "iso19794_5")
    return (d / "ISO19794_Test1_Data.bin").read_bytes(), (d / "ISO19794_Test1_Face.jpg").read_bytes()


@pytest.fixture(scope="module")
def jp2():
    photo = next(iter(sorted(shared_path("faces", "lfw-dev").rglob("*.jpg"))))
    return encode_face_jp2(photo)


def test_iso19794_sample_decodes_to_its_jpeg(sample):
    record, jpeg = sample
    faces = parse_19794_5(record)
    assert len(faces) == 1 and faces[0].image == jpeg and faces[0].format == "jpeg"
    assert (faces[0].width, faces[0].height) == (148, 70)
    assert encode_19794_5(faces) == record  # byte-exact round trip


def test_iso19794_invalid_image_is_refused():
    bad = shared_path("emrtd", "iso19794_5", "ISO19794_Test2_Data_InvalidImage.bin").read_bytes()
    with pytest.raises(LdsError, match="neither JPEG nor JPEG 2000"):
        parse_19794_5(bad)


def test_dg2_from_the_sample_record(sample):
    record, jpeg = sample
    dg2 = BiometricGroup.dg2(parse_19794_5(record))
    raw = dg2.encode()
    assert raw[:1] == b"\x75"
    back = BiometricGroup.parse_dg2(raw)
    assert back == dg2 and back.encode() == raw and back.face_image == jpeg
    t = back.templates[0]
    assert t.header.format_owner == 0x0101 and t.header.format_type == FORMAT_ISO19794_5 and not t.constructed
    assert t.data == record


def test_issuer_portrait_is_icao_jpeg2000(jp2):
    data, w, h = jp2
    assert (w, h) == PORTRAIT_SIZE and 0.74 <= w / h <= 0.80
    assert image_format(data) == "jpeg2000" and len(data) < 20_000
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG2000" and im.size == (w, h)


@pytest.mark.parametrize("encoding", ["ISO19794", "ISO39794"])
def test_dg2_jpeg2000_round_trip(jp2, encoding):
    data, w, h = jp2
    dg2 = BiometricGroup.dg2([FaceImage(data, w, h, encoding)], encoding=encoding)
    raw = dg2.encode()
    back = BiometricGroup.parse_dg2(raw)
    assert back.encode() == raw and back.face_image == data
    face = back.faces[0]
    assert (face.width, face.height, face.encoding) == (w, h, encoding)
    if encoding == "ISO39794":
        assert back.templates[0].constructed and back.templates[0].header.format_type == FORMAT_ISO39794_5
        data7f2e = back.templates[0].data  # ICAO profile: A1 { 65 FaceImageDataBlock }
        assert data7f2e[:1] == b"\xa1" and read_tlv(data7f2e, 0)[1][:1] == b"\x65" and face.image_data_type == 3
        assert b"\x7f\x2e" in raw
    else:
        assert face.image_data_type == 1 and b"\x5f\x2e" in raw


def test_39794_block_layout(sample):
    """DO'7F2E' = [1] { FaceImageDataBlock ::= [APPLICATION 5] { versionBlock [0], representationBlocks [1]
    { { id [0], imageRepresentation [1] { base [0] { 2D [0] { data [0], imageInformation2DBlock [1] ... }}}}}}}."""
    _, jpeg = sample
    bdb = FaceImage(jpeg, 148, 70, "ISO39794").encode_39794()
    tag, inner, _ = read_tlv(bdb, 0)
    assert tag == 0xA1
    tag, value, _ = read_tlv(inner, 0)
    assert tag == 0x65 and value[:9] == bytes.fromhex("A007800103810207E3")  # version: generation 3, year 2019
    face = parse_39794_5(bdb)[0]
    assert face.image == jpeg and face.image_data_type == 2 and face.version == (3, 2019)
    assert face.encode_39794() == bdb
    with pytest.raises(LdsError, match="wraps it in"):  # the unwrapped layout this project wrote before
        parse_39794_5(inner)


def test_two_faces_and_header_options(sample):
    _, jpeg = sample
    import datetime as dt

    dg2 = BiometricGroup.dg2([FaceImage(jpeg, 148, 70), FaceImage(jpeg, 148, 70, gender=2, eye_colour=4)],
                             created=dt.datetime(2026, 11, 25, 12, 0, 0))
    back = BiometricGroup.parse_dg2(dg2.encode())
    assert [f.gender for f in back.faces] == [0, 2] and back.faces[1].eye_colour == 4
    assert back.templates[0].header.get(0x83) == bytes.fromhex("20261125120000")


@pytest.mark.parametrize(
    ("raw", "match"),
    [(encode_tlv(0x75, encode_tlv(0x7F61, encode_tlv(0x02, b"\x02"))), "announced"),
     (encode_tlv(0x75, encode_tlv(0x7F60, b"")), "7F61"),
     (encode_tlv(0x63, b""), "tag 63"),
     (encode_tlv(0x75, encode_tlv(0x7F61, encode_tlv(0x02, b"\x01") + encode_tlv(0x7F60, encode_tlv(0xA1, b"")))),
      "header A1 and data block")],
)
def test_dg2_structure_errors(raw, match):
    with pytest.raises(LdsError, match=match) as e:
        BiometricGroup.parse_dg2(raw)
    assert e.value.file == "DG2"


def test_tampered_face_record_is_named(sample):
    record, _ = sample
    bad = record[:8] + (len(record) + 1).to_bytes(4, "big") + record[12:]
    with pytest.raises(LdsError, match="record length"):
        parse_19794_5(bad)
    with pytest.raises(LdsError, match="FAC"):
        parse_19794_5(b"XYZ" + record[3:])


def _finger_record(images: list[bytes]) -> bytes:
    """An ISO/IEC 19794-4:2005 record: 32-byte general header, then a 14-byte header per finger view."""
    views = b"".join((14 + len(im)).to_bytes(4, "big") + bytes([i + 1, 1, 1, 80, 0]) + (200).to_bytes(2, "big")
                     + (300).to_bytes(2, "big") + b"\x00" + im for i, im in enumerate(images))  # fmt: skip
    body_len = 32 + len(views)
    header = (b"FIR\x00010\x00" + body_len.to_bytes(6, "big") + b"\x00\x00" + b"\x00\x1f" + bytes([len(images), 2])
              + (500).to_bytes(2, "big") * 4 + bytes([8, 2]) + b"\x00\x00")  # fmt: skip
    return header + views


def test_dg3_parse_only():
    wsq = b"\xff\xa0\xff\xa8" + b"\x00" * 30
    record = _finger_record([wsq, wsq + b"\x01"])
    from emrtd import BiometricHeader, BiometricTemplate

    tmpl = BiometricTemplate(BiometricHeader(((0x81, b"\x08"), (0x87, b"\x01\x01"), (0x88, b"\x00\x07"))), record)
    dg3 = BiometricGroup("DG3", (tmpl,))
    parsed = BiometricGroup.parse_dg3(dg3.encode())
    fingers = parsed.fingers
    assert [f.position for f in fingers] == [1, 2] and fingers[0].compression == 2 and image_format(fingers[0].image) == "wsq"
    assert (fingers[1].width, fingers[1].height, fingers[1].quality) == (200, 300, 80)


def test_cli_chip_photo(tmp_path, jp2):
    from click.testing import CliRunner

    from smartborder.cli import main

    data, w, h = jp2
    (tmp_path / "DG2.bin").write_bytes(BiometricGroup.dg2([FaceImage(data, w, h)]).encode())
    r = CliRunner().invoke(main, ["chip", "photo", str(tmp_path / "DG2.bin"), "--out", str(tmp_path / "face.png")])
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "face.png").size == (w, h)
    (tmp_path / "bad.bin").write_bytes(b"\x75\x00")
    r = CliRunner().invoke(main, ["chip", "photo", str(tmp_path / "bad.bin"), "--out", str(tmp_path / "x.png")])
    assert r.exit_code != 0 and "DG2" in r.output


@given(st.binary(max_size=200))
def test_random_face_records_raise_named_errors(data):
    for parse in (parse_19794_5, parse_39794_5):
        try:
            parse(data)
        except LdsError:
            pass
