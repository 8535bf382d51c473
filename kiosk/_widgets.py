"""Reusable kiosk widgets: the status line (progress, success, warning, failure) and the step indicator.

:class:`StatusLine` shows one message with a colour *and* a shape drawn on the canvas for its kind, so a
traveller who does not read the language, or does not tell red from green, still sees whether the kiosk
is working (an hourglass in a ring), is done (a tick in a disc), needs something again (a triangle with
"!") or cannot go on (a cross in a disc). No emoji: the kiosk's fonts have none, and Kivy has no font
fallback. :func:`message_kind` maps the workflow's message keys to those kinds.

Use from a .kv file::

    StatusLine:
        kind: 'warning'
        text: app.t('finger.press_harder', app.lang)
"""

from __future__ import annotations

import math

from kivy.app import App
from kivy.core.text import Label as CoreLabel
from kivy.graphics import Color, Ellipse, Line, Triangle
from kivy.metrics import dp, sp
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, OptionProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

__all__ = ["KINDS", "KIND_COLORS", "STEPS", "StatusIcon", "StatusLine", "StepBadge", "StepIndicator", "message_kind",
           "step_states"]

KINDS = ("progress", "success", "warning", "failure")
#: each kind's colour on the kiosk's near-black background (contrast >= 7:1 for text)
KIND_COLORS: dict[str, tuple[float, float, float, float]] = {
    "progress": (0.55, 0.80, 1.00, 1),  # light blue: the kiosk is working, nothing to do
    "success": (0.35, 0.90, 0.45, 1),  # green
    "warning": (1.00, 0.84, 0.00, 1),  # amber (the kiosk's accent): do something and try again
    "failure": (1.00, 0.45, 0.40, 1),  # light red: cannot go on here
}
_BG = (0.04, 0.05, 0.08, 1)  # the screens' background, for the strokes cut out of a filled icon

#: message keys whose kind is not "warning" (the default: a problem the traveller can fix and retry)
_PROGRESS = ("document.reading", "chip.reading", "review.submitting", "face.hold_still", "app.officer_calling")
_SUCCESS = ("document.read_ok", "chip.read_ok", "finger.ok", "face.captured", "app.officer_coming",
            "done.accepted", "done.queued")
_FAILURE = ("document.reader_fault", "document.document_expired", "document.chip_pa_failed",
            "document.chip_aa_failed", "document.chip_ca_failed", "document.chip_cloned", "document.chip_key_unusable",
            "document.mrz_mismatch",
            "face.referred", "finger.referred", "face.liveness_failed", "app.officer_unreachable", "done.referred",
            "done.parked", "done.duplicate_suspected")


def message_kind(key: str, *, final: bool = False) -> str:
    """The kind of a message key: "progress" (``*.reading``, sending, hold still), "success" (``*.read_ok``,
    ``finger.ok``, photo taken), "failure" (refusals: an expired or unverifiable document, a referral, a
    reader fault) or "warning" (a retryable problem: no card, press harder...). ``final``: no attempt is
    left, so a retryable problem is a failure too."""
    if key in _PROGRESS or key.endswith(".reading"):
        return "progress"
    if key in _SUCCESS or key.endswith(".read_ok"):
        return "success"
    if key in _FAILURE or key.startswith("reason.") or key.endswith(".referred"):
        return "failure"
    return "failure" if final else "warning"


class StatusIcon(Widget):
    """The kind's shape, drawn with canvas instructions in the kind's colour (redrawn on size and kind)."""

    kind = OptionProperty("progress", options=KINDS)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.bind(pos=self._draw, size=self._draw, kind=self._draw)
        self._draw()

    def _draw(self, *_args) -> None:
        self.canvas.clear()
        r = min(self.width, self.height) / 2
        if r <= 0:
            return
        cx, cy = self.center
        w = max(dp(2.5), r * 0.16)  # stroke width
        with self.canvas:
            Color(*KIND_COLORS[self.kind])
            if self.kind == "progress":  # an hourglass in a ring
                Line(circle=(cx, cy, r - w / 2), width=w / 2)
                a, h = r * 0.42, r * 0.55
                Line(points=[cx - a, cy + h, cx + a, cy + h, cx - a, cy - h, cx + a, cy - h], width=w / 2,
                     close=True)
                Triangle(points=[cx - a * 0.55, cy - h, cx + a * 0.55, cy - h, cx, cy - h * 0.35])  # sand below
            elif self.kind == "success":  # a tick in a disc
                Ellipse(pos=(cx - r, cy - r), size=(2 * r, 2 * r))
                Color(*_BG)
                Line(points=[cx - r * 0.5, cy, cx - r * 0.12, cy - r * 0.38, cx + r * 0.52, cy + r * 0.38],
                     width=w, cap="round", joint="round")
            elif self.kind == "warning":  # a triangle with "!"
                top = cy + r * math.sqrt(3) / 2 * 1.05
                Triangle(points=[cx - r, cy - r * 0.8, cx + r, cy - r * 0.8, cx, top])
                Color(*_BG)
                Line(points=[cx, cy + r * 0.45, cx, cy - r * 0.2], width=w * 0.8, cap="round")
                Ellipse(pos=(cx - w * 0.9, cy - r * 0.6 - w * 0.9), size=(w * 1.8, w * 1.8))
            else:  # failure: a cross in a disc
                Ellipse(pos=(cx - r, cy - r), size=(2 * r, 2 * r))
                Color(*_BG)
                d = r * 0.42
                Line(points=[cx - d, cy - d, cx + d, cy + d], width=w, cap="round")
                Line(points=[cx - d, cy + d, cx + d, cy - d], width=w, cap="round")


class StatusLine(BoxLayout):
    """One status message: ``text`` in the kind's colour after the kind's icon, centred as a group, wrapped
    when longer than the line; nothing shown (icon included) while ``text`` is empty (its height kept unless
    ``reserve`` is False).

    ``kind``: "progress" | "success" | "warning" | "failure" (:func:`message_kind` from a message key).
    ``font_size``/``bold`` as a Label's; the font is the app's (the session language's) unless ``font_name``
    is set."""

    kind = OptionProperty("progress", options=KINDS)
    text = StringProperty("")
    color = ListProperty(list(KIND_COLORS["progress"]))
    font_size = NumericProperty(sp(28))
    font_name = StringProperty("")
    bold = BooleanProperty(False)
    icon_size = NumericProperty(dp(44))
    #: keep the line's height while it is empty (the screen does not jump when a message appears)
    reserve = BooleanProperty(True)

    def __init__(self, **kw) -> None:
        kw.setdefault("orientation", "horizontal")
        kw.setdefault("spacing", dp(16))
        kw.setdefault("size_hint_y", None)
        super().__init__(**kw)
        self.icon = StatusIcon(kind=self.kind, size_hint=(None, None), size=(self.icon_size, self.icon_size),
                               pos_hint={"center_y": 0.5})
        self.label = Label(halign="left", valign="middle", size_hint=(None, 1), markup=False)
        self._left, self._right = Widget(), Widget()
        for w in (self._left, self.icon, self.label, self._right):
            self.add_widget(w)
        app = App.get_running_app()
        if app is not None and hasattr(app, "font"):
            app.bind(font=lambda *_: self._layout())
        self.bind(kind=self._layout, text=self._layout, font_size=self._layout, font_name=self._layout,
                  bold=self._layout, width=self._layout, icon_size=self._layout, reserve=self._layout)
        self.label.bind(texture_size=self._fit_height)
        self._layout()

    @property
    def resolved_font(self) -> str:
        if self.font_name:
            return self.font_name
        app = App.get_running_app()
        return getattr(app, "font", "") or "Roboto"

    def _layout(self, *_args) -> None:
        self.color = list(KIND_COLORS[self.kind])
        self.icon.kind = self.kind
        self.icon.size = (self.icon_size, self.icon_size)
        shown = bool(self.text)
        self.opacity = 1 if shown else 0
        font = self.resolved_font
        label = self.label
        label.text, label.font_name, label.font_size, label.bold, label.color = (
            self.text, font, self.font_size, self.bold, self.color)
        room = max(dp(40), self.width - self.icon_size - self.spacing * 2 - dp(8))
        natural = 0.0
        for line in self.text.split("\n") if shown else ():
            natural = max(natural, CoreLabel(font_name=font, font_size=self.font_size, bold=self.bold)
                          .get_extents(line)[0])
        width = min(natural + dp(4), room)
        label.width = width
        label.text_size = (width, None)
        self._fit_height()

    def _fit_height(self, *_args) -> None:
        if self.text:
            self.height = max(self.icon_size + dp(8), self.label.texture_size[1] + dp(8))
        else:
            self.height = self.icon_size + dp(8) if self.reserve else 0


#: the traveller's steps, in order: (screen name, catalogue key of the step's name); the language screen is
#: step zero (no indicator), the done screen shows how far the session went
STEPS: tuple[tuple[str, str], ...] = (("document", "step.document"), ("consent", "step.consent"), ("chip", "step.chip"),
                                      ("face", "step.face"), ("fingerprints", "step.fingerprints"),
                                      ("review", "step.review"))
_STEP_NAMES = tuple(name for name, _ in STEPS)
#: outcomes that completed every step (the done screen ticks them all)
COMPLETED = ("accepted", "duplicate_suspected", "queued")
_DONE_GREEN = KIND_COLORS["success"]
_ACCENT = KIND_COLORS["warning"]
_DIM = (0.55, 0.58, 0.66, 1)


def step_states(screen: str, last_step: str = "", outcome: str = "") -> list[str]:
    """Each step's state for the screen shown: "done" (ticked), "current" (highlighted) or "todo". On the done
    screen: the steps before the last one reached are done, all of them when the enrolment completed."""
    if screen in _STEP_NAMES:
        i = _STEP_NAMES.index(screen)
        return ["done" if k < i else "current" if k == i else "todo" for k in range(len(STEPS))]
    if screen == "done":
        reached = _STEP_NAMES.index(last_step) if last_step in _STEP_NAMES else -1
        if outcome in COMPLETED:
            reached = len(STEPS)
        return ["done" if k < reached else "todo" for k in range(len(STEPS))]
    return ["todo"] * len(STEPS)


class StepBadge(Label):
    """A step's number in a circle: filled accent when current, a green disc with a tick drawn when done, an
    outline when to do."""

    state = OptionProperty("todo", options=("todo", "current", "done"))

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.bind(pos=self._draw, size=self._draw, state=self._draw)
        self._draw()

    def _draw(self, *_args) -> None:
        self.canvas.before.clear()
        self.canvas.after.clear()
        r = min(self.width, self.height) / 2 - dp(1)
        if r <= 0:
            return
        cx, cy = self.center
        self.color = (0, 0, 0, 1) if self.state == "current" else (0, 0, 0, 0) if self.state == "done" else _DIM
        with self.canvas.before:
            if self.state == "todo":
                Color(*_DIM)
                Line(circle=(cx, cy, r), width=dp(1.5))
            else:
                Color(*(_ACCENT if self.state == "current" else _DONE_GREEN))
                Ellipse(pos=(cx - r, cy - r), size=(2 * r, 2 * r))
        if self.state == "done":
            with self.canvas.after:
                Color(*_BG)
                Line(points=[cx - r * 0.5, cy, cx - r * 0.12, cy - r * 0.4, cx + r * 0.52, cy + r * 0.4],
                     width=max(dp(2), r * 0.16), cap="round", joint="round")


class StepIndicator(BoxLayout):
    """The six steps (document, consent, chip, photo, fingerprints, check), numbered, in the session's language:
    the current one highlighted, the finished ones ticked. Follows ``app.current_screen`` (and the done screen's
    outcome); hidden on the language screen (step zero). ``states``/``current`` for tests."""

    states = ListProperty(["todo"] * len(STEPS))
    current = StringProperty("")

    def __init__(self, **kw) -> None:
        kw.setdefault("orientation", "horizontal")
        kw.setdefault("spacing", dp(6))
        kw.setdefault("padding", (dp(12), dp(6)))
        super().__init__(**kw)
        self._last_step = ""
        self.badges: list[StepBadge] = []
        self.names: list[Label] = []
        for i, _ in enumerate(STEPS):
            item = BoxLayout(orientation="horizontal", spacing=dp(8))
            badge = StepBadge(text=str(i + 1), bold=True, font_size=sp(20), size_hint=(None, None),
                              size=(dp(38), dp(38)), pos_hint={"center_y": 0.5})
            name = Label(halign="left", valign="middle", font_size=sp(20), shorten=True, shorten_from="right")
            name.bind(size=lambda w, s: setattr(w, "text_size", s))
            item.add_widget(badge)
            item.add_widget(name)
            self.badges.append(badge)
            self.names.append(name)
            self.add_widget(item)
        app = App.get_running_app()
        if app is not None and hasattr(app, "current_screen"):
            app.bind(current_screen=self._update, lang=self._update, font=self._update)
        self._update()

    def _update(self, *_args) -> None:
        app = App.get_running_app()
        if app is None or not hasattr(app, "current_screen"):
            return
        screen = app.current_screen
        outcome = ""
        if screen in _STEP_NAMES:
            self._last_step = screen
        elif screen == "language":
            self._last_step = ""
        elif screen == "done" and hasattr(app, "sm"):
            outcome = getattr(app.screen("done"), "outcome", "")
        self.current = screen if screen in _STEP_NAMES else ""
        self.states = step_states(screen, self._last_step, outcome)
        for (_, key), badge, name, state in zip(STEPS, self.badges, self.names, self.states, strict=True):
            badge.state = state
            name.text = app.t(key)
            name.font_name = app.font
            name.bold = state == "current"
            name.color = _ACCENT if state == "current" else (1, 1, 1, 1) if state == "done" else _DIM
