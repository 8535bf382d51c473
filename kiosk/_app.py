"""The Kivy application: screens, the bridge to the enrolment workflow, idle time-out, officer calls.

Consent first: the document screen reads the printed MRZ only; the chip is read on the chip screen, after
the traveller agreed to the consent notice, whose retention sentence comes from the retention policies
(:class:`kiosk._consent.ConsentNotice`, handed in by the composition) and whose version the consent records.

Python holds the state as Kivy properties (``lang``, ``font``, ``busy``); the layout is in one .kv
file per screen under ``kiosk/screens/``. Blocking work (chip read, fingerprint capture, submission)
runs on one worker thread; preview frames on another. Workflow transitions arrive through
``on_change`` and are marshalled onto the UI thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.modalview import ModalView
from kivy.uix.screenmanager import FadeTransition, ScreenManager

from devices.ports import FingerprintScannerError
from enrollment import EnrolmentWorkflow, Outcome, Step
from kiosk._consent import ConsentNotice, consent_notice
from kiosk._i18n import LANGUAGES, LATIN_FONT, Catalogues, catalogues, font_for
from kiosk._idle import IdleOverlay
from kiosk._referral import REFERRAL_OUTCOMES, PresenceWatch, document_present, done_kind
from kiosk._scanner import scanner_message
from kiosk._screens import (
    ChipScreen,
    ConsentScreen,
    DocumentScreen,
    DoneScreen,
    FaceScreen,
    FingerprintScreen,
    LanguageScreen,
    ReviewScreen,
)
from kiosk.fonts import SC_FONT, register_sc_fonts
from kiosk.voice import SCREEN_PROMPTS, VOICE_DIR, Voice, finger_instruction

__all__ = ["KioskApp", "SCREENS", "STEP_SCREENS"]

log = logging.getLogger("kiosk")
KV_DIR = Path(__file__).resolve().parent / "screens"
SCREENS = (("language", LanguageScreen), ("document", DocumentScreen), ("consent", ConsentScreen),
           ("chip", ChipScreen), ("face", FaceScreen), ("fingerprints", FingerprintScreen), ("review", ReviewScreen),
           ("done", DoneScreen))
STEP_SCREENS = {Step.IDLE: "language", Step.DOCUMENT: "document", Step.CONSENT: "consent", Step.CHIP: "chip",
                Step.FACE: "face", Step.FINGERPRINTS: "fingerprints", Step.REVIEW: "review", Step.SUBMITTING: "review",
                Step.DONE: "done", Step.ABANDONED: "done", Step.REFERRED: "done"}
_kv_loaded = False


def _load_kv() -> None:
    global _kv_loaded
    if not _kv_loaded:
        Builder.load_file(str(KV_DIR / "common.kv"))
        for name, _ in SCREENS:
            Builder.load_file(str(KV_DIR / f"{name}.kv"))
        _kv_loaded = True


class KioskApp(App):
    lang = StringProperty("vi")
    font = StringProperty(LATIN_FONT)
    latin_font = StringProperty(LATIN_FONT)
    cjk_font = StringProperty(SC_FONT)  # the SC faces, regular and bold (kiosk.fonts)
    busy = BooleanProperty(False)
    officer_called = BooleanProperty(False)
    officer_call = StringProperty("")  # "" | "calling" | "accepted" | "unreachable" (the last officer call)
    current_screen = StringProperty("language")
    idle_warning = BooleanProperty(False)  # shortly before the idle time-out: the countdown overlay is open

    def __init__(self, workflow: EnrolmentWorkflow, *, camera, scanner, sim=None, texts: Catalogues | None = None,
                 consent: ConsentNotice | None = None, default_lang: str = "vi", done_return_s: float = 10.0,
                 tick_s: float = 0.5, voice: Voice | bool = True,
                 flush_every_s: float = 60.0, feedback_hold_s: float = 1.2, idle_warning_s: float = 15.0,
                 directions: dict[str, str] | None = None, done_tap_guard_s: float = 0.8,
                 officer_wait_s: float = 600.0, **kw) -> None:
        super().__init__(**kw)
        # Chinese in its Simplified forms or not at all: ChineseFontMissing without the extracted faces
        self.cjk_font = register_sc_fonts()
        self.title = "Smart border enrolment"
        self.workflow = workflow
        self.camera = camera
        self.scanner = scanner
        self.sim = sim
        self.texts = texts or catalogues()
        #: the consent notice's retention sentence and text version (default: privacy.DEFAULT_POLICIES)
        self.consent = consent or consent_notice(texts=self.texts)
        self.default_lang = default_lang
        self.done_return_s = done_return_s
        #: how long a traveller told "an officer is on the way, wait here" is not timed out as idle
        self.officer_wait_s = officer_wait_s
        self.tick_s = tick_s
        self.flush_every_s = flush_every_s
        self.feedback_hold_s = feedback_hold_s
        self.idle_warning_s = idle_warning_s
        #: where a referred traveller goes ([kiosk] officer_directions: {"vi", "zh", "en"}); None: the generic
        #: direction of the catalogues (done.where_generic)
        self.directions = dict(directions) if directions else None
        self.done_tap_guard_s = done_tap_guard_s  # a tap this soon after the final screen appeared is not "read"
        self._idle_view: IdleOverlay | None = None
        #: each time the countdown overlay opened, the seconds it showed, in turn (the autopilot, the tests)
        self.idle_shown: list[list[int]] = []
        self._document_read = False  # a document was read (or tried) in this session: remind to take it back
        self._presence: bool | None = None  # the reader's last answer on the final screen
        self._presence_watch: PresenceWatch | None = None
        self._done_absent = False  # the document was seen taken on this final screen
        self._chip_read = False  # the chip was read in this session (the reader then saw the document)
        self._seen_present = False  # the reader said a document lies on it, on this final screen
        self._officer_since: float | None = None  # when the back office accepted the open officer call
        self._done_time_up = False
        self._flushing = threading.Lock()
        self.lang = default_lang
        self.font = font_for(default_lang)
        self.frame_ms: deque[float] = deque(maxlen=2000)
        self.transitions: list[tuple[str, float]] = []  # (screen, perf_counter when shown)
        self.device_errors: list[str] = []
        self._officer_view: ModalView | None = None
        self._return_ev = self._pending_ev = None
        workflow.on_change = self._on_step
        #: spoken instructions and the capture beep (kiosk/voice.py); voice=False ([kiosk] voice = false) mutes
        if not isinstance(voice, Voice):
            voice = Voice(VOICE_DIR, default_lang, muted=not voice, texts=self.texts)
        self.voice = voice
        self.voice.lang = default_lang
        self.spoken: list[str] = []  # "lang/id" of everything said, "beep" per beep (tests, autopilot)
        self._shown_step: Step | None = None
        self._scanning = False  # a fingerprint capture waits for a finger (cancelled when the session ends)
        self._face_spoken: tuple[str, float] = ("", 0.0)
        self._prompt_ev = None

    # -- texts -----------------------------------------------------------------------------------
    def t(self, key: str, lang: str | None = None, **values) -> str:
        return self.texts.t(key, lang or self.lang, **values)

    def retention_text(self, lang: str) -> str:
        """The consent notice's "how long" sentence in ``lang`` (from the retention policies)."""
        return self.consent.retention_text(lang)

    def on_lang(self, _instance, lang: str) -> None:
        self.font = font_for(lang)
        if hasattr(self, "voice"):  # a language change says the screen's instruction again
            self.voice.lang = lang
            self._prompt_soon()

    # -- voice -----------------------------------------------------------------------------------
    def speak(self, *uids) -> None:
        """Say these utterances (catalogue keys, or ``(key, lang)``) in turn, cutting what was being said."""
        queued = self.voice.say(*(u for u in uids if u))
        self.spoken.extend(f"{p.parent.name}/{p.stem}" for p in queued)

    def capture_beep(self) -> None:
        if self.voice.beep():
            self.spoken.append("beep")

    def _prompt_soon(self) -> None:
        """One prompt for a screen change and a language change in the same moment, after the fade."""
        if self._prompt_ev is not None:
            self._prompt_ev.cancel()
        self._prompt_ev = Clock.schedule_once(self._speak_screen, 0.3)

    def _speak_screen(self, _dt=None) -> None:
        """The current screen's instruction in the session's language (the language screen's in all three)."""
        self._prompt_ev = None
        name = self.sm.current if hasattr(self, "sm") else ""
        if name == "language":
            order = (self.lang, *(lang for lang in LANGUAGES if lang != self.lang))
            self.speak(*((key, lang) for lang in order for key in SCREEN_PROMPTS[name]))
        elif name == "fingerprints":
            self.speak(*SCREEN_PROMPTS[name], finger_instruction(self.workflow.finger_task))
        elif name == "done":
            self.speak(*self._done_utterances())
        else:
            self.speak(*SCREEN_PROMPTS.get(name, ()))

    def speak_face(self, fb) -> None:
        """The face screen's feedback: a failed attempt's retry message at once, a new liveness challenge at once
        (after the retry message, not cutting it), else a new guidance message at most every 4 s (the preview
        refreshes 30 times a second)."""
        last, when = self._face_spoken
        now = time.monotonic()
        if fb.phase == "retry":
            self._face_spoken = ("face.retry", now)
            self.speak(*fb.messages[:2])  # why (face.liveness_failed) and "let's try again" (face.retry)
            return
        if fb.challenge:
            key = fb.challenge
        elif fb.messages and now - when >= 4.0:
            key = fb.messages[0]
        else:
            return
        if key != last:
            self._face_spoken = (key, now)
            if last == "face.retry" and fb.challenge:
                self.spoken.extend(f"{p.parent.name}/{p.stem}" for p in self.voice.then(key))
            else:
                self.speak(key)

    # -- building --------------------------------------------------------------------------------
    def build(self):
        _load_kv()
        Window.clearcolor = (0.04, 0.05, 0.08, 1)
        sm = ScreenManager(transition=FadeTransition(duration=0.12))
        for name, cls in SCREENS:
            sm.add_widget(cls(name=name))
        sm.bind(current=self._screen_changed)
        Window.bind(on_touch_down=self._on_touch)
        Clock.schedule_interval(self._tick, self.tick_s)
        if self.flush_every_s:
            Clock.schedule_interval(self._flush, self.flush_every_s)
        self.sm = sm
        self._prompt_soon()  # the first screen's prompt
        return sm

    def _screen_changed(self, _sm, name: str) -> None:
        self.current_screen = name
        self.transitions.append((name, time.perf_counter()))
        self._prompt_soon()

    def _on_touch(self, *_args) -> bool:
        self.workflow.touch()
        return False

    def _tick(self, _dt) -> None:
        """The workflow's time-outs; the idle countdown overlay while the idle time-out approaches (the
        workflow says how long is left, and nothing while it is paused: no session, the consent text open)."""
        if self._officer_since is not None and self._officer_view is not None and (
                time.monotonic() - self._officer_since < self.officer_wait_s):
            self.workflow.touch()  # told to wait here for the officer: waiting is not walking away (bounded)
        self.workflow.tick()
        left = self.workflow.idle_left()
        self.idle_warning = left is not None and left <= self.idle_warning_s
        if self.idle_warning:
            self._show_idle(left)
        else:
            self._close_idle()

    def _show_idle(self, left: float) -> None:
        view = self._idle_view
        if view is None:
            view = self._idle_view = IdleOverlay(self.t, self.font, self.idle_warning_s, self.still_here)
            view.open()
            self.idle_shown.append([])
            self.speak("app.idle_warning", "app.idle_explain")  # once, when it appears
        view.show(left)
        if not self.idle_shown[-1] or self.idle_shown[-1][-1] != view.seconds:
            self.idle_shown[-1].append(view.seconds)

    def _close_idle(self) -> None:
        if self._idle_view is not None:
            self._idle_view.dismiss(animation=False)  # gone at once: the traveller's next tap reaches the screen
            self._idle_view = None

    def still_here(self) -> None:
        """The overlay's "I'm still here": the session goes on, a full idle period ahead."""
        self.workflow.touch()
        self.idle_warning = False
        self._close_idle()

    def _flush(self, _dt) -> None:
        """Deliver records that waited in the outbox (back office was down), off the UI thread."""
        if not self._flushing.acquire(blocking=False):
            return

        def run():
            try:
                report = self.workflow.flush()
                if report is not None and (report.delivered or report.parked):
                    log.info("outbox: %d delivered, %d parked, %d waiting", len(report.delivered),
                             len(report.parked), report.pending)
            except Exception as e:  # noqa: BLE001 - retried at the next interval
                log.warning("outbox flush failed: %s", type(e).__name__)
            finally:
                self._flushing.release()

        threading.Thread(target=run, daemon=True, name="outbox-flush").start()

    def on_stop(self) -> None:
        self._stop_presence()
        self.screen("face").stop()
        self.workflow.reset()  # wipe whatever is left
        if self.sim is not None:
            self.sim.close()

    def screen(self, name: str):
        return self.sm.get_screen(name)

    # -- workflow bridge -------------------------------------------------------------------------
    def _on_step(self, step: Step) -> None:
        if threading.current_thread() is threading.main_thread():
            self._show(step)
        else:
            Clock.schedule_once(lambda _dt: self._show(step), 0)

    def _show(self, step: Step) -> None:
        wf = self.workflow
        step = wf.step  # the latest, in case several transitions queued up
        if self._shown_step is Step.FACE and step in (Step.FINGERPRINTS, Step.REVIEW):
            self.capture_beep()  # the photo was taken
        prev, self._shown_step = self._shown_step, step
        name = STEP_SCREENS[step]
        for ev in (self._return_ev, self._pending_ev):
            if ev is not None:
                ev.cancel()
        self._return_ev = self._pending_ev = None
        if step in (Step.IDLE, Step.DOCUMENT):
            self._document_read = self._chip_read = False  # a new traveller
        elif step in (Step.FACE, Step.FINGERPRINTS, Step.REVIEW, Step.SUBMITTING):
            self._chip_read = True  # the chip was read: the document lay in the reader's field
        elif step not in (Step.DONE, Step.ABANDONED, Step.REFERRED) or prev in (Step.DOCUMENT, Step.CHIP):
            self._document_read = True  # past the document step (the MRZ was read), or referred on a read
        if step is not Step.FINGERPRINTS:
            self._cancel_scan()  # a capture still waiting for a finger (time-out, abandon) ends now
        if name != "done":
            self._stop_presence()
        else:
            self._close_idle()
            self._enter_done()
        if name == "language":
            self.lang = self.default_lang
        if name == "review" and self.sm.current == "fingerprints":
            # let the traveller read the last fingerprint feedback before the review appears
            self._pending_ev = Clock.schedule_once(lambda _dt: self._switch("review"), self.feedback_hold_s)
            return
        self._switch(name)

    def _switch(self, name: str) -> None:
        if self.sm.current != name:
            self.sm.current = name

    def _background(self, fn, *args) -> None:
        if self.busy:
            return
        self.busy = True

        def run():
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001 - shown on screen; the workflow keeps its state
                log.warning("kiosk step failed: %s", type(e).__name__)
                self.device_failed("step", e)
            finally:
                Clock.schedule_once(lambda _dt: setattr(self, "busy", False), 0)

        threading.Thread(target=run, daemon=True, name="kiosk-worker").start()

    def device_failed(self, what: str, exc: BaseException) -> None:
        self.device_errors.append(f"{what}:{type(exc).__name__}")
        Clock.schedule_once(lambda _dt: self.call_officer("device_fault"), 0)

    # -- actions (bound in the .kv files) --------------------------------------------------------
    def choose_language(self, lang: str) -> None:
        self.lang = lang
        wf = self.workflow
        if wf.step in (Step.IDLE, Step.DONE, Step.ABANDONED, Step.REFERRED):
            wf.start(lang)
        else:
            wf.set_language(lang)

    def switch_language(self, lang: str) -> None:
        """The top bar's language buttons, on every screen after the first: the session goes on in ``lang`` (same
        session, same step, nothing read or captured is lost; every text and the voice change); never starts a
        session (on the final screen only the texts change)."""
        if lang == self.lang:
            return
        self.lang = lang
        self.workflow.set_language(lang)  # a no-op without a session

    def _read(self, name: str, read, step: Step, reading_key: str) -> None:
        """Run one blocking read (document or chip) on the worker and show its feedback on ``name``."""
        screen = self.screen(name)
        screen.can_retry = False
        screen.message = self.t(reading_key)
        screen.message_key = reading_key  # the text follows a language change (the StatusLine translates it)

        def run():
            fb = read()

            def show(_dt):
                if fb.message != "document.cancelled":
                    self._document_read = True  # a document was on the reader (read, or tried)
                screen.message = self.t(fb.message)
                screen.message_key = fb.message
                screen.attempts_left = fb.attempts_left
                screen.can_retry = not fb.ok and fb.attempts_left > 0 and self.workflow.step is step
                if not fb.ok:
                    self.speak(fb.message)
            Clock.schedule_once(show, 0)

        self._background(run)

    def start_document_read(self) -> None:
        """The printed MRZ only (the page scanner); the chip is not touched before consent."""
        if self.sim is not None and not self.sim.reader.card_present:
            Clock.schedule_once(lambda _dt: self.sim.present_document(), 0.2)  # the traveller places it
        self._read("document", self.workflow.read_document, Step.DOCUMENT, "document.reading")

    def start_chip_read(self) -> None:
        """After consent: read and verify the chip."""
        self._read("chip", self.workflow.read_chip, Step.CHIP, "chip.reading")

    def give_consent(self, given: bool) -> None:
        self.workflow.consent(given, text_version=self.consent.text_version)

    def scan_fingers(self) -> None:
        screen = self.screen("fingerprints")

        def scan():
            self._scanning = True
            try:
                capture = self.scanner.capture()
            except FingerprintScannerError as e:
                key = scanner_message(e)
                if key is None:
                    raise  # a device fault: the officer is called
                if key:  # the traveller's to fix (place the finger again): no attempt is counted
                    Clock.schedule_once(lambda _dt: self._scanner_said(key), 0)
                return
            finally:
                self._scanning = False
            if self.workflow.step is not Step.FINGERPRINTS:
                return  # a capture that finished after the session ended (cancelled too late): dropped
            Clock.schedule_once(lambda _dt: self.capture_beep(), 0)
            preview = capture.image
            fb = self.workflow.capture_fingers(capture)
            screen.show_capture(preview, fb)
            Clock.schedule_once(lambda _dt: self._speak_fingers(fb), 0)

        self._background(scan)

    def _scanner_said(self, key: str) -> None:
        """The scanner gave no image (a finger off centre, none placed in time): say what to do, as a warning."""
        if self.workflow.step is not Step.FINGERPRINTS:
            return
        screen = self.screen("fingerprints")
        screen.feedback_keys, screen.feedback_kind = [key], "warning"
        self.speak(key)

    def _cancel_scan(self) -> None:
        """Stop a capture that waits for a finger (the traveller left, the session ended), where the scanner can."""
        cancel = getattr(self.scanner, "cancel", None)
        if self._scanning and cancel is not None:
            try:
                cancel()
            except Exception as e:  # noqa: BLE001 - the capture then ends at the scanner's own time-out
                log.warning("fingerprint capture not cancelled: %s", type(e).__name__)

    def _speak_fingers(self, fb) -> None:
        """After a capture: its first feedback message, then the next task while fingers are still wanted."""
        task = self.workflow.finger_task if self.workflow.step is Step.FINGERPRINTS else None
        self.speak(*fb.messages[:1], finger_instruction(task))

    def retake(self, what: str) -> None:
        self.workflow.retake(Step(what))

    def confirm(self) -> None:
        self.screen("review").submitting = True
        self._background(self.workflow.confirm)

    def abandon(self) -> None:
        self._cancel_scan()
        self.workflow.abandon()

    # -- the final screen ---------------------------------------------------------------------------
    def directions_text(self, lang: str) -> str:
        """Where a referred traveller goes, in ``lang``: the kiosk's configured directions, else the catalogue's
        generic (and actionable) one."""
        if self.directions:
            return self.directions.get(lang) or self.directions["en"]
        return self.t("done.where_generic", lang)

    def _done_utterances(self) -> list[str]:
        """What the final screen says: the outcome, the reason (the catalogue's words, where it has them), where to
        go on a referral (the generic direction; configured free-text directions are shown, not spoken: the
        voice then asks to follow the directions on the screen) and the reminder to take the document."""
        done = self.screen("done")
        out = [f"done.{done.outcome}"] if done.outcome else []
        if done.reason and f"reason.{done.reason}" in self.texts.texts.get("en", {}):
            out.append(f"reason.{done.reason}")
        if done.referral:
            out.append("done.where_follow" if self.directions else "done.where_generic")
        if done.take_document:
            out.append("done.take_document")
        return out

    def _enter_done(self) -> None:
        """The final screen: a referral (see an officer) stays until touched or the next traveller places a
        document; other outcomes return to the start after ``done_return_s``, but not while the reader says the
        traveller's document still lies on it. The reminder to take the document shows while it may be there."""
        wf = self.workflow
        done = self.screen("done")
        outcome = (wf.outcome or Outcome.ABANDONED).value
        done.outcome = outcome
        done.reason = wf.reason_code if wf.outcome is Outcome.REFERRED else ""
        done.referral = outcome in REFERRAL_OUTCOMES
        done.kind = done_kind(outcome)
        done.take_document = self._document_read
        done.shown_at = time.monotonic()
        self._done_absent = self._done_time_up = self._seen_present = False
        self._stop_presence()
        self._presence = None
        reader, pages = wf.reader, wf.mrz_source
        watch = PresenceWatch(lambda: document_present(reader, pages),
                              lambda present: Clock.schedule_once(lambda _dt: self._on_presence(watch, present), 0))
        self._presence_watch = watch.start()
        if not done.referral:
            self._return_ev = Clock.schedule_once(self._done_timer, self.done_return_s)

    def _stop_presence(self) -> None:
        if self._presence_watch is not None:
            self._presence_watch.stop()
            self._presence_watch = None

    def _on_presence(self, watch: PresenceWatch, present: bool | None) -> None:
        """The reader's answer on the final screen (UI thread): taken -> no reminder; placed again after it was
        taken -> the next traveller: back to the start."""
        if watch is not self._presence_watch or self.workflow.step not in (Step.DONE, Step.ABANDONED, Step.REFERRED):
            return
        done = self.screen("done")
        self._presence = present
        if present is False:
            # taken only on evidence: the reader saw it on this screen, or read its chip in this session (a
            # chip-less document, or one whose chip was never found, is "absent" to the reader while it lies there)
            if self._seen_present or self._chip_read:
                done.take_document = False
                self._done_absent = True
                if self._done_time_up:
                    self._leave_done()
        elif present is True:
            if self._done_absent:
                log.info("final screen left: a document was placed (the next traveller)")
                self._leave_done()
                return
            self._seen_present = True
            done.take_document = True

    def _done_timer(self, _dt) -> None:
        self._return_ev = None
        self._done_time_up = True
        # back to the start only when no document may be left behind: none was read, or it was seen taken
        if self._presence is not True and not self.screen("done").take_document:
            self._leave_done()

    def _leave_done(self) -> None:
        """Back to the start without touching the reader (a document on it is the next traveller's)."""
        self._stop_presence()
        self.workflow.reset()

    def done_touched(self) -> bool:
        """A tap anywhere on the final screen (not on a button): leave it, unless the screen appeared only a
        moment ago (the tap that ended the session, or a double tap). True when it left."""
        if time.monotonic() - self.screen("done").shown_at < self.done_tap_guard_s:
            return False
        self.finish()
        return True

    def finish(self) -> None:
        self._stop_presence()
        self.workflow.reset()
        if self.sim is not None:
            self.sim.reader.remove()

    def call_officer(self, reason: str = "traveller_request") -> None:
        """Every screen's red button (and a device fault): call an officer through the back office. The dialog
        says "calling..." until the back office answers (on a thread, never the UI's), then "an officer is on
        the way" only if it accepted the call, else "please go to the staffed desk" (``OfficerCall.message``)."""
        if self._officer_view is not None and self.officer_call in ("calling", "accepted"):
            return  # one call at a time; after a failed one the button tries again
        screen = self.sm.current if hasattr(self, "sm") else "unknown"
        self.officer_called = True
        self.officer_call = "calling"
        log.info("officer call at screen %s", screen)

        def run() -> None:
            result = self.workflow.call_officer(screen, reason)
            Clock.schedule_once(lambda _dt: self._officer_answer(result), 0)

        threading.Thread(target=run, daemon=True, name="kiosk-officer-call").start()
        if self._officer_view is not None:
            self._officer_view.label.text = self.t("app.officer_calling")
            return
        view = ModalView(size_hint=(0.7, 0.45), auto_dismiss=False, background="",
                         background_color=(0.12, 0.13, 0.18, 1), overlay_color=(0, 0, 0, 0.75))
        box = BoxLayout(orientation="vertical", padding=30, spacing=24)
        label = Label(text=self.t("app.officer_calling"), font_name=self.font, font_size="30sp", halign="center",
                      valign="middle")
        label.bind(size=lambda w, s: setattr(w, "text_size", s))
        ok = Button(text=self.t("app.ok"), font_name=self.font, font_size="30sp", size_hint_y=None, height=100,
                    background_normal="", background_color=(1, 0.84, 0, 1), color=(0, 0, 0, 1))
        ok.bind(on_release=lambda *_: self.dismiss_officer())
        box.add_widget(label)
        box.add_widget(ok)
        view.add_widget(box)
        view.ok_button = ok
        view.label = label
        self._officer_view = view
        view.open()

    def _officer_answer(self, result) -> None:
        """The back office's answer to an officer call (an :class:`enrollment.OfficerCall`), on the UI thread."""
        self.officer_call = "accepted" if result.accepted else "unreachable"
        self.officer_called = result.accepted
        self._officer_since = time.monotonic() if result.accepted else None
        if self._officer_view is not None:
            self._officer_view.label.text = self.t(result.message)

    def dismiss_officer(self) -> None:
        self._officer_since = None
        if self._officer_view is not None:
            self._officer_view.dismiss()
            self._officer_view = None
        self.officer_called = False
        self.officer_call = ""
