"""Character cells of one rectified MRZ line, scored by both readers (issue #25).

OCR-B is monospaced, so a line of known length is a grid ``x = origin + i * pitch``. The grid comes
from both readers: the recogniser's reading gives the first character's place and the pitch (the
spacing of its characters), the glyphs' connected components refine it by least squares (as the
template reader does). On that grid:

* the recogniser's score of a cell is the best probability of the characters it emitted over the
  cell (a run of ``<`` fillers the CTC collapse merged covers all its cells); a cell it left empty
  carries no evidence;
* the template reader classifies the glyph in the cell (``_mrz_ocr._classify``): its margins to the
  best template.

``scores = engine + weight * templates`` per cell, over the 37-character alphabet.
"""

from __future__ import annotations

import numpy as np

from emrtd._mrz_ocr import ALPHABET, _classify

__all__ = ["LineCells", "greedy", "line_cells"]

_FILLER = ALPHABET.index("<")
ENGINE_FLOOR = -6.0  # the least log-probability the recogniser gives a character (a cap on its certainty)


def greedy(probs: np.ndarray) -> list[list[int]]:
    """The recogniser's free reading: [alphabet index, first frame, last frame] per character."""
    best = probs[:, :39].argmax(axis=1)  # 0 blank, 1..37 ALPHABET, 38 another script
    labels: list[list[int]] = []
    prev = 0
    for t, b in enumerate(best):
        b = int(b)
        if b in (0, 38):
            prev = b
            continue
        if b != prev:
            labels.append([b - 1, t, t])
        else:
            labels[-1][2] = t
        prev = b
    return labels


class LineCells:
    """The grid of one line and its two score matrices [length, 37]."""

    def __init__(self, strip: np.ndarray, probs: np.ndarray, length: int) -> None:
        self.length = length
        self.strip = strip
        self.probs = probs
        self.scale = strip.shape[1] / probs.shape[0]
        self.labels = greedy(probs)
        self.ok = False
        if len(self.labels) < 3:
            return
        emitting = 1.0 - probs[:, 0]
        ts = emitting > 0.5
        self.foreign = float(probs[ts, 38].sum() / max(1e-6, emitting[ts].sum())) if ts.any() else 1.0
        # the line's ends and pitch from its glyphs: the longest chain of glyph-sized components
        # (the strip's margins may hold a page edge or other marks, which are not glyph-sized)
        self.ink = self._binarise()
        glyphs = self._glyphs()
        if not len(glyphs):
            return
        narrow = glyphs[glyphs[:, 1] - glyphs[:, 0] < 0.9 * self.ink.shape[0]]
        if len(narrow) < 4:
            return
        step = float(np.median(np.diff((narrow[:, 0] + narrow[:, 1]) / 2)))
        # chains of components (merged fillers are wide ones) with gaps under two pitches
        chains = [[glyphs[0, 0], glyphs[0, 1]]]
        for x0, x1 in glyphs[1:]:
            if x0 - chains[-1][1] < 1.8 * step:
                chains[-1][1] = max(chains[-1][1], x1)
            else:
                chains.append([x0, x1])
        x_left, x_right = (float(v) for v in max(chains, key=lambda c: c[1] - c[0]))
        step = self._period(int(x_left), int(x_right)) or step
        self.estimate = (x_right - x_left) / step + 0.3  # characters the chain spans
        self.pitch = (x_right - x_left) / (length - 0.3)
        self.origin = x_left + 0.35 * self.pitch
        self.fit = self._refine()
        self.ok = True
        if len(self.labels) == length:  # the recogniser read every cell: its own grid is a candidate
            xs = np.array([(self._px(a) + self._px(b)) / 2 for _, a, b in self.labels])
            pitch, origin = (float(v) for v in np.polyfit(np.arange(length), xs, 1))
            if 0.7 * self.pitch < pitch < 1.4 * self.pitch and self._agreement(pitch, origin) > \
                    self._agreement(self.pitch, self.origin):
                self.pitch, self.origin = pitch, origin

    def _agreement(self, pitch: float, origin: float) -> int:
        """Cells where the template reader's best character is the recogniser's, on a grid."""
        keep = self.pitch, self.origin
        self.pitch, self.origin = pitch, origin
        t = self.template_scores().argmax(axis=1)
        e = self.engine_scores()
        self.pitch, self.origin = keep
        return int(sum(1 for i in range(self.length) if e[i].any() and e[i].argmax() == t[i]))

    def _period(self, x0: int, x1: int) -> float | None:
        """The pitch as the period of the ink's column profile (autocorrelation), which glyphs the
        binarisation merged or broke do not change."""
        prof = self.ink[:, x0:x1].sum(axis=0).astype(np.float64)
        h = self.ink.shape[0]
        if len(prof) < 3 * h:
            return None
        prof -= prof.mean()
        n = 1 << int(np.ceil(np.log2(2 * len(prof))))
        f = np.fft.rfft(prof, n)
        ac = np.fft.irfft(f * np.conj(f), n)[: len(prof)]
        lo, hi = int(0.3 * h), int(1.0 * h)
        if hi <= lo + 2 or ac[0] <= 0:
            return None
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] < 0.2 * ac[0]:
            return None
        # sub-sample peak (parabola through the neighbours)
        a, b, c = ac[lag - 1], ac[lag], ac[min(lag + 1, len(ac) - 1)]
        den = a - 2 * b + c
        return float(lag + (0.5 * (a - c) / den if den < 0 else 0.0))

    def _glyphs(self) -> np.ndarray:
        """[x0, x1] of the components of glyph height, left to right (not touching both strip edges)."""
        import cv2

        n, _, stats, _ = cv2.connectedComponentsWithStats(self.ink, connectivity=8)
        h = self.ink.shape[0]
        out = [(stats[i, 0], stats[i, 0] + stats[i, 2]) for i in range(1, n)
               if 0.2 * h < stats[i, 3] < 0.9 * h and stats[i, 4] > 4
               and not (stats[i, 1] == 0 and stats[i, 1] + stats[i, 3] >= h)]
        return np.array(sorted(out), float).reshape(-1, 2)

    def _px(self, t: float) -> float:
        return (t + 0.5) * self.scale

    def _binarise(self) -> np.ndarray:
        import cv2

        # local threshold: glare and uneven light fade one end of a line, which a global one loses
        block = int(self.strip.shape[0]) | 1
        ink = cv2.adaptiveThreshold(self.strip, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 0)
        contrast = cv2.dilate(self.strip, np.ones((block, block), np.uint8)).astype(np.int16) - \
            cv2.erode(self.strip, np.ones((block, block), np.uint8))
        ink[contrast < 24] = 0  # flat paper: no ink, whatever the local mean says
        dark = self.strip.astype(np.int16) < cv2.blur(self.strip, (block, block)).astype(np.int16) - \
            0.15 * contrast
        return (ink & dark).astype(np.uint8)

    def _refine(self) -> float:
        """Least-squares fit of the glyphs' centres to the grid (a few rounds); returns the mean
        distance of the glyphs from their cells' centres, in pitches (how well ``length`` fits)."""
        import cv2

        n, _, stats, _ = cv2.connectedComponentsWithStats(self.ink, connectivity=8)
        height = self.ink.shape[0]
        xs = np.array([stats[i, 0] + stats[i, 2] / 2 for i in range(1, n)
                       if stats[i, 2] < 1.3 * self.pitch and 0.25 * height < stats[i, 3] < 0.9 * height
                       and stats[i, 4] > 3], float)
        for _ in range(3):
            if len(xs) < self.length // 3:
                break
            pos = (xs - self.origin) / self.pitch
            idx = np.round(pos)
            keep = (idx >= 0) & (idx < self.length) & (np.abs(pos - idx) < 0.3)
            if keep.sum() < self.length // 3 or len(set(idx[keep])) < 3:
                break
            pitch, origin = (float(v) for v in np.polyfit(idx[keep], xs[keep], 1))
            if not 0.9 * self.pitch < pitch < 1.1 * self.pitch:
                break
            self.pitch, self.origin = pitch, origin
        if not len(xs):
            return 0.5
        pos = (xs - self.origin) / self.pitch
        inside = (pos > -0.5) & (pos < self.length - 0.5)
        return float(np.mean(np.abs(pos[inside] - np.round(pos[inside])))) if inside.any() else 0.5

    @property
    def centres(self) -> np.ndarray:
        return self.origin + self.pitch * np.arange(self.length)

    def engine_scores(self) -> np.ndarray:
        """Log-probabilities per cell from the recogniser's characters over it (0 where none)."""
        out = np.full((self.length, 37), ENGINE_FLOOR, np.float32)
        seen = np.zeros(self.length, bool)
        pos = np.array([((self._px(a) + self._px(b)) / 2 - self.origin) / self.pitch
                        for lab, a, b in self.labels if lab != _FILLER])
        shift = float(np.angle(np.exp(2j * np.pi * pos).mean()) / (2 * np.pi)) if len(pos) else 0.0
        direct = len(self.labels) == self.length  # one reading per cell: the order places them
        prev = -1
        for k, (lab, a, b) in enumerate(self.labels):
            # else a character's cell is the one its emission centre falls in (less the recogniser's
            # systematic lead or lag), after the previous one's; a filler run covers its frames
            centre = k if direct else max(prev + 1, round(((self._px(a) + self._px(b)) / 2 - self.origin) / self.pitch - shift))
            lo, hi = centre, centre
            if lab == _FILLER and not direct:
                lo = max(prev + 1, min(centre, int(np.ceil((self._px(a) - self.origin) / self.pitch))))
                hi = max(lo, centre, int(np.floor((self._px(b) - self.origin) / self.pitch)))
            lo, hi = max(0, lo), min(self.length - 1, hi)
            if lo > hi:
                continue
            prev = hi
            p = self.probs[max(0, a - 1): b + 2, 1:38].max(axis=0)
            p = np.maximum(np.log(p / max(1e-6, p.sum()) + 1e-4), ENGINE_FLOOR)
            for c in range(lo, hi + 1):
                out[c] = np.maximum(out[c], p)
                seen[c] = True
        # a cell the recogniser left empty takes its neighbours' evidence when they agree (inside a
        # run of fillers the CTC collapse thinned), else none
        for c in np.nonzero(~seen)[0]:
            left = next((out[k] for k in range(c - 1, -1, -1) if seen[k]), None)
            right = next((out[k] for k in range(c + 1, self.length) if seen[k]), None)
            if left is not None and right is not None and left.argmax() == right.argmax() == _FILLER:
                out[c] = (left + right) / 2
            elif left is not None and right is None and left.argmax() == _FILLER:
                out[c] = left
            else:
                out[c] = 0.0
        return out

    def template_scores(self) -> np.ndarray:
        """OCR-B template margins per cell (0 for the best character, negative for the others)."""
        key = (self.pitch, self.origin)
        cache = self.__dict__.setdefault("_templates", {})
        if key not in cache:
            cache[key] = self._template_scores()
        return cache[key]

    def _template_scores(self) -> np.ndarray:
        ink = self.ink
        rows = np.nonzero(ink.sum(axis=1) > 0.02 * ink.shape[1])[0]
        if len(rows):
            ink = ink[rows[0]: rows[-1] + 1]
        width = ink.shape[1]
        cells = []
        for c in self.centres:  # never an empty cell (connected components of an empty array crash OpenCV)
            x0 = min(max(0, int(round(c - self.pitch / 2))), width - 1)
            cells.append(np.ascontiguousarray(ink[:, x0: max(x0 + 1, min(width, int(round(c + self.pitch / 2))))]))
        out = np.full((self.length, 37), -1.0, np.float32)
        for i, ranked in enumerate(_classify(cells, set(), ink.shape[0], set())):
            if not ranked:
                continue
            top = ranked[0][0]
            out[i] = min(-0.3, ranked[-1][0] - top - 0.1)
            for s, ch in ranked:
                out[i, ALPHABET.index(ch)] = s - top
        return out


def line_cells(strips, probs, lengths: tuple[int, ...]) -> list[LineCells] | None:
    """The cells of every line of a zone for the line length (of ``lengths``) the glyphs fit best."""
    best = None
    for length in lengths:
        cells = [LineCells(s, p, length) for s, p in zip(strips, probs, strict=True)]
        if not all(c.ok for c in cells):
            continue
        # the length the glyph chains span (the longest: a faint glyph breaks a chain, never lengthens
        # it), then how well the glyphs sit in their cells
        fit = abs(max(c.estimate for c in cells) - length) / 8 + float(np.mean([c.fit for c in cells]))
        if best is None or fit < best[0]:
            best = (fit, cells)
    if best is None:
        return None
    _share_grid(best[1])
    return best[1]


def _share_grid(cells: list[LineCells]) -> None:
    """The lines of a rectified zone start at the same column with the same pitch: a line whose grid
    is shifted from another's by a third of a cell or more (a dropped or faint first glyph moved its
    chain) takes the other's grid where the two readers agree on more of its cells there."""
    for c in cells:
        for other in cells:
            if other is c or abs(other.origin - c.origin) < c.pitch / 3 or abs(other.pitch - c.pitch) > 0.05 * c.pitch:
                continue
            if c._agreement(other.pitch, other.origin) > c._agreement(c.pitch, c.origin):
                c.pitch, c.origin = other.pitch, other.origin
