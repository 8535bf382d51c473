"""The face screen's liveness guidance: an animated pictogram of what to do, and the challenge's countdown.

Drawn with canvas instructions (no image files): a face seen from the front, as in a mirror (the face screen's
preview is mirrored too, so the traveller's left is the screen's left):

* ``blink``: the eyes close and open again, slowly enough to see (every 2 s);
* ``turn_left`` / ``turn_right``: the head turns to that side and back (the nose moves towards the screen's left for
  the traveller's left), under an arrow pointing that way;
* ``look_at_camera``: the face looking up at a camera drawn above it, the camera pulsing.

:class:`Countdown`: a ring that empties with the seconds left for the current challenge and the whole seconds in
its middle (``seconds_left`` < 0: nothing shown). Both animate on Kivy's clock only while they show something.
"""

from __future__ import annotations

import math
import time

from kivy.clock import Clock
from kivy.graphics import Color, Ellipse, Line, Rectangle, Triangle
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, OptionProperty
from kivy.uix.label import Label
from kivy.uix.widget import Widget

__all__ = ["PICTOGRAMS", "Countdown", "LivenessPictogram", "pictogram_for"]

PICTOGRAMS = ("", "blink", "turn_left", "turn_right", "look_at_camera")
ACCENT = (1.0, 0.84, 0.0, 1)
INK = (0.92, 0.93, 0.96, 1)
_BG = (0.04, 0.05, 0.08, 1)


def pictogram_for(challenge_key: str | None) -> str:
    """The pictogram of a liveness message key (``liveness.turn_left`` -> ``turn_left``; others: "")."""
    kind = (challenge_key or "").removeprefix("liveness.")
    return kind if kind in PICTOGRAMS else ""


def _ease(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return 0.5 - 0.5 * math.cos(math.pi * x)


class LivenessPictogram(Widget):
    """``kind``: one of :data:`PICTOGRAMS` ("" draws nothing). ``phase`` is the animation's position (0-1,
    advanced on the clock), ``yaw`` (-1 screen-left .. 1 screen-right) and ``eyes`` (0 shut .. 1 open) what
    is drawn now (tests read them)."""

    kind = OptionProperty("", options=PICTOGRAMS)
    color = ListProperty(list(INK))
    accent = ListProperty(list(ACCENT))
    phase = NumericProperty(0.0)
    own_clock = BooleanProperty(True)
    yaw = NumericProperty(0.0)
    eyes = NumericProperty(1.0)
    #: seconds per animation cycle, per kind
    CYCLE = {"blink": 2.0, "turn_left": 3.0, "turn_right": 3.0, "look_at_camera": 1.6}
    #: redraws per second on its own clock: enough for a slow gesture, and few, as every change redraws the whole
    #: window (a software renderer pays for each, and Kivy holds the interpreter lock meanwhile). With
    #: ``own_clock`` False the owner calls :meth:`advance` instead (the face screen: with each preview frame, so
    #: the animation adds no redraw of its own)
    FPS = 10

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._ev = None
        self._t0 = time.monotonic()
        self.bind(pos=self._draw, size=self._draw, kind=self._kind_changed, color=self._draw, accent=self._draw)
        self._kind_changed()

    def _kind_changed(self, *_args) -> None:
        self._t0 = time.monotonic()
        if self.kind and self._ev is None and self.own_clock:
            self._ev = Clock.schedule_interval(self._tick, 1 / self.FPS)
        elif not self.kind and self._ev is not None:
            self._ev.cancel()
            self._ev = None
        self._tick(0)

    def advance(self) -> None:
        """Draw the animation as it is now (see ``own_clock``)."""
        self._tick(0)

    def _tick(self, _dt) -> None:
        cycle = self.CYCLE.get(self.kind, 1.0)
        self.phase = ((time.monotonic() - self._t0) / cycle) % 1.0
        p = self.phase
        self.yaw, self.eyes = 0.0, 1.0
        if self.kind == "blink":  # open, then shut for a moment, then open
            self.eyes = 1.0 - (_ease((p - 0.55) / 0.1) if p < 0.7 else 1.0 - _ease((p - 0.7) / 0.12))
        elif self.kind in ("turn_left", "turn_right"):  # front, out, held, back
            side = -1.0 if self.kind == "turn_left" else 1.0  # the traveller's left is the screen's left
            out = _ease((p - 0.12) / 0.3) if p < 0.55 else 1.0 - _ease((p - 0.62) / 0.28)
            self.yaw = side * out
        self._draw()

    def _draw(self, *_args) -> None:
        self.canvas.clear()
        if not self.kind or self.width <= 0 or self.height <= 0:
            return
        cx, cy = self.center
        r = min(self.width, self.height) / 2
        top = self.kind in ("turn_left", "turn_right", "look_at_camera")
        if top:  # room above the head for the arrow or the camera
            cy -= r * 0.14
            r *= 0.84
        rx, ry = r * 0.62, r * 0.8
        w = max(dp(2), r * 0.045)
        yaw, eyes = self.yaw, self.eyes
        off = yaw * rx * 0.42  # the features move towards the side the face turns to
        squeeze = 1.0 - 0.18 * abs(yaw)  # the head narrows a little as it turns
        with self.canvas:
            Color(*self.color)
            Line(ellipse=(cx - rx * squeeze, cy - ry, 2 * rx * squeeze, 2 * ry), width=w)
            # an ear on the side turned away from the viewer
            if abs(yaw) > 0.25:
                ex = cx - math.copysign(rx * squeeze, yaw)
                Line(ellipse=(ex - r * 0.07, cy - r * 0.12, r * 0.14, r * 0.28), width=w * 0.8)
            # eyes: the far one (towards the turn) a little narrower
            ey = cy + ry * 0.18
            for side in (-1, 1):
                near = 1.0 - 0.35 * max(0.0, side * yaw)
                ex = cx + off + side * rx * 0.42 * (1.0 - 0.25 * abs(yaw))
                ew, eh = r * 0.2 * near, r * 0.12
                if eyes > 0.12:
                    Line(ellipse=(ex - ew / 2, ey - eh * eyes / 2, ew, eh * eyes), width=w)
                    pupil = r * 0.05 * min(1.0, eyes * 1.5)
                    look_up = r * 0.025 if self.kind == "look_at_camera" else 0.0
                    Ellipse(pos=(ex - pupil + off * 0.15, ey - pupil + look_up), size=(2 * pupil, 2 * pupil))
                else:  # shut: a lid line with lashes
                    Line(points=[ex - ew / 2, ey, ex + ew / 2, ey], width=w)
                    for k in (-1, 0, 1):
                        Line(points=[ex + k * ew * 0.3, ey, ex + k * ew * 0.36, ey - eh * 0.45], width=w * 0.6)
            # nose: points towards the turn
            Line(points=[cx + off * 1.15, cy + ry * 0.05, cx + off * 1.45 + yaw * r * 0.1, cy - ry * 0.22,
                         cx + off * 1.1, cy - ry * 0.26], width=w * 0.9, joint="round")
            # mouth
            my = cy - ry * 0.5
            Line(points=[cx + off - rx * 0.3 * squeeze, my, cx + off, my - r * 0.04, cx + off + rx * 0.3 * squeeze, my],
                 width=w, joint="round")
            if self.kind in ("turn_left", "turn_right"):
                self._arrow(cx, cy + ry + r * 0.22, r, -1.0 if self.kind == "turn_left" else 1.0, w)
            elif self.kind == "look_at_camera":
                self._camera(cx, cy + ry + r * 0.24, r, w)

    def _arrow(self, cx: float, y: float, r: float, side: float, w: float) -> None:
        """A curved arrow over the head, pointing to ``side`` (-1 screen-left, 1 screen-right)."""
        Color(*self.accent)
        pts = []
        for i in range(13):
            a = math.radians(-55 + 110 * i / 12)
            pts += [cx + side * r * 0.7 * math.sin(a), y - r * 0.22 + r * 0.22 * math.cos(a)]
        Line(points=pts, width=w * 1.6, cap="round")
        tip_x, tip_y = pts[-2], pts[-1]
        h = r * 0.16
        Triangle(points=[tip_x + side * h, tip_y - h * 0.3, tip_x - side * h * 0.2, tip_y + h * 0.55,
                         tip_x - side * h * 0.1, tip_y - h * 0.75])

    def _camera(self, cx: float, y: float, r: float, w: float) -> None:
        pulse = 0.55 + 0.45 * math.sin(2 * math.pi * self.phase)
        Color(self.accent[0], self.accent[1], self.accent[2], pulse)
        bw, bh = r * 0.42, r * 0.24
        Rectangle(pos=(cx - bw / 2, y - bh / 2), size=(bw, bh))
        Color(*_BG)
        lens = r * 0.08
        Ellipse(pos=(cx - lens, y - lens), size=(2 * lens, 2 * lens))
        Color(self.accent[0], self.accent[1], self.accent[2], pulse)
        Line(circle=(cx, y, r * 0.3), width=w * 0.7)

    def on_parent(self, _widget, parent) -> None:
        if parent is None and self._ev is not None:
            self._ev.cancel()
            self._ev = None


class Countdown(Widget):
    """The seconds left for the current challenge: a ring that empties and the whole seconds in its middle.
    ``seconds_left`` < 0 hides it; ``total`` is the challenge's whole time. The number is shown, never spoken."""

    seconds_left = NumericProperty(-1.0)
    total = NumericProperty(6.0)
    color = ListProperty(list(ACCENT))
    shown = NumericProperty(0)  # the whole seconds drawn (tests read it)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.label = Label(bold=True, color=self.color, halign="center", valign="middle")
        self.add_widget(self.label)
        self.bind(pos=self._draw, size=self._draw, seconds_left=self._draw, total=self._draw, color=self._draw)
        self._draw()

    def _draw(self, *_args) -> None:
        self.canvas.before.clear()
        left = self.seconds_left
        visible = left >= 0 and self.width > 0
        self.label.opacity = 1 if visible else 0
        if not visible:
            self.shown = 0
            self.label.text = ""
            return
        self.shown = int(math.ceil(left))
        r = min(self.width, self.height) / 2 - dp(4)
        cx, cy = self.center
        frac = max(0.0, min(1.0, left / self.total)) if self.total > 0 else 0.0
        with self.canvas.before:
            Color(0.25, 0.26, 0.3, 1)
            Line(circle=(cx, cy, r), width=dp(5))
            Color(*self.color)
            if frac > 0:
                Line(circle=(cx, cy, r, 0, 360 * frac), width=dp(5), cap="round")
        self.label.size, self.label.pos = self.size, self.pos
        self.label.text_size = self.size  # centred in the ring
        self.label.font_size = r * 0.9
        self.label.color = self.color
        self.label.text = str(self.shown)
