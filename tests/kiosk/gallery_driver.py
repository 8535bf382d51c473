"""Every kiosk screen in every language, as a traveller sees it: PNGs for a reviewer (``make screenshots``,
``var/screenshots/kiosk/<lang>/``) and for the screenshot tests (tests/kiosk/test_gallery.py).

    python -m tests.kiosk.gallery_driver --out DIR --result FILE [--langs vi,zh,en]

The kiosk is built by the deployment's composition (``smartborder.compose.kiosk.build_kiosk`` and ``kiosk_app``, with
officer directions as ``config/kiosk.example.toml`` sets them) on the simulator's devices (the simulated traveller follows the liveness instructions on the screen); its back-office
client is the production ``BackofficeClient`` over an in-process back office (a fresh one per language, so
each language's first enrolment is accepted). A scripted traveller (:class:`kiosk.sim.Autopilot`'s taps,
real touch events) walks through, per language: the language, document, consent, chip, face (a liveness
challenge on screen), fingerprint (before and after a capture), review, officer-call and idle screens, an
accepted enrolment, a face step that fails once (the retry message) and then refers (the referral screen),
and a declined consent.

Per screenshot the result lists every visible label (text, window box, colour, font, the font file Kivy
resolved) and, for labels with Chinese text, the alpha bitmaps of that text drawn with the same options in the
kiosk's Simplified Chinese face and in the collection's face 0 (Japanese forms), saved beside the PNG as
``<name>.sc.npz``, so the tests can check the glyph shapes on the screenshot's own pixels.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

HANZI = re.compile(r"[\u4e00-\u9fff]")
DIRECTIONS = {"vi": "Quầy số 3, bên trái bạn", "zh": "请到左手边3号柜台", "en": "Counter 3, on your left"}


def _backoffice_client():
    """The production back-office client over a fresh in-process back office (its own database)."""
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

    from devicelink import BackofficeClient
    from smartborder.compose.backoffice import build_backoffice
    from smartborder.settings import load_settings

    data = tempfile.mkdtemp(prefix="kiosk-gallery-backoffice-")
    app = build_backoffice(load_settings(environ={}, data_dir=data), environ={}, db_path=os.path.join(data, "bo.db"),
                           argon2_time_cost=1, argon2_memory_kib=1024)
    _, token = app.state.ctx.auth.issue_device("kiosk-01", "kiosk", "Kiosk 1", "Hall")
    return BackofficeClient(token=token, http=TestClient(app))


class PacedReader:
    """The simulated reader at a contactless chip's pace (a few ms per APDU, as a real chip and reader
    answer), so the chip screen is on screen long enough to be seen; everything else is the reader's own."""

    def __init__(self, reader, seconds_per_apdu: float = 0.01) -> None:
        self._reader, self._pace = reader, seconds_per_apdu

    def transmit(self, apdu: bytes) -> bytes:
        time.sleep(self._pace)
        return self._reader.transmit(apdu)

    def __getattr__(self, name):
        return getattr(self._reader, name)


def _labels(root) -> list:
    """Every label drawn on screen under ``root`` (buttons are labels too), visible and with text."""
    from kivy.uix.label import Label

    out = []
    for w in root.walk(restrict=False):
        if not isinstance(w, Label) or not w.text.strip() or w.texture is None:
            continue
        if w.opacity <= 0 or any(p.opacity <= 0 for p in _parents(w)):
            continue
        out.append(w)
    return out


def _parents(w):
    p = w.parent
    while p is not None and p is not p.parent:
        yield p
        p = p.parent


def _describe(w) -> dict:
    """A label's text, where its texture is drawn in the window (Kivy draws it centred on the widget), its
    colour, font and the font file Kivy resolved."""
    tw, th = w.texture_size
    cx, cy = w.to_window(w.center_x, w.center_y)
    x, y = int(cx - tw / 2.0), int(cy - th / 2.0)
    from kivy.uix.scrollview import ScrollView

    opacity = w.opacity
    clipped = False
    for p in _parents(w):
        opacity *= p.opacity
        if isinstance(p, ScrollView):  # drawn only where the scroll view shows it
            sx, sy = p.to_window(p.x, p.y)
            clipped |= y < sy or x < sx or y + th > sy + p.height or x + tw > sx + p.width
    return {"text": w.text, "box": [x, y, int(tw), int(th)], "opacity": round(opacity, 3), "clipped": clipped, "color": [round(c, 3) for c in w.color],
            "font_name": w.font_name, "bold": bool(w.bold),
            "font_file": w._label.options.get("font_name_r", "") if getattr(w, "_label", None) else "",
            "size": [round(w.width), round(w.height)], "widget": type(w).__name__}


def _references(w) -> dict:
    """The label's text drawn by its own text provider with its own options (size, weight, wrapping,
    alignment, markup with its bold runs), once in the kiosk's SC faces (the font name the kiosk registers
    them under) and once in the collections' face 0 (the Japanese forms Kivy would draw from the .ttc files,
    registered here under a name of their own), as alpha bitmaps; the label is then redrawn as it was."""
    import numpy as np
    from kivy.core.text import LabelBase

    from kiosk.fonts import SOURCES

    LabelBase.register("GalleryCollectionFace0", fn_regular=str(SOURCES["Regular"]), fn_bold=str(SOURCES["Bold"]))
    core = w._label
    saved = core.options["font_name"]
    out = {}
    try:
        for key, name in (("sc", w.font_name), ("jp", "GalleryCollectionFace0")):
            core.options["font_name"] = name
            core.refresh()
            tex = core.texture
            out[key] = np.frombuffer(tex.pixels, np.uint8).reshape(tex.height, tex.width, 4)[..., 3].copy()
    finally:
        core.options["font_name"] = saved
        core.refresh()
        w.texture_update()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--langs", default="vi,zh,en")
    args = p.parse_args(argv)

    from kiosk import configure_kivy

    configure_kivy(width=1280, height=800)
    import numpy as np
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.uix.modalview import ModalView

    from devicelink import Outbox
    from enrollment import SLAP_PLAN
    from kiosk.sim import build_sim
    from kiosk.sim._autopilot import Autopilot
    from smartborder.compose.kiosk import KioskConfig, KioskDevices, build_kiosk, kiosk_app

    sim = build_sim(place_document=False, fps=15.0, camera="traveller")
    work = Path(tempfile.mkdtemp(prefix="kiosk-gallery-"))
    # a kiosk configured as config/kiosk.example.toml is: where a referred traveller goes, in each language
    config = KioskConfig(trust_path=None, env="dev", data_dir=work / "data", key_dir=work / "keys",
                         officer_directions=DIRECTIONS)
    kiosk = build_kiosk(config, KioskDevices(sim.camera, PacedReader(sim.reader), sim.mrz_source, sim.scanner), trust=sim.trust,
                        outbox=Outbox())
    workflow = kiosk.workflow
    workflow.policy = dataclasses.replace(workflow.policy, card_timeout_s=5, finger_plan=SLAP_PLAN[:1])
    base_policy = workflow.policy
    app = kiosk_app(kiosk, sim=sim, default_lang="vi", done_return_s=2.0)
    out = Path(args.out)
    langs = args.langs.split(",")
    # the traveller places the document only once its screen has been photographed (the app asks the simulator
    # to place it 0.2 s after the document screen opens; a simulated MRZ read then takes milliseconds)
    place_document, held = sim.present_document, []
    sim.present_document = lambda: held.append(True)

    class Gallery(Autopilot):
        def shot(self, name: str) -> None:
            super().shot(name)
            target = self.shots_dir / f"{name}.png"
            if not target.exists():
                raise RuntimeError(f"no screenshot written for {name}")
            roots = [app.sm.current_screen] + [w for w in Window.children if isinstance(w, ModalView)]
            labels, refs = [], {}
            for root in roots:
                covered = root is not roots[-1]  # under a dialog's dimming overlay
                for w in _labels(root):
                    d = _describe(w)
                    d["covered"] = covered
                    if HANZI.search(w.text) and not covered:
                        r = _references(w)
                        i = len(labels)
                        refs[f"sc_{i}"], refs[f"jp_{i}"] = r["sc"], r["jp"]
                        d["refs"] = i
                    labels.append(d)
            if refs:
                np.savez_compressed(self.shots_dir / f"{name}.sc.npz", **refs)
            self.result.setdefault("shots", {}).setdefault(self.lang, {})[name] = {
                "png": str(target), "screen": app.current_screen, "labels": labels,
                "modal": len(roots) > 1, "lang": app.lang, "window": [Window.width, Window.height]}

        def all_flows(self) -> Iterator:
            for lang in langs:
                self.lang = lang
                self.run = self.result["runs"][lang] = {}
                self.shots_dir = out / lang
                workflow.submitter = _backoffice_client()
                app.default_lang = lang
                yield from self.gallery(lang)

        def settle(self) -> Iterator:
            yield lambda: not app.sm.transition.is_active
            yield 0.35

        def gallery(self, lang: str) -> Iterator:
            yield self.screen_is("language")
            yield from self.settle()
            self.shot("00-language")
            # 1. an accepted enrolment, every screen on the way
            yield from self.tap_ready(self.ids("language")[lang], f"language:{lang}")
            yield self.screen_is("document")
            yield from self.settle()
            self.shot("01-document")
            yield from self.place()
            yield self.screen_is("consent")
            yield from self.settle()
            self.shot("02-consent")
            yield from self.tap_ready(self.ids("consent").agree, "consent:agree")
            yield lambda: app.current_screen in ("chip", "face", "done")
            if app.current_screen == "chip":
                yield from self.settle()
                if app.current_screen == "chip":
                    self.shot("03-chip")
            yield self.screen_is("face")
            face = app.screen("face")
            yield lambda: bool(face.challenge) or app.current_screen != "face"
            if app.current_screen == "face":
                yield 0.3
                self.shot("04-face")
            yield lambda: app.current_screen != "face"
            yield from self.settle()
            if app.current_screen != "fingerprints":
                raise RuntimeError(f"face step ended on {app.current_screen} ({workflow.last_failure})")
            self.shot("05-fingerprints")
            first = True
            while app.current_screen == "fingerprints" and workflow.step.value == "fingerprints":
                yield lambda: not app.busy
                if workflow.step.value != "fingerprints":
                    break
                yield from self.tap_ready(self.ids("fingerprints").scan, "fingers:scan")
                yield lambda: not app.busy
                yield 0.2
                if first and app.current_screen == "fingerprints":
                    self.shot("06-fingerprint-feedback")
                    first = False
            yield self.screen_is("review")
            yield from self.settle()
            self.shot("07-review")
            yield from self.tap_ready(self.officer_button("review"), "officer")
            yield lambda: app._officer_view is not None and app.officer_call in ("accepted", "unreachable")
            yield 0.35
            self.shot("08-officer")
            yield from self.tap_ready(app._officer_view.ok_button, "officer:ok")
            yield lambda: app._officer_view is None and not any(isinstance(w, ModalView) for w in Window.children)
            # the idle warning: the traveller stops touching the kiosk on the review screen
            workflow.policy = dataclasses.replace(base_policy, idle_timeout_s=app.idle_warning_s + 2.5)
            workflow.touch()
            yield lambda: app.idle_warning
            yield 0.5
            self.shot("09-idle")
            yield from self.still_here()
            workflow.policy = base_policy
            yield from self.tap_ready(self.ids("review").confirm, "review:confirm")
            yield self.screen_is("done")
            yield from self.settle()
            self.run["accepted"] = app.screen("done").outcome
            self.shot("10-done")
            yield from self.leave_done()
            # 2. the face step fails (the traveller does not finish the challenge in time): retry, then referral
            workflow.policy = dataclasses.replace(base_policy, max_face_attempts=2,
                                                  step_timeout_s={**base_policy.step_timeout_s, "face": 1.5})
            yield from self.tap_ready(self.ids("language")[lang], f"language:{lang}")
            yield from self.place()
            yield self.screen_is("consent")
            yield from self.tap_ready(self.ids("consent").agree, "consent:agree")
            yield self.screen_is("face")
            yield lambda: face.attempts_left == 1 or app.current_screen != "face"
            yield 0.4
            if app.current_screen == "face":
                self.shot("11-face-retry")
            yield self.screen_is("done")
            yield from self.settle()
            self.run["referred"] = {"outcome": app.screen("done").outcome, "reason": app.screen("done").reason}
            yield app.done_return_s + 0.5  # a referral stays until touched (or the next traveller), never timed
            self.run["referral_stayed"] = app.current_screen == "done"
            self.shot("12-referral")
            workflow.policy = base_policy
            yield from self.leave_done()
            # 3. consent declined
            yield from self.tap_ready(self.ids("language")[lang], f"language:{lang}")
            yield from self.place()
            yield self.screen_is("consent")
            yield from self.tap_ready(self.ids("consent").decline, "consent:decline")
            yield self.screen_is("done")
            yield from self.settle()
            self.run["declined"] = app.screen("done").outcome
            self.shot("13-declined")
            yield from self.leave_done()

        def place(self) -> Iterator:
            """The traveller places the document on the reader when the kiosk asks for it."""
            yield lambda: bool(held)
            held.clear()
            place_document()

        def still_here(self) -> Iterator:
            """Answer the idle warning: the "I'm still here" button where the kiosk has one, else a tap."""
            button = next((w for root in Window.children for w in root.walk(restrict=False)
                           if getattr(w, "still_here", False)), None)
            if button is None:
                self.press(app.sm.current_screen, "touch")
            else:
                yield from self.tap_ready(button, "idle:still_here")
            yield lambda: not app.idle_warning

        def leave_done(self) -> Iterator:
            yield from self.tap_ready(self.ids("done").finish, "done:finish")
            yield self.screen_is("language")
            if sim.reader.card_present:
                sim.reader.remove()  # the traveller takes the document: its page leaves the scanner too
            sim.mrz_source.place(None)
            yield 0.1

    pilot = Gallery(app, langs, out, result_path=args.result, officer=True, step_timeout_s=60)
    Clock.schedule_once(lambda _dt: pilot.start(), 0.5)
    t0 = time.perf_counter()
    app.run()
    result = json.loads(Path(args.result).read_text())
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["fonts"] = {"latin": app.latin_font, "cjk": app.cjk_font}
    result["session_left"] = workflow.session is not None
    Path(args.result).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
