"""A scripted traveller: taps through the kiosk (real touch events through the window, so hit
testing and button states count), saves a screenshot of every screen, and measures each transition.

Used by the headless tests, the benchmark and ``smartborder kiosk run --sim --autopilot``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kivy.clock import Clock
from kivy.core.window import Window
from kivy.input.motionevent import MotionEvent
from kivy.uix.modalview import ModalView

from kiosk._screens import OfficerButton

__all__ = ["Autopilot", "tap"]


class _Touch(MotionEvent):
    """A single-finger touch at window coordinates (as kivy.tests.common.UnitTestTouch, without pytest)."""

    def __init__(self, x: float, y: float) -> None:
        super().__init__("autopilot", 99, {"x": x / (Window.width - 1.0), "y": y / (Window.height - 1.0)},
                         is_touch=True, type_id="touch")
        self.profile = ["pos"]

    def depack(self, args) -> None:
        self.sx, self.sy = args["x"], args["y"]
        super().depack(args)


def tap(widget) -> None:
    """Touch down and up at the centre of ``widget``, through the event loop (hit testing included)."""
    from kivy.base import EventLoop

    x, y = widget.to_window(*widget.center)
    touch = _Touch(x, y)
    EventLoop.post_dispatch_input("begin", touch)
    EventLoop.post_dispatch_input("end", touch)


class Autopilot:
    """``scenarios``: languages to enrol in ("vi", "zh", "en"), "timeout" (walk away: no countdown on the consent
    text, the countdown on the fingerprint screen, "I'm still here", then walk away for good), "decline" (refuse
    consent), "abandon" (cancel on the face screen), "referral:<lang>[:next|tap|finish]" (an expired passport:
    the referral screen, ``shots_dir/<lang>/referral.png``, left by the next traveller's document, a tap or
    Finish), "return" (a declined consent's screen waits for the document to be taken, then returns by itself). Screenshots go to ``shots_dir/<scenario>/``. Each run records the screens it went through and, on the consent screen,
    what the kiosk held and had asked of the chip reader (``at_consent``)."""

    def __init__(self, app, scenarios: str | list[str] = "vi", shots_dir: str | Path | None = None, *,
                 step_timeout_s: float = 40.0, officer: bool = True, result_path: str | Path | None = None,
                 stop_app: bool = True) -> None:
        self.app = app
        self.scenarios = [scenarios] if isinstance(scenarios, str) else list(scenarios)
        self.lang = self.scenarios[0]
        self.root_dir = Path(shots_dir) if shots_dir else None
        self.shots_dir = self.root_dir
        self.step_timeout_s = step_timeout_s
        self.officer = officer
        self.result_path = Path(result_path) if result_path else None
        self.stop_app = stop_app
        self.result: dict = {"ok": False, "runs": {}, "error": ""}
        self.run: dict = {}
        self._gen: Iterator | None = None
        self._wait: Callable[[], bool] | None = None
        self._deadline = 0.0
        self._ev = None

    # -- running ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._gen = self.all_flows()
        self._ev = Clock.schedule_interval(self._step, 0)

    def _step(self, _dt) -> None:
        try:
            if self._wait is not None:
                if not self._wait():
                    if time.monotonic() > self._deadline:
                        raise TimeoutError(f"timed out on screen {self.app.current_screen}: {self._what}")
                    return
            cond = next(self._gen)
            if isinstance(cond, int | float):
                until = time.monotonic() + cond
                self._wait, self._what = (lambda: time.monotonic() >= until), f"sleep {cond}"
            else:
                self._wait, self._what = cond, getattr(cond, "__name__", "condition")
            self._deadline = time.monotonic() + self.step_timeout_s
        except StopIteration:
            self.result["ok"] = not self.result["error"]
            self._finish()
        except Exception as e:  # noqa: BLE001 - reported in the result
            import traceback

            self.result["error"] = f"{type(e).__name__}: {e}"
            self.result["traceback"] = traceback.format_exc(limit=6)
            self._finish()

    def _finish(self) -> None:
        if self._ev is not None:
            self._ev.cancel()
        app = self.app
        self.result["screens"] = [name for name, _ in app.transitions]
        fm = sorted(app.frame_ms)
        self.result["frame_ms_median"] = round(fm[len(fm) // 2], 2) if fm else None
        self.result["device_errors"] = list(app.device_errors)
        self.result["engines"] = dict(app.workflow.engines.sources)
        if self.result_path is not None:
            self.result_path.parent.mkdir(parents=True, exist_ok=True)
            self.result_path.write_text(json.dumps(self.result, indent=2, ensure_ascii=False))
        if self.stop_app:
            app.stop()

    # -- helpers ---------------------------------------------------------------------------------
    def screen_is(self, name: str) -> Callable[[], bool]:
        def on_screen() -> bool:
            return self.app.current_screen == name and self.app.sm.transition.is_active is False
        on_screen.__name__ = f"screen {name}"
        return on_screen

    def shot(self, name: str) -> None:
        if self.shots_dir is None:
            return
        self.shots_dir.mkdir(parents=True, exist_ok=True)
        made = Window.screenshot(name=str(self.shots_dir / f"{name}.png"))
        target = self.shots_dir / f"{name}.png"
        if made and os.path.exists(made):
            os.replace(made, target)
            self.run.setdefault("shots", []).append(str(target))

    def press(self, widget, label: str) -> None:
        self.run.setdefault("taps", []).append({"what": label, "screen": self.app.current_screen,
                                                "t": time.perf_counter()})
        tap(widget)

    def tap_ready(self, widget, label: str) -> Iterator:
        """Wait until the screen is still (no transition) and the widget enabled, then tap it."""
        app = self.app

        def ready() -> bool:
            return not app.sm.transition.is_active and not getattr(widget, "disabled", False)
        ready.__name__ = f"ready to tap {label}"
        yield ready
        self.press(widget, label)

    def ids(self, screen: str):
        return self.app.screen(screen).ids

    def officer_button(self, screen: str):
        return next(w for w in self.app.screen(screen).walk() if isinstance(w, OfficerButton))

    def latency(self, label: str, target: str) -> None:
        """Record the time from the last tap to ``target`` becoming the current screen."""
        t_tap = self.run["taps"][-1]["t"]
        shown = [t for name, t in self.app.transitions if name == target and t >= t_tap]
        if shown:
            self.run.setdefault("transition_ms", {})[label] = round((shown[0] - t_tap) * 1000, 2)

    # -- the traveller ---------------------------------------------------------------------------
    def at_consent(self) -> None:
        """On the consent screen, before any answer: the retention sentence shown, what the session holds, and
        how many APDUs reached the chip (the simulator's reader counts them; None with real devices)."""
        app = self.app
        session = app.workflow.session
        reader = getattr(app.sim, "reader", None)
        ids = self.ids("consent")
        self.run["at_consent"] = {
            "retention_text": ids.retention.text, "lang": app.lang, "text_version": app.consent.text_version,
            "printed_mrz": session is not None and session.printed_mrz is not None,
            "chip_read": session is not None and session.document is not None,
            "apdus": getattr(reader, "apdu_count", None) if reader is not None else None}

    def all_flows(self) -> Iterator:
        for scenario in self.scenarios:
            self.run = self.result["runs"][scenario] = {"started": time.perf_counter()}
            self.shots_dir = self.root_dir / scenario if self.root_dir else None
            first = len(self.app.transitions)
            if scenario == "timeout":
                yield from self.timeout_flow()
            elif scenario == "decline":
                yield from self.decline_flow()
            elif scenario == "abandon":
                yield from self.abandon_flow()
            elif scenario.startswith("preview"):
                yield from self.preview_flow(float(scenario.partition(":")[2] or 5))
            elif scenario == "return":
                yield from self.return_flow()
            elif scenario == "unseen":
                yield from self.unseen_flow()
            elif scenario.startswith("referral"):
                parts = scenario.split(":")
                lang = parts[1] if len(parts) > 1 else "en"
                leave = parts[2] if len(parts) > 2 else ""
                self.shots_dir = self.root_dir / lang if self.root_dir else None
                yield from self.referral_flow(lang, leave or {"vi": "next", "zh": "tap"}.get(lang, "finish"))
            else:
                self.lang = scenario
                yield from self.flow()
            self.run["screens"] = [name for name, _ in self.app.transitions[first:]]
            self.run["seconds"] = round(time.perf_counter() - self.run.pop("started"), 2)

    def _countdown(self, since: int) -> list[list[int]]:
        """The countdowns shown since ``since`` (one list of seconds per opening of the overlay)."""
        return [list(c) for c in self.app.idle_shown[since:]]

    def timeout_flow(self) -> Iterator:
        """Read the consent text for longer than the idle time-out (no countdown: it is paused there), agree, and
        on the fingerprint screen wait: the countdown overlay appears and counts down; "I'm still here" keeps the
        session; walking away for good wipes it at zero."""
        import dataclasses

        app = self.app
        wf = app.workflow
        saved, saved_warning = wf.policy, app.idle_warning_s
        wf.policy = dataclasses.replace(saved, idle_timeout_s=6.0)
        app.idle_warning_s = 4.0
        yield self.screen_is("language")
        yield from self.tap_ready(self.ids("language")["en"], "language:en")
        yield self.screen_is("consent")
        self.at_consent()
        yield wf.policy.idle_timeout_s + 1.0  # reading, touching nothing
        self.run["consent_paused"] = {"screen": app.current_screen, "overlay": app._idle_view is not None,
                                      "idle_left": wf.idle_left(), "session": wf.session is not None}
        yield from self.tap_ready(self.ids("consent").agree, "consent:agree")
        yield lambda: app.current_screen in ("fingerprints", "done") and not app.sm.transition.is_active
        # on the fingerprint screen, the traveller stops: the countdown (perhaps open already: the time-out counts
        # from the last touch, which may have been on the face screen)
        since = len(app.idle_shown) - (1 if app._idle_view is not None else 0)
        yield lambda: app._idle_view is not None or app.current_screen == "done"
        self.run["warned"] = app._idle_view is not None
        view = app._idle_view
        first = view.seconds if view is not None else 0
        yield lambda: app._idle_view is None or app._idle_view.seconds < first
        yield 0.1
        self.shot("idle-countdown")
        if app._idle_view is not None:
            yield from self.tap_ready(app._idle_view.button, "idle:still_here")
            yield lambda: app._idle_view is None
            yield 0.3
        self.run["still_here"] = {"countdown": self._countdown(since), "screen": app.current_screen,
                                  "step": wf.step.value, "session": wf.session is not None,
                                  "overlay": app._idle_view is not None}
        # then walks away for good
        since = len(app.idle_shown)
        had_session = wf.session is not None
        yield lambda: app._idle_view is not None or app.current_screen == "done"
        yield self.screen_is("done")
        yield 0.2
        self.run.update(outcome=app.screen("done").outcome, had_session=had_session, countdown=self._countdown(since),
                        session_left=wf.session is not None, overlay_left=app._idle_view is not None)
        self.shot("timed-out")
        wf.policy, app.idle_warning_s = saved, saved_warning
        yield from self.tap_ready(self.ids("done").finish, "done:finish")
        yield self.screen_is("language")

    def return_flow(self) -> Iterator:
        """A final screen that is no referral (consent declined) returns to the start after ``done_return_s``, but
        not while the reader says the traveller's document still lies there: once it is taken, it goes by itself."""
        app = self.app
        done = app.screen("done")
        yield self.screen_is("language")
        yield from self.tap_ready(self.ids("language")["en"], "language:en")
        yield self.screen_is("consent")
        yield from self.tap_ready(self.ids("consent").decline, "consent:decline")
        yield self.screen_is("done")
        yield lambda: done.take_document
        yield app.done_return_s + 1.0
        taps = len(self.run.get("taps", []))
        self.run.update(outcome=done.outcome, referral=done.referral, kind=done.kind,
                        stayed_with_document=app.current_screen == "done" and done.take_document)
        self.shot("return-waiting")
        app.sim.reader.remove()  # the traveller takes the document
        yield self.screen_is("language")
        self.run.update(returned_by_itself=len(self.run.get("taps", [])) == taps)

    def unseen_flow(self) -> Iterator:
        """A document the chip reader never sees (chip-less, or its chip not found: only its printed page was read)
        and consent declined: the reader's "absent" is no evidence that it was taken, so the reminder and the
        screen stay past ``done_return_s`` until touched."""
        app = self.app
        sim = app.sim
        done = app.screen("done")
        place = sim.present_document
        sim.present_document = lambda: sim.mrz_source.place(sim.document.mrz)  # the page only, never the chip
        try:
            yield self.screen_is("language")
            yield from self.tap_ready(self.ids("language")["en"], "language:en")
            yield self.screen_is("consent")
            yield from self.tap_ready(self.ids("consent").decline, "consent:decline")
            yield self.screen_is("done")
            yield app.done_return_s + 1.0
            self.run.update(outcome=done.outcome, reader_present=sim.reader.card_present,
                            stayed=app.current_screen == "done", reminder=done.take_document)
            yield from self.tap_ready(self.ids("done").finish, "done:finish")
            yield self.screen_is("language")
        finally:
            sim.present_document = place
            sim.mrz_source.place(None)

    def referral_flow(self, lang: str, leave: str) -> Iterator:
        """A traveller whose passport expired: the printed MRZ says so, the kiosk refers (the chip is never read).
        The referral screen must stay beyond ``done_return_s`` with where to go and the reminder to take the
        passport; taking it removes the reminder, the screen still stays; then it is left by ``leave``: "next"
        (the next traveller places a document), "tap" (a tap on the text) or "finish" (the button)."""
        import datetime as dt

        from kiosk.sim._world import td3_mrz

        app = self.app
        wf = app.workflow
        sim = app.sim
        spoken = len(app.spoken)
        today = dt.date.today()
        expired = td3_mrz("TRAN", "THI MAI", "E7654321", "VNM", dt.date(1990, 6, 1), "F",
                          today - dt.timedelta(days=40))
        yield self.screen_is("language")
        sim.reader.present(sim.document)  # the passport on the reader, its printed page expired
        sim.mrz_source.place(expired)
        yield from self.tap_ready(self.ids("language")[lang], f"language:{lang}")
        yield self.screen_is("done")
        done = app.screen("done")
        yield lambda: done.take_document  # the reader says the passport still lies there
        yield 0.4
        self.shot("referral")
        shown = time.monotonic()
        yield app.done_return_s + 1.0  # longer than an accepted screen stays
        ids = self.ids("done")
        self.run.update(outcome=done.outcome, reason=done.reason, referral=done.referral, kind=done.kind,
                        lang=app.lang, stayed=app.current_screen == "done",
                        waited_s=round(time.monotonic() - shown, 2), done_return_s=app.done_return_s,
                        message=ids.status.text, reason_text=ids.reason.text, directions=ids.where.text,
                        where_shown=ids.where_box.opacity == 1 and ids.where_box.height > 0,
                        take_document=done.take_document, reminder_text=ids.take_document.text,
                        session_left=wf.session is not None, apdus=getattr(sim.reader, "apdu_count", None))
        sim.reader.remove()  # the traveller takes the passport
        yield lambda: not done.take_document
        yield 0.5
        self.run["after_taken"] = {"screen": app.current_screen, "take_document": done.take_document}
        self.shot("referral-taken")
        sim.mrz_source.place(sim.document.mrz)  # the next traveller's passport is a valid one
        if leave == "next":
            sim.reader.present(sim.document)
        elif leave == "tap":
            self.press(ids.reason, "done:tap")
        else:
            yield from self.tap_ready(ids.finish, "done:finish")
        yield self.screen_is("language")
        self.run.update(left_by=leave, spoken=list(app.spoken[spoken:]))
        if leave == "next":
            sim.reader.remove()  # the simulated next traveller steps back: the next scenario places it again

    def decline_flow(self) -> Iterator:
        """Choose a language, place the passport, read the notice, then decline: nothing may be kept, and the
        chip must not have been read."""
        app = self.app
        wf = app.workflow
        yield self.screen_is("language")
        yield from self.tap_ready(self.ids("language")["en"], "language:en")
        yield self.screen_is("consent")
        yield 0.2
        self.at_consent()
        self.shot("consent")
        session = wf.session
        yield from self.tap_ready(self.ids("consent").decline, "consent:decline")
        yield self.screen_is("done")
        reader = getattr(app.sim, "reader", None)
        self.run.update(outcome=app.screen("done").outcome, reason_code=wf.reason_code,
                        session_left=wf.session is not None,
                        mrz_left=session is not None and session.printed_mrz is not None,
                        apdus=getattr(reader, "apdu_count", None) if reader is not None else None)
        yield 0.3
        self.shot("declined")
        yield from self.tap_ready(self.ids("done").finish, "done:finish")
        yield self.screen_is("language")

    def preview_flow(self, seconds: float) -> Iterator:
        """Stay on the face screen for ``seconds`` (capture held off) and measure the preview rate."""
        import dataclasses

        app = self.app
        wf = app.workflow
        saved = wf.policy
        wf.policy = dataclasses.replace(saved, face_stable_frames=10**9, idle_timeout_s=3600,
                                        step_timeout_s={**saved.step_timeout_s, "face": 3600})
        yield self.screen_is("language")
        yield from self.tap_ready(self.ids("language")["en"], "language:en")
        yield self.screen_is("consent")
        yield from self.tap_ready(self.ids("consent").agree, "consent:agree")
        yield self.screen_is("face")
        face = app.screen("face")
        yield lambda: face.frames_shown >= 3
        flips: list[float] = []
        real_flip = Window.flip

        def timed_flip(*a, **kw):  # the buffer swap: on Xvfb + llvmpipe the dominant cost of a UI frame
            t = time.perf_counter()
            try:
                return real_flip(*a, **kw)
            finally:
                flips.append((time.perf_counter() - t) * 1000)

        Window.flip = timed_flip
        n0, t0, processed0 = face.frames_shown, time.perf_counter(), len(app.frame_ms)
        yield seconds
        elapsed = time.perf_counter() - t0
        Window.flip = real_flip
        flips.sort()
        self.run["flip_ms_median"] = round(flips[len(flips) // 2], 2) if flips else None
        from kivy.clock import Clock as _Clock

        self.run.update(preview_fps=round((face.frames_shown - n0) / elapsed, 2), ui_loop_fps=round(_Clock.get_fps(), 1),
                        processed_fps=round((len(app.frame_ms) - processed0) / elapsed, 2),
                        frame_ms=sorted(list(app.frame_ms)[processed0:]))
        self.shot("preview")
        yield from self.tap_ready(self.ids("face").cancel, "face:cancel")
        yield self.screen_is("done")
        wf.policy = saved
        yield from self.tap_ready(self.ids("done").finish, "done:finish")
        yield self.screen_is("language")

    def abandon_flow(self) -> Iterator:
        app = self.app
        yield self.screen_is("language")
        yield from self.tap_ready(self.ids("language")["vi"], "language:vi")
        yield self.screen_is("consent")
        yield from self.tap_ready(self.ids("consent").agree, "consent:agree")
        yield self.screen_is("face")
        yield lambda: app.screen("face").frames_shown >= 1
        yield from self.tap_ready(self.ids("face").cancel, "face:cancel")
        yield self.screen_is("done")
        self.run.update(outcome=app.screen("done").outcome, session_left=app.workflow.session is not None)
        yield 0.3
        self.shot("abandoned")
        yield from self.tap_ready(self.ids("done").finish, "done:finish")
        yield self.screen_is("language")

    def flow(self) -> Iterator:
        app = self.app
        settle = 0.2
        yield self.screen_is("language")
        yield settle
        self.shot("01-language")
        yield from self.tap_ready(self.ids("language")[self.lang], f"language:{self.lang}")
        yield self.screen_is("document")
        self.latency("language->document", "document")
        yield settle
        self.shot("02-document")
        yield self.screen_is("consent")
        yield settle
        self.at_consent()
        self.shot("03-consent")
        yield from self.tap_ready(self.ids("consent").agree, "consent:agree")
        # the chip is read now, after consent (a simulated chip answers in ~50 ms: its screen may be gone
        # before a screenshot can be taken)
        yield lambda: app.current_screen in ("chip", "face", "done")
        if app.current_screen == "chip" and not app.sm.transition.is_active:
            self.shot("04-chip")
        yield self.screen_is("face")
        self.latency("consent->face", "face")
        face = app.screen("face")
        yield lambda: face.frames_shown >= 3 or app.current_screen != "face"
        if app.current_screen == "face":
            self.shot("05-face")
        yield lambda: app.current_screen != "face"
        yield lambda: not app.sm.transition.is_active
        yield settle
        self.run["face_frames_shown"] = face.frames_shown  # previews drawn (a slow UI loop draws fewer)
        self.run["face_frames_read"] = face._frame_seq  # frames the camera delivered to the step
        if app.current_screen == "fingerprints":
            self.shot("06-fingerprints")
            first = True
            while app.current_screen == "fingerprints" and app.workflow.step.value == "fingerprints":
                yield lambda: not app.busy
                if app.workflow.step.value != "fingerprints":
                    break
                yield from self.tap_ready(self.ids("fingerprints").scan, "fingers:scan")
                yield lambda: not app.busy
                yield 0.15
                if first and app.current_screen == "fingerprints" and not app.sm.transition.is_active:
                    self.shot("07-fingerprint-feedback")
                    first = False
            yield lambda: app.current_screen != "fingerprints"
            yield lambda: not app.sm.transition.is_active
            yield settle
        if app.current_screen == "review":
            self.shot("08-review")
            if self.officer:
                yield from self.tap_ready(self.officer_button("review"), "officer")
                yield lambda: app._officer_view is not None
                yield lambda: app.officer_call in ("accepted", "unreachable")  # the back office answered
                yield settle
                self.run["officer_call"] = app.officer_call
                self.shot("09-officer")
                yield from self.tap_ready(app._officer_view.ok_button, "officer:ok")
                yield lambda: app._officer_view is None and not any(
                    isinstance(w, ModalView) for w in Window.children)  # gone, not only fading out
                yield 0.1
            yield from self.tap_ready(self.ids("review").confirm, "review:confirm")
            yield self.screen_is("done")
            self.latency("review->done (submit)", "done")
        yield self.screen_is("done")
        yield settle
        self.shot("10-done")
        answer = app.workflow.answer
        self.run.update(outcome=app.screen("done").outcome, reason=app.screen("done").reason,
                        last_failure=app.workflow.last_failure,
                        outbox_id=app.workflow.outbox_id, backoffice_status=answer.status if answer else None,
                        session_left=app.workflow.session is not None)
        yield from self.tap_ready(self.ids("done").finish, "done:finish")
        yield self.screen_is("language")
        self.latency("done->language", "language")
        yield 0.1
