"""The portrait of a virtual document: the photo cropped and scaled to ICAO geometry and encoded JPEG 2000 under
~20 KB (Doc 9303 Part 10 §4.7.2), the DG2 around it (ISO/IEC 19794-5 or 39794-5), a synthetic face picture for
benchmarks, and the empty backdrop of the ``dg2_no_face`` fault (test issuer, :mod:`emrtd.sim._issuer`)."""

from __future__ import annotations

import io
from pathlib import Path

from emrtd._dg2 import BiometricGroup, FaceImage

__all__ = ["IssuerError", "PORTRAIT_SIZE", "encode_face_jp2", "dg2_file", "sample_dg2", "background_photo"]

# Portrait geometry (Doc 9303 Part 10 §4.7.2 / ISO/IEC 39794-5 ICAO profile: width:height 74-80 %, >= 420 px
# wide for 90 px between the eyes). 3:4 = 75 %; 480x600 (80 %) is the other common choice.
PORTRAIT_SIZE = (450, 600)


class IssuerError(ValueError):
    """Bad issuing request (MRZ, photo, option or fault) or an unreadable document directory."""


def encode_face_jp2(photo, *, max_bytes: int = 19_000, size: tuple[int, int] = PORTRAIT_SIZE) -> tuple[bytes, int, int]:
    """Crop the photo to the aspect of ``size`` around its centre, scale it to ``size`` and encode JPEG 2000
    under ``max_bytes`` (Part 10 §4.7.2, ICAO portrait profile). Returns (jp2, w, h)."""
    from PIL import Image, UnidentifiedImageError

    try:
        if isinstance(photo, Image.Image):
            im = photo
        elif isinstance(photo, bytes | bytearray):
            im = Image.open(io.BytesIO(photo))
        else:
            im = Image.open(Path(photo))
        im = im.convert("RGB")
    except (OSError, UnidentifiedImageError) as e:
        raise IssuerError(f"cannot read the face photo: {e}") from e
    w, h = im.size
    sw, sh = size
    if w * sh > h * sw:  # too wide: crop width
        cw, ch = h * sw // sh, h
    else:
        cw, ch = w, w * sh // sw
    left, top = (w - cw) // 2, (h - ch) // 2
    im = im.crop((left, top, left + cw, top + ch)).resize(size, Image.LANCZOS)
    w, h = im.size
    ratio = max(10.0, w * h * 3 / (max_bytes * 0.95))
    for _ in range(8):
        buf = io.BytesIO()
        im.save(buf, "JPEG2000", quality_mode="rates", quality_layers=[ratio], irreversible=True, no_jp2=False)
        data = buf.getvalue()
        if len(data) <= max_bytes:
            return data, w, h
        ratio *= len(data) / max_bytes * 1.05
    raise IssuerError(f"cannot encode the face under {max_bytes} bytes")


def dg2_file(jp2: bytes, width: int, height: int, encoding: str = "ISO19794") -> bytes:
    """DG2 with one full-frontal face in the CBEFF template (Part 10 §4.7.2): ISO/IEC 19794-5 in DO'5F2E', or
    39794-5 as the ICAO eMRTD Application Profile encodes it, DO'7F2E' = [1] { FaceImageDataBlock } with the
    version, the 2D image, its data format, the face image kind (mrtd) and the image size."""
    if encoding not in ("ISO19794", "ISO39794"):
        raise IssuerError(f"unknown DG2 encoding {encoding!r}; ISO19794 or ISO39794")
    return BiometricGroup.dg2([FaceImage(jp2, width, height, encoding)], encoding=encoding).encode()


def sample_dg2(encoding: str = "ISO19794") -> bytes:
    """An ~18 KB DG2 made from a synthetic face-like picture (for benchmarks and tests)."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (480, 600), (200, 200, 205))
    d = ImageDraw.Draw(im)
    d.ellipse((130, 120, 350, 420), fill=(224, 180, 150))
    d.ellipse((185, 230, 215, 250), fill=(60, 40, 30))
    d.ellipse((265, 230, 295, 250), fill=(60, 40, 30))
    d.arc((200, 300, 280, 350), 20, 160, fill=(150, 60, 60), width=5)
    noise = Image.effect_noise((480, 600), 40).convert("RGB")
    im = Image.blend(im, noise, 0.25)
    jp2, w, h = encode_face_jp2(im, max_bytes=19_000, size=(480, 600))
    return dg2_file(jp2, w, h, encoding)


def background_photo(size: tuple[int, int] = PORTRAIT_SIZE):
    """A portrait-sized picture of an empty photo backdrop (light grey, darker towards the bottom, sensor
    noise) with no face in it: the portrait of the ``dg2_no_face`` fault."""
    from PIL import Image, ImageDraw, ImageFilter

    w, h = size
    im = Image.new("RGB", size, (196, 198, 202))
    d = ImageDraw.Draw(im)
    for y in range(h):  # a studio backdrop: slightly darker towards the bottom
        v = 204 - 16 * y // h
        d.line((0, y, w, y), fill=(v, v + 1, v + 4))
    noise = Image.effect_noise(size, 12).convert("RGB").filter(ImageFilter.GaussianBlur(1))
    return Image.blend(im, noise, 0.08)
