"""The chip protocol: a reference portrait stored the way a passport's DG2 stores it, and its decoding.

ICAO Doc 9303 Part 10 (LDS, DG2) carries an ISO/IEC 19794-5 facial record whose image is usually a
JPEG 2000 portrait of about 480x600 pixels squeezed into 15-20 KB so that the chip reads fast. The
reference here is produced the same way: detect the one face, cut an ICAO full-frontal crop
(:func:`~biometrics.face._align.icao_crop`: eyes level, inter-eye distance a quarter of the width),
and encode it as a JP2 file at the highest quality that fits the byte budget (OpenJPEG via Pillow,
irreversible 9/7 wavelet, one quality layer, compression ratio set from the byte budget).

The record wrapping (CBEFF / ISO 19794-5 headers, DG2 TLV) belongs to the ``emrtd`` package; this
module only makes and reads the image payload.
"""

from __future__ import annotations

import io

import numpy as np

from ._align import icao_crop
from ._detect import FaceDetection, ImageDecodeError, as_rgb, detect_single_face, load_image

__all__ = [
    "DG2_WIDTH",
    "DG2_HEIGHT",
    "DG2_MAX_BYTES",
    "encode_reference_dg2_image",
    "decode_reference_dg2_image",
]

DG2_WIDTH = 480
DG2_HEIGHT = 600
#: 20 KB budget, counted in bytes (20,000) so that any reading of "KB" holds.
DG2_MAX_BYTES = 20_000
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_J2K_CODESTREAM = b"\xff\x4f\xff\x51"


def _encode_jp2(img, ratio: float) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG2000", quality_mode="rates", quality_layers=[ratio], irreversible=True,
             num_resolutions=6, no_jp2=False)
    return buf.getvalue()


def encode_reference_dg2_image(image: np.ndarray, detection: FaceDetection | None = None, *,
                               max_bytes: int = DG2_MAX_BYTES, width: int = DG2_WIDTH,
                               height: int = DG2_HEIGHT, crop: bool = True) -> bytes:
    """A JPEG 2000 (JP2) ICAO portrait of the one face in ``image``, ``width`` x ``height``, <= ``max_bytes``.

    With ``crop=False`` the image is taken as an already-composed portrait and only resized.
    Raises the detection errors (:class:`~biometrics.face.NoFaceError`, ...) when cropping.
    """
    from PIL import Image

    rgb = as_rgb(image)
    if crop:
        if detection is None:
            detection = detect_single_face(rgb)
        portrait = icao_crop(rgb, detection, width=width, height=height)
    else:
        import cv2

        portrait = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    img = Image.fromarray(portrait, "RGB")
    raw = width * height * 3
    # OpenJPEG's rate control lands on raw/ratio bytes (plus ~100 bytes of JP2 boxes): aim just under
    # the budget, and compress 3 % harder until it fits (one encode, ~0.1 s, in practice).
    ratio = raw / max(1, max_bytes - 150)
    best = _encode_jp2(img, ratio)
    while len(best) > max_bytes:
        ratio *= 1.03
        best = _encode_jp2(img, ratio)
    return best


def decode_reference_dg2_image(data: bytes) -> np.ndarray:
    """The RGB pixels of a DG2 portrait (JP2 file or raw J2K codestream; JPEG is accepted too).

    Raises :class:`~biometrics.face.ImageDecodeError` on corrupt or truncated bytes.
    """
    data = bytes(data)
    if not (data.startswith(_JP2_SIGNATURE) or data.startswith(_J2K_CODESTREAM) or data.startswith(b"\xff\xd8")):
        raise ImageDecodeError("not a JPEG 2000 or JPEG portrait (unknown signature)")
    return load_image(data)
