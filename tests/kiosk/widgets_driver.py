"""Draw the kiosk's StatusLine in each kind in a real Kivy window and report what was drawn (a subprocess of
tests/kiosk/test_kiosk_screens_steps.py: Kivy runs one app per process). Prints JSON.

    python -m tests.kiosk.widgets_driver
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    from kiosk import LATIN_FONT, configure_kivy

    configure_kivy(width=1200, height=780)
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.properties import StringProperty
    from kivy.uix.boxlayout import BoxLayout

    from kiosk._pictograms import HandPictogram
    from kiosk._widgets import KINDS, StatusLine

    out: dict = {}

    class Probe(App):
        font = StringProperty(LATIN_FONT)

        def build(self):
            box = BoxLayout(orientation="vertical")
            self.lines = {kind: StatusLine(kind=kind, text=f"{kind} text") for kind in KINDS}
            for line in self.lines.values():
                box.add_widget(line)
            self.empty = StatusLine(kind="failure", text="")
            self.long = StatusLine(kind="warning", text="word " * 60)
            box.add_widget(self.empty)
            box.add_widget(self.long)
            hands = BoxLayout(size_hint_y=None, height=300)
            self.hands = {"right_slap": HandPictogram(hand="right", highlighted=[2, 3, 4, 5]),
                          "left_slap": HandPictogram(hand="left", highlighted=[7, 8, 9, 10]),
                          "left_middle": HandPictogram(hand="left", highlighted=[8]),
                          "right_index": HandPictogram(hand="right", highlighted=[2])}
            for hand in self.hands.values():
                hands.add_widget(hand)
            box.add_widget(hands)
            self._seen, self._stable = None, 0
            self._ev = Clock.schedule_interval(self.settle, 0)
            return box

        def settle(self, _dt):
            """Report once the layout has stopped changing for a few frames (no fixed delay)."""
            state = [(tuple(w.pos), tuple(w.size), tuple(w.label.texture_size))
                     for w in (*self.lines.values(), self.long)]
            state += [(tuple(w.pos), tuple(w.size)) for w in self.hands.values()]
            self._stable = self._stable + 1 if state == self._seen else 0
            self._seen = state
            if self._stable >= 5:
                self._ev.cancel()
                try:
                    self.report()
                except Exception as e:  # noqa: BLE001 - reported, then the app stops
                    out["error"] = f"{type(e).__name__}: {e}"
                    self.stop()

        def report(self):
            from pathlib import Path

            import numpy as np

            target = Path(sys.argv[1] if len(sys.argv) > 1 else "var/screenshots/kiosk/widgets/statusline.png")
            target.parent.mkdir(parents=True, exist_ok=True)
            shot = Window.screenshot(name=str(target))
            Path(shot).replace(target)
            shot = target
            from PIL import Image

            im = np.asarray(Image.open(shot).convert("RGB"))
            h = im.shape[0]
            for kind, line in self.lines.items():
                icon = line.icon
                x0, y0 = (int(v) for v in icon.to_window(*icon.pos))
                w, hh = int(icon.width), int(icon.height)
                patch = im[h - y0 - hh:h - y0, x0:x0 + w]
                lit = patch.reshape(-1, 3)[patch.reshape(-1, 3).sum(1) > 150]
                out[kind] = {
                    "color": [round(float(c), 1) for c in (lit.mean(0) if len(lit) else (0, 0, 0))],
                    "ink": int(len(lit)),
                    "mask": (patch.sum(2) > 150).astype(int).tolist(),
                    "label_color": [round(float(c), 3) for c in line.label.color],
                    "text_visible": line.opacity == 1,
                }
            for name, hand in self.hands.items():
                x0, y0 = (int(v) for v in hand.to_window(*hand.pos))
                w, hh = int(hand.width), int(hand.height)
                patch = im[h - y0 - hh:h - y0, x0:x0 + w].astype(int)
                unit = min(w / 220, hh / 250)  # the pictogram's drawing units
                xs = (np.arange(w) - w / 2) / unit
                accent = (patch[..., 0] > 230) & (patch[..., 1] > 180) & (patch[..., 2] < 60)
                white = (patch > 230).all(axis=2)
                cols = np.nonzero(accent.any(axis=0))[0]
                outside = np.abs(xs) > 60  # beside the palm: only the thumb is drawn there
                out[name] = {"accent_span": [round(float(xs[cols.min()]), 1), round(float(xs[cols.max()]), 1)]
                             if len(cols) else None,
                             "white_left": int(white[:, outside & (xs < 0)].sum()),
                             "white_right": int(white[:, outside & (xs > 0)].sum())}
            out["empty"] = {"opacity": self.empty.opacity, "height": self.empty.height}
            out["long"] = {"label_width": self.long.label.width, "width": self.long.width,
                           "height": self.long.height, "one_line_height": self.lines["warning"].label.texture_size[1],
                           "texture_height": self.long.label.texture_size[1]}
            self.stop()

    Probe().run()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
