"""The e-gate transaction as an explicit state machine with a time-out at each state.

    DOCUMENT -> CHIP -> FACE -> FINGER -> WATCHLIST -> DECIDE -> (OPEN | REFER) -> DONE

Each state runs one *step*: a callable handed in by the entry point (the real ones wrap emrtd,
biometrics and the watchlist matcher over the device ports; tests hand in fakes). A step that
raises or passes its time-out ends the evidence gathering; the decision policy then refers the
traveller with the reason (``timeout``, ``chip_read_failed``, ...). The workflow never constructs a
device and never imports a UI or web framework.

Privacy: live images exist only in memory during the transaction. They are put into the exception
record (sealed in the outbox) only when the traveller is referred; otherwise they are dropped when
the transaction ends. Logs carry the transaction id, state names, outcome and reason codes only.

A referral also calls an officer to the gate when the entry point hands in ``call_officer`` (the back
office's ``POST /api/v1/calls``: the state the evidence stopped at and a reason code, no personal data): on a
thread of its own, after the decision was taken and recorded, so a failed or slow call never changes it.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

import emrtd
from devicelink import document_record
from gate._policy import Decision, Evidence, Outcome, PolicyConfig, decide
from gate._records import _liveness_fields, event_record, exception_record  # noqa: F401 (tests import _liveness_fields here)
from gate._store import GateStore

__all__ = [
    "GateState",
    "StepTimeouts",
    "Presentation",
    "ChipOutcome",
    "FaceOutcome",
    "FingerOutcome",
    "GateSteps",
    "Door",
    "TransactionResult",
    "GateWorkflow",
    "StepError",
    "event_record",
    "exception_record",
]

log = logging.getLogger("smartborder.gate")


class GateState(StrEnum):
    DOCUMENT = "document"
    CHIP = "chip"
    FACE = "face"
    FINGER = "finger"
    WATCHLIST = "watchlist"
    DECIDE = "decide"
    OPEN = "open"
    REFER = "refer"
    DONE = "done"


class _Fault(Exception):
    def __init__(self, state: str, kind: str) -> None:
        super().__init__(f"{state}: {kind}")
        self.state, self.kind = state, kind


class StepError(RuntimeError):
    """A step failed in a way the traveller cannot fix at the gate (named reason in the message)."""


@dataclass(frozen=True)
class StepTimeouts:
    """Seconds allowed per state (deployed gates take 8-12 s per traveller in all)."""

    document: float = 20.0
    chip: float = 8.0
    face: float = 45.0  # the active challenge (up to 16 s), a retry for a traveller who missed it, the capture
    finger: float = 10.0
    watchlist: float = 1.0


@dataclass(frozen=True)
class Presentation:
    """What the document step found: the parsed document and how it was read.

    ``source`` "mrz" (the page reader's MRZ line) or "ocr" (the MRZ read from the page image): ``mrz`` is
    the parsed :class:`emrtd.Mrz`, check digits verified. ``source`` "qr": a Vietnamese chip ID card read
    by its QR code (:class:`emrtd.VnIdQr`), which has no MRZ: the chip's BAC key is derived from it by law,
    and nothing printed in an MRZ is invented for it (no split name, no sex, a card that never expires
    reads as 9999-12-31). The properties give the gate one view of either.
    """

    source: str  # "mrz" | "ocr" | "qr"
    mrz: emrtd.Mrz | None = None
    qr: emrtd.VnIdQr | None = None

    def __post_init__(self) -> None:
        if self.source in ("mrz", "ocr"):
            if self.mrz is None or self.qr is not None:
                raise ValueError(f"a presentation read from the {self.source} carries the parsed MRZ only")
            if self.mrz.date_of_birth is None or self.mrz.date_of_expiry is None:
                raise ValueError("the MRZ has no complete date of birth or expiry")
        elif self.source == "qr":
            if self.qr is None or self.mrz is not None:
                raise ValueError("a presentation read from the QR code carries the parsed QR only")
        else:
            raise ValueError(f"source must be mrz, ocr or qr, not {self.source!r}")

    @classmethod
    def from_mrz(cls, mrz: emrtd.Mrz, source: str = "mrz") -> Presentation:
        return cls(source, mrz=mrz)

    @classmethod
    def from_qr(cls, card: emrtd.VnIdQr) -> Presentation:
        return cls("qr", qr=card)

    @property
    def document_type(self) -> str:
        """The document's type letter ("P" passport, "I" ID card): what the policy's eligibility reads."""
        return self.mrz.document_code[:1] if self.mrz is not None else "I"

    @property
    def issuing_state(self) -> str:
        return self.mrz.issuing_state if self.mrz is not None else "VNM"

    @property
    def document_number(self) -> str:
        return self.mrz.document_number if self.mrz is not None else self.qr.document_number

    @property
    def date_of_birth(self) -> dt.date:
        return self.mrz.date_of_birth if self.mrz is not None else self.qr.date_of_birth

    @property
    def date_of_expiry(self) -> dt.date:
        if self.mrz is not None:
            return self.mrz.date_of_expiry
        return self.qr.date_of_expiry or dt.date(9999, 12, 31)  # a card that does not expire

    @property
    def nationality(self) -> str:
        return self.mrz.nationality if self.mrz is not None else "VNM"

    @property
    def names(self) -> str:
        """The name for the watchlist check (memory only): ``PRIMARY<<SECONDARY`` or the QR's full name."""
        if self.mrz is not None:
            return f"{self.mrz.primary_identifier}<<{self.mrz.secondary_identifier}"
        return self.qr.full_name

    @property
    def access_key(self) -> emrtd.BacKey:
        """What the chip step needs: the MRZ's BAC/PACE key, or the one the QR's fields give by law."""
        if self.mrz is not None:
            return self.mrz.access_key
        card = self.qr
        return emrtd.BacKey(card.document_number, card.date_of_birth.strftime("%y%m%d"),
                            (card.date_of_expiry or dt.date(1999, 12, 31)).strftime("%y%m%d"))

    def document_record(self) -> dict[str, Any]:
        """The exception record's ``document`` object (backoffice/API.md), absent fields left out."""
        if self.mrz is not None:
            record = document_record(self.mrz, document_type=self.document_type)
        else:
            record = {"document_number": self.document_number, "issuing_state": self.issuing_state,
                      "document_type": self.document_type, "nationality": self.nationality,
                      "date_of_birth": self.date_of_birth.isoformat(),
                      "date_of_expiry": self.date_of_expiry.isoformat()}
        return {k: v for k, v in record.items() if v not in (None, "")}


@dataclass(frozen=True)
class ChipOutcome:
    """What the chip step learnt; each ``None`` is "unknown" (see :class:`gate.Evidence`)."""

    read: bool
    error: str | None = None
    pa_passed: bool | None = None
    pa_failures: tuple[str, ...] = ()
    csca_chain: bool | None = None
    dsc_revocation: bool | None = None
    crl_stale: bool = False  # PA's "stale_crl": the only CRL of the CSCA is past its next update
    data_groups: tuple[tuple[str, bool | None], ...] = ()  # (name, hash verified) of DG1, DG2
    aa_offered: bool | None = None
    aa_passed: bool | None = None
    ca_offered: bool | None = None
    ca_passed: bool | None = None
    aa_code: str = ""  # why AA / CA could not be verified (their key's named problem)
    ca_code: str = ""
    mrz_matches_dg1: bool | None = None  # the whole printed MRZ (or the QR's data) equals DG1
    mrz_differences: tuple[str, ...] = ()  # the fields that differ
    dg1_mrz: Any = None  # the chip's DG1 MRZ (emrtd.Mrz); trusted only where DG1 verified against the SOD
    dg2_image: bytes | None = None  # chip photo (JPEG / JPEG 2000), memory only
    dg2_error: str | None = None  # why there is no chip photo
    dg3_records: tuple[bytes, ...] = ()  # EAC (gate._finger): DG3's SOD-verified records, memory only
    dg3_error: str | None = None
    ta_passed: bool | None = None  # Terminal Authentication: None not performed, ``ta_code`` names why
    ta_code: str = ""
    #: the administration whose inspection-system credentials performed TA (and so read DG3): the joint lane's
    #: JointSteps.eac_side; None on a single lane (its own) or where the composition named none
    ta_by: str | None = None
    protocol: str | None = None  # "PACE" | "BAC"
    #: EF.SOD and the data groups read (memory only): Passive Authentication against another trust store without
    #: reading the chip again (the joint lane's second administration, gate._chip_pa.pa_against); empty unless the
    #: chip step was asked to keep them (ChipStep.keep_pa_files, which the joint lane sets)
    pa_files: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class FaceOutcome:
    acquired: bool
    liveness_passed: bool | None = None
    score: float | None = None
    threshold: float | None = None
    live_image: bytes | None = None  # best live frame (JPEG), memory only
    guidance: tuple[str, ...] = ()
    faces_seen: int = 1  # more than one: someone else is in the lane (a tailgating cue)
    liveness_reason: str | None = None  # why liveness failed (e.g. "timeout: blink", "passive_attack: moire")
    attempts: int = 1  # captures made (a traveller who missed a challenge gets another)
    #: the lane's liveness policy as run: "passive", "passive+challenge", "challenge" or "off" (gate._face)
    liveness_path: str | None = None
    passive_decision: str | None = None  # passive PAD's verdict: live | doubt | attack | unknown
    passive_score: float | None = None  # its score (0-1, higher = live), a PAD score: no biometric data
    frames_captured: int = 0  # frames taken from the camera before the chip photo was known
    extra_frames: int = 0  # frames taken after it (a score near the threshold)


@dataclass(frozen=True)
class FingerOutcome:
    enrolled: bool | None  # None: unknown (the enrolment service gave no usable answer)
    score: float | None = None
    threshold: float | None = None
    unavailable: bool = False  # the enrolment service could not be asked (back office unreachable)
    error: str | None = None  # why an enrolled traveller's fingerprints could not be verified
    source: str | None = None  # "chip": matched on the device against DG3 (EAC); "backoffice": 1:1 there


class Door(Protocol):
    def open(self) -> None: ...


@dataclass
class GateSteps:
    """The step callables the entry point wires from real or simulated devices."""

    document: Callable[[], Presentation]
    chip: Callable[[Presentation], ChipOutcome]
    face: Callable[[ChipOutcome], FaceOutcome]
    finger: Callable[[Presentation], FingerOutcome]
    #: hits as watchlist.Match objects (``entry_id``, ``hit``, ``to_dict()``) or bare entry ids
    watchlist: Callable[[Presentation], tuple[Any, ...]]
    persons_in_lane: Callable[[], int] | None = None  # a lane sensor, where one is fitted


@dataclass(frozen=True)
class TransactionResult:
    transaction_id: str
    decision: Decision
    states: tuple[str, ...]
    timings_ms: dict[str, float]
    outbox_ids: tuple[str, ...]
    document_source: str | None = None  # "mrz" | "ocr" | "qr": how the document was read

    @property
    def opened(self) -> bool:
        return self.decision.outcome is Outcome.OPEN


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _StepRunner:
    """The step machinery both lanes share (:class:`GateWorkflow`, :class:`gate.JointGateWorkflow`): each state
    under its time-out on a worker thread, the face captured on its own thread while the chip is read, and the
    shared evidence gathering (:meth:`_gather_shared`: document -> chip -> face [-> finger])."""

    def __init__(self, steps: Any, *, timeouts: StepTimeouts | None = None,
                 clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self.steps = steps
        self.timeouts = timeouts or StepTimeouts()
        self.clock = clock
        self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="gate-step")
        self._calls: cf.ThreadPoolExecutor | None = None
        #: the face captured while the chip is read (a face step with ``capture``/``finish``: gate.FaceStep)
        self._capture = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="gate-capture")
        self.capture_stop_grace_s = 2.0  # a capture told to stop (the chip failed) ends at its next frame

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._capture.shutdown(wait=False, cancel_futures=True)
        if self._calls is not None:
            self._calls.shutdown(wait=False, cancel_futures=True)

    def _raise_call(self, tx: str, state: str, reason: str, call_officer: Callable[[str, str], Any]) -> Any:
        """Ask for an officer (off the decision's path: run on ``_calls``); never raises, returns the call id or None."""
        try:
            call_id = call_officer(state, reason)
            log.info("transaction %s: officer call %s", tx, call_id)
            return call_id
        except Exception as e:  # noqa: BLE001 - the referral stands whether or not the call went through
            log.warning("transaction %s: officer call not accepted: %s", tx, type(e).__name__)
            return None

    def _officer_call(self, tx: str, ev: Evidence, call_officer: Callable[[str, str], Any] | None) -> cf.Future | None:
        """Call an officer to the gate for a referral (``call_officer(state, reason)``, a back office's
        ``raise_call``): where the evidence stopped and a reason code, no personal data; after the record."""
        if self._calls is None or call_officer is None:
            return None
        # where it stopped: the step that failed or timed out, else the referral itself
        state = ev.faulted_step or ev.timed_out_step or str(GateState.REFER)
        state = state if state.replace("_", "").isalnum() and state.islower() else "refer"
        try:
            return self._calls.submit(self._raise_call, tx, state[:32], "device_fault" if ev.faulted_step else "referral",
                                      call_officer)
        except RuntimeError:  # the workflow is closing
            return None

    def _run(self, state: GateState, fn: Callable[[], Any], timings: dict[str, float], label: str | None = None) -> Any:
        """Run one step under its time-out. Returns the value or raises TimeoutError/StepError. ``label`` names
        the step in the timings (the joint lane's ``finger:VNM``), the state's name by default."""
        limit = getattr(self.timeouts, state.value)
        t0 = time.perf_counter()
        future = self._pool.submit(fn)
        try:
            return future.result(timeout=limit)
        except StepError:
            raise
        except cf.TimeoutError as e:
            future.cancel()
            # the stuck step keeps its worker; start a fresh one so the next traveller is served
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="gate-step")
            raise TimeoutError(state.value) from e
        except Exception as e:  # noqa: BLE001 - a device or engine fault refers the traveller, never crashes the gate
            raise _Fault(state.value, type(e).__name__) from e
        finally:
            timings[label or state.value] = round((time.perf_counter() - t0) * 1000, 2)

    def _gather(self, state: GateState, fn: Callable[[], Any], timings: dict[str, float],
                states: list[str], label: str | None = None) -> tuple[Any, str | None]:
        """Run one state; returns ``(value, None)`` or ``(None, why)`` for a StepError (the evidence of
        that state is then missing, with the reason). Time-outs and faults propagate."""
        states.append(state)
        try:
            return self._run(state, fn, timings, label), None
        except StepError as e:
            return None, str(e)[:300]

    def _start_capture(self, timings: dict[str, float]) -> _Capture | None:
        """Start the face capture on its own thread, to run while the chip is read (the traveller stands at the
        reader facing the camera). None for a face step that only runs after the chip."""
        face = self.steps.face
        if not (callable(getattr(face, "capture", None)) and callable(getattr(face, "finish", None))):
            return None
        stop = threading.Event()
        # the capture's own timings, merged into the transaction's only after a join (a capture that outlives
        # its stop grace must never write into the dict the record is being serialised from)
        own: dict[str, float] = {}

        def run() -> Any:
            t0 = time.perf_counter()
            try:
                return face.capture(stop)
            finally:
                own["face_capture"] = round((time.perf_counter() - t0) * 1000, 2)

        return _Capture(self._capture.submit(run), stop, time.perf_counter(), own)

    def _stop_capture(self, capture: _Capture, timings: dict[str, float] | None = None) -> None:
        """Tell the capture to stop (the chip failed, or the transaction ends) and wait for it; one that does
        not stop (a camera blocked in a read) keeps its thread, and the next traveller gets a fresh one (its
        timings are then not merged: that thread may still be running)."""
        capture.stop.set()
        try:
            captured = capture.future.result(timeout=self.capture_stop_grace_s)
        except cf.TimeoutError:
            capture.future.cancel()
            self._capture.shutdown(wait=False, cancel_futures=True)
            self._capture = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="gate-capture")
            return
        except Exception:  # noqa: BLE001 - its failure decides nothing now: the evidence is already missing
            capture.merge_into(timings)
            return
        capture.merge_into(timings)
        if hasattr(captured, "cancel"):
            captured.cancel()  # the templates queued for its frames are not needed

    def _join_face(self, capture: _Capture, chip: ChipOutcome, timings: dict[str, float],
                   states: list[str]) -> tuple[FaceOutcome | None, str | None]:
        """The capture made while the chip was read, matched against the chip photo (both must be present)."""
        remaining = max(0.0, self.timeouts.face - (time.perf_counter() - capture.started))
        t0 = time.perf_counter()
        try:
            captured = capture.future.result(timeout=remaining)
        except cf.TimeoutError as e:
            states.append(GateState.FACE)
            self._stop_capture(capture, timings)
            raise TimeoutError(GateState.FACE.value) from e
        except StepError as e:
            states.append(GateState.FACE)
            capture.merge_into(timings)
            return None, str(e)[:300]
        except Exception as e:  # noqa: BLE001 - a camera or engine fault refers the traveller
            states.append(GateState.FACE)
            capture.merge_into(timings)
            raise _Fault(GateState.FACE.value, type(e).__name__) from e
        finally:
            timings["face_wait"] = round((time.perf_counter() - t0) * 1000, 2)  # after the chip was read
        capture.merge_into(timings)
        return self._gather(GateState.FACE, lambda: self.steps.face.finish(chip, captured), timings, states)

    def _gather_shared(self, tx: str, started: dt.datetime, timings: dict[str, float], states: list[str], *,
                       finger: Callable[..., FingerOutcome] | None, finger_by_side: bool = False) -> _Gathered:
        """The evidence both lanes gather once: the document, the chip (the face captured meanwhile), the face and
        the fingerprints by ``finger`` (a ``finger`` that is None is called as any step and fails: the state's
        ``hardware_fault``, as GateWorkflow always had it). With ``finger_by_side`` (the joint lane) the
        fingerprint state is not run here: the result says whether it was reached (``finger_due``), and the
        caller asks each administration's own step."""
        g = _Gathered(Evidence(today=started.astimezone().date()))  # the gate's local calendar day
        capture: _Capture | None = None
        try:
            g.presentation, why = self._gather(GateState.DOCUMENT, self.steps.document, timings, states)
            presentation = g.presentation
            if presentation is not None:
                g.ev = replace(g.ev, document_type=presentation.document_type,
                               issuing_state=presentation.issuing_state, date_of_birth=presentation.date_of_birth,
                               date_of_expiry=presentation.date_of_expiry)
                capture = self._start_capture(timings)  # the face, while the chip is read
                g.chip, why = self._gather(GateState.CHIP, lambda: self.steps.chip(presentation), timings, states)
                g.ev = _with_chip(g.ev, g.chip, why)
            chip = g.chip
            if chip is not None and chip.read:
                if chip.dg2_image is None:
                    g.ev = replace(g.ev, face_error=chip.dg2_error or "no chip photo (DG2 not read)")
                else:
                    if capture is not None:
                        capture, joined = None, capture
                        g.face, why = self._join_face(joined, chip, timings, states)
                    else:
                        g.face, why = self._gather(GateState.FACE, lambda: self.steps.face(chip), timings, states)
                    g.ev = _with_face(g.ev, g.face, why)
                    if finger_by_side:
                        g.finger_due = True
                    else:
                        g.finger, why = self._gather(GateState.FINGER, lambda: _finger(finger, presentation, chip),
                                                     timings, states)
                        g.ev = _with_finger(g.ev, g.finger, why)
        except TimeoutError as e:
            g.ev = replace(g.ev, timed_out_step=str(e))
        except _Fault as e:
            g.ev = replace(g.ev, faulted_step=e.state)
            log.warning("transaction %s: step %s failed: %s", tx, e.state, e.kind)
        finally:
            if capture is not None:  # the chip failed (or gave no photo): the capture is stopped, never left running
                self._stop_capture(capture, timings)
        return g

    def _check_watchlist(self, tx: str, step: Callable[[Presentation], tuple[Any, ...]], presentation: Presentation,
                         chip: ChipOutcome | None, timings: dict[str, float], states: list[str],
                         label: str | None = None) -> _WatchlistCheck:
        """One watchlist copy's check of the traveller. It hears what the document shows and, where the chip says
        otherwise, what the chip says (a printed MRZ altered in a field no check digit covers must not hide a
        listed document)."""
        checked = [presentation] + _chip_presentation(chip)
        try:
            found, why = self._gather(GateState.WATCHLIST, lambda: [m for p in checked for m in step(p)], timings,
                                      states, label)
        except TimeoutError as e:
            return _WatchlistCheck(timed_out_step=str(e))
        except _Fault as e:
            log.warning("transaction %s: step %s failed: %s", tx, label or e.state, e.kind)
            return _WatchlistCheck(faulted_step=e.state)
        if found is None:
            return _WatchlistCheck(error=why)
        matches = tuple(found)
        return _WatchlistCheck(matches=matches, checked=True, hits=tuple(
            m if isinstance(m, str) else m.entry_id for m in matches if isinstance(m, str) or getattr(m, "hit", True)))

    def _count_persons(self, tx: str, face: FaceOutcome | None) -> tuple[int | None, bool]:
        """The people in the lane: the lane sensor's count and the faces the camera saw, the higher; nobody counted
        is missing evidence, never "one person". The second value: the lane sensor failed (a fault)."""
        sensed, failed = None, False
        if self.steps.persons_in_lane is not None:
            try:
                sensed = int(self.steps.persons_in_lane())
            except Exception as e:  # noqa: BLE001 - a failed lane sensor is a fault, never "one person"
                log.warning("transaction %s: lane sensor failed: %s", tx, type(e).__name__)
                failed = True
        seen = face.faces_seen if face is not None and (face.acquired or face.faces_seen > 1) else None
        counts = [n for n in (sensed, seen) if n is not None]
        return (max(counts) if counts else None), failed


class GateWorkflow(_StepRunner):
    def __init__(self, steps: GateSteps, door: Door, store: GateStore, *, gate_id: str,
                 policy: PolicyConfig | None = None, timeouts: StepTimeouts | None = None,
                 clock: Callable[[], dt.datetime] = _utcnow, direction: str = "entry",
                 call_officer: Callable[[str, str], Any] | None = None) -> None:
        if direction not in ("entry", "exit"):
            raise ValueError(f"direction must be 'entry' or 'exit', not {direction!r}")
        super().__init__(steps, timeouts=timeouts, clock=clock)
        self.direction = direction
        self.door = door
        self.store = store
        self.gate_id = gate_id
        self.policy = policy or PolicyConfig()
        #: ``call_officer(state, reason)`` (``BackofficeClient.raise_call``): a referral calls an officer to the
        #: gate, on a thread of its own after the decision was recorded; its failure changes nothing
        self.call_officer = call_officer
        self.last_call: cf.Future | None = None  # the last referral's officer call (its result: the call id or None)
        self._calls = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="gate-call") if call_officer else None

    def _call_for(self, tx: str, ev: Evidence) -> cf.Future | None:
        return self._officer_call(tx, ev, self.call_officer)

    def process(self) -> TransactionResult:
        """Serve one traveller from document presentation to door or referral.

        Evidence is gathered state by state; whatever a state could not obtain stays ``None`` in the
        :class:`Evidence` and the policy refers on it (fail closed). A time-out or a device fault ends
        the biometric states, but a known document is still checked against the local watchlist so
        the guard sees a hit whatever else went wrong."""
        tx = str(uuid.uuid4())
        started = self.clock()
        timings: dict[str, float] = {}
        states: list[str] = []
        g = self._gather_shared(tx, started, timings, states, finger=self.steps.finger)
        ev, presentation, chip, face, finger = g.ev, g.presentation, g.chip, g.face, g.finger
        matches: tuple[Any, ...] = ()
        if presentation is not None:
            w = self._check_watchlist(tx, self.steps.watchlist, presentation, chip, timings, states)
            matches, ev = w.matches, w.apply(ev)
        persons, sensor_failed = self._count_persons(tx, face)
        if sensor_failed:
            ev = replace(ev, faulted_step=ev.faulted_step or "lane_sensor")
        ev = replace(ev, watchlist_age_s=self.store.watchlist_age_s(), persons_in_lane=persons)

        states.append(GateState.DECIDE)
        t0 = time.perf_counter()
        decision = decide(ev, self.policy)
        timings["decide"] = round((time.perf_counter() - t0) * 1000, 3)
        duration_ms = (self.clock() - started).total_seconds() * 1000
        outbox = [("event", self._event(started, decision, duration_ms, ev))]
        if decision.outcome is Outcome.REFER:
            outbox.append(("exception", self._exception(tx, started, decision, presentation, chip, face, finger,
                                                        matches)))
        # one atomic write: transaction + outbox items (nothing partial survives a crash before it)
        ids = self.store.record_transaction(tx, started_at=started, outcome=str(decision.outcome),
                                            decision=decision.to_dict(), timings=timings, outbox=outbox)
        if decision.outcome is Outcome.OPEN:
            states.append(GateState.OPEN)
            self.door.open()
        else:
            self.last_call = self._call_for(tx, ev)  # after the door's decision and the atomic record
            states.append(GateState.REFER)
        states.append(GateState.DONE)
        log.info("transaction %s %s %s", tx, decision.outcome, ",".join(decision.reasons) or "-")
        return TransactionResult(tx, decision, tuple(str(s) for s in states), timings, tuple(ids),
                                 presentation.source if presentation else None)

    def _event(self, started: dt.datetime, decision: Decision, duration_ms: float, ev) -> dict[str, Any]:
        return event_record(started, decision, duration_ms, ev, self.steps.chip)

    def _exception(self, tx: str, started: dt.datetime, decision: Decision, p: Presentation | None,
                   chip: ChipOutcome | None, face: FaceOutcome | None, finger: FingerOutcome | None,
                   matches: tuple[Any, ...]) -> dict[str, Any]:
        return exception_record(tx, started, self.direction, decision, p, chip, face, finger, matches)


@dataclass
class _Capture:
    future: cf.Future
    stop: threading.Event
    started: float
    timings: dict[str, float] = field(default_factory=dict)  # written by the capture thread only

    def merge_into(self, timings: dict[str, float] | None) -> None:
        """Call only once the future is done (joined): the capture thread has then stopped writing."""
        if timings is not None and self.future.done():
            timings.update(self.timings)


@dataclass
class _Gathered:
    """What :meth:`_StepRunner._gather_shared` obtained (``None``: not obtained) and the evidence built from it."""

    ev: Evidence
    presentation: Presentation | None = None
    chip: ChipOutcome | None = None
    face: FaceOutcome | None = None
    finger: FingerOutcome | None = None
    finger_due: bool = False  # the fingerprint state was reached but left to the caller (the joint lane)


@dataclass(frozen=True)
class _WatchlistCheck:
    """One watchlist copy's check: the matches (hits and near misses), or why it could not be made."""

    matches: tuple[Any, ...] = ()
    checked: bool | None = None
    hits: tuple[str, ...] = ()
    error: str | None = None
    timed_out_step: str | None = None
    faulted_step: str | None = None

    def apply(self, ev: Evidence) -> Evidence:
        """This check in the gate's evidence (a time-out or fault after another keeps the first one named)."""
        if self.timed_out_step:
            return replace(ev, timed_out_step=ev.timed_out_step or self.timed_out_step)
        if self.faulted_step:
            return replace(ev, faulted_step=ev.faulted_step or self.faulted_step)
        if not self.checked:
            return replace(ev, watchlist_error=self.error)
        return replace(ev, watchlist_checked=True, watchlist_hits=self.hits)


def _finger(step: Callable[..., FingerOutcome], p: Presentation, chip: ChipOutcome) -> FingerOutcome:
    """The fingerprint step, handed the chip's outcome where it uses it (DG3 matched on the device)."""
    return step(p, chip) if getattr(step, "uses_chip", False) else step(p)


def _chip_presentation(chip: ChipOutcome | None) -> list[Presentation]:
    """The chip's own document data, where it differs from what was shown (for the watchlist)."""
    if chip is None or chip.dg1_mrz is None or not chip.mrz_differences:
        return []
    try:
        return [Presentation.from_mrz(chip.dg1_mrz, "mrz")]
    except ValueError:  # DG1 without complete dates: nothing to look up by
        return []


def _with_chip(ev: Evidence, chip: ChipOutcome | None, why: str | None) -> Evidence:
    if chip is None:
        return replace(ev, chip_read=False, chip_error=why or "chip not read")
    return replace(ev, chip_read=chip.read, chip_error=chip.error, pa_passed=chip.pa_passed,
                   pa_failures=chip.pa_failures, csca_chain=chip.csca_chain, dsc_revocation=chip.dsc_revocation,
                   crl_stale=chip.crl_stale, data_groups=chip.data_groups, aa_offered=chip.aa_offered, aa_passed=chip.aa_passed,
                   ca_offered=chip.ca_offered, ca_passed=chip.ca_passed, aa_code=chip.aa_code, ca_code=chip.ca_code,
                   mrz_matches_dg1=chip.mrz_matches_dg1, mrz_differences=chip.mrz_differences,
                   dg3_error=chip.dg3_error, ta_passed=chip.ta_passed, ta_code=chip.ta_code)


def _with_face(ev: Evidence, face: FaceOutcome | None, why: str | None) -> Evidence:
    if face is None:
        return replace(ev, face_error=why or "face step gave no outcome")
    return replace(ev, face_acquired=face.acquired, liveness_passed=face.liveness_passed, face_score=face.score,
                   face_threshold=face.threshold, liveness_path=face.liveness_path,
                   passive_decision=face.passive_decision, passive_score=face.passive_score)


def _with_finger(ev: Evidence, finger: FingerOutcome | None, why: str | None) -> Evidence:
    if finger is None:
        return replace(ev, finger_error=why or "fingerprint step gave no outcome")
    return replace(ev, finger_enrolled=finger.enrolled, finger_score=finger.score,
                   finger_threshold=finger.threshold, finger_unavailable=finger.unavailable,
                   finger_error=finger.error, finger_source=finger.source)
