"""Fingerprint images in the formats border systems exchange: WSQ and ISO/IEC 19794-4:2005 records.

- WSQ (FBI IAFIS-IC-0110, the Wavelet Scalar Quantization of 500 ppi fingerprints): decoded and encoded by
  NIST's NBIS code through the ``wsq`` package (IDEMIA's binding of NBIS 5.0's WSQ part, CeCILL-C, a manylinux
  wheel; its Pillow plug-in is not used, the ``_wsq`` extension is called directly: it also returns the
  ``PPI`` of the NIST comment). :func:`decode_wsq` -> :class:`FingerImageData`.
- ISO/IEC 19794-4:2005 finger image records (the format of an eMRTD's DG3, ICAO Doc 9303-10, inside CBEFF):
  a 32-byte general header ("FIR\\0", "010\\0", record length, device, acquisition level, number of
  fingers, scale units, scan and image resolutions, pixel depth, compression), then per view a 14-byte
  header (data block length, finger position, view count and number, quality, impression type, width,
  height) and the image data: uncompressed 8-bit, WSQ, JPEG, JPEG 2000 or PNG.
  :func:`read_finger_image_record` -> [:class:`FingerImageData`]; :func:`finger_image_record` writes one.

Malformed input raises :class:`FingerImageFormatError` naming what is wrong; nothing is guessed.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np

from ._errors import FingerImageFormatError

__all__ = ["FingerImageData", "decode_wsq", "encode_wsq", "read_finger_image_record", "finger_image_record",
           "COMPRESSION"]

#: ISO/IEC 19794-4:2005 Table 3, image compression algorithm codes
COMPRESSION = {0: "raw", 1: "raw_packed", 2: "wsq", 3: "jpeg", 4: "jpeg2000", 5: "png"}
_CODES = {v: k for k, v in COMPRESSION.items()}
_GENERAL = struct.Struct(">4s4s6sHHBBHHHHBBH")  # 32 bytes; the record length is a 6-byte integer
_VIEW = struct.Struct(">IBBBBBHHB")  # 14 bytes
assert _GENERAL.size == 32 and _VIEW.size == 14


@dataclass(frozen=True)
class FingerImageData:
    """One decoded finger image: grey ``uint8`` (rows x columns), its resolution in ppi, and, from an
    ISO/IEC 19794-4 record, the finger position (ISO/IEC 19794-2 codes: 0 unknown, 1 right thumb ... 10 left
    little, 13-15 four-finger slaps), the impression type (0 live-scan plain, 1 rolled, ...), the quality
    (0-100, 254/255 not reported) and the compression it was stored with."""

    image: np.ndarray
    ppi: int
    position: int = 0
    impression: int = 0
    quality: int = 255
    compression: str = "raw"

    def __repr__(self) -> str:  # never the pixels
        return (f"FingerImageData(shape={self.image.shape}, ppi={self.ppi}, position={self.position}, "
                f"compression={self.compression!r})")


def _wsq():
    try:
        import _wsq  # the wsq package's NBIS extension
    except ImportError as e:
        raise FingerImageFormatError("the WSQ codec (package wsq, requirements/lock.txt) is not installed: run "
                                     "`make setup`") from e
    return _wsq


def decode_wsq(data: bytes) -> FingerImageData:
    """A WSQ file's image and its ppi (from the NIST comment; 500 when it has none)."""
    data = bytes(data)
    if data[:2] != b"\xff\xa0":
        raise FingerImageFormatError("not a WSQ image (no start-of-image marker FFA0)")
    try:
        pixels, width, height, ppi = _wsq().decompress(data)
    except FingerImageFormatError:
        raise
    except Exception as e:  # noqa: BLE001 - NBIS reports a damaged stream as a bare Exception with its code
        raise FingerImageFormatError(f"damaged WSQ image: {e}") from e
    if width <= 0 or height <= 0 or len(pixels) != width * height:
        raise FingerImageFormatError(f"damaged WSQ image: {width}x{height} with {len(pixels)} pixels")
    image = np.frombuffer(bytes(pixels), dtype=np.uint8).reshape(height, width).copy()
    return FingerImageData(image, int(ppi) if ppi and ppi > 0 else 500, compression="wsq")


def encode_wsq(image: np.ndarray) -> bytes:
    """WSQ bytes of a grey ``uint8`` image (NBIS's encoder at its default bit rate; its NIST comment says
    500 ppi, the resolution WSQ is specified for)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 2 or min(image.shape) < 32:
        raise FingerImageFormatError(f"WSQ needs a grey image of at least 32x32 pixels, not shape {image.shape}")
    height, width = image.shape
    return bytes(_wsq().compress(image.tobytes(), height, width, 0.75))


def _decode_view(data: bytes, compression: int, width: int, height: int, depth: int) -> np.ndarray:
    name = COMPRESSION.get(compression)
    if name == "raw":
        if depth != 8:
            raise FingerImageFormatError(f"uncompressed images of {depth} bits per pixel are not supported (8 only)")
        if len(data) != width * height:
            raise FingerImageFormatError(f"uncompressed image of {width}x{height} holds {len(data)} bytes")
        return np.frombuffer(data, dtype=np.uint8).reshape(height, width).copy()
    if name == "wsq":
        image = decode_wsq(data).image
    elif name in ("jpeg", "jpeg2000", "png"):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as im:
                image = np.asarray(im.convert("L"), dtype=np.uint8).copy()
        except (OSError, UnidentifiedImageError) as e:
            raise FingerImageFormatError(f"damaged {name} image in the record: {e}") from e
    else:
        raise FingerImageFormatError(f"image compression {compression} ({name or 'unknown'}) is not supported")
    if image.shape != (height, width):
        raise FingerImageFormatError(f"the {name} image is {image.shape[1]}x{image.shape[0]}, its header says "
                                     f"{width}x{height}")
    return image


def read_finger_image_record(data: bytes) -> list[FingerImageData]:
    """Every finger view of an ISO/IEC 19794-4:2005 record, decoded."""
    data = bytes(data)
    if len(data) < _GENERAL.size:
        raise FingerImageFormatError(f"an ISO/IEC 19794-4 record is at least 32 bytes, not {len(data)}")
    (magic, version, length6, _device, _level, fingers, units, _scan_h, _scan_v, res_h, res_v, depth, compression,
     _reserved) = _GENERAL.unpack_from(data)
    if magic != b"FIR\0" or version != b"010\0":
        raise FingerImageFormatError(f"not an ISO/IEC 19794-4:2005 finger image record ({magic!r}, {version!r})")
    length = int.from_bytes(length6, "big")
    if length != len(data):
        raise FingerImageFormatError(f"the record says {length} bytes, {len(data)} were given")
    if units not in (1, 2):
        raise FingerImageFormatError(f"unknown scale units {units} (1: pixels per inch, 2: per centimetre)")
    ppi = res_h if units == 1 else round(res_h * 2.54)
    if res_h != res_v:
        raise FingerImageFormatError(f"non-square pixels ({res_h} x {res_v}) are not supported")
    views, pos = [], _GENERAL.size
    for i in range(fingers):
        if pos + _VIEW.size > len(data):
            raise FingerImageFormatError(f"view {i + 1} of {fingers}: the record ends inside its header")
        block, position, _count, _number, quality, impression, width, height, _r = _VIEW.unpack_from(data, pos)
        if block < _VIEW.size or pos + block > len(data):
            raise FingerImageFormatError(f"view {i + 1} of {fingers}: a data block of {block} bytes does not fit")
        image = _decode_view(data[pos + _VIEW.size:pos + block], compression, width, height, depth)
        views.append(FingerImageData(image, int(ppi), position, impression, quality, COMPRESSION[compression]))
        pos += block
    if pos != len(data):
        raise FingerImageFormatError(f"{len(data) - pos} bytes follow the last of the {fingers} views")
    return views


def finger_image_record(views: list[tuple[int, np.ndarray]], *, ppi: int = 500, compression: str = "wsq",
                        impression: int = 0, quality: int = 254) -> bytes:
    """An ISO/IEC 19794-4:2005 record of ``views`` ([(finger position, grey uint8 image)], one compression for
    all, as the standard has it): ``compression`` "raw", "wsq" (WSQ is for 500 ppi images) or "png"."""
    if compression not in ("raw", "wsq", "png"):
        raise FingerImageFormatError(f"writing {compression!r} is not supported (raw, wsq, png)")
    if not views or len(views) > 255:
        raise FingerImageFormatError("a record holds 1 to 255 views")
    blocks = []
    for number, (position, image) in enumerate(views, start=1):
        image = np.ascontiguousarray(image, dtype=np.uint8)
        if image.ndim != 2 or max(image.shape) > 0xFFFF:
            raise FingerImageFormatError(f"view {number}: a grey image is needed, not shape {image.shape}")
        height, width = image.shape
        if compression == "raw":
            payload = image.tobytes()
        elif compression == "wsq":
            payload = encode_wsq(image)
        else:
            from PIL import Image

            buf = io.BytesIO()
            Image.fromarray(image, "L").save(buf, "PNG")
            payload = buf.getvalue()
        count = sum(1 for p, _ in views if p == position)
        view_number = sum(1 for p, _ in views[:number] if p == position)
        blocks.append(_VIEW.pack(_VIEW.size + len(payload), position, count, view_number, quality, impression,
                                 width, height, 0) + payload)
    length = _GENERAL.size + sum(len(b) for b in blocks)
    if length >= 1 << 48:
        raise FingerImageFormatError("the record is too long")
    level = 41 if ppi >= 1000 else 31  # image acquisition level (Table 2): 1000 or 500 ppi, 8 bits
    header = _GENERAL.pack(b"FIR\0", b"010\0", length.to_bytes(6, "big"), 0, level, len(views), 1, ppi, ppi, ppi,
                           ppi, 8, _CODES[compression], 0)
    return header + b"".join(blocks)
