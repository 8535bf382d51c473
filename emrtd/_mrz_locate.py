"""Finding the MRZ in a photograph: the lines in the text detector's probability map, grouped and
rectified.

1. The detector (``_mrz_engine.TextEngine.text_map``) marks text; its map is thresholded into line
   blobs. The dominant text direction (area-weighted angle of the long blobs, any angle modulo 180
   degrees) is turned horizontal, so a page at 90 degrees is found like an upright one; upside down
   is left to the reader (it reads both ways and keeps the reading the check digits accept).
2. Blobs on one text line (a glare spot can cut an MRZ line in two) are joined by a closing along
   the line direction; MRZ line candidates are long (length >= 10 heights) blobs.
3. Groups of 2 or 3 such lines of similar length, height and angle, evenly spaced, are MRZ
   candidates, best first (more lines, longer lines, lower on the page).
4. Each group's quadrilateral (top edge of the first line, bottom edge of the last) is warped to a
   rectangle (this removes rotation and perspective) at a scale giving the recogniser's line
   height; the lines are cut from it as strips.

Small MRZs in large frames: when the first pass (longest side 640) finds nothing and the frame is
larger, a second pass runs at 1280.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MrzRegion", "locate_mrz"]

_PASSES = (640, 1280)
_THRESHOLD = 0.3
_WEAK = 0.1  # the map's threshold for growing a line along its axis
_SHRINK = 1.0  # glyph half-height per blob height
_STRIP = 1.5  # strip height per glyph height


@dataclass(frozen=True)
class MrzRegion:
    """An MRZ candidate: the rectified zone (gray, lines horizontal), each line's strip, and the
    zone's corners in the input image (top-left, top-right, bottom-right, bottom-left)."""

    image: np.ndarray
    strips: tuple[np.ndarray, ...]
    quad: np.ndarray

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Axis-aligned (x0, y0, x1, y1) of the zone in the input image."""
        x0, y0 = np.floor(self.quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(self.quad.max(axis=0)).astype(int)
        return int(x0), int(y0), int(x1), int(y1)

    def rotated(self) -> MrzRegion:
        """The same zone turned 180 degrees (the page was upside down)."""
        import cv2

        img = cv2.rotate(self.image, cv2.ROTATE_180)
        strips = tuple(cv2.rotate(s, cv2.ROTATE_180) for s in reversed(self.strips))
        return MrzRegion(img, strips, self.quad[[2, 3, 0, 1]])


@dataclass(frozen=True, eq=False)
class _Line:
    centre: np.ndarray  # (x, y) in map coordinates
    direction: np.ndarray  # unit vector along the line
    length: float
    height: float

    @property
    def normal(self) -> np.ndarray:
        return np.array([-self.direction[1], self.direction[0]])


def _dominant_angle(mask: np.ndarray) -> float:
    """Area-weighted direction (degrees, -90..90) of the elongated blobs of the text mask."""
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    vecs, weights = [], []
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < 30:
            continue
        ys, xs = np.nonzero(labels[stats[i, 1]: stats[i, 1] + stats[i, 3], stats[i, 0]: stats[i, 0] + stats[i, 2]] == i)
        (_, _), (w, h), a = cv2.minAreaRect(np.column_stack([xs, ys]).astype(np.float32))
        if max(w, h) < 4 * max(1.0, min(w, h)):
            continue
        ang = np.deg2rad(a if w >= h else a + 90)
        vecs.append((np.cos(2 * ang), np.sin(2 * ang)))  # doubled angle: direction modulo 180
        weights.append(stats[i, cv2.CC_STAT_AREA])
    if not vecs:
        return 0.0
    v = np.average(np.array(vecs), axis=0, weights=weights)
    return float(np.rad2deg(np.arctan2(v[1], v[0]) / 2))


def _lines(mask: np.ndarray) -> list[_Line]:
    """Long text-line blobs of a mask already turned so that text runs horizontally."""
    import cv2

    rows = mask.any(axis=1)
    heights = []
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    for i in range(1, n):
        if stats[i, 2] > 3 * stats[i, 3] and stats[i, 3] >= 3:
            heights.append(stats[i, 3])
    if not heights or not rows.any():
        return []
    h_med = float(np.median(heights))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, int(6 * h_med)), 1))
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    out = []
    for i in range(1, n):
        if stats[i, 2] < 10 * stats[i, 3] or stats[i, 3] < 2:
            continue
        ys, xs = np.nonzero(labels[stats[i, 1]: stats[i, 1] + stats[i, 3], stats[i, 0]: stats[i, 0] + stats[i, 2]] == i)
        pts = np.column_stack([xs + stats[i, 0], ys + stats[i, 1]]).astype(np.float32)
        (cx, cy), (w, h), a = cv2.minAreaRect(pts)
        if w < h:
            w, h, a = h, w, a + 90
        if w < 10 * h:
            continue
        ang = np.deg2rad(a)
        d = np.array([np.cos(ang), np.sin(ang)])
        if d[0] < 0:
            d = -d
        out.append(_Line(np.array([cx, cy]), d, float(w), float(h)))
    return out


def _grow(line: _Line, weak: np.ndarray, ink: np.ndarray | None = None) -> _Line:
    """The line extended along its axis over weaker text evidence (``weak``: the map at a low
    threshold) and over dark marks close to it (``ink``, within three line heights of the last
    evidence): runs of ``<`` fillers often fall below the detector's threshold (a long run, or one
    faded by glare), and a line cut short would lose its last characters, or the line length its
    format. The ink alone never bridges a wider gap (the margin to a page edge)."""
    h, w = weak.shape
    ends = []
    for side in (-1, 1):
        reach, last = 0.0, 0.0
        step = 1.0
        while reach - last < 12 * line.height and reach < 2 * line.length:
            p = line.centre + side * (line.length / 2 + reach + step) * line.direction
            x, y = int(round(p[0])), int(round(p[1]))
            if not (0 <= x < w and 0 <= y < h):
                break
            lo, hi = max(0, y - int(line.height)), min(h, y + int(line.height) + 1)
            reach += step
            if weak[lo:hi, x].any() or (ink is not None and reach - last <= 3 * line.height
                                        and ink[lo:hi, x].any()):
                last = reach
        ends.append(last)
    shift = (ends[1] - ends[0]) / 2 * line.direction
    return _Line(line.centre + shift, line.direction, line.length + ends[0] + ends[1], line.height)


def _ink(gray: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Dark marks at the detector map's scale (darker than their surroundings by a margin): the
    ``<`` fillers the detector scores as no text (a run of them, or one faded by glare) still are."""
    import cv2

    small = cv2.resize(gray, (shape[1], shape[0]), interpolation=cv2.INTER_AREA).astype(np.int16)
    mean = cv2.blur(small, (15, 15))
    return (small < mean - 6) & (small < 0.93 * mean)


def _groups(lines: list[_Line]) -> list[list[_Line]]:
    """Runs of 2-3 parallel lines of similar length and height, evenly spaced, best first."""
    lines = sorted(lines, key=lambda ln: ln.centre[1])
    found = []
    for size in (3, 2):
        for start in range(len(lines) - size + 1):
            for group in _chains(lines, start, size):
                lengths = [ln.length for ln in group]
                heights = [ln.height for ln in group]
                if max(lengths) > 1.4 * min(lengths) or max(heights) > 1.8 * min(heights):
                    continue
                if max(abs(float(np.cross(group[0].direction, ln.direction))) for ln in group) > np.sin(np.deg2rad(6)):
                    continue
                h = float(np.median(heights))
                gaps = [float(np.dot(b.centre - a.centre, a.normal)) for a, b in zip(group, group[1:], strict=False)]
                if min(gaps) < 1.5 * h or max(gaps) > 9 * h or max(gaps) > 1.35 * min(gaps):
                    continue
                along = [abs(float(np.dot(b.centre - a.centre, a.direction))) for a, b in zip(group, group[1:], strict=False)]
                if max(along) > 0.15 * max(lengths):
                    continue
                found.append(group)
    # MRZ lines are the longest on a page: longest first, then more lines, then lower on the page
    found.sort(key=lambda g: (-round(max(ln.length for ln in g) * (1 + 0.1 * len(g))), -g[-1].centre[1]))
    kept: list[list[_Line]] = []
    for g in found:
        if not any(all(any(ln is k for k in other) for ln in g) for other in kept):
            kept.append(g)
    return kept


def _chains(lines: list[_Line], start: int, size: int):
    """Groups of ``size`` lines starting at ``lines[start]``, picking each next line among those below."""
    def extend(group, idx):
        if len(group) == size:
            yield list(group)
            return
        last = group[-1]
        for j in range(idx + 1, len(lines)):
            ln = lines[j]
            gap = float(np.dot(ln.centre - last.centre, last.normal))
            if gap > 10 * last.height:
                break
            if gap > 1.2 * last.height:
                yield from extend(group + [ln], j)

    yield from extend([lines[start]], start)


def _rectify(gray: np.ndarray, group: list[_Line], to_image: np.ndarray, line_px: int) -> MrzRegion:
    """Warp the group's quadrilateral (padded) to a rectangle; ``to_image`` maps map points to image
    points (2x3 affine)."""
    import cv2

    first, last = group[0], group[-1]
    # the detector's blobs are shrunk text: the glyphs are about twice as high as the blob
    h = 2 * _SHRINK * float(np.median([ln.height for ln in group]))
    pad_l, pad_r, pad_y = 2.0 * h, 5.0 * h, 0.5 * h

    def end(ln: _Line, side: float) -> np.ndarray:
        return ln.centre + side * ln.length / 2 * ln.direction

    # the page's vertical: MRZ lines start (and end) at the same column, so the line ends give it
    # (a keystone view shears the glyphs against the lines' normal); the left ends first, the right
    # ones if the left disagree (upside down, the left ends are the fillers the detector may cut)
    edge, shear = first.normal, np.sin(np.deg2rad(12))
    for side in (-1, 1):  # the ends that agree best (a line cut short or overgrown at one end disagrees)
        v = end(last, side) - end(first, side)
        if np.linalg.norm(v) > 0 and abs(float(np.cross(v / np.linalg.norm(v), first.normal))) < shear:
            edge = v / np.linalg.norm(v)
            shear = abs(float(np.cross(edge, first.normal)))
    cos = max(0.5, float(np.dot(edge, first.normal)))

    def along(p: np.ndarray) -> float:
        """Where the page's vertical through ``p`` meets the first line (offset from its centre)."""
        q = p - first.centre
        return float(np.dot(q, first.direction) - np.dot(edge, first.direction) * np.dot(q, first.normal) / cos)

    # every MRZ line is filled to the full width: the zone spans the union of the lines' extents
    left = min(along(end(ln, -1)) for ln in group)
    right = max(along(end(ln, 1)) for ln in group)
    down = (_SHRINK * first.height + pad_y) / cos
    width = right - left + pad_l + pad_r
    drop = float(np.dot(last.centre - first.centre, first.normal)) / cos
    tl = first.centre + (left - pad_l) * first.direction - down * edge
    bl = first.centre + (left - pad_l) * first.direction + (drop + down) * edge
    tr, br = tl + width * first.direction, bl + width * last.direction
    quad_map = np.array([tl, tr, br, bl], np.float32)
    quad = cv2.transform(quad_map[None], to_image)[0]
    # output scale: the glyph height -> line_px
    scale_img = float(np.linalg.norm(to_image[:, :2], axis=0).mean())
    line_h_img = h * scale_img
    k = line_px / max(1.0, line_h_img)
    out_w = int(round(np.linalg.norm(quad[1] - quad[0]) * k))
    out_h = int(round(np.linalg.norm(quad[3] - quad[0]) * k))
    if out_w < 20 or out_h < 10:
        raise ValueError("degenerate zone")
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], np.float32)
    m = cv2.getPerspectiveTransform(quad, dst)
    img = cv2.warpPerspective(gray, m, (out_w, out_h), flags=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    # the lines as bands of the rectified zone (perspective removed, so the pitch is even along a line)
    centres = cv2.transform(np.array([ln.centre for ln in group], np.float32)[None], to_image)[0]
    ys = cv2.perspectiveTransform(centres[None], m)[0][:, 1]
    half = 0.5 * _STRIP * line_px
    strips = [img[max(0, int(round(y - half))): min(out_h, int(round(y + half))), :] for y in ys]
    return MrzRegion(img, tuple(strips), quad)


def locate_mrz(gray: np.ndarray, engine, *, line_px: int = 32, limit: int = 3,
               deadline: float | None = None) -> list[MrzRegion]:
    """MRZ candidates in a gray image, best first (empty when there is none). No detector pass after
    the first runs when a ``deadline`` is given (a camera polled for a page: the first pass takes ~60 ms,
    the finer one ~450 ms; an MRZ small in a large frame is then not found)."""
    import cv2

    out: list[MrzRegion] = []
    for side in _PASSES:
        if out or (side != _PASSES[0] and max(gray.shape) <= _PASSES[0] * 1.25):
            break
        if side != _PASSES[0] and deadline is not None:  # the finer pass costs ~5x the first: none on a budget
            break
        prob, scale = engine.text_map(gray, side)
        mask = (prob > _THRESHOLD).astype(np.uint8)
        angle = _dominant_angle(mask)
        h, w = mask.shape
        rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        cos, sin = abs(rot[0, 0]), abs(rot[0, 1])
        nw, nh = int(h * sin + w * cos) + 1, int(h * cos + w * sin) + 1
        rot[:, 2] += (nw / 2 - w / 2, nh / 2 - h / 2)
        turned = cv2.warpAffine(mask, rot, (nw, nh), flags=cv2.INTER_NEAREST) if abs(angle) > 0.5 else mask
        if abs(angle) <= 0.5:
            rot = np.array([[1.0, 0, 0], [0, 1.0, 0]])
        # map point (turned) -> image point: inverse rotation, then / scale
        inv = cv2.invertAffineTransform(rot)
        to_image = inv / np.array([[scale[0]], [scale[1]]])
        weak = (prob > _WEAK).astype(np.uint8)
        ink = _ink(gray, prob.shape).astype(np.uint8)
        if abs(angle) > 0.5:
            weak = cv2.warpAffine(weak, rot, (nw, nh), flags=cv2.INTER_NEAREST)
            ink = cv2.warpAffine(ink, rot, (nw, nh), flags=cv2.INTER_NEAREST)
        for group in _groups([_grow(ln, weak, ink) for ln in _lines(turned)])[:limit]:
            try:
                out.append(_rectify(gray, group, to_image, line_px))
            except ValueError:
                continue
    return out
