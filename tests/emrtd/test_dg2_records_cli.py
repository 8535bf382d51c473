"""DG2 end to end: the bare ISO/IEC 19794-5 records through the record parser, ``smartborder chip photo`` on
both encodings, and a virtual 39794-5 passport issued, read through the chip and passing PA."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from PIL import Image

from emrtd import (
    BiometricGroup,
    FaceImage,
    InvalidImageError,
    LdsError,
    encode_19794_5,
    parse_19794_5,
    read_document,
)
from emrtd._dg2 import FORMAT_ISO19794_5, BiometricHeader, BiometricTemplate
from emrtd.sim import (
    InProcessTransport,
    IssuedDocument,
    IssuerError,
    IssuerPki,
    full_profile_dg2,
    issue_document,
    trust_for_issued_document,
)
from smartborder.cli import main
from tests.conftest import shared_path

TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"


@pytest.fixture(scope="module")
def records():
    d = shared_path("emrtd", "iso19794_5")
    return ((d / "ISO19794_Test1_Data.bin").read_bytes(), (d / "ISO19794_Test1_Face.jpg").read_bytes(),
            (d / "ISO19794_Test2_Data_InvalidImage.bin").read_bytes())


@pytest.fixture(scope="module")
def silver():
    return shared_path("emrtd", "icao_39794_5_ap", "dg2_silver_mandatory_fields.dat").read_bytes()


# --- the ISO 19794-5 bare records (Facial Record Data, not DG2 files) ---
def test_bare_record_decodes_to_its_jpeg(records):
    record, jpeg, _ = records
    (face,) = parse_19794_5(record)
    assert face.image == jpeg and face.encoding == "ISO19794" and (face.width, face.height) == (148, 70)
    assert encode_19794_5([face]) == record
    with pytest.raises(LdsError, match="tag 46, 75 expected"):  # a bare record is not a DG2 file
        BiometricGroup.parse_dg2(record)


def test_record_with_an_invalid_image_is_refused_by_name(records):
    record, _, invalid = records
    assert invalid[:48] == record[:48] and invalid[48] != record[48]  # only the image's marker differs
    with pytest.raises(InvalidImageError) as e:
        parse_19794_5(invalid)
    assert e.value.reason == "invalid_image" and "neither JPEG nor JPEG 2000" in str(e.value)
    dg2 = BiometricGroup("DG2", (BiometricTemplate(BiometricHeader.face(FORMAT_ISO19794_5), invalid),)).encode()
    with pytest.raises(InvalidImageError):  # the same record inside a DG2
        BiometricGroup.parse_dg2(dg2)


def test_faces_move_between_the_encodings(records, silver):
    record, jpeg, _ = records
    (face,) = parse_19794_5(record)  # JPEG, though its record says image data type 1 (JPEG 2000)
    assert face.image_data_type == 1 and face.format == "jpeg"
    (as39,) = BiometricGroup.parse_dg2(BiometricGroup.dg2([face], encoding="ISO39794").encode()).faces
    assert as39.image == jpeg and as39.image_data_type == 2 and (as39.width, as39.height) == (148, 70)
    (jp2,) = BiometricGroup.parse_dg2(silver).faces
    (as19,) = BiometricGroup.parse_dg2(BiometricGroup.dg2([jp2]).encode()).faces
    assert as19.encoding == "ISO19794" and as19.image == jp2.image and as19.image_data_type == 1


# --- chip photo ---
def _photo(*args):
    return CliRunner().invoke(main, ["chip", "photo", *map(str, args)])


def test_chip_photo_shows_the_silver_dg2(silver, tmp_path):
    (tmp_path / "DG2.bin").write_bytes(silver)
    r = _photo(tmp_path / "DG2.bin", "--json", "--out", tmp_path / "face.png")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    (face,) = out["faces"]
    assert out["container"] == "DG2" and face["encoding"] == "ISO39794" and face["cbeff_format_type"] == "002A"
    assert face["warnings"] == []  # jpeg2000Lossy around a JPEG 2000
    assert face["image_format"] == "jpeg2000" and face["decoded_size"] == [413, 531]
    block = face["face_image_data_block"]
    assert block["versionBlock"] == {"generation": 3, "year": 2019}
    rep = block["representationBlocks"][0]
    assert set(rep) == {"representationId", "imageRepresentation"}
    info = rep["imageRepresentation"]["base"]["imageRepresentation2DBlock"]["imageInformation2DBlock"]
    assert info == {"imageDataFormat": {"code": "jpeg2000Lossy"}}
    assert Image.open(tmp_path / "face.png").size == (413, 531)
    text = _photo(tmp_path / "DG2.bin")
    assert text.exit_code == 0 and "ISO/IEC 39794-5 (ICAO profile), jpeg2000, 15000 bytes, 413x531" in text.output
    assert "imageDataFormat: code=jpeg2000Lossy" in text.output


def test_chip_photo_shows_every_field_of_the_full_dg2(records, tmp_path):
    _, jpeg, _ = records
    (tmp_path / "DG2.bin").write_bytes(full_profile_dg2(jpeg, 148, 70))
    r = _photo(tmp_path / "DG2.bin", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)["faces"][0]["face_image_data_block"]["representationBlocks"][0]
    assert set(rep) == {"representationId", "imageRepresentation", "captureDateTimeBlock", "qualityBlocks",
                        "padDataBlock", "sessionId", "derivedFrom", "captureDeviceBlock", "identityMetadataBlock",
                        "landmarkBlocks"}
    assert rep["identityMetadataBlock"]["gender"] == {"code": 3, "name": "female"}
    assert rep["captureDateTimeBlock"]["millisecond"] == 250 and len(rep["landmarkBlocks"]) == 6
    text = _photo(tmp_path / "DG2.bin")
    assert text.exit_code == 0 and "eyesLookingAwayFromTheCamera=False" in text.output


def test_chip_photo_on_19794_records_and_bad_input(records, tmp_path):
    record, jpeg, invalid = records
    (tmp_path / "rec.bin").write_bytes(record)
    r = _photo(tmp_path / "rec.bin", "--json", "--out", tmp_path / "face.jpg")
    assert r.exit_code == 0, r.output
    face = json.loads(r.output)["faces"][0]
    assert json.loads(r.output)["container"] == "ISO/IEC 19794-5 record" and face["decoded_size"] == [148, 70]
    # ICAO's Test1 record declares JPEG 2000 (image data type 1) around a JPEG: shown with a named warning
    assert face["warnings"] == [{"field": "image_data_type", "warning": "image_format_mismatch",
                                 "message": "image data type 1 declares jpeg2000, but the image is jpeg"}]
    (tmp_path / "dg2.bin").write_bytes(BiometricGroup.dg2(parse_19794_5(record)).encode())
    r = _photo(tmp_path / "dg2.bin")
    assert r.exit_code == 0 and "face 1: ISO/IEC 19794-5, jpeg, 5099 bytes, 148x70" in r.output
    assert "WARN image_data_type: image data type 1 declares jpeg2000, but the image is jpeg" in r.output
    assert "image_format_mismatch" in r.output
    (tmp_path / "bad.bin").write_bytes(invalid)
    r = _photo(tmp_path / "bad.bin")
    assert r.exit_code == 1 and "[invalid_image]" in r.output
    block = FaceImage(jpeg, 148, 70, "ISO39794").encode_39794()
    tmpl = BiometricTemplate(BiometricHeader.face(0x002A), block[:-100], True)
    (tmp_path / "cut.bin").write_bytes(BiometricGroup("DG2", (tmpl,)).encode())
    r = _photo(tmp_path / "cut.bin")
    assert r.exit_code == 1 and "[truncated]" in r.output


# --- a virtual 39794-5 passport through the reader ---
@pytest.fixture(scope="module")
def photo():
    return next(iter(sorted(shared_path("faces", "lfw-dev").rglob("*.jpg"))))


def test_virtual_39794_passport_round_trips_through_the_reader(photo, tmp_path):
    doc = issue_document(TD3, photo, can="123456", pki=IssuerPki.make(), dg2_encoding="ISO39794")
    loaded = IssuedDocument.load(doc.save(tmp_path / "doc"))
    res = read_document(InProcessTransport(loaded.chip()), loaded.access_key, trust=trust_for_issued_document(loaded))
    assert res.files["DG2"] == doc.files["DG2"]
    assert res.valid and res.passive_authentication.valid and res.data_group_verified("DG2") is True
    dg2 = res.data_groups["DG2"]
    assert dg2.templates[0].constructed and dg2.templates[0].data[:1] == b"\xa1"  # [1] { FaceImageDataBlock }
    (face,) = dg2.faces
    assert face.encoding == "ISO39794" and face.format == "jpeg2000" and face.image == res.face_image
    assert Image.open(io.BytesIO(res.face_image)).size == (face.width, face.height)
    info = face.data_block.representation.image_2d.image_information_2d_block
    assert info.face_image_kind_2d.fallback == 0 and info.image_data_format.code == 3  # mrtd, jpeg2000Lossy
    # the kiosk's enrolment takes the same image (39794-5: more data blocks follow the image in DG2)
    from enrollment import chip_face_image

    assert chip_face_image(doc.files["DG2"]) == face.image and not doc.files["DG2"].endswith(face.image)


def test_issuer_cli_offers_both_encodings(photo, tmp_path):
    for enc, tag in (("ISO19794", b"\x5f\x2e"), ("ISO39794", b"\x7f\x2e")):
        r = CliRunner().invoke(main, ["chip", "issue", "--mrz", TD3, "--photo", str(photo), "--out",
                                      str(tmp_path / enc), "--dg2-encoding", enc, "--json"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["dg2_encoding"] == enc
        dg2 = IssuedDocument.load(tmp_path / enc).files["DG2"]
        assert tag in dg2 and BiometricGroup.parse_dg2(dg2).faces[0].encoding == enc
    with pytest.raises(IssuerError, match="DG2 encoding"):
        issue_document(TD3, photo, pki=IssuerPki.make(), dg2_encoding="ISO39794-5")


# --- chip photo: faces and templates need not be one to one ---
def _record_dg2(record: bytes) -> bytes:
    return BiometricGroup("DG2", (BiometricTemplate(BiometricHeader.face(FORMAT_ISO19794_5), record),)).encode()


def test_chip_photo_shows_every_face_of_a_two_face_record(records, tmp_path):
    record, _, _ = records
    (face,) = parse_19794_5(record)
    two = encode_19794_5([face, face])
    (tmp_path / "rec2.bin").write_bytes(two)
    (tmp_path / "dg2.bin").write_bytes(_record_dg2(two))
    for name, fmt in (("rec2.bin", None), ("dg2.bin", "0008")):
        r = _photo(tmp_path / name, "--json", "--out", tmp_path / "face.png")
        assert r.exit_code == 0, r.output
        faces = json.loads(r.output)["faces"]
        assert len(faces) == 2 and [f["cbeff_format_type"] for f in faces] == [fmt, fmt]
        assert [f["decoded_size"] for f in faces] == [[148, 70], [148, 70]]
        text = _photo(tmp_path / name)
        assert text.exit_code == 0 and "2 face(s)" in text.output and "face 2: ISO/IEC 19794-5" in text.output


def test_chip_photo_refuses_a_record_without_a_face(tmp_path):
    empty = encode_19794_5([])
    (tmp_path / "rec0.bin").write_bytes(empty)
    (tmp_path / "dg2.bin").write_bytes(_record_dg2(empty))
    for name in ("rec0.bin", "dg2.bin"):
        for extra in ((), ("--out", tmp_path / "face.png"), ("--json",)):
            r = _photo(tmp_path / name, *extra)
            assert r.exit_code == 1 and "no face" in r.output, r.output
            assert r.exception is None or isinstance(r.exception, SystemExit)


# --- a 39794-5 face and the data block it carries ---
def test_a_39794_face_changed_without_its_data_block_is_refused(records, silver):
    import dataclasses

    from emrtd import BiometricDataError

    _, jpeg, _ = records
    (face,) = BiometricGroup.parse_dg2(silver).faces
    assert face.data_block is not None
    for change in ({"image": jpeg, "width": 148, "height": 70, "image_data_type": 2}, {"width": 100},
                   {"image_data_type": 4}):
        with pytest.raises(BiometricDataError) as e:  # it would re-encode the old image
            dataclasses.replace(face, **change)
        assert e.value.reason == "data_block_mismatch"
    # without the stored block the face builds a new one around its new image
    new = dataclasses.replace(face, image=jpeg, width=148, height=70, image_data_type=None, data_block=None)
    (back,) = BiometricGroup.parse_dg2(BiometricGroup.dg2([new], encoding="ISO39794").encode()).faces
    assert back.image == jpeg and (back.width, back.height) == (148, 70) and back.image_data_type == 2
