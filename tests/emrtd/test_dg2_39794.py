"""ISO/IEC 39794-5 DG2 per the ICAO eMRTD Application Profile: the silver sample as a conformance test,
a DG2 with every optional field cross-checked against the ICAO edition ASN.1, round trips, property
tests (encode -> decode -> encode byte equality) and malformed input refused with a named reason."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from emrtd import BiometricDataError, BiometricGroup, FaceImage, FaceImageDataBlock, LdsError, parse_39794_5
from emrtd import _dg2_39794 as m
from emrtd._dg2 import FORMAT_ISO39794_5, BiometricHeader, BiometricTemplate
from emrtd._dg2_39794 import decode_bdb, encode_bdb
from emrtd._tagged import CODE_NAMES, Code, ExtensionBlock, _Choice, _specs
from emrtd._tlv import encode_tlv, iter_tlv, read_tlv
from emrtd.sim import full_face_block, full_profile_dg2
from tests.conftest import shared_path

AP = ("emrtd", "icao_39794_5_ap")


@pytest.fixture(scope="module")
def silver() -> bytes:
    return shared_path(*AP, "dg2_silver_mandatory_fields.dat").read_bytes()


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return shared_path("emrtd", "iso19794_5", "ISO19794_Test1_Face.jpg").read_bytes()


@pytest.fixture(scope="module")
def full(jpeg) -> bytes:
    return full_profile_dg2(jpeg, 148, 70)


# --- the silver sample (mandatory fields only) ---
def test_silver_sample_conforms(silver):
    dg2 = BiometricGroup.parse_dg2(silver)
    assert dg2.encode() == silver and len(dg2.templates) == 1
    t = dg2.templates[0]
    assert t.constructed and t.header.format_owner == 0x0101 and t.header.format_type == FORMAT_ISO39794_5
    assert t.header.items == ((0x87, b"\x01\x01"), (0x88, b"\x00\x2a"))  # the profile's BHT: owner and type
    (face,) = dg2.faces
    assert face.encoding == "ISO39794" and face.format == "jpeg2000" and face.version == (3, 2019)
    assert face.image_data_type == 3  # jpeg2000Lossy
    assert len(face.image) == 15000 and face.image == dg2.face_image
    assert Image.open(io.BytesIO(face.image)).size == (413, 531)
    # mandatory fields only: every OPTIONAL component is absent, nothing unknown
    block = face.data_block
    rep = block.representation
    assert block.version_block == m.VersionBlock(generation=3, year=2019) and rep.representation_id == 0
    info = rep.image_2d.image_information_2d_block
    assert info.image_data_format == m.ImageDataFormat(code=3)
    for obj in (block, rep, rep.image_2d, info):
        opt = [f.name for f in _specs(type(obj)) if not f.metadata["req"] and getattr(obj, f.name) is not None]
        assert opt == [] and obj.extensions == ()
    # re-encoded from the typed objects alone, byte for byte
    rebuilt = BiometricGroup("DG2", (BiometricTemplate(BiometricHeader(t.header.items), encode_bdb(block), True),))
    assert rebuilt.encode() == silver
    assert FaceImage.from_39794_block(decode_bdb(t.data)).encode_39794() == t.data


# --- every optional field, cross-checked against the ICAO edition ASN.1 ---
def _asn1_types() -> dict[str, dict]:
    """Type assignments of the two modules: {name: {kind, components | of | values | target | range}}."""
    out = {}
    for name in ("ID-ICAO-ISO-IEC-39794-1-ed-1-v1.asn", "ID-ICAO-ISO-IEC-39794-5-ed-1-v1.asn"):
        text = re.sub(r"--[^\n]*", "", shared_path(*AP, name).read_text())
        text = text[text.index("BEGIN") + 5 : text.rindex("END")]
        text = re.sub(r"IMPORTS.*?;", "", text, flags=re.S)
        for t, body in re.findall(r"^\s*([A-Za-z][\w-]*)\s*::=\s*(.*?)(?=^\s*[A-Za-z][\w-]*\s*::=|\Z)", text, re.S | re.M):
            body = " ".join(body.split()).removeprefix("[APPLICATION 5] ")
            if g := re.fullmatch(r"(SEQUENCE|CHOICE|ENUMERATED) \{(.*)\}", body):
                items = [i.strip() for i in g[2].split(",") if i.strip()]
                if g[1] == "ENUMERATED":
                    out[t] = {"kind": "enum", "values": {n: int(v) for n, v in
                                                         (re.fullmatch(r"([\w-]+) ?\((\d+)\)", i).groups() for i in items)}}
                    continue
                comps = []
                for i in items:
                    if i == "...":
                        continue
                    c = re.fullmatch(r"([\w-]+) \[(\d+)\] (.+?)( OPTIONAL)?", i)
                    comps.append((c[1], int(c[2]), c[3], bool(c[4])))
                out[t] = {"kind": g[1].lower(), "components": comps, "extensible": "..." in items}
            elif g := re.fullmatch(r"SEQUENCE (?:SIZE \(\d+\) )?OF (\S+)", body):
                out[t] = {"kind": "seqof", "of": g[1]}
            else:
                out[t] = {"kind": "alias", "target": body}
    return out


def _snake(name: str) -> str:
    name = re.sub(r"([23])D", r"_\1d_", name)
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().replace("__", "_").strip("_")


def _range(t: str) -> tuple[int, int | None] | None:
    g = re.fullmatch(r"INTEGER \((-?\d+)\.\.(-?\d+|MAX)\)", t)
    return (int(g[1]), None if g[2] == "MAX" else int(g[2])) if g else None


class _Walker:
    """Walk a decoded block along the ASN.1: every component present, named, tagged and typed as declared."""

    def __init__(self, types):
        self.types, self.seen, self.reached = types, set(), set()

    def is_code(self, t) -> bool:
        d = self.types.get(t, {})
        if d.get("kind") != "choice" or [c[:2] for c in d["components"]] != [("extensionBlock", 1)]:
            return False
        inner = self.types[d["components"][0][2]]
        return [c[:2] for c in inner["components"]] == [("fallback", 0)]

    def check_class(self, t: str, cls) -> None:
        """The dataclass models the ASN.1 type: same components, [n], OPTIONAL, extension marker."""
        d = self.types[t]
        specs = {f.name: f for f in _specs(cls)}
        assert set(specs) == {_snake(c[0]) for c in d["components"]}, t
        for name, n, _, optional in d["components"]:
            md = specs[_snake(name)].metadata
            assert md["n"] == n, f"{t}.{name}: [{md['n']}] but ASN.1 says [{n}]"
            if d["kind"] == "sequence":
                assert md["req"] is not optional, f"{t}.{name}: OPTIONAL mismatch"
        if d["kind"] == "sequence":
            assert cls.EXTENSIBLE is d["extensible"], f"{t}: extension marker mismatch"

    def walk(self, t: str, v, path: str) -> None:
        if t in ("BOOLEAN",):
            assert isinstance(v, bool), path
            return
        if t == "OCTET STRING":
            assert isinstance(v, bytes), path
            return
        if t.startswith("INTEGER"):
            assert isinstance(v, int) and not isinstance(v, bool), path
            if r := _range(t):
                assert r[0] <= v and (r[1] is None or v <= r[1]), f"{path}: {v} outside {r}"
            return
        d = self.types[t]
        self.reached.add(t)
        if d["kind"] == "alias":
            return self.walk(d["target"], v, path)
        if d["kind"] == "enum":
            assert v in d["values"].values(), f"{path}: {v} not in {t}"
            return
        if d["kind"] == "seqof":
            assert isinstance(v, tuple) and v, f"{path}: empty or not a tuple"
            for i, e in enumerate(v):
                self.walk(d["of"], e, f"{path}[{i}]")
            return
        if self.is_code(t):
            inner = self.types[d["components"][0][2]]
            self.check_class(d["components"][0][2], Code)
            self.reached.add(d["components"][0][2])
            assert isinstance(v, Code), f"{path}: Code expected"
            enum = inner["components"][0][2]
            assert CODE_NAMES[enum] == {v: k for k, v in self.types[enum]["values"].items()}, enum
            return self.walk(enum, v.fallback, f"{path}.fallback")
        expected = "ExtensionBlock" if d["kind"] == "sequence" and not d["components"] else t
        assert type(v).__name__ == expected, f"{path}: {type(v).__name__}, ASN.1 type {t}"
        self.check_class(t, type(v))
        if d["kind"] == "choice":
            alt = next(c for c in d["components"] if _snake(c[0]) == v.chosen)
            self.seen.add((t, alt[0]))
            return self.walk(alt[2], getattr(v, v.chosen), f"{path}.{alt[0]}")
        for name, _, ctype, _ in d["components"]:
            value = getattr(v, _snake(name))
            assert value is not None, f"{path}.{name} is absent"
            self.walk(ctype, value, f"{path}.{name}")


def test_full_dg2_has_every_field_of_the_asn1(full):
    types = _asn1_types()
    assert "FaceImageDataBlock" in types and "DateTimeBlock" in types and len(types) > 100
    (face,) = BiometricGroup.parse_dg2(full).faces
    w = _Walker(types)
    w.walk("FaceImageDataBlock", face.data_block, "FaceImageDataBlock")
    # every alternative of every CHOICE reached, but the two a one-representation profile block cannot hold
    # beside its 2D image (their round trip is tested below)
    choices = {(t, c[0]) for t in w.reached if types[t]["kind"] == "choice" and not w.is_code(t)
               for c in types[t]["components"]}
    assert choices - w.seen == {("ImageRepresentation", "extensionBlock"), ("ImageDataFormat", "extensionBlock")}
    # the walk reached every type the 39794-5 module defines (all belong to the face image data block)
    defined_5 = set(re.findall(r"^\s*([A-Za-z][\w-]*)\s*::=", shared_path(*AP, "ID-ICAO-ISO-IEC-39794-5-ed-1-v1.asn")
                               .read_text(), re.M))
    assert defined_5 - w.reached == {"ImageRepresentationExtensionBlock", "ImageDataFormatExtensionBlock"}


def test_every_enumeration_matches_the_asn1():
    enums = {t: {v: k for k, v in d["values"].items()} for t, d in _asn1_types().items() if d["kind"] == "enum"}
    assert CODE_NAMES == enums


def test_full_dg2_round_trips_and_decodes_to_what_was_built(full, jpeg):
    dg2 = BiometricGroup.parse_dg2(full)
    assert dg2.encode() == full
    (face,) = dg2.faces
    assert face.data_block == full_face_block(jpeg, 148, 70) and face.image == jpeg
    assert (face.width, face.height, face.image_data_type) == (148, 70, 2)
    assert face.encode_39794() == dg2.templates[0].data
    meta = face.data_block.representation.identity_metadata_block
    assert meta.gender == Code(fallback=3) and meta.pose_angle_block.yaw_angle_block.angle_value == -2
    d = face.data_block.to_dict()["representationBlocks"][0]
    assert d["identityMetadataBlock"]["gender"] == {"code": 3, "name": "female"}
    assert d["padDataBlock"]["challenges"] == [b"turn-left".hex(), b"blink".hex()]


# --- extensions and extension alternatives are kept ---
def test_unknown_extensions_survive_a_round_trip(jpeg):
    base = full_face_block(jpeg, 148, 70)
    rep = base.representation
    info = rep.image_2d.image_information_2d_block
    info2 = dataclasses.replace(info, extensions=((0x8B, b"\x07"), (0xAC, encode_tlv(0x80, b"x"))),
                                lossy_transformation_attempts=Code(fallback=1, extensions=((0x81, b"\x02"),)))
    rep2d = dataclasses.replace(rep.image_2d, image_information_2d_block=info2)
    rep2 = dataclasses.replace(rep, image_representation=m.ImageRepresentation(
        base=m.ImageRepresentationBase(image_representation_2d_block=rep2d)), extensions=((0x8A, b"future"),))
    block = dataclasses.replace(base, representation_blocks=(rep2,), extensions=((0x9F1F, b"\x01"),))
    raw = block.encode()
    back = FaceImageDataBlock.decode(raw)
    assert back == block and back.encode() == raw
    assert back.extensions == ((0x9F1F, b"\x01"),) and back.representation.extensions == ((0x8A, b"future"),)
    assert back.representation.image_2d.image_information_2d_block.lossy_transformation_attempts.extensions == (
        (0x81, b"\x02"),)
    # the known part still reads as the face
    assert FaceImage.from_39794_block(back).image == jpeg


def test_extension_alternatives_round_trip_and_a_non_2d_face_is_refused(jpeg):
    ext = ExtensionBlock(extensions=((0x80, b"3d"),))
    rep = m.RepresentationBlock(representation_id=1, image_representation=m.ImageRepresentation(extension_block=ext))
    block = m.FaceImageDataBlock(version_block=m.VersionBlock(generation=3, year=2019), representation_blocks=(rep,))
    back = decode_bdb(encode_bdb(block))
    assert back == block and encode_bdb(back) == encode_bdb(block)
    with pytest.raises(BiometricDataError) as e:
        parse_39794_5(encode_bdb(block))
    assert e.value.reason == "unsupported"
    fmt = m.ImageDataFormat(extension_block=ExtensionBlock())
    face = full_face_block(jpeg, 148, 70)
    info = dataclasses.replace(face.representation.image_2d.image_information_2d_block, image_data_format=fmt)
    assert m.ImageInformation2DBlock.decode_content(info.encode_content(), "x") == info


# --- property tests: encode -> decode -> encode ---
def _value(f):
    md = f.metadata
    kind, typ = md["kind"], md["type"]
    if kind == "int":
        if md["names"]:
            return st.sampled_from(sorted(CODE_NAMES[md["names"]]))
        return st.integers(md["lo"], md["hi"] if md["hi"] is not None else md["lo"] + 2**40)
    if kind == "bool":
        return st.booleans()
    if kind == "bytes":
        return st.binary(max_size=6)
    if kind == "code":
        return st.builds(Code, fallback=st.sampled_from(sorted(CODE_NAMES[md["names"]])), extensions=_ext(0))
    if kind == "seqof":
        inner = st.binary(max_size=4) if typ is bytes else _block(typ)
        n = 1 if typ is m.RepresentationBlock else 2
        return st.lists(inner, min_size=1 if n == 1 else 0, max_size=n).map(tuple)
    return _block(typ)


def _ext(last: int):
    """Unknown components after the known ones: context tags [last+1..30], primitive or constructed."""
    nums = st.lists(st.integers(last + 1, 30), max_size=2, unique=True).map(sorted)
    one = st.tuples(st.sampled_from([0x80, 0xA0]), st.binary(max_size=3))
    return nums.flatmap(lambda ns: st.tuples(*[one.map(lambda p, n=n: (p[0] | n, p[1])) for n in ns]))


_BLOCKS: dict = {}


def _block(cls):
    if cls not in _BLOCKS:
        specs = _specs(cls)
        if issubclass(cls, _Choice):
            _BLOCKS[cls] = st.one_of([_value(f).map(lambda v, n=f.name: cls(**{n: v})) for f in specs])
        else:
            kw = {f.name: _value(f) if f.metadata["req"] else st.none() | _value(f) for f in specs}
            if cls.EXTENSIBLE:
                kw["extensions"] = _ext(max((f.metadata["n"] for f in specs), default=-1))
            _BLOCKS[cls] = st.builds(cls, **kw)
    return _BLOCKS[cls]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_block(FaceImageDataBlock))
def test_property_encode_decode_encode(block):
    raw = block.encode()
    back = FaceImageDataBlock.decode(raw)
    assert back == block and back.encode() == raw
    assert decode_bdb(encode_bdb(block)) == block


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_property_dg2_round_trip(jpeg, data):
    """A DG2 of random profile faces (each with a real image) parses to the same faces and bytes."""
    blocks = data.draw(st.lists(_block(FaceImageDataBlock), min_size=1, max_size=2))
    faces = []
    for b in blocks:
        rep = b.representation
        info = m.ImageInformation2DBlock(image_data_format=m.ImageDataFormat(code=2))
        rep2d = m.ImageRepresentation2DBlock(representation_data_2d=jpeg, image_information_2d_block=info)
        rep = dataclasses.replace(rep, image_representation=m.ImageRepresentation(
            base=m.ImageRepresentationBase(image_representation_2d_block=rep2d)))
        faces.append(FaceImage.from_39794_block(dataclasses.replace(b, representation_blocks=(rep,))))
    raw = BiometricGroup.dg2(faces, encoding="ISO39794").encode()
    back = BiometricGroup.parse_dg2(raw)
    assert back.encode() == raw and [f.data_block for f in back.faces] == [f.data_block for f in faces]


# --- bad input: a named error, never a crash ---
def test_truncated_blocks_are_refused_with_a_reason(silver, full):
    for dg2 in (silver, full):
        bdb = BiometricGroup.parse_dg2(dg2).templates[0].data
        for cut in sorted({1, 2, 5, 9, 30, 40, len(bdb) // 2, len(bdb) - 3, len(bdb) - 1}):
            with pytest.raises(BiometricDataError) as e:
                decode_bdb(bdb[:cut])
            assert e.value.reason in ("truncated", "malformed") and e.value.file == "DG2"
        # a DG2 whose 7F2E holds a truncated block (outer lengths consistent): refused while parsing
        tmpl = BiometricTemplate(BiometricHeader.face(FORMAT_ISO39794_5), bdb[:-200], True)
        with pytest.raises(BiometricDataError) as e:
            BiometricGroup.parse_dg2(BiometricGroup("DG2", (tmpl,)).encode())
        assert e.value.reason == "truncated"


def _rebuild(raw: bytes, path: list[int], new: bytes) -> bytes:
    """Replace the TLV at ``path`` (indexes of children) inside ``raw`` (one TLV) by ``new``."""
    tag, value, _ = read_tlv(raw, 0)
    if not path:
        return new
    kids = [encode_tlv(t, v) for t, v in iter_tlv(value)]
    kids[path[0]] = _rebuild(kids[path[0]], path[1:], new)
    return encode_tlv(tag, b"".join(kids))


@pytest.mark.parametrize(("path", "new", "reason"), [
    ([0, 0], encode_tlv(0x80, b"\x00\x03"), "not_der"),          # generation 3 as 00 03
    ([0, 1], encode_tlv(0x81, b"\x07\xd0"), "out_of_range"),       # year 2000 < 2019
    ([0, 0], encode_tlv(0x81, b"\x03"), "malformed"),              # [1] before [1]: repeated
    ([0], encode_tlv(0xA0, encode_tlv(0x81, b"\x07\xe3")), "missing_field"),   # no generation
    ([0], encode_tlv(0x80, b"\x03"), "malformed"),                 # versionBlock primitive
    ([1], encode_tlv(0xA1, b""), "profile"),                       # no representation block
    ([1, 0, 0], encode_tlv(0x85, b"\x00"), "malformed"),           # [5] before imageRepresentation [1]
    ([1, 0, 0], encode_tlv(0xA0, b""), "malformed"),               # representationId constructed
])
def test_corrupt_blocks_are_refused_with_a_reason(silver, path, new, reason):
    block = decode_bdb(BiometricGroup.parse_dg2(silver).templates[0].data).encode()
    bad = _rebuild(block, path, new)
    with pytest.raises(BiometricDataError) as e:
        FaceImageDataBlock.decode(bad)
    assert e.value.reason == reason, str(e.value)


def test_other_malformations(silver, full):
    bdb = BiometricGroup.parse_dg2(silver).templates[0].data
    inner = read_tlv(bdb, 0)[1]
    value = read_tlv(inner, 0)[1]
    cases = {
        "profile": [inner],                                                   # 65 without the [1] wrapper
        "malformed": [bdb + b"\x00", encode_tlv(0xA2, inner), encode_tlv(0xA1, inner + b"\x80\x00"),
                      encode_tlv(0xA1, b"\x64\x00")],
        "not_der": [encode_tlv(0xA1, b"\x65\x83" + len(value).to_bytes(3, "big") + value)],  # long-form length
    }
    for reason, items in cases.items():
        for raw in items:
            with pytest.raises(BiometricDataError) as e:
                decode_bdb(raw)
            assert e.value.reason == reason, (reason, str(e.value))
    # a BOOLEAN 01 (BER true, not DER) in the full block
    block = BiometricGroup.parse_dg2(full).faces[0].data_block.encode()
    i = block.index(bytes.fromhex("8001ff"))
    with pytest.raises(BiometricDataError, match="BOOLEAN") as e:
        FaceImageDataBlock.decode(block[:i] + bytes.fromhex("800101") + block[i + 3 :])
    assert e.value.reason == "not_der"
    # constraints are checked when building too, so the encoder cannot write what the decoder refuses
    with pytest.raises(BiometricDataError) as e:
        m.AngleDataBlock(angle_value=181)
    assert e.value.reason == "out_of_range"
    with pytest.raises(BiometricDataError) as e:
        m.IdentityMetadataBlock(gender=0)  # GenderCode starts at 1
    assert e.value.reason == "out_of_range"
    with pytest.raises(BiometricDataError) as e:
        m.ImageRepresentation()
    assert e.value.reason == "malformed"


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_property_corrupted_bytes_raise_named_errors(full, data):
    bdb = BiometricGroup.parse_dg2(full).templates[0].data
    i = data.draw(st.integers(0, len(bdb) - 1))
    mutated = bdb[:i] + bytes([data.draw(st.integers(0, 255))]) + bdb[i + 1 :]
    mutated = mutated[: data.draw(st.integers(1, len(mutated)))]
    try:
        block = decode_bdb(mutated)
    except BiometricDataError:
        return
    assert encode_bdb(block) == mutated  # whatever decodes is DER and re-encodes to the same bytes


@pytest.mark.parametrize("v", [0, 1, 127, 128, 255, 256, -1, -127, -128, -129, -180, 180, 65535, -(2**40)])
def test_integers_are_minimal_twos_complement(v):
    from emrtd._tagged import _dec_int, _der_int

    value = _der_int(v)
    assert int.from_bytes(value, "big", signed=True) == v and _dec_int(value, "x") == v
    assert len(value) == 1 or (value[0], value[1] >> 7) not in ((0, 0), (0xFF, 1))  # X.690 §8.3.2: minimal
    if -180 <= v <= 180:  # an angle of -128 was once written FF80, which the decoder (rightly) refused
        raw = m.AngleDataBlock(angle_value=v).encode_content()
        assert m.AngleDataBlock.decode_content(raw, "x").encode_content() == raw


def test_bdb_error_is_an_lds_error(silver):
    with pytest.raises(LdsError):
        decode_bdb(b"\xa1\x05\x65\x03\xa0\x01")


# --- extension tags: DER identifiers only ---
@pytest.mark.parametrize("raw", ["9F050100", "9F80050100", "9F80800100"])
def test_a_non_der_identifier_in_an_extension_is_refused(raw):
    """High-tag form for a number <= 30 (9F05 for [5]) or with padding (9F8005): valid BER, not DER."""
    with pytest.raises(BiometricDataError) as e:
        ExtensionBlock.decode_content(bytes.fromhex(raw), "x")
    assert e.value.reason == "not_der"


@pytest.mark.parametrize("tag", [0x9F05, 0x9F8005, 0xBF, 0x9F, 0x8001, 0x9F8F])
def test_the_constructor_refuses_extension_tags_the_decoder_would_refuse(tag):
    with pytest.raises(BiometricDataError) as e:
        ExtensionBlock(extensions=((tag, b""),))
    assert e.value.reason in ("not_der", "malformed")


def test_der_high_tag_extensions_still_round_trip():
    for tag in (0x9F1F, 0xBF1F, 0x9F8100):  # [31], [31] constructed, [128]
        value = encode_tlv(0x80, b"x") if tag & 0x20 else b"\x01"
        ext = ExtensionBlock(extensions=((tag, value),))
        assert ExtensionBlock.decode_content(ext.encode_content(), "x") == ext
