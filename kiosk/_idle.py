"""The idle warning (issue #20 item 6): an overlay over whatever screen is open, shortly before the idle
time-out wipes the session, with a large countdown of the seconds left, "Are you still there?" and a big
"I'm still here" button that keeps the session. The countdown is the workflow's own (``idle_left()``), so
it is paused where the workflow pauses it (the consent text) and reaches zero when the session is wiped.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from kivy.graphics import Color, Line
from kivy.metrics import dp
from kivy.properties import NumericProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.modalview import ModalView
from kivy.uix.widget import Widget

__all__ = ["IdleOverlay", "CountdownRing"]

_PANEL = (0.12, 0.13, 0.18, 1)
_ACCENT = (1, 0.84, 0, 1)
_FG = (1, 1, 1, 1)


class CountdownRing(Widget):
    """A ring whose arc shrinks with the time left (``fraction`` 1 -> 0), the seconds in its middle."""

    fraction = NumericProperty(1.0)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.bind(pos=self._draw, size=self._draw, fraction=self._draw)

    def _draw(self, *_args) -> None:
        self.canvas.before.clear()
        r = min(self.width, self.height) / 2 - dp(8)
        if r <= 0:
            return
        with self.canvas.before:
            Color(0.25, 0.27, 0.35, 1)
            Line(circle=(self.center_x, self.center_y, r), width=dp(6))
            Color(*_ACCENT)
            end = 360 * max(0.0, min(1.0, self.fraction))
            if end > 0:
                Line(circle=(self.center_x, self.center_y, r, 0, end), width=dp(6), cap="round")


class IdleOverlay(ModalView):
    """Over the current screen: the question, the seconds left in large type, what happens, the button.
    :meth:`show` updates it (once a tick); ``still_here`` is called by the button."""

    seconds = NumericProperty(0)

    def __init__(self, texts: Callable[[str], str], font: str, warning_s: float,
                 still_here: Callable[[], None]) -> None:
        super().__init__(size_hint=(0.72, 0.82), auto_dismiss=False, background="", background_color=_PANEL,
                         overlay_color=(0, 0, 0, 0.8))
        self.warning_s = max(1.0, warning_s)
        box = BoxLayout(orientation="vertical", padding=dp(28), spacing=dp(12))
        self.title = Label(text=texts("app.idle_warning"), font_name=font, font_size="44sp", bold=True,
                           color=_ACCENT, size_hint_y=None, height=dp(70))
        self.ring = CountdownRing(size_hint_y=1)
        self.count = Label(text="", font_name=font, font_size="120sp", bold=True, color=_FG)
        self.unit = Label(text=texts("app.seconds_left"), font_name=font, font_size="24sp", color=_FG,
                          size_hint_y=None, height=dp(36))
        self.ring.add_widget(self.count)
        self.ring.bind(pos=lambda w, p: setattr(self.count, "pos", p), size=lambda w, s: setattr(self.count, "size", s))
        self.explain = Label(text=texts("app.idle_explain"), font_name=font, font_size="24sp", color=_FG,
                             halign="center", valign="middle", size_hint_y=None, height=dp(80))
        self.explain.bind(width=lambda w, width: setattr(w, "text_size", (width, None)))
        self.button = Button(text=texts("app.still_here"), font_name=font, font_size="36sp", bold=True,
                             size_hint_y=None, height=dp(130), background_normal="", background_down="",
                             background_color=_ACCENT, color=(0, 0, 0, 1))
        self.button.still_here = True  # how a scripted traveller finds it (tests/kiosk/gallery_driver.py)
        self.button.bind(on_release=lambda *_: still_here())
        for w in (self.title, self.ring, self.unit, self.explain, self.button):
            box.add_widget(w)
        self.add_widget(box)

    def show(self, left_s: float) -> None:
        """The seconds left (rounded up: "1" until the very end) and the ring's arc."""
        self.seconds = max(0, math.ceil(left_s))
        self.count.text = str(self.seconds)
        self.ring.fraction = left_s / self.warning_s
