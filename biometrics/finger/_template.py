"""FingerprintTemplate: minutiae extracted from an image or decoded from an ISO/ANSI record."""

from __future__ import annotations

import math

import numpy as np

from . import _iso
from ._errors import FingerImageError, TemplateFormatError
from ._minutiae import Minutia, extract

MIN_MINUTIAE = 4
EXTRACTORS = ("leader", "stft")
#: LEADER minutiae (``_leader``), chosen by leave-one-database-out (issue #21); "stft" is the
#: package's own enhancement + skeleton extractor (``_minutiae``)
DEFAULT_EXTRACTOR = "leader"


def _extract(image: np.ndarray, dpi: int, extractor: str, **options):
    """(minutiae at 500 dpi, Processed) from an image with the named extractor."""
    if extractor == "leader":
        from . import _leader
        from ._image import prepare

        p = prepare(image, dpi)
        return _leader.detect(p.gray, p.mask, **options), p
    if extractor == "stft":
        from ._image import process

        p = process(image, dpi)
        return extract(p, **options), p
    raise ValueError(f"unknown minutiae extractor {extractor!r}; known: {', '.join(EXTRACTORS)}")


class FingerprintTemplate:
    """Minutiae of one finger.

    ``FingerprintTemplate(image, dpi=500)`` extracts them from an 8-bit greyscale image (raises
    :class:`FingerImageError` with a ``reason`` on blank, saturated, tiny, non-fingerprint or
    out-of-range-dpi input) with the LEADER detector (``extractor="stft"``: the package's own
    enhancement + skeleton extractor); :meth:`from_bytes` decodes an ISO/IEC 19794-2:2005 or ANSI INCITS
    378-2004 record; :meth:`to_bytes` encodes ISO/IEC 19794-2:2005. Coordinates are pixels of the
    source image (origin top left), directions radians counter-clockwise from the x axis.
    """

    __slots__ = ("minutiae", "width", "height", "dpi", "quality", "_record", "_cyl")

    def __init__(self, image: np.ndarray, *, dpi: int = 500, position: int = 0, extractor: str = DEFAULT_EXTRACTOR) -> None:
        self._fill(image, dpi, position, extractor, {})

    @classmethod
    def _tuned(cls, image: np.ndarray, *, dpi: int, extractor: str, **options) -> FingerprintTemplate:
        """A template with extractor options other than the defaults (evaluation of candidates)."""
        t = cls.__new__(cls)
        t._fill(image, dpi, 0, extractor, options)
        return t

    def _fill(self, image: np.ndarray, dpi: int, position: int, extractor: str, options: dict) -> None:
        found, p = _extract(image, dpi, extractor, **options)
        if len(found) < MIN_MINUTIAE:
            raise FingerImageError(f"only {len(found)} minutiae found: not a usable fingerprint", "too_few_minutiae")
        if extractor == "leader":
            found = _with_block_reliability(found, p)
        s = p.scale
        h, w = image.shape[:2]
        self.minutiae = [
            Minutia(
                int(min(w - 1, max(0, round(x / s)))),
                int(min(h - 1, max(0, round(y / s)))),
                a % (2 * math.pi),
                t,
                max(1, min(100, int(round(q * 100)))),  # ISO 19794-2: 0 would mean "not reported"
            )
            for x, y, a, t, q in found
        ]
        self.width, self.height, self.dpi = int(w), int(h), int(dpi)
        fg = p.mask
        self.quality = int(round(100 * float(np.clip(np.mean(p.coherence[fg]) * 1.25, 0, 1))))
        self._record = _iso.Record(w, h, _res(dpi), _res(dpi), position=position, quality=self.quality)
        self._cyl = None

    @classmethod
    def from_minutiae(
        cls, minutiae: list[Minutia], *, width: int, height: int, dpi: int = 500, quality: int = 0, position: int = 0
    ) -> FingerprintTemplate:
        """A template from known minutiae (e.g. another extractor's output)."""
        t = cls.__new__(cls)
        t.minutiae = list(minutiae)
        t.width, t.height, t.dpi, t.quality = int(width), int(height), int(dpi), int(quality)
        t._record = _iso.Record(int(width), int(height), _res(dpi), _res(dpi), position=position, quality=int(quality))
        t._cyl = None
        return t

    @classmethod
    def from_bytes(cls, data: bytes) -> FingerprintTemplate:
        """Decode an ISO/IEC 19794-2:2005 or ANSI INCITS 378-2004 record (TemplateFormatError if invalid)."""
        rec = _iso.decode(data)
        t = cls.__new__(cls)
        t.minutiae = [Minutia(m.x, m.y, m.angle, m.type, m.quality) for m in rec.minutiae]
        t.width, t.height = rec.width, rec.height
        t.dpi = int(round(rec.res_x * 2.54))
        t.quality = rec.quality
        t._record = rec
        t._cyl = None
        if not 50 <= t.dpi <= 5000:
            raise TemplateFormatError(f"implausible resolution {rec.res_x} pixels/cm")
        return t

    def to_bytes(self) -> bytes:
        """ISO/IEC 19794-2:2005 finger minutiae record (single finger view)."""
        rec = self._record
        rec.minutiae = [
            _iso.RawMinutia(int(m.x), int(m.y), float(m.direction), m.type, int(m.quality)) for m in self.minutiae
        ]
        return _iso.encode_iso(rec)

    def to_ansi_bytes(self) -> bytes:
        """ANSI INCITS 378-2004 record (single finger view; angles rounded to 2 degrees)."""
        rec = self._record
        rec.minutiae = [
            _iso.RawMinutia(int(m.x), int(m.y), float(m.direction), m.type, int(m.quality)) for m in self.minutiae
        ]
        return _iso.encode_ansi(rec)

    @property
    def position(self) -> int:
        """ISO finger position code (0 unknown, 1 right thumb ... 10 left little)."""
        return self._record.position

    def xyt(self) -> np.ndarray:
        """(n, 3) array: x, y in pixels at 500 dpi, direction in radians."""
        s = 500.0 / self.dpi
        return np.array([[m.x * s, m.y * s, m.direction] for m in self.minutiae], np.float64).reshape(-1, 3)

    def reliability(self) -> np.ndarray:
        """Per-minutia reliability in [0.01, 1] from the minutia quality (ISO/IEC 19794-2: 0 means
        not reported, read as fully reliable so that a record without qualities is matched as before)."""
        q = np.array([m.quality for m in self.minutiae], np.float64)
        return np.clip(np.where(q <= 0, 100.0, q) / 100.0, 0.01, 1.0)

    def cylinders(self):
        if self._cyl is None:
            from ._mcc import build

            self._cyl = build(self.xyt())
        return self._cyl

    def __len__(self) -> int:
        return len(self.minutiae)

    def __repr__(self) -> str:
        return f"FingerprintTemplate({len(self.minutiae)} minutiae, {self.width}x{self.height} @ {self.dpi} dpi)"


def _with_block_reliability(found: list, p) -> list:
    """LEADER's confidence of each minutia times the reliability of the block it lies in: the ridge
    flow's orientation coherence (17 x 17 px mean, full weight from 0.8) and the local contrast
    relative to the finger's median (full weight from the median). A minutia in a smudged, dry or
    wet block keeps less of its quality (issue #21 item 2); ``FingerprintMatcher(reliability=...)``
    weights the match by it."""
    import cv2

    h, w = p.gray.shape
    coherence = cv2.blur(p.coherence, (17, 17))
    median = max(float(np.median(p.local_std[p.mask])), 1e-6)
    out = []
    for x, y, a, t, q in found:
        xi, yi = int(min(w - 1, max(0, round(x)))), int(min(h - 1, max(0, round(y))))
        block = min(1.0, max(0.05, float(coherence[yi, xi]) / 0.8)) * min(1.0, max(0.05, float(p.local_std[yi, xi]) / median))
        out.append((x, y, a, t, q * block))
    return out


def _res(dpi: int) -> int:
    return int(round(dpi / 2.54))
