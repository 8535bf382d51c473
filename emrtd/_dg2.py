"""DG2 (face) and DG3 (fingers): biometric templates, ICAO Doc 9303 Part 10 §4.7.2-4.7.3.

A DG holds a Biometric Information Group Template ``7F61`` with the number of instances (``02``) and
one Biometric Information Template ``7F60`` per instance: a Biometric Header Template ``A1`` (CBEFF,
ISO/IEC 7816-11: ``80`` ICAO header version, ``81`` type, ``82`` subtype, ``83`` creation date,
``85`` validity, ``86`` creator, ``87`` format owner, ``88`` format type) and the Biometric Data Block:
``5F2E`` with an ISO/IEC 19794-5:2005 face record (or 19794-4 finger record), or ``7F2E`` with an
ISO/IEC 39794-5 face image data block as the ICAO eMRTD Application Profile encodes it: ``[1]`` around the
FaceImageDataBlock ``[APPLICATION 5]`` = ``65`` (:mod:`emrtd._dg2_39794`, every field typed).

The images are JPEG or JPEG 2000 (checked by their magic bytes; anything else is an
:class:`InvalidImageError`). Encoders are byte-exact with their parsers for every field modelled here;
malformed records raise :class:`BiometricDataError` with a ``reason``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from emrtd._dg2_39794 import (
    FaceImageDataBlock,
    ImageDataFormat,
    ImageInformation2DBlock,
    ImageRepresentation,
    ImageRepresentation2DBlock,
    ImageRepresentationBase,
    ImageSizeBlock,
    RepresentationBlock,
    VersionBlock,
    decode_bdb,
    encode_bdb,
)
from emrtd._lds import LdsError, unwrap
from emrtd._tagged import BiometricDataError, InvalidImageError
from emrtd._tlv import TlvError, encode_tlv, iter_tlv, read_tlv

__all__ = [
    "BiometricHeader",
    "BiometricTemplate",
    "BiometricGroup",
    "FaceImage",
    "FaceImageDataBlock",
    "FingerImage",
    "BiometricDataError",
    "InvalidImageError",
    "parse_19794_5",
    "encode_19794_5",
    "parse_39794_5",
    "image_format",
    "FORMAT_ISO19794_5",
    "FORMAT_ISO39794_5",
]

FORMAT_OWNER_SC37 = 0x0101
FORMAT_ISO19794_5 = 0x0008  # CBEFF format type, ISO/IEC 19794-5 face (Part 10 §4.7.2)
FORMAT_ISO39794_5 = 0x002A  # ISO/IEC 39794-5 face, tagged binary ("g3-binary-face-image", IBIA CBEFF registry)
_JP2 = bytes.fromhex("0000000C6A5020200D0A870A")
_J2K = bytes.fromhex("FF4FFF51")


def image_format(data: bytes) -> str | None:
    """``"jpeg"``, ``"jpeg2000"`` or ``"wsq"`` from the magic bytes, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data.startswith(_JP2) or data.startswith(_J2K):
        return "jpeg2000"
    if data[:2] == b"\xff\xa0":
        return "wsq"
    return None


@dataclass(frozen=True)
class BiometricHeader:
    """The BHT ``A1`` items in their order, as (tag, value) pairs."""

    items: tuple[tuple[int, bytes], ...]

    @classmethod
    def face(cls, format_type: int = FORMAT_ISO19794_5, created: dt.datetime | None = None) -> BiometricHeader:
        items = [(0x80, b"\x01\x01"), (0x81, b"\x02")]
        if created is not None:  # creation date: 7 bytes BCD-like YYYYMMDDhhmmss (CBEFF)
            items.append((0x83, bytes.fromhex(created.strftime("%Y%m%d%H%M%S"))))
        items += [(0x87, FORMAT_OWNER_SC37.to_bytes(2, "big")), (0x88, format_type.to_bytes(2, "big"))]
        return cls(tuple(items))

    def get(self, tag: int) -> bytes | None:
        return next((v for t, v in self.items if t == tag), None)

    @property
    def format_owner(self) -> int | None:
        v = self.get(0x87)
        return int.from_bytes(v, "big") if v else None

    @property
    def format_type(self) -> int | None:
        v = self.get(0x88)
        return int.from_bytes(v, "big") if v else None

    def encode(self) -> bytes:
        return encode_tlv(0xA1, b"".join(encode_tlv(t, v) for t, v in self.items))


@dataclass(frozen=True)
class FaceImage:
    """One face: the image and the ISO/IEC 19794-5 (``encoding="ISO19794"``) or 39794-5
    (``"ISO39794"``) attributes we model."""

    image: bytes
    width: int
    height: int
    encoding: str = "ISO19794"
    face_image_type: int = 1  # 19794-5: 0 basic, 1 full frontal, 2 token frontal
    image_data_type: int | None = None  # 19794-5: 0 JPEG, 1 JPEG 2000; 39794-5: 2 JPEG, 3 JP2 lossy, 4 lossless
    gender: int = 0
    eye_colour: int = 0
    hair_colour: int = 0
    property_mask: int = 0
    expression: int = 0
    pose_angle: tuple[int, int, int] = (0, 0, 0)
    pose_angle_uncertainty: tuple[int, int, int] = (0, 0, 0)
    feature_points: tuple[bytes, ...] = ()  # raw 8-byte feature points
    colour_space: int = 1  # sRGB
    source_type: int = 2  # digital still camera
    device_type: int = 0
    quality: int = 0
    version: tuple[int, int] = (3, 2019)  # 39794-5 version block: generation, year
    #: 39794-5 only: the whole typed FaceImageDataBlock. When set it is what ``encode_39794`` writes
    #: (every optional field, unknown extensions kept); when None a minimal profile block is built.
    data_block: FaceImageDataBlock | None = None

    def __post_init__(self) -> None:
        if self.image_data_type is None:
            fmt = image_format(self.image)
            if self.encoding == "ISO39794":
                code = {"jpeg": 2, "jpeg2000": 3}.get(fmt or "")
            else:
                code = {"jpeg": 0, "jpeg2000": 1}.get(fmt or "")
            if code is None:
                raise InvalidImageError("DG2", "the face image is neither JPEG nor JPEG 2000")
            object.__setattr__(self, "image_data_type", code)
        if self.data_block is not None:
            self._check_data_block()

    def _check_data_block(self) -> None:
        """``data_block`` is what :meth:`encode_39794` writes, so it must hold this face's image, size and image
        data format: a face changed with ``dataclasses.replace(face, image=...)`` would otherwise re-encode the old
        image. Raises :class:`BiometricDataError` (``data_block_mismatch``)."""
        rep2d = self.data_block.representation.image_2d
        info = rep2d.image_information_2d_block if rep2d is not None else None
        size = info.image_size_block if info is not None else None
        declared = info.image_data_format.code if info is not None and info.image_data_format is not None else None
        differ = [what for what, same in (
            ("image", rep2d is not None and rep2d.representation_data_2d == self.image),
            ("width/height", ((size.width, size.height) if size else (0, 0)) == (self.width, self.height)),
            ("image data type", declared is None or declared == self.image_data_type)) if not same]  # fmt: skip
        if differ:
            raise BiometricDataError("DG2", "data_block_mismatch", f"the face's {', '.join(differ)} differ from its "
                                     "39794-5 data_block: replace data_block too, or set it to None to build a new one")

    @property
    def format(self) -> str | None:
        return image_format(self.image)

    @property
    def declared_format(self) -> str | None:
        """The image format the record's image data type code declares (19794-5: 0 JPEG, 1 JPEG 2000; 39794-5:
        2 JPEG, 3/4 JPEG 2000 lossy/lossless), or None for a code that names neither."""
        codes = {2: "jpeg", 3: "jpeg2000", 4: "jpeg2000"} if self.encoding == "ISO39794" else {0: "jpeg", 1: "jpeg2000"}
        return codes.get(self.image_data_type)

    @property
    def warnings(self) -> tuple[dict, ...]:
        """Named warnings (``field``, ``warning``, ``message``): ``image_format_mismatch`` when the declared image
        data type is not the image's actual format. Not refused: readers go by the image's magic bytes, and ICAO's
        own ISO/IEC 19794-5 Test1 record declares JPEG 2000 around a JPEG."""
        if self.declared_format == self.format:
            return ()
        declared = self.declared_format or "neither JPEG nor JPEG 2000"
        return ({"field": "image_data_type", "warning": "image_format_mismatch",
                 "message": f"image data type {self.image_data_type} declares {declared}, but the image is {self.format}"},)

    def _data_type(self, encoding: str) -> int:
        """The image data type code in ``encoding``: the face's own when it came in that encoding (kept as
        recorded), else the code of the image's actual format (a face moved from 19794-5 to 39794-5)."""
        if encoding == self.encoding:
            return self.image_data_type
        codes = {"jpeg": 2, "jpeg2000": 3} if encoding == "ISO39794" else {"jpeg": 0, "jpeg2000": 1}
        return codes[self.format]

    def to_dict(self) -> dict:
        """A JSON-friendly view: the image (format, bytes) and the record's fields; a 39794-5 face gives
        its whole FaceImageDataBlock under the ASN.1 component names."""
        out = {"encoding": self.encoding, "image_format": self.format, "image_bytes": len(self.image),
               "width": self.width or None, "height": self.height or None,  # None: not recorded
               "image_data_type": self.image_data_type, "warnings": list(self.warnings)}
        if self.encoding == "ISO39794":
            out["face_image_data_block"] = self.to_39794_block().to_dict()
            return out
        return out | {
            "face_image_type": self.face_image_type, "gender": self.gender, "eye_colour": self.eye_colour,
            "hair_colour": self.hair_colour, "property_mask": self.property_mask, "expression": self.expression,
            "pose_angle": list(self.pose_angle), "pose_angle_uncertainty": list(self.pose_angle_uncertainty),
            "feature_points": [p.hex() for p in self.feature_points], "colour_space": self.colour_space,
            "source_type": self.source_type, "device_type": self.device_type, "quality": self.quality,
        }  # fmt: skip

    # --- ISO/IEC 19794-5:2005 facial record data block (§5.5-5.7) ---
    def encode_19794_block(self) -> bytes:
        info = (
            (20 + 8 * len(self.feature_points) + 12 + len(self.image)).to_bytes(4, "big")
            + len(self.feature_points).to_bytes(2, "big")
            + bytes([self.gender, self.eye_colour, self.hair_colour]) + self.property_mask.to_bytes(3, "big")
            + self.expression.to_bytes(2, "big") + bytes(self.pose_angle) + bytes(self.pose_angle_uncertainty)
        )  # fmt: skip
        image_info = (
            bytes([self.face_image_type, self._data_type("ISO19794")]) + self.width.to_bytes(2, "big")
            + self.height.to_bytes(2, "big") + bytes([self.colour_space, self.source_type])
            + self.device_type.to_bytes(2, "big") + self.quality.to_bytes(2, "big")
        )  # fmt: skip
        return info + b"".join(self.feature_points) + image_info + self.image

    # --- ISO/IEC 39794-5 per the ICAO Application Profile ---
    def to_39794_block(self) -> FaceImageDataBlock:
        """``data_block``, or the minimal profile block: version, the 2D image, its data format, the
        face image kind (mrtd) and the image size."""
        if self.data_block is not None:
            return self.data_block
        info = ImageInformation2DBlock(image_data_format=ImageDataFormat(code=self._data_type("ISO39794")),
                                       face_image_kind_2d=0, image_size_block=ImageSizeBlock(width=self.width,
                                                                                             height=self.height))
        rep2d = ImageRepresentation2DBlock(representation_data_2d=self.image, image_information_2d_block=info)
        rep = RepresentationBlock(representation_id=0, image_representation=ImageRepresentation(
            base=ImageRepresentationBase(image_representation_2d_block=rep2d)))
        gen, year = self.version
        return FaceImageDataBlock(version_block=VersionBlock(generation=gen, year=year), representation_blocks=(rep,))

    def encode_39794(self) -> bytes:
        """The value of DO'7F2E': ``A1 { 65 FaceImageDataBlock }`` (ICAO Application Profile)."""
        return encode_bdb(self.to_39794_block())

    @classmethod
    def from_39794_block(cls, block: FaceImageDataBlock, file: str = "DG2") -> FaceImage:
        """The face of a decoded block (its 2D image must be JPEG or JPEG 2000)."""
        rep2d = block.representation.image_2d
        if rep2d is None:
            raise BiometricDataError(file, "unsupported", "the ISO/IEC 39794-5 representation is not a 2D image "
                                                          "(an extension alternative)")
        _check_image(rep2d.representation_data_2d, file)
        info = rep2d.image_information_2d_block
        size = info.image_size_block
        fmt = info.image_data_format.code
        if fmt is None:
            fmt = {"jpeg": 2, "jpeg2000": 3}[image_format(rep2d.representation_data_2d)]
        v = block.version_block
        return cls(rep2d.representation_data_2d, size.width if size else 0, size.height if size else 0, "ISO39794",
                   0, fmt, version=(v.generation, v.year), data_block=block)


def _check_image(image: bytes, file: str) -> None:
    if image_format(image) not in ("jpeg", "jpeg2000"):
        raise InvalidImageError(file, f"the image is neither JPEG nor JPEG 2000 (starts {image[:4].hex()})")


def parse_19794_5(data: bytes, file: str = "DG2") -> list[FaceImage]:
    """An ISO/IEC 19794-5:2005 Facial Record Data record (a bare record, or the value of DO'5F2E'):
    header ``FAC\\0`` ``010\\0`` + record length + count, then each face. Malformed records raise
    :class:`BiometricDataError`; an image that is not JPEG or JPEG 2000 raises :class:`InvalidImageError`."""
    if len(data) < 14 or data[:4] != b"FAC\x00":
        raise BiometricDataError(file, "malformed", "face record does not start with 'FAC\\0'")
    if data[4:8] != b"010\x00":
        raise BiometricDataError(file, "unsupported", f"face record version {data[4:8]!r} is not 010")
    length, count = int.from_bytes(data[8:12], "big"), int.from_bytes(data[12:14], "big")
    if length != len(data):
        raise BiometricDataError(file, "truncated" if length > len(data) else "malformed",
                                 f"face record length {length} differs from its {len(data)} bytes")
    faces, off = [], 14
    for i in range(count):
        if off + 20 > len(data):
            raise BiometricDataError(file, "truncated", f"face {i + 1}: truncated facial information")
        block_len, n_points = int.from_bytes(data[off : off + 4], "big"), int.from_bytes(data[off + 4 : off + 6], "big")
        end = off + block_len
        fp_end = off + 20 + 8 * n_points
        if block_len < 32 + 8 * n_points or end > len(data):
            raise BiometricDataError(file, "malformed", f"face {i + 1}: block length {block_len} does not fit the record")
        b = data[off:end]
        ii = data[fp_end : fp_end + 12]
        image = data[fp_end + 12 : end]
        _check_image(image, file)
        faces.append(FaceImage(
            image, int.from_bytes(ii[2:4], "big"), int.from_bytes(ii[4:6], "big"), "ISO19794", ii[0], ii[1],
            b[6], b[7], b[8], int.from_bytes(b[9:12], "big"), int.from_bytes(b[12:14], "big"), tuple(b[14:17]),
            tuple(b[17:20]), tuple(data[off + 20 + 8 * k : off + 28 + 8 * k] for k in range(n_points)),
            ii[6], ii[7], int.from_bytes(ii[8:10], "big"), int.from_bytes(ii[10:12], "big"),
        ))  # fmt: skip
        off = end
    if off != len(data):
        raise BiometricDataError(file, "malformed", f"{len(data) - off} bytes after the last face")
    return faces


def encode_19794_5(faces: list[FaceImage]) -> bytes:
    body = b"".join(f.encode_19794_block() for f in faces)
    return b"FAC\x00010\x00" + (14 + len(body)).to_bytes(4, "big") + len(faces).to_bytes(2, "big") + body


def parse_39794_5(data: bytes, file: str = "DG2") -> list[FaceImage]:
    """The face in the value of DO'7F2E': ``A1 { 65 FaceImageDataBlock }`` (ICAO Application Profile)."""
    return [FaceImage.from_39794_block(decode_bdb(data), file)]


@dataclass(frozen=True)
class FingerImage:
    """One finger view of an ISO/IEC 19794-4:2005 record (DG3; parse only)."""

    position: int
    view_number: int
    quality: int
    impression_type: int
    width: int
    height: int
    compression: int  # 0 uncompressed ... 2 WSQ, 4 JPEG, 5 JPEG 2000, 6 PNG
    image: bytes


def parse_19794_4(data: bytes, file: str = "DG3") -> list[FingerImage]:
    if len(data) < 32 or data[:4] != b"FIR\x00":
        raise LdsError(file, "finger record does not start with 'FIR\\0'")
    count, compression = data[18], data[29]
    off, out = 32, []
    for i in range(count):
        if off + 14 > len(data):
            raise LdsError(file, f"finger {i + 1}: truncated view header")
        n = int.from_bytes(data[off : off + 4], "big")
        if n < 14 or off + n > len(data):
            raise LdsError(file, f"finger {i + 1}: length {n} does not fit the record")
        h = data[off : off + 14]
        out.append(FingerImage(h[4], h[6], h[7], h[8], int.from_bytes(h[9:11], "big"), int.from_bytes(h[11:13], "big"),
                               compression, data[off + 14 : off + n]))
        off += n
    return out


@dataclass(frozen=True)
class BiometricTemplate:
    """One ``7F60``: header and biometric data block (``5F2E`` primitive or ``7F2E`` constructed)."""

    header: BiometricHeader
    data: bytes
    constructed: bool = False

    def encode(self) -> bytes:
        return encode_tlv(0x7F60, self.header.encode() + encode_tlv(0x7F2E if self.constructed else 0x5F2E, self.data))


@dataclass(frozen=True)
class BiometricGroup:
    """DG2 / DG3: the biometric information group template of a data group."""

    name: str
    templates: tuple[BiometricTemplate, ...]
    _faces: tuple = field(default=(), compare=False, repr=False)

    @classmethod
    def dg2(cls, faces: list[FaceImage], *, encoding: str = "ISO19794", created: dt.datetime | None = None) -> BiometricGroup:
        """A DG2 with one template per face, ISO/IEC 19794-5 (``5F2E``) or 39794-5 (``7F2E``)."""
        if encoding == "ISO19794":
            tmpl = [BiometricTemplate(BiometricHeader.face(FORMAT_ISO19794_5, created), encode_19794_5([f])) for f in faces]
        elif encoding == "ISO39794":
            tmpl = [BiometricTemplate(BiometricHeader.face(FORMAT_ISO39794_5, created), f.encode_39794(), True) for f in faces]
        else:
            raise LdsError("DG2", f"unknown encoding {encoding!r}; ISO19794 or ISO39794")
        return cls("DG2", tuple(tmpl))

    def encode(self) -> bytes:
        tag = {"DG2": 0x75, "DG3": 0x63, "DG4": 0x76}[self.name]
        body = encode_tlv(0x02, bytes([len(self.templates)])) + b"".join(t.encode() for t in self.templates)
        return encode_tlv(tag, encode_tlv(0x7F61, body))

    @classmethod
    def parse_dg2(cls, data: bytes) -> BiometricGroup:
        return cls._parse(data, "DG2")

    @classmethod
    def parse_dg3(cls, data: bytes) -> BiometricGroup:
        return cls._parse(data, "DG3")

    @classmethod
    def _parse(cls, data: bytes, name: str) -> BiometricGroup:
        value = unwrap(data, name)
        try:
            tag, group, end = read_tlv(value, 0)
            if tag != 0x7F61 or end != len(value):
                raise LdsError(name, f"one biometric information group template 7F61 expected, found {tag:X}")
            items = list(iter_tlv(group))
        except TlvError as e:
            raise LdsError(name, f"malformed biometric group: {e}") from e
        if not items or items[0][0] != 0x02 or len(items[0][1]) != 1:
            raise LdsError(name, "the number of instances (DO'02') must come first")
        bits = [v for t, v in items[1:] if t == 0x7F60]
        if len(bits) != items[0][1][0] or len(bits) != len(items) - 1:
            raise LdsError(name, f"{items[0][1][0]} instances announced, {len(bits)} templates 7F60 found")
        templates = []
        for i, bit in enumerate(bits, 1):
            try:
                parts = list(iter_tlv(bit))
                if len(parts) != 2 or parts[0][0] != 0xA1 or parts[1][0] not in (0x5F2E, 0x7F2E):
                    raise LdsError(name, f"template {i}: header A1 and data block 5F2E/7F2E expected")
                header = BiometricHeader(tuple(iter_tlv(parts[0][1])))
            except TlvError as e:
                raise LdsError(name, f"template {i}: {e}") from e
            templates.append(BiometricTemplate(header, parts[1][1], parts[1][0] == 0x7F2E))
        out = cls(name, tuple(templates))
        if out.encode() != bytes(data):
            raise LdsError(name, "not in the canonical template layout (padding or long lengths)")
        if name == "DG2":
            object.__setattr__(out, "_faces", tuple(out._decode_faces()))
        return out

    def _decode_faces(self) -> list[FaceImage]:
        return [face for _, face in self.template_faces()]

    def template_faces(self) -> list[tuple[BiometricTemplate, FaceImage]]:
        """Each face of a DG2 with the template ``7F60`` it came from: a 19794-5 record may hold several
        faces, or none, so templates and faces need not be one to one."""
        return [(t, face) for t in self.templates
                for face in (parse_39794_5(t.data) if t.constructed else parse_19794_5(t.data))]

    @property
    def faces(self) -> list[FaceImage]:
        """The faces of a DG2 (decoded from every template)."""
        return list(self._faces) if self._faces else self._decode_faces()

    @property
    def fingers(self) -> list[FingerImage]:
        """The finger views of a DG3 (ISO/IEC 19794-4)."""
        out = []
        for t in self.templates:
            out += parse_19794_4(t.data, self.name)
        return out

    @property
    def face_image(self) -> bytes:
        """The first face's image bytes (JPEG or JPEG 2000)."""
        faces = self.faces
        if not faces:
            raise LdsError(self.name, "no face")
        return faces[0].image
