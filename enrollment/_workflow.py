"""The enrolment workflow: a state machine over the document, consent, chip, face, fingerprint, review and
submit steps, independent of any user interface.

Consent first, minimal data: before the traveller consents the kiosk reads only the printed MRZ (the page
scanner), which the document screen needs to check; the chip (DG1, the DG2 photo) is read only after
consent. Declining, abandoning or timing out wipes the session, the MRZ included.

The entry point hands in the engines (quality gates, templates, liveness), the chip reader and MRZ
source (ports), the outbox and the back-office client (:mod:`devicelink`). Every public method is
thread-safe: the kiosk runs blocking steps (chip read, submission) on a worker thread and feeds preview
frames from another. ``on_change(step)`` is called after every transition (from the calling thread).

Transitions::

    IDLE -start-> DOCUMENT -read_document (MRZ)-> CONSENT -consent(True)-> CHIP -read_chip-> FACE -frames->
         FINGERPRINTS -captures-> REVIEW -confirm-> SUBMITTING -> DONE
         (accepted | duplicate_suspected | queued | parked)
    any active step -abandon / consent(False) / idle time-out-> ABANDONED (session wiped)
        (the idle time-out is paused while the consent text is open: the consent step's own time-out bounds it)
    too many failed attempts, a refused document -> REFERRED (reason_code; session wiped)
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from devicelink import BackofficeError, Deliverer, Outbox, document_record
from devices.ports import DeviceError, MrzDataError, MrzReadCancelled, MrzSourceError
from enrollment._document import DocumentRead, check_printed_mrz, read_chip
from enrollment._engines import Engines, FaceCheck, FingerCheck, Liveness
from enrollment._errors import (
    CaptureKindMismatch,
    DocumentError,
    DocumentRejected,
    InvalidTransition,
    MrzError,
)
from enrollment._session import ACTIVE, CapturedFinger, FingerTask, Outcome, Policy, Session, Step

__all__ = ["EnrolmentWorkflow", "FaceFeedback", "FingerFeedback", "DocumentFeedback", "OfficerCall",
           "EVENT_REASON_CODES"]

#: reason codes of the back office's ReasonCode enum the kiosk reports with an event
EVENT_REASON_CODES = frozenset({
    "failure_to_acquire", "liveness_failed", "chip_read_failed", "chip_pa_failed", "chip_aa_failed", "chip_ca_failed",
    "chip_cloned", "chip_key_unusable", "mrz_mismatch", "document_unreadable", "document_expired", "timeout",
    "duplicate_enrolment", "hardware_fault", "face_mismatch",
})


log = logging.getLogger("enrollment")
_MRZ_POLL_S = 0.2  # how often the document step asks the page scanner while no document lies on it


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: the screen a kiosk reports with an officer call: a lower-case code (the back office refuses anything else)
_CALL_STATE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True)
class OfficerCall:
    """The answer to :meth:`EnrolmentWorkflow.call_officer`: ``call_id`` when the back office accepted the call,
    else ``error`` (the error's name). ``message`` is the key of what the kiosk tells the traveller."""

    call_id: str | None
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return self.call_id is not None

    @property
    def message(self) -> str:
        return "app.officer_coming" if self.accepted else "app.officer_unreachable"


@dataclass(frozen=True)
class DocumentFeedback:
    ok: bool
    message: str  # message key: document.read_ok (the MRZ), chip.read_ok, document.no_card, document.card_removed, ...
    attempts_left: int
    document: DocumentRead | None = None


@dataclass(frozen=True)
class FaceFeedback:
    phase: str  # "quality" | "liveness" | "hold_still" | "captured" | "retry" | "referred"
    messages: tuple[str, ...]  # message keys, most important first
    check: FaceCheck | None
    attempts_left: int
    challenge: str | None = None
    #: the liveness challenge's countdown (seconds left, and its whole time), from the liveness engine's own
    #: deadline when it has one (``Liveness.time_left_s`` / ``timeout_s``); None otherwise
    time_left_s: float | None = None
    timeout_s: float | None = None

    @property
    def done(self) -> bool:
        return self.phase == "captured"


@dataclass(frozen=True)
class FingerFeedback:
    task: FingerTask
    scores: dict[int, float]  # position -> quality score of this capture
    passed: dict[int, bool]
    messages: tuple[str, ...]
    attempts_left: int
    task_done: bool
    all_done: bool


class EnrolmentWorkflow:
    def __init__(self, engines: Engines, outbox: Outbox, submitter: Deliverer | None = None, *,
                 reader=None, mrz_source=None, trust=None, policy: Policy | None = None,
                 clock: Callable[[], float] = time.monotonic, now: Callable[[], dt.datetime] = _utcnow,
                 on_change: Callable[[Step], None] | None = None) -> None:
        self.engines = engines
        self.outbox = outbox
        self.submitter = submitter
        self.reader = reader
        self.mrz_source = mrz_source
        self.trust = trust
        self.policy = policy or Policy()
        self.clock = clock
        self.now = now
        self.on_change = on_change
        self._lock = threading.RLock()
        self.step = Step.IDLE
        self.session: Session | None = None
        self.outcome: Outcome | None = None
        self.reason_code: str | None = None
        self.answer = None  # EnrolmentAnswer of the last submission
        self.outbox_id: str | None = None
        self.last_failure: str | None = None  # why the last attempt failed (for the officer; no personal data)
        self._last_touch = clock()
        self._step_started = clock()
        self._stable = 0
        self._best: tuple[float, np.ndarray] | None = None
        self._liveness: Liveness | None = None
        self._task = 0
        self._best_fingers: dict[int, tuple[float, np.ndarray, int]] = {}
        #: a face attempt that failed between two frames (the step's time-out in tick()): the next frame's answer
        self._face_retry: FaceFeedback | None = None

    # -- plumbing --------------------------------------------------------------------------------
    def _go(self, step: Step) -> None:
        if step is not Step.FACE:
            self._face_retry = None
        if self.step is Step.CONSENT and step is not Step.CONSENT:
            self._last_touch = self.clock()  # the idle clock, paused while the consent text was open, restarts
        self.step = step
        self._step_started = self.clock()
        if self.on_change is not None:
            self.on_change(step)

    def _require(self, *steps: Step) -> Session:
        if self.step not in steps or self.session is None:
            raise InvalidTransition(f"not allowed in step {self.step}")
        return self.session

    def touch(self) -> None:
        """The traveller did something (a tap, a face in front of the camera)."""
        self._last_touch = self.clock()

    def _attempts_left(self, kind: str, limit: int) -> int:
        return max(0, limit - (self.session.attempts[kind] if self.session else 0))

    def _clear_capture(self) -> None:
        if self._best is not None:
            self._best[1].fill(0)
        close = getattr(self._liveness, "close", None)
        if close is not None:  # an undecided challenge (time-out, abandon): its resources go now, not at GC
            try:
                close()
            except Exception as e:  # noqa: BLE001 - a liveness engine's cleanup never stops the session's end
                log.warning("liveness session not closed: %s", type(e).__name__)
        self._best, self._stable, self._liveness = None, 0, None
        for _, img, _ in self._best_fingers.values():
            img.fill(0)
        self._best_fingers.clear()

    def _event(self, outcome: Outcome, reason: str | None, started_at: dt.datetime | None) -> None:
        """Queue the session's outcome for the back office's statistics: no personal data."""
        if not self.policy.report_events:
            return
        now = self.now()
        mapped = {Outcome.ACCEPTED: "ok", Outcome.DUPLICATE_SUSPECTED: "referred", Outcome.QUEUED: "ok",
                  Outcome.PARKED: "fault", Outcome.ABANDONED: "aborted", Outcome.TIMED_OUT: "aborted",
                  Outcome.REFERRED: "referred"}[outcome]
        codes = [reason] if reason in EVENT_REASON_CODES else []
        event = {"occurred_at": now.isoformat(), "kind": "transaction", "outcome": mapped, "reason_codes": codes,
                 "duration_ms": round((now - started_at).total_seconds() * 1000, 1) if started_at else None}
        try:
            self.outbox.put("event", event)
        except Exception as e:  # noqa: BLE001 - statistics never stop the kiosk
            log.warning("session event not queued: %s", type(e).__name__)

    def _end(self, step: Step, outcome: Outcome, reason: str | None = None) -> None:
        if self.step is Step.DOCUMENT:  # a page reader's read for this session ends now (where it can be cut short)
            cancel = getattr(self.mrz_source, "cancel", None)
            if cancel is not None:
                cancel()
        self._clear_capture()
        started = self.session.started_at if self.session is not None else None
        if self.session is not None:
            self.session.wipe()
            self._event(outcome, reason, started)
        self.session = None
        self.outcome, self.reason_code = outcome, reason
        self._go(step)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, language: str) -> Session:
        with self._lock:
            if self.step in ACTIVE:
                raise InvalidTransition(f"an enrolment is in progress ({self.step})")
            if language not in ("vi", "zh", "en"):
                raise ValueError(f"language must be vi, zh or en, not {language!r}")
            self.session = Session(language=language, started_at=self.now())
            self.outcome = self.reason_code = self.answer = self.outbox_id = None
            discard = getattr(self.mrz_source, "discard", None)  # a page reader: nothing placed before this traveller
            if discard is not None:
                discard()
            self.touch()
            self._go(Step.DOCUMENT)
            return self.session

    def set_language(self, language: str) -> None:
        with self._lock:
            if self.session is not None and language in ("vi", "zh", "en"):
                self.session.language = language

    def abandon(self, outcome: Outcome = Outcome.ABANDONED) -> None:
        with self._lock:
            if self.step in ACTIVE:
                self._end(Step.ABANDONED, outcome)

    def reset(self) -> None:
        """Back to IDLE after the final screen (wipes anything left)."""
        with self._lock:
            if self.step in ACTIVE:
                self._end(Step.ABANDONED, Outcome.ABANDONED)
            self._go(Step.IDLE)

    def call_officer(self, screen: str = "unknown", reason: str = "traveller_request") -> OfficerCall:
        """Call an officer to this kiosk through the back office (``POST /api/v1/calls``: the screen it is on and
        a reason code, no personal data). Blocking (one HTTP request): the kiosk runs it off its UI thread.
        The answer says what to tell the traveller: an officer is on the way only when the back office stored
        the call; otherwise (unreachable, refused, no back office configured) go to the staffed desk."""
        with self._lock:
            self.touch()
            if self.session is not None:
                self.session.officer_calls += 1
        screen = screen if _CALL_STATE.match(screen or "") else "unknown"
        raise_call = getattr(self.submitter, "raise_call", None)
        if raise_call is None:
            log.warning("officer call at %s not sent: no back office", screen)
            return OfficerCall(None, "no_backoffice")
        try:
            call_id = raise_call(screen, reason)
        except BackofficeError as e:
            log.warning("officer call at %s not accepted: %s", screen, type(e).__name__)
            return OfficerCall(None, type(e).__name__)
        except Exception as e:  # noqa: BLE001 - whatever failed, the traveller is sent to the desk, never told "coming"
            log.error("officer call at %s failed: %s", screen, type(e).__name__)
            return OfficerCall(None, type(e).__name__)
        log.info("officer call %s at %s accepted", call_id, screen)
        return OfficerCall(str(call_id))

    def _idle_paused(self) -> bool:
        """No idle time-out: no session, the submission running, or the consent text open (a traveller reads a
        long text without touching anything; the consent step's own time-out, ``step_timeout_s["consent"]``,
        bounds it, and leaving the step restarts the idle clock)."""
        if self.step is Step.CONSENT:  # paused only where the consent step has a time-out of its own
            return self.policy.step_timeout_s.get("consent") is not None
        return self.step not in ACTIVE or self.step is Step.SUBMITTING

    def idle_left(self) -> float | None:
        """Seconds before the idle time-out wipes the session (None when no session is active, and while the idle
        time-out is paused: during the submission and while the consent text is open)."""
        with self._lock:
            if self._idle_paused():
                return None
            return max(0.0, self.policy.idle_timeout_s - (self.clock() - self._last_touch))

    def tick(self) -> Outcome | None:
        """Check the idle and per-step time-outs; returns the outcome when the session ended."""
        with self._lock:
            if self.step not in ACTIVE or self.step is Step.SUBMITTING:
                return None
            now = self.clock()
            if not self._idle_paused() and now - self._last_touch > self.policy.idle_timeout_s:
                self._end(Step.ABANDONED, Outcome.TIMED_OUT, "timeout")
                return Outcome.TIMED_OUT
            limit = self.policy.step_timeout_s.get(self.step.value)
            if limit is not None and now - self._step_started > limit:
                self.last_failure = f"timeout:{self.step.value}"
                if self.step is Step.FACE:
                    fb = self._face_attempt_failed()
                    # the face screen hears of it with the next frame: "that did not work, let's try again"
                    self._face_retry = fb if fb.phase == "retry" else None
                    return self.outcome if self.step is Step.REFERRED else None
                self._end(Step.ABANDONED, Outcome.TIMED_OUT, "timeout")
                return Outcome.TIMED_OUT
            return None

    # -- document (before consent: the printed MRZ only) --------------------------------------------
    def _take_mrz(self, session: Session, mrz_text: str | None, wait_s: float) -> str:
        """The printed MRZ: given, or from the MRZ source, waiting up to ``wait_s`` for a document on the
        page scanner (the source says "nothing read" until one is there), while ``session`` is the one at its
        document step (abandoned, even if a new one began: no more reads, never the next traveller's document).
        Never the chip reader."""
        if mrz_text is not None:
            return mrz_text
        if self.mrz_source is None:
            raise MrzSourceError("no MRZ source (page scanner) configured")
        deadline = time.monotonic() + max(0.0, wait_s)
        read_but_bad: MrzDataError | None = None  # a page reader's last word on a document it did read
        while True:
            if self.session is not session or self.step is not Step.DOCUMENT:  # ended (and cancel() was called)
                raise MrzReadCancelled("the session ended while its document step waited for a document")
            try:
                return self.mrz_source.read_mrz()
            except MrzSourceError as e:
                read_but_bad = e if isinstance(e, MrzDataError) else read_but_bad
                if time.monotonic() >= deadline or self.session is not session or self.step is not Step.DOCUMENT:
                    if read_but_bad is not None and read_but_bad is not e:  # say why, not "then nothing came"
                        raise read_but_bad from e
                    raise
            time.sleep(_MRZ_POLL_S)

    def read_document(self, mrz_text: str | None = None) -> DocumentFeedback:
        """Blocking: the printed MRZ (given, or from the MRZ source), parsed, check digits verified, the
        document not expired. The chip is not touched: it is read after consent (:meth:`read_chip`)."""
        with self._lock:
            session = self._require(Step.DOCUMENT)
            self.touch()
        limit = self.policy.max_document_attempts
        try:
            mrz = check_printed_mrz(self._take_mrz(session, mrz_text, self.policy.card_timeout_s), today=self.now().date())
        except DocumentRejected as e:
            with self._lock:
                if self.session is session:
                    self._end(Step.REFERRED, Outcome.REFERRED, e.reason_code)
            return DocumentFeedback(False, f"document.{e.reason_code}", 0)
        except (MrzError, DeviceError) as e:
            key = "document.mrz_unreadable" if isinstance(e, MrzSourceError | MrzError) else "document.reader_fault"
            with self._lock:
                self.last_failure = f"document:{type(e).__name__}"
                return self._attempt_failed(session, "document", key, limit, "hardware_fault"
                                            if key == "document.reader_fault" else "document_unreadable")
        with self._lock:
            if self.session is not session:  # abandoned or timed out while reading
                return DocumentFeedback(False, "document.cancelled", 0)
            session.printed_mrz = mrz
            self.touch()
            self._go(Step.CONSENT)
            return DocumentFeedback(True, "document.read_ok", self._attempts_left("document", limit))

    def _attempt_failed(self, session: Session, kind: str, key: str, limit: int, reason: str) -> DocumentFeedback:
        """Under the lock: one failed attempt of the document or the chip step (``kind``); with none left the
        session ends referred with ``reason``."""
        if self.session is not session:
            return DocumentFeedback(False, key, 0)
        session.attempts[kind] += 1
        self.touch()
        left = self._attempts_left(kind, limit)
        if left == 0:
            self._end(Step.REFERRED, Outcome.REFERRED, reason)
        return DocumentFeedback(False, key, left)

    # -- consent ---------------------------------------------------------------------------------
    def consent(self, given: bool, *, text_version: str | None = None) -> None:
        """The traveller's answer to the consent text (``text_version``: the version of the text shown; the
        policy's when None). Declining ends the session, wiped, before anything was read from the chip."""
        with self._lock:
            session = self._require(Step.CONSENT)
            self.touch()
            if not given:
                self._end(Step.ABANDONED, Outcome.ABANDONED, "consent_refused")
                return
            session.consent_at = self.now()
            session.consent_text_version = text_version or self.policy.consent_text_version
            self._go(Step.CHIP)

    # -- chip (after consent) ----------------------------------------------------------------------
    def read_chip(self) -> DocumentFeedback:
        """Blocking: wait for the card, read and verify the chip with the printed MRZ's key (PA up to a trusted
        CSCA, revocation status, DG1/DG2 as signed, AA/CA, the whole printed MRZ equal to DG1)."""
        with self._lock:
            session = self._require(Step.CHIP)
            self.touch()
            mrz = session.printed_mrz
        limit = self.policy.max_chip_attempts
        try:
            doc = read_chip(self.reader, mrz, trust=self.trust, card_timeout_s=self.policy.card_timeout_s,
                            require_passive_authentication=self.policy.require_passive_authentication,
                            require_revocation_status=self.policy.require_revocation_status)
        except DocumentRejected as e:
            with self._lock:
                if self.session is session:
                    self._end(Step.REFERRED, Outcome.REFERRED, e.reason_code)
            return DocumentFeedback(False, f"document.{e.reason_code}", 0)
        except (DocumentError, DeviceError) as e:
            key = f"document.{e.reason}" if isinstance(e, DocumentError) else "document.reader_fault"
            with self._lock:
                self.last_failure = f"chip:{key.removeprefix('document.')}"
                return self._attempt_failed(session, "chip", key, limit, "hardware_fault"
                                            if key == "document.reader_fault" else "chip_read_failed")
        with self._lock:
            if self.session is not session:  # abandoned or timed out while reading
                doc.wipe()
                return DocumentFeedback(False, "document.cancelled", 0)
            session.document = doc
            session.printed_mrz = None  # the record is the chip's DG1 from now on
            self.touch()
            self._clear_capture()
            self._go(Step.FACE)
            return DocumentFeedback(True, "chip.read_ok", self._attempts_left("chip", limit), doc)

    # -- face ------------------------------------------------------------------------------------
    def _face_attempt_failed(self, reason: str = "failure_to_acquire") -> FaceFeedback:
        session = self.session
        session.attempts["face"] += 1
        session.liveness_passed = False  # the next capture proves liveness again: a pass is not carried over
        self._clear_capture()
        left = self._attempts_left("face", self.policy.max_face_attempts)
        if left == 0:
            self._end(Step.REFERRED, Outcome.REFERRED, reason)
            return FaceFeedback("referred", ("face.referred",), None, 0)
        self._step_started = self.clock()
        return FaceFeedback("retry", ("face.retry",), None, left)

    def challenge_shown(self, challenge: str, t: float | None = None) -> None:
        """The screen showed the liveness ``challenge`` (its message key) at ``t`` on the camera's clock (None:
        now): a liveness engine that can (``Liveness.shown``) runs the challenge's time from then, not from the
        frame it was decided on, so a screen lagging the camera does not eat the traveller's time."""
        with self._lock:
            shown = getattr(self._liveness, "shown", None) if self.step is Step.FACE else None
            if shown is not None:
                shown(challenge, t)

    def process_frame(self, frame: np.ndarray, t: float | None = None, *,
                      skipped: Sequence[tuple[np.ndarray, float | None]] = ()) -> FaceFeedback:
        """Quality-check one preview frame; feed liveness (``t``: the frame's capture time on the camera's
        clock, None: now); capture when stable and live. ``skipped``: the camera's frames since the previous call
        that the caller did not quality-check (``(frame, t)``, oldest first): liveness sees them too, before
        ``frame``, so a blink between two checked frames is not lost (a human's lasts 100-400 ms)."""
        with self._lock:
            self._require(Step.FACE)
            if self._face_retry is not None:  # an attempt timed out since the last frame: say so first
                fb, self._face_retry = self._face_retry, None
                return fb
            left = self._attempts_left("face", self.policy.max_face_attempts)
            check = self.engines.face_quality(frame)
            if check.face_found:
                self.touch()
            challenge = None
            countdown: tuple[float | None, float | None] = (None, None)
            if self.engines.liveness is not None and not self.session.liveness_passed and check.face_found:
                if self._liveness is None:
                    self._liveness = self.engines.liveness()
                verdict = None
                for earlier, t_earlier in skipped:
                    verdict = self._liveness.observe(earlier, t_earlier)
                    if verdict is not None:
                        break
                if verdict is None:
                    verdict = self._liveness.observe(frame, t)
                challenge = self._liveness.challenge
                countdown = (getattr(self._liveness, "time_left_s", None), getattr(self._liveness, "timeout_s", None))
                if verdict is False:
                    self.last_failure = "liveness:" + str(getattr(self._liveness, "reason", "") or "failed")
                    fb = self._face_attempt_failed()
                    return FaceFeedback(fb.phase, ("face.liveness_failed", *fb.messages), check, fb.attempts_left)
                if verdict is True:
                    self.session.liveness_passed = True
                    challenge, countdown = None, (None, None)
            if not check.passed:
                self._stable = 0
                return FaceFeedback("quality", check.guidance or ("face.adjust",), check, left, challenge, *countdown)
            if self.engines.liveness is not None and not self.session.liveness_passed:
                # the photo is taken only from frames after the challenges were passed: a frame from before them
                # (a printed photo of the document's holder, then a live face for the challenges) never is
                self._stable = 0
                if self._best is not None:
                    self._best[1].fill(0)
                    self._best = None
                return FaceFeedback("liveness", (challenge or "face.follow_prompt",), check, left, challenge, *countdown)
            self._stable += 1
            score = float(check.measures.get("score", check.measures.get("quality", 0.0)))
            if self._best is None or score >= self._best[0]:
                if self._best is not None:
                    self._best[1].fill(0)
                self._best = (score, np.array(frame, copy=True))
            if self._stable < self.policy.face_stable_frames:
                return FaceFeedback("hold_still", ("face.hold_still",), check, left)
            best = self._best[1]
            try:
                template = bytearray(self.engines.face_template(best))
            except Exception as e:  # noqa: BLE001 - any engine failure is a failed attempt (no face, no template)
                self.last_failure = f"face_template:{type(e).__name__}"
                return self._face_attempt_failed()
            mismatch = self._chip_face_mismatch(template)
            if mismatch is not None:
                template[:] = b"\0" * len(template)
                self.last_failure = mismatch
                return self._face_attempt_failed("face_mismatch")
            self.session.face_image = best
            self.session.face_template = template
            self._best = None
            self._stable = 0
            self._liveness = None
            self._task = 0
            self._go(Step.FINGERPRINTS)
            return FaceFeedback("captured", ("face.captured",), check, left)

    def _chip_face_mismatch(self, template: bytearray) -> str | None:
        """Why the live face does not match the chip's photo 1:1 (None: it matches, or the check is off)."""
        if not self.policy.require_chip_face_match:
            return None
        document = self.session.document
        chip = document.chip_face if document is not None else None
        if self.engines.face_verify is None:
            return "face_mismatch:no face matcher configured"
        if not chip:
            why = document.chip_photo_error if document is not None else None
            return "face_mismatch:no chip photo" + (f" ({why})" if why else "")
        try:
            score, threshold = self.engines.face_verify(chip, bytes(template))
        except Exception as e:  # noqa: BLE001 - the photo or the template could not be compared: not a match
            return f"face_mismatch:{type(e).__name__}"
        if not (math.isfinite(score) and math.isfinite(threshold) and score >= threshold):
            return f"face_mismatch:score {score:.3f} below {threshold:.3f}"
        return None

    # -- fingerprints ----------------------------------------------------------------------------
    @property
    def finger_task(self) -> FingerTask | None:
        plan = self.policy.finger_plan
        return plan[self._task] if self.step is Step.FINGERPRINTS and self._task < len(plan) else None

    def _finish_task(self) -> bool:
        """Template the best impression of each finger of the task; True when the plan is done."""
        session = self.session
        task = self.policy.finger_plan[self._task]
        for pos in task.positions:
            if pos in self._best_fingers:
                score, img, dpi = self._best_fingers.pop(pos)
                try:
                    fmt, data = self.engines.finger_template(img, dpi, pos)
                    session.fingers[pos] = CapturedFinger(pos, score, fmt, bytes(data))
                except Exception:  # noqa: BLE001 - an unusable impression counts as missing
                    session.missing_fingers.append(pos)
                finally:
                    img.fill(0)
            else:
                session.missing_fingers.append(pos)
        session.attempts["fingerprints"] = 0
        self._task += 1
        # each finger task gets the step's whole time (a single-finger scanner's plan has four tasks)
        self._step_started = self.clock()
        return self._task >= len(self.policy.finger_plan)

    def capture_fingers(self, capture) -> FingerFeedback:
        """Process one scanner capture (``image``, ``dpi``, ``kind``) for the current task."""
        with self._lock:
            session = self._require(Step.FINGERPRINTS)
            self.touch()
            task = self.policy.finger_plan[self._task]
            kind = getattr(capture, "kind", None)
            if kind != task.kind:  # a four-finger slap is never enrolled as one finger, nor the reverse
                raise CaptureKindMismatch(f"the scanner gave a {kind!r} capture for a {task.kind!r} task: the "
                                          "kiosk's finger plan does not fit its scanner")
            image, dpi = np.asarray(capture.image), int(capture.dpi)
            if task.kind == "slap":
                if self.engines.segment_slap is None:
                    raise InvalidTransition("slap capture needs a slap segmenter")
                try:
                    hand = "right" if task.positions[0] <= 5 else "left"
                    parts = list(self.engines.segment_slap(image, dpi, hand))
                except Exception:  # noqa: BLE001 - segmentation failure: ask again
                    parts = []
            else:
                parts = [image]
            scores: dict[int, float] = {}
            passed: dict[int, bool] = {}
            messages: list[str] = []
            if len(parts) != len(task.positions):
                messages.append("finger.place_all_fingers" if task.kind == "slap" else "finger.place_finger")
            else:
                for pos, part in zip(task.positions, parts, strict=True):
                    q: FingerCheck = self.engines.finger_quality(part, dpi)
                    scores[pos], passed[pos] = q.score, q.passed
                    messages.extend(r for r in q.reasons if r not in messages)
                    best = self._best_fingers.get(pos)
                    if q.passed and (best is None or q.score > best[0]):
                        if best is not None:
                            best[1].fill(0)
                        self._best_fingers[pos] = (q.score, np.array(part, copy=True), dpi)
            task_ok = all(p in self._best_fingers for p in task.positions)
            if not task_ok:
                session.attempts["fingerprints"] += 1
            left = self._attempts_left("fingerprints", self.policy.max_finger_attempts)
            if task_ok or left == 0:
                all_done = self._finish_task()
                if all_done:
                    if len(session.fingers) < self.policy.min_fingers:
                        self._end(Step.REFERRED, Outcome.REFERRED, "failure_to_acquire")
                        return FingerFeedback(task, scores, passed, ("finger.referred",), 0, True, True)
                    self._go(Step.REVIEW)
                msg = ("finger.ok",) if task_ok else ("finger.skipped", *messages)
                return FingerFeedback(task, scores, passed, msg, left, True, all_done)
            return FingerFeedback(task, scores, passed, tuple(messages) or ("finger.retry",), left, False, False)

    # -- review and submission -------------------------------------------------------------------
    def retake(self, step: Step) -> None:
        """From the review: capture the face or the fingerprints again."""
        with self._lock:
            session = self._require(Step.REVIEW)
            self.touch()
            if step is Step.FACE:
                if session.face_image is not None:
                    session.face_image.fill(0)
                session.face_image, session.face_template = None, None
                session.liveness_passed = False
                session.attempts["face"] = 0
                self._clear_capture()
                self._go(Step.FACE)
            elif step is Step.FINGERPRINTS:
                session.fingers.clear()
                session.missing_fingers.clear()
                session.attempts["fingerprints"] = 0
                self._task = 0
                self._go(Step.FINGERPRINTS)
            else:
                raise InvalidTransition(f"cannot retake {step}")

    def record(self) -> dict:
        """The enrolment record in the back office's schema (``POST /api/v1/enrolments``)."""
        with self._lock:
            s = self._require(Step.REVIEW, Step.SUBMITTING)
            return {
                "captured_at": s.started_at.isoformat(),
                "document": document_record(s.document.mrz),
                "face_template": base64.b64encode(s.face_template).decode(),
                "finger_templates": [{"position": f.position, "format": f.format,
                                      "data": base64.b64encode(f.template).decode()}
                                     for f in sorted(s.fingers.values(), key=lambda f: f.position)],
                "consent": {"given": True, "purposes": list(self.policy.consent_purposes),
                            "text_version": s.consent_text_version or self.policy.consent_text_version,
                            "language": s.language,
                            "at": s.consent_at.isoformat()},
            }

    def confirm(self) -> Outcome:
        """Seal the record into the outbox, wipe the session, try to deliver it now (blocking)."""
        with self._lock:
            session = self._require(Step.REVIEW)
            record = self.record()
            started = session.started_at
            self._go(Step.SUBMITTING)
            item_id = self.outbox.put("enrolment", record)
            record = None
            session.wipe()
            self.session = None
            self.outbox_id = item_id
        outcome, answer = Outcome.QUEUED, None
        if self.submitter is not None:
            report = self.outbox.deliver(self.submitter, only=item_id)
            if item_id in report.delivered:
                answer = report.delivered[item_id]
                outcome = Outcome.DUPLICATE_SUSPECTED if answer.duplicate else Outcome.ACCEPTED
            elif item_id in report.parked:
                outcome = Outcome.PARKED
        with self._lock:
            self.answer = answer
            self.outcome = outcome
            self.reason_code = "duplicate_enrolment" if outcome is Outcome.DUPLICATE_SUSPECTED else None
            self._event(outcome, self.reason_code, started)
            self._go(Step.DONE)
            return outcome

    def flush(self):
        """Deliver every waiting record (call periodically); returns the outbox's DeliveryReport."""
        if self.submitter is None:
            return None
        return self.outbox.deliver(self.submitter)
