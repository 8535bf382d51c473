"""The final screen's helpers (issue #20 item 6): which outcomes send the traveller to an officer, the
"take your document" pictogram, and whether a document lies on the reader.

A referral screen stays until the traveller touches it or the next traveller places a document; it never
vanishes on a timer. The reminder to take the document back is shown while a document read in this session
may still lie on the reader, and goes only on evidence that it was taken: the chip reader's ``card_present``
(PC/SC: ``SCARD_STATE_PRESENT``; the simulator's reader) going from present to absent on this screen, or absent
after the chip was read in this session. The page scanner is never asked (it could only tell by reading the
traveller's data again); a reader that cannot tell is "unknown" (None), and the screen then stays until touched.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

from kivy.graphics import (
    Color,
    Ellipse,
    Line,
    PopMatrix,
    PushMatrix,
    Rectangle,
    Rotate,
    RoundedRectangle,
    Triangle,
)
from kivy.metrics import dp
from kivy.uix.widget import Widget

from kiosk._widgets import message_kind

__all__ = ["REFERRAL_OUTCOMES", "done_kind", "document_present", "PresenceWatch", "TakeDocumentPictogram"]

log = logging.getLogger("kiosk")

#: outcomes whose screen sends the traveller to an officer ("see an officer"): they stay until touched
REFERRAL_OUTCOMES = frozenset({"referred", "duplicate_suspected", "parked"})


def done_kind(outcome: str) -> str:
    """The status kind of a final screen (:func:`kiosk._widgets.message_kind` of its message): a referral cannot
    go on here ("failure"), enrolled or queued is "success", a cancelled or timed-out session "warning"."""
    return message_kind(f"done.{outcome}")


def document_present(reader, mrz_source=None) -> bool | None:
    """True when the chip reader says a document lies in its field, False when it says none does, None when it
    cannot tell (no reader, no ``card_present``, an error). Blocking (a PC/SC status query): call it off the UI
    thread. ``mrz_source`` is not asked: its only way to tell is to read the traveller's printed data again, which
    after a refused consent or a finished session must not happen; a kiosk whose reader cannot tell keeps the
    reminder and the screen until touched."""
    del mrz_source
    if reader is None:
        return None
    try:
        present = getattr(reader, "card_present", None)
    except Exception as e:  # noqa: BLE001 - a reader that cannot answer cannot tell
        log.debug("card presence unknown: %s", type(e).__name__)
        return None
    return present if isinstance(present, bool) else None


class PresenceWatch:
    """Asks ``probe()`` every ``interval_s`` on a thread of its own and calls ``on_change(present)`` (from that
    thread) with the first answer and each change, until :meth:`stop`."""

    def __init__(self, probe: Callable[[], bool | None], on_change: Callable[[bool | None], None], *,
                 interval_s: float = 0.3) -> None:
        self.probe = probe
        self.on_change = on_change
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="kiosk-document-presence")

    def start(self) -> PresenceWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop asking; waits (briefly) for a probe in progress, so no query of this screen overlaps the next
        traveller's use of the reader."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)

    def _run(self) -> None:
        last: object = object()
        while not self._stop.is_set():
            present = self.probe()
            if present != last and not self._stop.is_set():
                last = present
                self.on_change(present)
            self._stop.wait(self.interval_s)


_READER = (0.30, 0.32, 0.40, 1)
_GLASS = (0.55, 0.80, 1.00, 1)
_COVER = (0.62, 0.12, 0.18, 1)  # a passport's cover
_GOLD = (1.00, 0.84, 0.00, 1)
_SKIN = (0.96, 0.78, 0.62, 1)
_SKIN_LINE = (0.55, 0.38, 0.28, 1)
_ARROW = (1.00, 0.84, 0.00, 1)


class TakeDocumentPictogram(Widget):
    """A hand lifting a passport off the reader, an arrow pointing up: "take your document back", drawn with
    canvas instructions (no image file, no emoji: the kiosk's fonts have none)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.bind(pos=self._draw, size=self._draw)
        self._draw()

    def _draw(self, *_args) -> None:
        self.canvas.clear()
        s = min(self.width, self.height * 1.25)
        if s <= dp(20):
            return
        x0, y0 = self.center_x - s * 0.5, self.y + (self.height - s * 0.8) / 2  # a 1 x 0.8 box, centred
        w, h = s, s * 0.8
        with self.canvas:
            # the reader: a slab with its glass and the contactless waves
            Color(*_READER)
            RoundedRectangle(pos=(x0 + w * 0.08, y0), size=(w * 0.84, h * 0.22), radius=[dp(8)])
            Color(*_GLASS)
            Rectangle(pos=(x0 + w * 0.2, y0 + h * 0.15), size=(w * 0.6, h * 0.04))
            for i in range(3):
                r = h * (0.05 + 0.045 * i)
                Line(circle=(x0 + w * 0.82, y0 + h * 0.08, r, 20, 70), width=dp(1.6))
            # the passport, lifted and tilted
            px, py, pw, ph = x0 + w * 0.3, y0 + h * 0.27, w * 0.34, h * 0.44
            PushMatrix()
            Rotate(angle=-8, origin=(px + pw / 2, py + ph / 2))
            Color(*_COVER)
            RoundedRectangle(pos=(px, py), size=(pw, ph), radius=[dp(6)])
            Color(*_GOLD)
            Line(circle=(px + pw / 2, py + ph * 0.58, pw * 0.2), width=dp(1.8))
            Line(points=[px + pw * 0.25, py + ph * 0.22, px + pw * 0.75, py + ph * 0.22], width=dp(1.8))
            PopMatrix()
            # the hand gripping its top edge: a palm above, four fingers over the edge, the thumb in front
            top = py + ph
            Color(*_SKIN)
            Rectangle(pos=(px + pw * 0.3, top + h * 0.1), size=(pw * 0.42, h * 0.18))  # the wrist
            Ellipse(pos=(px + pw * 0.1, top - h * 0.02), size=(pw * 0.82, h * 0.2))  # the back of the hand
            for i in range(4):
                fx = px + pw * (0.2 + 0.18 * i)
                Line(points=[fx, top + h * 0.06, fx, top - h * 0.09], width=pw * 0.06, cap="round")
            Line(points=[px + pw * 0.86, top + h * 0.06, px + pw * 0.98, top - h * 0.05], width=pw * 0.065,
                 cap="round")
            Color(*_SKIN_LINE)
            for i in range(3):
                fx = px + pw * (0.29 + 0.18 * i)
                Line(points=[fx, top + h * 0.05, fx, top - h * 0.06], width=dp(1))
            # the arrow: up, away from the reader
            Color(*_ARROW)
            ax, aw = x0 + w * 0.86, w * 0.035
            Line(points=[ax, y0 + h * 0.42, ax, y0 + h * 0.82], width=aw / 2)
            Triangle(points=[ax - aw * 2.2, y0 + h * 0.8, ax + aw * 2.2, y0 + h * 0.8, ax, y0 + h * 0.8
                             + aw * 2.2 * math.sqrt(3)])
