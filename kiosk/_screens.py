"""The kiosk's screens: thin Kivy views over the workflow (layout in ``screens/<name>.kv``)."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
from kivy.app import App
from kivy.clock import Clock, mainthread
from kivy.factory import Factory
from kivy.graphics.texture import Texture
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.button import Button
from kivy.uix.screenmanager import Screen

from kiosk._liveness_guide import Countdown, LivenessPictogram, pictogram_for  # noqa: F401 - face.kv's widgets
from kiosk._pictograms import document_kind, hand_of, quality_level
from kiosk._widgets import message_kind

__all__ = ["KioskScreen", "LanguageScreen", "DocumentScreen", "ConsentScreen", "ChipScreen", "FaceScreen",
           "FingerprintScreen", "ReviewScreen", "DoneScreen", "OfficerButton", "texture_from_rgb"]


def texture_from_rgb(frame: np.ndarray, texture: Texture | None = None) -> Texture:
    frame = np.ascontiguousarray(frame[::-1])  # Kivy textures start at the bottom row
    h, w = frame.shape[:2]
    fmt = "rgb" if frame.ndim == 3 else "luminance"
    if texture is None or tuple(texture.size) != (w, h) or texture.colorfmt != fmt:
        texture = Texture.create(size=(w, h), colorfmt=fmt)
    texture.blit_buffer(frame.tobytes(), colorfmt=fmt, bufferfmt="ubyte")
    return texture


class OfficerButton(Button):
    """The "call an officer" button every screen carries."""


class KioskScreen(Screen):
    message = StringProperty("")

    @property
    def app(self):
        return App.get_running_app()


class LanguageScreen(KioskScreen):
    pass


class ReadScreen(KioskScreen):
    """The document and chip screens: one blocking read with retries (``KioskApp._read``). Its status is the
    message key (translated in the .kv, so a language change re-translates it) in a StatusLine of the key's
    kind; a retryable problem with no retry left is a failure. ``document_kind``: "passport" | "id_card" |
    "border_pass" once the printed MRZ told it, else "" (the screen speaks of all three)."""

    can_retry = BooleanProperty(False)
    attempts_left = NumericProperty(0)
    message_key = StringProperty("")
    status_kind = StringProperty("progress")
    document_kind = StringProperty("")

    def on_message_key(self, *_args) -> None:
        self._update_kind()

    def on_can_retry(self, *_args) -> None:
        self._update_kind()

    def _update_kind(self) -> None:
        key = self.message_key
        self.status_kind = message_kind(key, final=not self.can_retry) if key else "progress"

    def on_pre_enter(self, *args) -> None:
        self.message_key = ""  # nothing left from the last traveller while the screen fades in
        s = self.app.workflow.session
        mrz = None if s is None else (s.document.mrz if s.document is not None else s.printed_mrz)
        self.document_kind = document_kind(mrz) if mrz is not None else ""


class DocumentScreen(ReadScreen):
    """The printed MRZ only: nothing is read from the chip before consent."""

    def on_enter(self, *args) -> None:
        self.app.start_document_read()


class ConsentScreen(KioskScreen):
    pass


class ChipScreen(ReadScreen):
    """After consent: the chip read and verified, with retries as the document screen; the document's kind
    (from the printed MRZ read before consent) is named and pictured."""

    def on_enter(self, *args) -> None:
        self.app.start_chip_read()


class FaceScreen(KioskScreen):
    """Live preview (mirrored, as the traveller sees themselves) with quality guidance and the liveness guidance:
    the challenge in words, its animated pictogram (``pictogram``), the seconds left (``countdown``, from the
    liveness engine's own deadline; -1: none) and, after a failed attempt, the retry message (``retry_text``).

    One thread reads the camera (the preview runs at the camera's rate); another checks quality on the newest
    frame and hands liveness every frame since the previous check, each with its capture time on the camera's
    clock (the arrival time when the camera has no clock), so a blink between two checks is not lost."""

    guidance = StringProperty("")
    challenge = StringProperty("")
    pictogram = StringProperty("")  # "" | "blink" | "turn_left" | "turn_right" | "look_at_camera"
    countdown = NumericProperty(-1.0)  # seconds left for the current challenge; -1: no challenge
    countdown_total = NumericProperty(6.0)
    retry_text = StringProperty("")
    attempts_left = NumericProperty(0)
    preview = ObjectProperty(None, allownone=True)
    fps = NumericProperty(0.0)
    frames_shown = NumericProperty(0)
    passed = BooleanProperty(False)
    #: how long the retry message stays after a failed attempt (s)
    RETRY_SHOWN_S = 6.0
    #: after a failed attempt, the next starts this much later (s): the traveller reads (hears) the retry message
    #: and comes back to the front; a new attempt's first frames are its reference pose, so one taken while the head
    #: was still turning made the next turn look like the wrong way ("wrong_action")
    RETRY_PAUSE_S = 2.0
    #: the most frames kept for liveness between two checks (~1 s at 15 frames/s), and the most it is handed at
    #: once: when the check falls behind, evenly spaced ones (a slow machine degrades, it does not fall further
    #: behind)
    PENDING_FRAMES = 16
    LIVENESS_BATCH = 4
    #: the shortest interval between two frames handed to liveness (s): up to 20 frames/s (all of a 15 frames/s
    #: camera's, every other of a 30 frames/s one) catch a 100 ms blink; more would only cost CPU the preview needs
    LIVENESS_INTERVAL_S = 0.05

    def on_enter(self, *args) -> None:
        from collections import deque

        self._stop = threading.Event()
        self._frame = None  # latest camera frame (preview)
        self._frame_time: float | None = None  # its capture time on the camera clock
        self._frame_seq = 0
        self._shown_seq = 0
        self._pending: deque = deque(maxlen=self.PENDING_FRAMES)  # (frame, time) not yet checked, oldest first
        self._clock_map: tuple[float, float] | None = None  # (the newest frame's time, time.monotonic() it came)
        self._shown: tuple[str, float] | None = None  # a challenge the screen showed, for the worker to report
        self._feedback = None  # latest quality feedback
        self._new_frame = threading.Condition()
        self._shown_times: list[float] = []
        self.frames_shown = 0
        self.guidance, self.challenge = "", ""
        self._challenge_key: str | None = None
        self._countdown_at: tuple[float, float] | None = None  # (seconds left, time.monotonic() when told)
        self._retry_until = 0.0
        self.pictogram, self.countdown, self.retry_text = "", -1.0, ""
        self._threads = [threading.Thread(target=self._read_camera, name="face-camera", daemon=True),
                         threading.Thread(target=self._process, name="face-quality", daemon=True)]
        for t in self._threads:
            t.start()
        self._ev = Clock.schedule_interval(self._refresh, 1 / 30)

    def on_leave(self, *args) -> None:
        self.stop()

    def stop(self) -> None:
        if getattr(self, "_stop", None) is not None:
            self._stop.set()
            with self._new_frame:
                self._new_frame.notify_all()
                self._pending.clear()
        if getattr(self, "_ev", None) is not None:
            self._ev.cancel()
            self._ev = None
        self.preview = None
        self._frame = None
        self.pictogram, self.countdown, self.retry_text = "", -1.0, ""
        if "preview" in self.ids:
            self.ids.preview.texture = None  # no face left on screen

    def _read_camera(self) -> None:
        """The preview runs at the camera's rate, whatever the quality check costs."""
        app = self.app
        try:
            for frame in app.camera.frames():
                if self._stop.is_set():
                    break
                stamp = getattr(app.camera, "frame_time", None)  # the camera's clock, where it has one
                if stamp is None:
                    stamp = time.monotonic()  # else when it arrived: never when it happens to be checked
                with self._new_frame:
                    self._frame, self._frame_time = frame, stamp
                    self._clock_map = (stamp, time.monotonic())
                    self._pending.append((frame, stamp))
                    self._frame_seq += 1
                    self._new_frame.notify_all()
        except Exception as e:  # noqa: BLE001 - a camera failure is shown and the officer called
            if not self._stop.is_set():
                app.device_failed("camera", e)

    def _process(self) -> None:
        """Quality feedback (and capture) on the newest frame each time the check is free; liveness on every frame."""
        app = self.app
        wf = app.workflow
        done_seq = 0
        pause_until = 0.0
        last_liveness_t = float("-inf")
        while not self._stop.is_set():
            with self._new_frame:
                self._new_frame.wait_for(lambda seen=done_seq: self._frame_seq != seen or self._stop.is_set(),
                                         timeout=1.0)
                pending, done_seq = list(self._pending), self._frame_seq
                self._pending.clear()
            if not pending or self._stop.is_set() or time.monotonic() < pause_until:
                continue
            frame, stamp = pending[-1]
            skipped, last_t = [], last_liveness_t
            for item in pending[:-1]:
                if item[1] - last_t >= self.LIVENESS_INTERVAL_S and stamp - item[1] >= self.LIVENESS_INTERVAL_S:
                    skipped.append(item)
                    last_t = item[1]
            last_liveness_t = stamp
            if len(skipped) > self.LIVENESS_BATCH:
                step = len(skipped) / self.LIVENESS_BATCH
                skipped = [skipped[int(i * step)] for i in range(self.LIVENESS_BATCH)]
            shown, self._shown = self._shown, None
            t0 = time.perf_counter()
            try:
                if shown is not None:
                    wf.challenge_shown(*shown)
                fb = wf.process_frame(frame, stamp, skipped=skipped)
            except Exception:  # noqa: BLE001 - the step ended (captured, abandoned, timed out)
                break
            app.frame_ms.append((time.perf_counter() - t0) * 1000)
            self._feedback = fb
            if fb.done or fb.phase == "referred":
                break
            if fb.phase == "retry":
                pause_until = time.monotonic() + self.RETRY_PAUSE_S

    def _refresh(self, _dt) -> None:
        frame, seq = self._frame, self._frame_seq
        now = time.monotonic()
        if frame is not None and seq != self._shown_seq:
            self._shown_seq = seq
            self.preview = texture_from_rgb(frame[:, ::-1], self.preview)  # mirrored: the traveller's left on the left
            self.ids.preview.texture = self.preview
            self.ids.preview.canvas.ask_update()
            perf = time.perf_counter()
            self._shown_times = [t for t in self._shown_times if perf - t < 1.0] + [perf]
            self.fps = len(self._shown_times)
            self.frames_shown += 1
            # the guidance moves with the preview: no redraw of its own (each one costs the whole window)
            if self._countdown_at is not None:  # the countdown runs between two checks too
                left, told = self._countdown_at
                self.countdown = max(0.0, left - (now - told))
            if self.pictogram:
                self.ids.pictogram.advance()
        if self.retry_text and now > self._retry_until:
            self.retry_text = ""
        fb, self._feedback = self._feedback, None
        if fb is None:
            return
        self.attempts_left = fb.attempts_left
        self.passed = bool(fb.check and fb.check.passed)
        lang = self.app.lang
        self._show_challenge(fb, now)
        follow = getattr(self.app.camera, "follow", None)
        if follow is not None:  # the simulated traveller reads the screen too
            follow(self._challenge_key)
        texts = []
        for m in fb.messages:
            text = self.app.t(m, lang)
            if text not in texts and text != self.challenge and m not in ("face.retry", "face.liveness_failed"):
                texts.append(text)
        self.guidance = "  ".join(texts[:2])
        self.app.speak_face(fb)  # the challenge and the guidance, spoken

    def _show_challenge(self, fb, now: float) -> None:
        """The challenge in words, its pictogram and countdown; the retry message after a failed attempt. A frame
        in which the quality check found no face keeps the challenge shown (it still runs)."""
        app, lang = self.app, self.app.lang
        if fb.phase in ("retry", "referred", "captured", "hold_still") or (
                fb.challenge is None and (fb.check is None or fb.check.face_found)):
            self._challenge_key, self._countdown_at = None, None
            self.challenge, self.pictogram, self.countdown = "", "", -1.0
        if fb.phase == "retry":
            total = app.workflow.policy.max_face_attempts
            attempt = total - fb.attempts_left + 1
            self.retry_text = "  ".join((app.t("face.retry", lang),
                                         app.t("face.attempt", lang, n=attempt, total=total)))
            self._retry_until = now + self.RETRY_SHOWN_S
        elif fb.phase in ("referred", "captured", "hold_still"):
            self.retry_text = ""
        if fb.challenge:
            # the countdown follows the engine's deadline (frames' clock) and only goes down within a challenge
            # ("look at the camera" while the face is lost does not stop the challenge's clock)
            action = self._challenge_key if fb.challenge == "liveness.look_at_camera" else fb.challenge
            same = action is not None and action == self._challenge_key and self._countdown_at is not None
            self._challenge_key = action or fb.challenge
            if not same and action is not None and self._clock_map is not None:
                # shown now: on the frames' clock, the newest frame's time plus what has passed since it came
                frame_t, came = self._clock_map
                self._shown = (action, frame_t + (now - came))
            self.challenge = app.t(fb.challenge, lang)
            self.pictogram = pictogram_for(fb.challenge)
            if fb.time_left_s is not None:
                left = float(fb.time_left_s)
                if same:
                    was, told = self._countdown_at
                    left = min(left, max(0.0, was - (now - told)))
                self._countdown_at = (left, now)
                self.countdown = left
                if fb.timeout_s:
                    self.countdown_total = float(fb.timeout_s)


class FingerprintScreen(KioskScreen):
    """The current task's instruction and a hand pictogram that shows it (the hand, the fingers to place),
    changed together in one step on the UI thread; after a capture, its feedback in a StatusLine and each
    finger's quality as a word and three bars (never a number), beside the capture, small and labelled as the
    last scan. The texts are catalogue keys translated in the .kv (a language change re-translates them)."""

    instruction = StringProperty("")  # the instruction in the session's language (also for tests and tools)
    instruction_key = StringProperty("")  # finger.slap_right | finger.slap_left | finger.flat
    finger_key = StringProperty("")  # finger.name.<position> for a single finger
    hand = StringProperty("right")
    task_positions = ListProperty([])  # the ISO positions to place now (highlighted on the pictogram)
    feedback_keys = ListProperty([])
    feedback_kind = StringProperty("progress")
    qualities = ListProperty([])  # [(position, "good" | "acceptable" | "poor")] of the last scan
    last_hand = StringProperty("")  # the hand of the last scan
    attempts_left = NumericProperty(0)
    thumbnail = ObjectProperty(None, allownone=True)

    def on_pre_enter(self, *args) -> None:
        self.feedback_keys, self.qualities, self.thumbnail, self.last_hand = [], [], None, ""
        self.ids.platen.texture = None
        self.update_instruction()

    def update_instruction(self) -> None:
        """The instruction and the pictogram for the workflow's current task, set together."""
        app = self.app
        task = app.workflow.finger_task
        if task is None:
            return
        if task.kind == "slap":
            key, finger = ("finger.slap_right" if hand_of(task.positions) == "right" else "finger.slap_left"), ""
        else:
            key, finger = "finger.flat", f"finger.name.{task.positions[0]}"
        self.hand, self.task_positions = hand_of(task.positions), list(task.positions)
        self.instruction_key, self.finger_key = key, finger
        self.instruction = self.instruction_text(app.lang)

    def instruction_text(self, lang: str, *_deps) -> str:
        if not self.instruction_key:
            return ""
        app = self.app
        finger = app.t(self.finger_key, lang) if self.finger_key else ""
        return app.t(self.instruction_key, lang, finger=finger) if finger else app.t(self.instruction_key, lang)

    def feedback_text(self, lang: str, *_deps) -> str:
        return "  ".join(self.app.t(k, lang) for k in self.feedback_keys)

    def on_qualities(self, _instance, qualities) -> None:
        box = self.ids.get("qualities")
        if box is None:
            return
        box.clear_widgets()
        for position, level in qualities:  # fingerprints.kv's FingerQuality: name, three bars, a word
            item = Factory.FingerQuality()
            item.position, item.level = position, level
            box.add_widget(item)

    def on_leave(self, *args) -> None:
        self.thumbnail = None
        self.ids.platen.texture = None  # no fingerprint left on screen

    @mainthread
    def show_capture(self, image: np.ndarray | None, fb) -> None:
        """One capture's result; then the next task (if the capture finished this one) in the same frame."""
        app = self.app
        if image is not None:
            self.thumbnail = texture_from_rgb(image)
            self.ids.platen.texture = self.thumbnail
        self.last_hand = hand_of(fb.task.positions)
        keys = list(fb.messages[:2])
        self.feedback_keys = keys
        self.feedback_kind = message_kind(keys[0]) if keys else "progress"
        threshold = getattr(app.workflow.engines, "finger_threshold", None)
        self.qualities = [(pos, quality_level(score, fb.passed.get(pos, False), threshold))
                          for pos, score in sorted(fb.scores.items())]
        self.attempts_left = fb.attempts_left
        self.update_instruction()

class ReviewScreen(KioskScreen):
    name_text = StringProperty("")
    number_text = StringProperty("")
    nationality_text = StringProperty("")
    dob_text = StringProperty("")
    expiry_text = StringProperty("")
    fingers_count = NumericProperty(0)
    submitting = BooleanProperty(False)
    document_kind = StringProperty("")  # passport | id_card | border_pass (from the MRZ's document code) | ""

    def on_pre_enter(self, *args) -> None:
        s = self.app.workflow.session
        self.submitting = False
        if s is None or s.document is None:
            return
        m = s.document.mrz  # emrtd.Mrz
        self.document_kind = document_kind(m)
        self.name_text = f"{m.primary_identifier}, {m.secondary_identifier}"
        self.number_text, self.nationality_text = m.document_number, m.nationality
        self.dob_text = m.date_of_birth.isoformat() if m.date_of_birth else m.date_of_birth_mrz  # partly unknown
        self.expiry_text = m.date_of_expiry.isoformat() if m.date_of_expiry else m.date_of_expiry_mrz
        self.fingers_count = len(s.fingers)
        if s.face_image is not None:
            self.ids.live_photo.texture = texture_from_rgb(s.face_image)
        self.ids.chip_photo.texture = _chip_texture(s.document.chip_face)

    def on_leave(self, *args) -> None:
        self.ids.live_photo.texture = None  # nothing biometric left on screen
        self.ids.chip_photo.texture = None


def _chip_texture(data: bytes | None) -> Texture | None:
    if not data:
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return texture_from_rgb(np.asarray(im.convert("RGB")))
    except (OSError, UnidentifiedImageError):
        return None


class DoneScreen(KioskScreen):
    """The final screen. A referral (``referral``: see an officer) says why, where to go and to take the document
    back, and stays until touched or the next traveller places a document (kiosk._app: ``_enter_done``)."""

    outcome = StringProperty("")
    reason = StringProperty("")
    referral = BooleanProperty(False)
    kind = StringProperty("warning")  # the status kind: "success" | "warning" | "failure"
    take_document = BooleanProperty(False)  # the reminder (with its pictogram) is shown
    shown_at = NumericProperty(0.0)  # time.monotonic() when it appeared

    def on_touch_down(self, touch) -> bool:
        """A button (Finish, call an officer, a language) handles its own tap; a tap anywhere else leaves."""
        if super().on_touch_down(touch):
            return True
        if self.collide_point(*touch.pos) and self.app.workflow.step.value in ("done", "abandoned", "referred"):
            return self.app.done_touched()
        return False
