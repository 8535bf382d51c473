"""Reading the MRZ from an image of the data page (OCR-B, ISO 1073-2; Doc 9303 Part 3 §4.2).

The MRZ is printed in OCR-B at a fixed pitch (Doc 9303 Part 3: 2.54 mm, i.e. 10 characters per
inch) from a 37-character alphabet, which makes a classical reader both simple and dependable:

1. binarise (Otsu) and find the MRZ: the bottom-most run of 2 or 3 long, evenly spaced text lines;
2. deskew by the slope of those lines;
3. cut each line into characters: connected components give the glyph centres, the fixed pitch
   gives the cells (30, 36 or 44 per line for TD1, TD2 and TD3);
4. classify each cell against OCR-B templates (normalised cross-correlation on the glyph, plus its
   height and width relative to the line), restricted to digits where the format has a number;
5. repair with the check digits: where a field's check digit fails, the second-best candidates of
   its least certain characters are tried.

The templates are rendered from the OCR-B font (Debian fonts-ocr-b) at first use. Errors are
named: :class:`MrzNotFoundError` when no MRZ is found.

Resolution: the tests read TD1/TD2/TD3 pages exactly down to a character pitch of ~15 px (about
150 dpi for the 2.54 mm pitch) under blur, noise, +-3 degrees of skew and JPEG quality 40; a
document camera should give 300 dpi. Stronger combined degradation at that pitch fails (the check
digits then usually catch it: the gate treats a failed read as "use the chip reader's MRZ or QR").
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from emrtd._mrz import check_digit

__all__ = ["MrzOcrError", "MrzNotFoundError", "OcrResult", "read_mrz_image", "read_mrz_image_templates",
           "render_mrz_image", "OCRB_FONT_PATHS"]

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
DIGITS = "0123456789"
OCRB_FONT_PATHS = (
    Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf"),
    Path("/usr/share/fonts/truetype/ocr-b/OCRB.ttf"),
)
_GLYPH = (32, 24)  # rows, cols of the normalised glyph


class MrzOcrError(ValueError):
    """The image could not be read as an MRZ."""


class MrzNotFoundError(MrzOcrError):
    """No machine readable zone was found in the image."""


@dataclass(frozen=True)
class OcrResult:
    lines: tuple[str, ...]
    confidence: float  # mean template correlation of the chosen characters, 0..1
    repaired: int  # characters changed by the check-digit repair


def _font_path() -> Path:
    for p in OCRB_FONT_PATHS:
        if p.is_file():
            return p
    raise MrzOcrError("OCR-B font not installed (Debian package fonts-ocr-b)")


def _glyph_box(cell: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (r0, r1, c0, c1) of the largest ink blob in a cell and whatever touches its
    column range (a broken glyph stays whole, a neighbour's stray pixels are left out)."""
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(cell.astype(np.uint8), connectivity=8)
    if n <= 1:
        return None
    main = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(v) for v in stats[main, :4])
    r0, r1, c0, c1 = y, y + h, x, x + w
    for i in range(1, n):
        xi, yi, wi, hi, area = (int(v) for v in stats[i])
        if i != main and area >= 0.05 * stats[main, cv2.CC_STAT_AREA] and xi < c1 and xi + wi > c0:
            r0, r1, c0, c1 = min(r0, yi), max(r1, yi + hi), min(c0, xi), max(c1, xi + wi)
    return r0, r1, c0, c1


def _features(cell: np.ndarray, line_height: int) -> tuple[np.ndarray, np.ndarray]:
    """(glyph vector, geometry) of one cell: the glyph cropped to its box, resized, smoothed, zero
    mean, unit norm; and its (height, width, centre row) relative to the line height, which tell
    '<' from letters, 'I' from '1' and 'O' from '0' where the shapes alone are close."""
    import cv2

    box = _glyph_box(cell)
    if box is None:
        return np.zeros(_GLYPH[0] * _GLYPH[1], np.float32), np.zeros(3)
    r0, r1, c0, c1 = box
    glyph = cell[r0:r1, c0:c1].astype(np.float32)
    out = cv2.resize(glyph, (_GLYPH[1], _GLYPH[0]), interpolation=cv2.INTER_AREA)
    out = cv2.GaussianBlur(out, (3, 3), 0.8)
    out -= out.mean()
    norm = np.linalg.norm(out)
    vec = (out / norm if norm > 0 else out).ravel()
    h = max(1, line_height)
    return vec, np.array([(r1 - r0) / h, (c1 - c0) / h, (r0 + r1) / 2 / h])


def _line_strip(ink: np.ndarray) -> np.ndarray:
    """Crop a padded line strip to the rows holding its ink."""
    rows = np.nonzero(ink.sum(axis=1))[0]
    return ink[rows[0]: rows[-1] + 1] if len(rows) else ink


@cache
def _templates() -> tuple[np.ndarray, np.ndarray]:
    """Glyph vectors [37, N] and geometry [37, 3] of the alphabet printed in OCR-B, each glyph cut
    from a printed line at the font's exact advance (OCR-B is monospaced)."""
    from PIL import Image, ImageDraw, ImageFont

    size = 64
    font = ImageFont.truetype(str(_font_path()), size)
    advance = font.getlength("M")
    img = Image.new("L", (int(advance * len(ALPHABET)) + 40, 140), 0)
    ImageDraw.Draw(img).text((20, 30), ALPHABET, font=font, fill=255)
    ink = (np.asarray(img) > 127).astype(np.uint8)
    rows = np.nonzero(ink.sum(axis=1))[0]
    strip = ink[rows[0]: rows[-1] + 1]
    vecs, geoms = [], []
    for i in range(len(ALPHABET)):
        x0 = int(round(20 + i * advance))
        v, g = _features(strip[:, x0: int(round(x0 + advance))], strip.shape[0])
        vecs.append(v)
        geoms.append(g)
    return np.stack(vecs), np.stack(geoms)


def _to_gray(image) -> np.ndarray:
    from PIL import Image

    if isinstance(image, (str, Path)):
        try:
            image = Image.open(image)
            image.load()
        except (OSError, ValueError) as e:
            raise MrzOcrError(f"cannot read image: {e}") from e
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("L"))
    arr = np.asarray(image)
    if arr.ndim == 3:
        arr = arr[..., :3].mean(axis=2)
    if arr.ndim != 2 or arr.size == 0:
        raise MrzOcrError("image must be a non-empty 2-D grayscale or RGB array")
    return arr.astype(np.uint8)


def _find_lines(ink: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (x0, y0, x1, y1) of candidate MRZ lines, top to bottom."""
    import cv2

    h, w = ink.shape
    char_h_guess = max(4, h // 60)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, char_h_guess * 2), 1))
    merged = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, kernel)
    n, _, stats, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
    boxes = []
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if bw > 0.45 * w and bw > 12 * bh and bh >= 5:
            boxes.append((int(x), int(y), int(x + bw), int(y + bh)))
    return sorted(boxes, key=lambda b: b[1])


def _mrz_group(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """The bottom-most group of 2-3 lines of similar length and height, evenly spaced."""
    for size in (3, 2):
        for start in range(len(boxes) - size, -1, -1):
            group = boxes[start: start + size]
            widths = [b[2] - b[0] for b in group]
            heights = [b[3] - b[1] for b in group]
            gaps = [group[i + 1][1] - group[i][1] for i in range(size - 1)]
            if (max(widths) < 1.15 * min(widths) and max(heights) < 1.6 * min(heights)
                    and all(g < 3.0 * max(heights) for g in gaps)):
                return group
    raise MrzNotFoundError("no group of 2 or 3 MRZ lines found")


def _deskew(gray: np.ndarray, ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Straighten the page: the angle (within ±6°) that maximises the variance of row sums."""
    import cv2

    h, w = ink.shape
    scale = min(1.0, 500 / w)
    small = cv2.resize(ink.astype(np.float32), (max(1, int(w * scale)), max(1, int(h * scale))))
    centre = (small.shape[1] / 2, small.shape[0] / 2)

    def sharpness(angle: float) -> float:
        m = cv2.getRotationMatrix2D(centre, angle, 1.0)
        rows = cv2.warpAffine(small, m, (small.shape[1], small.shape[0])).sum(axis=1)
        return float(np.var(rows))

    coarse = max(np.arange(-6.0, 6.01, 0.5), key=sharpness)
    angle = float(max(np.arange(coarse - 0.5, coarse + 0.51, 0.1), key=sharpness))
    if abs(angle) < 0.15:
        return gray, ink
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    gray = cv2.warpAffine(gray, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    _, ink = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    return gray, ink


def _line_length(boxes: list[tuple[int, int, int, int]]) -> int:
    """Characters per line: 3 lines are TD1 (30); 2 lines are TD2 (36) or TD3 (44), told apart by
    the lines' aspect ratio (OCR-B advance is ~0.92 of the line height: TD3 ~40:1, TD2 ~33:1)."""
    if len(boxes) == 3:
        return 30
    ratio = float(np.median([(b[2] - b[0]) / max(1, b[3] - b[1]) for b in boxes]))
    return 44 if ratio > 36.5 else 36


def _cells(line: np.ndarray, length: int) -> list[np.ndarray]:
    """Cut one binarised line into ``length`` cells at the fixed pitch. The pitch and origin come
    from a least-squares fit of the glyph centres (connected components) to ``x = origin + i *
    pitch``, so broken or merged glyphs and ragged line ends do not shift the cells."""
    import cv2

    cols = np.nonzero(line.sum(axis=0))[0]
    if len(cols) < length:
        raise MrzNotFoundError("MRZ line too short to hold its characters")
    x_left, x_right = float(cols[0]), float(cols[-1] + 1)
    pitch = (x_right - x_left) / (length - 0.3)
    origin = x_left + 0.35 * pitch  # centre of the first glyph, first guess
    n, _, stats, centroids = cv2.connectedComponentsWithStats(line.astype(np.uint8), connectivity=8)
    height = line.shape[0]
    xs = [float(stats[i, 0] + stats[i, 2] / 2) for i in range(1, n)
          if stats[i, 2] < 1.3 * pitch and stats[i, 3] > 0.15 * height and stats[i, 4] > 3]
    for _ in range(3):
        if len(xs) < length // 3:
            break
        idx = np.round((np.array(xs) - origin) / pitch)
        keep = (idx >= 0) & (idx < length) & (np.abs((np.array(xs) - origin) / pitch - idx) < 0.35)
        if keep.sum() < length // 3:
            break
        pitch, origin = (float(v) for v in np.polyfit(idx[keep], np.array(xs)[keep], 1))
    cells = []
    for i in range(length):
        c = origin + i * pitch
        x0, x1 = max(0, int(round(c - pitch / 2))), min(line.shape[1], int(round(c + pitch / 2)))
        cells.append(line[:, x0:x1])
    return cells


def _numeric_positions(length: int, nlines: int) -> list[set[int]]:
    """Positions (per line) that can only hold a digit or '<' (dates, check digits)."""
    if length == 30:  # TD1
        return [{14}, set(range(0, 7)) | set(range(8, 15)) | {29}, set()]
    if length == 36:  # TD2
        return [set(), {9} | set(range(13, 20)) | set(range(21, 28)) | {35}]
    return [set(), {9} | set(range(13, 20)) | set(range(21, 28)) | {42, 43}]  # TD3


def _alpha_positions(length: int) -> list[set[int]]:
    """Positions (per line) that can only hold a letter or '<' (type, states, names, sex)."""
    if length == 30:  # TD1
        return [set(range(0, 5)), {7, 15, 16, 17}, set(range(30))]
    line2 = {10, 11, 12, 20}
    return [set(range(length)), line2]


_GEOMETRY_WEIGHT = np.array([1.2, 1.5, 0.6])  # score penalty per unit of relative height, width, centre


def _classify(cells: list[np.ndarray], numeric: set[int], line_height: int,
              alpha: set[int] = frozenset()) -> list[list[tuple[float, str]]]:
    vectors, geometry = _templates()
    allowed_digits = np.array([c in DIGITS + "<" for c in ALPHABET])
    allowed_alpha = ~np.array([c in DIGITS for c in ALPHABET])
    out = []
    for pos, cell in enumerate(cells):
        vec, geom = _features(cell, line_height)
        score = vectors @ vec - np.abs(geometry - geom) @ _GEOMETRY_WEIGHT
        if pos in numeric:
            score = np.where(allowed_digits, score, -np.inf)
        elif pos in alpha:
            score = np.where(allowed_alpha, score, -np.inf)
        order = np.argsort(-score)[:3]
        out.append([(float(score[i]), ALPHABET[i]) for i in order if np.isfinite(score[i])])
    return out


def _check_fields(lines: list[str]) -> list[tuple[int, int, int, int, int]]:
    """(line, start, end, check_line, check_pos) of each check-digit-protected field (Doc 9303 Parts 4-6)."""
    length = len(lines[0])
    if length == 30:
        return [(0, 5, 14, 0, 14), (1, 0, 6, 1, 6), (1, 8, 14, 1, 14)]
    fields = [(1, 0, 9, 1, 9), (1, 13, 19, 1, 19), (1, 21, 27, 1, 27)]
    if length == 44 and not (lines[1][42] == "<" and set(lines[1][28:42]) == {"<"}):
        fields.append((1, 28, 42, 1, 42))  # TD3 personal number (optional data) and its check digit
    return fields


_CONFUSIONS = {"O": "0D", "0": "OD", "D": "0O", "I": "1", "1": "I", "B": "8", "8": "B", "S": "5", "5": "S",
               "Z": "2", "2": "Z", "G": "6", "6": "G", "Q": "0O"}


def _repair(lines: list[str], ranked: list[list[list[tuple[float, str]]]]) -> tuple[list[str], int]:
    lines = [list(s) for s in lines]
    changed = 0
    numeric = _numeric_positions(len(lines[0]), len(lines))
    for li, start, end, cli, cpos in _check_fields(["".join(s) for s in lines]):
        field = "".join(lines[li][start:end])
        if check_digit(field) == lines[cli][cpos]:
            continue
        positions = list(range(start, end))  # never the check digit itself (issue #25 review item 2)
        fixed = False
        for p in positions:  # single substitutions of look-alike characters first
            for alt in _CONFUSIONS.get(lines[li][p], ""):
                if p in numeric[li] and alt not in DIGITS:
                    continue
                trial = [row[:] for row in lines]
                trial[li][p] = alt
                if check_digit("".join(trial[li][start:end])) == trial[cli][cpos]:
                    lines, changed, fixed = trial, changed + 1, True
                    break
            if fixed:
                break
        if fixed:
            continue
        # the 3 least certain characters of the field (and its check digit), 2nd/3rd choices tried
        margin = sorted(positions, key=lambda p: (ranked[li][p][0][0] - ranked[li][p][1][0])
                        if len(ranked[li][p]) > 1 else 9.0)[:3]
        best = None
        for combo in itertools.product(*[[c for _, c in ranked[li][p]] for p in margin]):
            trial = [row[:] for row in lines]
            for p, c in zip(margin, combo, strict=True):
                trial[li][p] = c
            if check_digit("".join(trial[li][start:end])) == trial[cli][cpos]:
                cost = sum(ranked[li][p][0][0] - dict((c2, s2) for s2, c2 in ranked[li][p]).get(c, 0.0)
                           for p, c in zip(margin, combo, strict=True))
                if best is None or cost < best[0]:
                    best = (cost, trial, sum(1 for p, c in zip(margin, combo, strict=True) if lines[li][p] != c))
        if best is not None:
            lines, changed = best[1], changed + best[2]
    return ["".join(s) for s in lines], changed


def read_mrz_image(image, *, budget_s: float | None = None) -> OcrResult:
    """Find and read the MRZ in a data-page image (path, PIL image or array) with the photograph
    reader (``_mrz_read``: localisation, the PP-OCRv4 recogniser fused with these OCR-B templates,
    check-digit choice). Without its models (``MrzModelMissing``, logged once; ``smartborder doctor``
    reports it) the template reader alone reads; a model that is not the manifest's (``MrzModelTampered``)
    or an engine that cannot run is raised, never read around."""
    from emrtd._mrz_engine import MrzModelMissing
    from emrtd._mrz_read import read_mrz

    try:
        return read_mrz(image, budget_s=budget_s).to_ocr_result()
    except MrzModelMissing as e:
        global _fallback_logged
        if not _fallback_logged:
            _fallback_logged = True
            logging.getLogger("emrtd").warning("MRZ OCR models unavailable, the template reader alone reads: %s", e)
        return read_mrz_image_templates(image)


_fallback_logged = False


def read_mrz_image_templates(image) -> OcrResult:
    """The OCR-B template reader alone: find and read the MRZ in a flat, upright data-page image."""
    import cv2

    gray = _to_gray(image)
    if min(gray.shape) < 40:
        raise MrzNotFoundError(f"image too small ({gray.shape[1]}x{gray.shape[0]})")
    _, ink = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    gray, ink = _deskew(gray, ink)
    group = _mrz_group(_find_lines(ink))
    length = _line_length(group)
    ranked = []
    for x0, y0, x1, y1 in group:
        pad = max(2, (y1 - y0) // 4)
        strip = _line_strip(ink[max(0, y0 - pad): y1 + pad, max(0, x0 - pad): x1 + pad])
        ranked.append((_cells(strip, length), strip.shape[0]))
    numeric = _numeric_positions(length, len(ranked))
    alpha = _alpha_positions(length)
    classified = [_classify(cells, numeric[i], h, alpha[i]) for i, (cells, h) in enumerate(ranked)]
    lines = ["".join(cands[0][1] for cands in row) for row in classified]
    confidences = [cands[0][0] for row in classified for cands in row]
    lines, repaired = _repair(lines, classified)
    return OcrResult(tuple(lines), float(np.clip(np.mean(confidences), 0, 1)), repaired)


def render_mrz_image(lines: list[str] | tuple[str, ...], *, width: int = 1250, height: int = 880,
                     header: tuple[str, ...] = (), photo=None):
    """Print a simple data page with the MRZ in OCR-B at ICAO pitch (for test documents and demos).

    The MRZ is set so that a TD3 line spans ~88 % of the page width, like a real passport data page.
    Returns a PIL RGB image.
    """
    from PIL import Image, ImageDraw, ImageFont

    page = Image.new("RGB", (width, height), (236, 240, 228))
    draw = ImageDraw.Draw(page)
    length = len(lines[0])
    font = ImageFont.truetype(str(_font_path()), 10)
    advance = font.getlength("M") / 10  # OCR-B is monospaced: advance per point size
    size = int(0.88 * width / (length * advance) * (length / 44 if length < 44 else 1))
    font = ImageFont.truetype(str(_font_path()), size)
    line_gap = int(size * 1.45)
    x0 = int(0.05 * width)
    y = height - int(0.06 * height) - line_gap * len(lines)
    for line in lines:
        draw.text((x0, y), line, font=font, fill=(20, 20, 30))
        y += line_gap
    if photo is not None:
        ph = photo.convert("RGB")
        ph.thumbnail((int(0.28 * width), int(0.5 * height)))
        page.paste(ph, (x0, int(0.08 * height)))
    small = ImageFont.truetype(str(_font_path()), max(12, size // 2))
    for i, text in enumerate(header):
        draw.text((int(0.38 * width), int(0.1 * height) + i * int(size * 1.2)), text, font=small, fill=(60, 60, 90))
    return page
