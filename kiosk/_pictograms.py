"""Pictograms drawn with Kivy canvas instructions (no image files): the documents as they lie on the reader, a
hand showing which fingers to place, and the three-bar fingerprint quality indicator.

- :class:`DocumentPictogram` ``kind``: "passport" (a booklet open at the photo page, laid face down on the
  reader: the page's printed lines at the glass), "id_card" (a chip citizen ID card, TD1: chip contacts,
  photo, three printed lines) or "border_pass" (the smaller border-pass booklet, open at its photo page).
- :class:`HandPictogram`: a hand seen from above as it lies on the scanner (palm down: the right hand's thumb
  is on the left), ``hand`` "right" or "left" (the mirror image), ``highlighted`` the ISO/IEC 19794-2 finger
  positions to place (2-5 right index to little, 7-10 left), drawn filled in the accent colour with their
  tips on the scanner's glass; the others are outlines.
- :class:`QualityBars`: ``level`` "good" (three green bars), "acceptable" (two amber) or "poor" (one red).
  :func:`quality_level` grades a finger's score against the engine's own acceptance threshold.
"""

from __future__ import annotations

from kivy.graphics import Color, Ellipse, Line, Rectangle, RoundedRectangle, Triangle
from kivy.properties import ListProperty, OptionProperty
from kivy.uix.widget import Widget

__all__ = ["DOCUMENT_KINDS", "QUALITY_LEVELS", "DocumentPictogram", "HandPictogram", "QualityBars", "document_kind",
           "hand_of", "quality_level"]

DOCUMENT_KINDS = ("passport", "id_card", "border_pass")
QUALITY_LEVELS = ("poor", "acceptable", "good")
ACCENT = (1, 0.84, 0, 1)
FG = (1, 1, 1, 1)
DIM = (0.55, 0.58, 0.66, 1)
PANEL = (0.12, 0.13, 0.18, 1)
GLASS = (0.16, 0.30, 0.42, 1)
QUALITY_COLORS = {"good": (0.35, 0.90, 0.45, 1), "acceptable": (1.00, 0.84, 0.00, 1), "poor": (1.00, 0.45, 0.40, 1)}


def document_kind(mrz) -> str:
    """The kind of document an :class:`emrtd.Mrz` belongs to, by its ICAO document code (Doc 9303 Part 4-5):
    "P..." a passport, "I..." an identity card (the chip citizen ID card, TD1), "A..."/"C..." another official
    travel document in card or booklet form (the border pass); "" when unknown (say "document")."""
    code = (getattr(mrz, "document_code", "") or "").upper()
    if code.startswith("P"):
        return "passport"
    if code.startswith("I"):
        return "id_card"
    if code[:1] in ("A", "C"):
        return "border_pass"
    return ""


def hand_of(positions) -> str:
    """"right" for ISO finger positions 1-5, "left" for 6-10."""
    return "right" if positions and min(positions) <= 5 else "left"


def quality_level(score: float, passed: bool, threshold: float | None) -> str:
    """A finger impression's quality in words, from the engine's own decision and acceptance threshold:
    "poor" when the engine refused it (``passed`` False: below the threshold, or a reason such as a smudge),
    "good" once it clears the threshold by the threshold's own height again (``score >= 2 * threshold``,
    at most halfway from the threshold to the scale's top, 100), "acceptable" in between. Without a known
    threshold an accepted impression is "good"."""
    if not passed:
        return "poor"
    if threshold is None or threshold <= 0:
        return "good"
    good_from = min(2 * threshold, (threshold + 100) / 2)
    return "good" if score >= good_from else "acceptable"


class _Drawn(Widget):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.bind(pos=self._redraw, size=self._redraw)

    def _redraw(self, *_args) -> None:
        self.canvas.clear()
        if self.width > 1 and self.height > 1:
            with self.canvas:
                self.draw()

    def draw(self) -> None:  # pragma: no cover - subclasses
        raise NotImplementedError


class DocumentPictogram(_Drawn):
    """One document on the reader (see the module docstring), drawn to fit the widget."""

    kind = OptionProperty("passport", options=DOCUMENT_KINDS)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.bind(kind=self._redraw)
        self._redraw()

    def draw(self) -> None:
        w, h = self.size
        s = min(w / 260, h / 190)  # the drawing's own units: 260 x 190
        ox, oy = self.center_x - 130 * s, self.center_y - 95 * s

        def box(x, y, bw, bh):
            return ox + x * s, oy + y * s, bw * s, bh * s

        # the reader: a dark body with its glass
        Color(*PANEL)
        x, y, bw, bh = box(5, 0, 250, 110)
        RoundedRectangle(pos=(x, y), size=(bw, bh), radius=[10 * s])
        Color(*GLASS)
        x, y, bw, bh = box(20, 12, 220, 86)
        Rectangle(pos=(x, y), size=(bw, bh))
        Color(*DIM)
        Line(rectangle=(x, y, bw, bh), width=max(1.0, 1.2 * s))
        if self.kind == "passport":
            self._booklet(box, page=(68, 30, 124, 84), spine=True)
        elif self.kind == "border_pass":
            self._booklet(box, page=(88, 34, 84, 66), spine=True, small=True)
        else:
            self._card(box)
        # "face down": an arrow from above onto the glass
        Color(*ACCENT)
        cx = self.center_x
        Line(points=[cx, oy + 188 * s, cx, oy + 152 * s], width=max(1.5, 3 * s))
        Triangle(points=[cx - 10 * s, oy + 156 * s, cx + 10 * s, oy + 156 * s, cx, oy + 140 * s])

    def _booklet(self, box, page, spine: bool, small: bool = False) -> None:
        px, py, pw, ph = page
        # the open booklet: the cover of the other half rises from the reader (seen edge on, above the glass)
        Color(0.20, 0.32, 0.62, 1) if not small else Color(0.15, 0.45, 0.35, 1)
        x, y, bw, bh = box(px, py + ph - 4, pw, 40 if not small else 32)
        Triangle(points=[x, y, x + bw, y, x + bw * 0.12, y + bh])
        # the photo page, face down on the glass: as the reader sees it (photo, printed lines)
        Color(0.93, 0.92, 0.86, 1)
        x, y, bw, bh = box(px, py, pw, ph)
        RoundedRectangle(pos=(x, y), size=(bw, bh), radius=[4 * box(0, 0, 1, 1)[2]])
        Color(*DIM)
        ph_x, ph_y, ph_w, ph_h = box(px + 8, py + ph * 0.38, pw * 0.26, ph * 0.5)
        Rectangle(pos=(ph_x, ph_y), size=(ph_w, ph_h))
        Color(0.25, 0.25, 0.3, 1)
        for i in range(3 if small else 4):  # data lines beside the photo
            lx, ly, lw, _ = box(px + 12 + pw * 0.26, py + ph * (0.78 - i * 0.11), pw * 0.55, 1)
            Line(points=[lx, ly, lx + lw, ly], width=max(1.0, 1.6 * box(0, 0, 1, 1)[2]))
        for i in range(2):  # the printed MRZ lines at the bottom
            lx, ly, lw, _ = box(px + 6, py + 8 + i * 9, pw - 12, 1)
            Line(points=[lx, ly, lx + lw, ly], width=max(1.0, 2.4 * box(0, 0, 1, 1)[2]), dash_length=3,
                 dash_offset=2)
        if spine:
            Color(0.20, 0.32, 0.62, 1) if not small else Color(0.15, 0.45, 0.35, 1)
            x, y, bw, bh = box(px + pw - 3, py, 6, ph)
            Rectangle(pos=(x, y), size=(bw, bh))

    def _card(self, box) -> None:
        # an ID-1 card (85.6 x 54 mm), face down: chip contacts, photo, three printed lines (TD1)
        cx, cy, cw, ch = 73, 22, 114, 72
        Color(0.88, 0.93, 0.97, 1)
        x, y, bw, bh = box(cx, cy, cw, ch)
        unit = box(0, 0, 1, 1)[2]
        RoundedRectangle(pos=(x, y), size=(bw, bh), radius=[6 * unit])
        Color(0.85, 0.68, 0.22, 1)  # the chip's contacts
        x, y, bw, bh = box(cx + 10, cy + 38, 20, 16)
        RoundedRectangle(pos=(x, y), size=(bw, bh), radius=[2 * unit])
        Color(0.5, 0.38, 0.1, 1)
        Line(points=[x, y + bh / 2, x + bw, y + bh / 2], width=max(1.0, unit))
        Line(points=[x + bw / 2, y, x + bw / 2, y + bh], width=max(1.0, unit))
        Color(*DIM)  # the photo
        x, y, bw, bh = box(cx + cw - 34, cy + 30, 26, 34)
        Rectangle(pos=(x, y), size=(bw, bh))
        Color(0.25, 0.25, 0.3, 1)
        for i in range(3):
            lx, ly, lw, _ = box(cx + 6, cy + 7 + i * 8, cw - 12, 1)
            Line(points=[lx, ly, lx + lw, ly], width=max(1.0, 2.2 * unit), dash_length=3, dash_offset=2)


#: finger geometry in the drawing's units (a right hand seen from above): (x of the base, length, width);
#: index 1 thumb ... 5 little finger
_FINGERS = {1: (-62, 62, 22), 2: (-36, 96, 19), 3: (-11, 108, 19), 4: (14, 98, 18), 5: (38, 76, 16)}


class HandPictogram(_Drawn):
    """A hand on the scanner (see the module docstring). ``highlighted``: ISO positions to place."""

    hand = OptionProperty("right", options=("right", "left"))
    highlighted = ListProperty([])

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.bind(hand=self._redraw, highlighted=self._redraw)
        self._redraw()

    def finger_positions(self) -> list[int]:
        """The ISO positions drawn, thumb first (1-5 for the right hand, 6-10 for the left)."""
        base = 0 if self.hand == "right" else 5
        return [base + i for i in range(1, 6)]

    def draw(self) -> None:
        w, h = self.size
        s = min(w / 220, h / 250)  # the drawing's own units: 220 x 250, the wrist at the bottom
        mirror = -1 if self.hand == "left" else 1
        cx, base_y = self.center_x, self.center_y - 125 * s

        def px(x: float) -> float:
            return cx + mirror * x * s

        highlighted = set(self.highlighted)
        # the scanner's glass under the fingertips
        Color(*GLASS)
        Rectangle(pos=(cx - 100 * s, base_y + 150 * s), size=(200 * s, 96 * s))
        Color(*DIM)
        Line(rectangle=(cx - 100 * s, base_y + 150 * s, 200 * s, 96 * s), width=max(1.0, 1.2 * s))
        # the palm
        palm_y = base_y + 20 * s
        Color(*PANEL)
        RoundedRectangle(pos=(cx - 52 * s, palm_y), size=(104 * s, 128 * s), radius=[30 * s])
        Color(*FG)
        Line(rounded_rectangle=(cx - 52 * s, palm_y, 104 * s, 128 * s, 30 * s), width=max(1.0, 2 * s))
        for i, (bx, length, width) in _FINGERS.items():
            pos = i if self.hand == "right" else i + 5
            if i == 1:  # the thumb, from the side of the palm, pointing up and out
                x0, y0 = px(-44), palm_y + 50 * s
                x1, y1 = px(-44 - 34), palm_y + 50 * s + 50 * s
            else:
                x0, y0 = px(bx), palm_y + 118 * s
                x1, y1 = x0, y0 + length * s
            on = pos in highlighted
            Color(*(ACCENT if on else FG))  # the outline, then the finger inside it
            Line(points=[x0, y0, x1, y1], width=width * s / 2 + max(1.0, 1.5 * s), cap="round")
            Color(*(ACCENT if on else PANEL))
            Line(points=[x0, y0, x1, y1], width=width * s / 2, cap="round")
            if on:  # the tip's print on the glass
                Color(0, 0, 0, 0.55)
                Ellipse(pos=(x1 - width * s * 0.3, y1 - width * s * 0.1), size=(width * s * 0.6, width * s * 0.6))


class QualityBars(_Drawn):
    """Three rising bars: one lit for "poor" (red), two for "acceptable" (amber), three for "good" (green)."""

    level = OptionProperty("poor", options=QUALITY_LEVELS)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.bind(level=self._redraw)
        self._redraw()

    @property
    def lit(self) -> int:
        return QUALITY_LEVELS.index(self.level) + 1

    def draw(self) -> None:
        w, h = self.size
        bw = w / 4
        gap = (w - 3 * bw) / 2
        for i in range(3):
            bh = h * (0.45 + 0.275 * i)
            Color(*(QUALITY_COLORS[self.level] if i < self.lit else PANEL))
            Rectangle(pos=(self.x + i * (bw + gap), self.y), size=(bw, bh))
