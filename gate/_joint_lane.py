"""The joint lane's workflow (issue #26 item 1): one physical e-gate, two administrations (e.g. Vietnam exit,
China entry), two sovereign decisions.

    DOCUMENT -> CHIP -> FACE -> (per side: WATCHLIST, FINGER) -> DECIDE (decide_joint) -> OPEN | REFER -> DONE
             (face capture on its own thread while the chip is read, as in GateWorkflow)

The document is read once and the face captured once, by the very steps and concurrency of
:class:`~gate._workflow.GateWorkflow` (the runner's ``_gather_shared``). Everything else is each administration's
own (:class:`JointSide`):

- its lane rules (:class:`~gate._joint.Administration`);
- its trust store: Passive Authentication of the chip read once is evaluated again against each side's store
  (:func:`gate._chip_pa.pa_against` over ``ChipOutcome.pa_files``); a side whose store cannot verify the chain gets
  its own failure or missing evidence, never the partner's pass; no store: missing, referred;
- its watchlist copy (its own :class:`GateStore` and matcher): stale, incomplete, timed out or failed refers that
  side only, by name;
- its fingerprint evidence (its own back office's 1:1);
- its store and outbox: that side's transaction row, event and exception record go to its store only, sealed by
  its store's own sealer (vault). The row is :meth:`JointDecision.record_for`: its own decision in full and, of
  the partner, only that it referred; the exception record carries its own reasons and watchlist matches only.

The door opens only if both sides open. The two stores are written one after the other (two databases, no shared
transaction), both before the door opens, each write in its own try. A write that fails keeps the door shut: a side
already recorded ``open`` gets a follow-up (row amended to :data:`LANE_FAULT`, an ``error``/``fault`` event with
``hardware_fault``), each side that referred still gets its officer call, every side a ``device_fault`` call, and
the failure is raised. What remains: there is no atomicity across the two SQLite files, so a *crash* (power, kill)
between the two writes, or a follow-up that itself fails, leaves one side's store saying ``open`` for a door that
never opened, and the other side's store without the transaction.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gate._chip_pa import pa_against
from gate._finger import NO_TERMINAL_CHAIN
from gate._joint import (
    CHAIN_FIELDS,
    DIRECTIONS,
    Administration,
    JointDecision,
    JointLaneError,
    SideChain,
    SideFinger,
    SideWatchlist,
    decide_joint,
    side_evidence,
)
from gate._policy import Evidence, Outcome, ReasonCode
from gate._records import event_record, exception_record
from gate._store import GateStore
from gate._watch import LocalWatchlist
from gate._workflow import (
    ChipOutcome,
    Door,
    FaceOutcome,
    FingerOutcome,
    GateState,
    Presentation,
    StepTimeouts,
    _Fault,
    _finger,
    _StepRunner,
    _utcnow,
)

__all__ = ["JointSide", "JointSteps", "JointResult", "JointGateWorkflow", "PARTNER_REFERRED", "LANE_FAULT"]

log = logging.getLogger("smartborder.gate")

#: the Evidence fields of Terminal Authentication and DG3: the side's whose credentials performed TA (_chip_for)
EAC_FIELDS = ("ta_passed", "ta_code", "dg3_error")
#: a side's transaction outcome where it opened and the partner referred: the lane stayed shut (its event says
#: so too, ``partner_referred``, with no reason codes: the partner's reasons are not this side's business)
PARTNER_REFERRED = "partner_referred"
#: a side's transaction outcome amended after it was recorded ``open`` and the partner's record failed: the door
#: did not open (its follow-up event: kind ``error``, outcome ``fault``, reason ``hardware_fault``)
LANE_FAULT = "lane_fault"


@dataclass
class JointSide:
    """One administration at the joint lane: its rules, its own watchlist copy, trust store, fingerprint step and
    store (outbox). ``trust`` may be replaced between travellers (a trust sync of that side)."""

    admin: Administration
    store: GateStore  # its watchlist copy, transactions and outbox, sealed by its own vault
    #: its matcher over its own copy; None (the default): LocalWatchlist(store)
    watchlist: Callable[[Presentation], tuple[Any, ...]] | None = None
    trust: Any = None  # its emrtd.TrustStore; None: the chain cannot be verified for this side (referred)
    #: its back office's 1:1 (FingerStep); None: this side's fingerprint evidence is missing (referred where needed)
    finger: Callable[..., FingerOutcome] | None = None
    #: its back office's officer call (``BackofficeClient.raise_call``): made only when this side referred
    call_officer: Callable[[str, str], Any] | None = None

    def __post_init__(self) -> None:
        if self.watchlist is None:
            self.watchlist = LocalWatchlist(self.store)

    @property
    def code(self) -> str:
        return self.admin.code


@dataclass
class JointSteps:
    """The steps the lane runs once for both administrations (the composition wires them from the devices): the
    chip step reads with no trust store of its own (each side's store decides the chain)."""

    document: Callable[[], Presentation]
    chip: Callable[[Presentation], ChipOutcome]
    face: Callable[[ChipOutcome], FaceOutcome]
    persons_in_lane: Callable[[], int] | None = None
    #: the administration whose inspection-system credentials the composition gave the chip step (its
    #: ``terminal``): Terminal Authentication and DG3 are that side's only; the other side's fingerprint step gets
    #: the chip with no DG3, a named ``dg3_error`` and no TA of the partner's (its own back-office path). None (the
    #: default): no side's (a DG3 read under unnamed credentials is used by neither)
    eac_side: str | None = None


@dataclass(frozen=True)
class JointResult:
    transaction_id: str
    decision: JointDecision
    states: tuple[str, ...]
    timings_ms: dict[str, float]
    outbox_ids: dict[str, tuple[str, ...]]  # per administration, in its own store
    document_source: str | None = None

    @property
    def opened(self) -> bool:
        return self.decision.outcome is Outcome.OPEN


@dataclass
class _SideRun:
    side: JointSide
    watch: SideWatchlist
    finger: SideFinger
    chain: SideChain | None
    finger_outcome: FingerOutcome | None = None
    matches: tuple[Any, ...] = ()

    def entry(self) -> tuple:
        parts = (self.side.admin, self.watch, self.finger)
        return parts + ((self.chain,) if self.chain is not None else ())


class JointGateWorkflow(_StepRunner):
    """``JointGateWorkflow(JointSteps(...), door, [vn_side, cn_side], gate_id=...).process()`` serves one
    traveller through the joint lane (see the module docstring)."""

    def __init__(self, steps: JointSteps, door: Door, sides: Sequence[JointSide], *, gate_id: str,
                 timeouts: StepTimeouts | None = None, clock: Callable[[], dt.datetime] = _utcnow) -> None:
        sides = list(sides)
        if len(sides) != 2 or not all(isinstance(s, JointSide) for s in sides):
            raise JointLaneError("a joint lane has two administrations (JointSide)")
        if sides[0].code == sides[1].code:
            raise JointLaneError(f"both sides are {sides[0].code}")
        if sorted(s.admin.direction for s in sides) != sorted(DIRECTIONS):
            raise JointLaneError("a joint lane has one exit control and one entry control")
        paths = [s.store.database_path() for s in sides]
        if sides[0].store is sides[1].store or (paths[0] is not None and paths[0] == paths[1]):
            raise JointLaneError("each administration needs its own store (watchlist copy, records, outbox), "
                                 "on a database file of its own")
        if getattr(steps.chip, "keep_pa_files", None) is False:
            steps.chip.keep_pa_files = True  # the lane asks for the files: PA again against each side's store
        eac_side = getattr(steps, "eac_side", None)
        if eac_side is not None and eac_side not in {s.code for s in sides}:
            raise JointLaneError(f"eac_side {eac_side!r} is not an administration of this lane")
        super().__init__(steps, timeouts=timeouts, clock=clock)
        self.door = door
        self.gate_id = gate_id
        self.sides = sorted(sides, key=lambda s: DIRECTIONS.index(s.admin.direction))  # exit control first
        if any(s.call_officer is not None for s in self.sides):
            self._calls = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="gate-call")
        #: the last traveller's officer calls, per side that referred (their results: the call id or None)
        self.last_calls: dict[str, cf.Future] = {}

    def process(self) -> JointResult:
        """Serve one traveller: the shared evidence once, each side's own evidence, both decisions, each side's
        record in its own store, then the door (only if both open)."""
        tx = str(uuid.uuid4())
        started = self.clock()
        timings: dict[str, float] = {}
        states: list[str] = []
        g = self._gather_shared(tx, started, timings, states, finger=None, finger_by_side=True)
        persons, sensor_failed = self._count_persons(tx, g.face)
        # the shared steps' duration; each side's event adds only its own steps' (_record): a partner's remote
        # fingerprint check or time-out must not show in this side's duration
        shared_ms = (self.clock() - started).total_seconds() * 1000
        blank = Evidence(today=g.ev.today)
        # the chain verdict of the read is no side's: each side's comes from its own trust store (SideChain)
        # nor are TA's outcome and DG3's state: each side's as the credentials that performed TA make it (_chip_for)
        shared = replace(g.ev, persons_in_lane=persons, **{f: getattr(blank, f) for f in CHAIN_FIELDS + EAC_FIELDS})
        if sensor_failed:
            shared = replace(shared, faulted_step=shared.faulted_step or "lane_sensor")
        runs = [self._side(tx, side, g, timings, states) for side in self.sides]

        states.append(GateState.DECIDE)
        t0 = time.perf_counter()
        decision = decide_joint(shared, {r.side.code: r.entry() for r in runs})
        timings["decide"] = round((time.perf_counter() - t0) * 1000, 3)
        ids: dict[str, tuple[str, ...]] = {}
        failure: Exception | None = None
        for r in runs:  # each side in its own try: one side's failed write must not hide the other's record
            try:
                ids[r.side.code] = self._record(tx, started, shared_ms, r, shared, decision, g, timings)
            except Exception as e:  # noqa: BLE001 - re-raised below, after the lane is left shut and accounted for
                log.error("transaction %s: the record of %s failed: %s", tx, r.side.code, type(e).__name__)
                failure = failure or e
        if failure is not None:
            self._lane_fault(tx, shared, decision, runs, ids)
            raise failure
        if decision.outcome is Outcome.OPEN:
            states.append(GateState.OPEN)
            self.door.open()
        else:
            # each side that referred calls its own officers (after the records); the partner's are not called
            calls = {r.side.code: self._officer_call(tx, side_evidence(shared, r.entry()), r.side.call_officer)
                     for r in runs if decision.decision(r.side.code).outcome is Outcome.REFER}
            self.last_calls = {code: f for code, f in calls.items() if f is not None}
            states.append(GateState.REFER)
        states.append(GateState.DONE)
        log.info("transaction %s %s referred by %s", tx, decision.outcome, ",".join(decision.referred_by) or "-")
        return JointResult(tx, decision, tuple(str(s) for s in states), timings, ids,
                           g.presentation.source if g.presentation else None)

    def _lane_fault(self, tx: str, shared: Evidence, decision: JointDecision, runs: list[_SideRun],
                    written: dict[str, tuple[str, ...]]) -> None:
        """A side's record could not be written: the door stays shut. Every side whose store already says ``open``
        gets a follow-up (its row amended to :data:`LANE_FAULT`, an ``error``/``fault`` event with
        ``hardware_fault``: the back office's own vocabulary); each side that referred still gets its officer call,
        and every side an officer call for the device fault. Never raises (the caller re-raises the failure)."""
        for r in runs:
            if r.side.code not in written or decision.outcome is not Outcome.OPEN:
                continue
            event = {"occurred_at": self.clock().isoformat(), "kind": "error", "outcome": "fault",
                     "reason_codes": [str(ReasonCode.HARDWARE_FAULT)]}
            try:
                r.side.store.amend_transaction(tx, outcome=LANE_FAULT, outbox=[("event", event)], note={
                    "outcome": LANE_FAULT, "door_opened": False, "reason": str(ReasonCode.HARDWARE_FAULT)})
            except Exception as e:  # noqa: BLE001 - logged; the original failure is what the caller raises
                log.error("transaction %s: the follow-up of %s failed: %s", tx, r.side.code, type(e).__name__)
        calls: dict[str, cf.Future] = {}
        for r in runs:
            if decision.decision(r.side.code).outcome is Outcome.REFER:
                f = self._officer_call(tx, side_evidence(shared, r.entry()), r.side.call_officer)
                if f is not None:
                    calls[r.side.code] = f
            if self._calls is not None and r.side.call_officer is not None:
                try:
                    f = self._calls.submit(self._raise_call, tx, str(GateState.DECIDE), "device_fault",
                                           r.side.call_officer)
                except RuntimeError:  # the workflow is closing
                    continue
                calls.setdefault(r.side.code, f)
        self.last_calls = calls

    # --- each administration's own evidence ------------------------------------------------------------------
    def _side(self, tx: str, side: JointSide, g, timings: dict[str, float], states: list[str]) -> _SideRun:
        code = side.code
        if g.presentation is None:
            watch, matches = SideWatchlist(checked=None, age_s=side.store.watchlist_age_s()), ()
        else:
            w = self._check_watchlist(tx, side.watchlist, g.presentation, g.chip, timings, states, f"watchlist:{code}")
            watch = SideWatchlist(checked=w.checked, hits=w.hits, error=w.error, age_s=side.store.watchlist_age_s(),
                                  timed_out=w.timed_out_step is not None, faulted=w.faulted_step is not None)
            matches = w.matches
        finger, outcome = self._finger(tx, side, g, self._chip_for(side, g.chip), timings, states)
        run = _SideRun(side, watch, finger, self._chain(tx, side, g.chip), outcome, matches)
        return run

    def _chip_for(self, side: JointSide, chip: ChipOutcome | None) -> ChipOutcome | None:
        """The chip's outcome as ``side`` may use it: Terminal Authentication, and DG3 read under it, belong to the
        administration whose credentials performed it (``JointSteps.eac_side``); the other side (every side where
        none is named) gets no DG3, a ``dg3_error`` naming whose authorisation read it, and no TA of its own
        (``no_terminal_credentials``: its own back-office path, as a lane without credentials)."""
        if chip is None:
            return None
        performed = chip.ta_passed is not None or (chip.ta_code and chip.ta_code not in NO_TERMINAL_CHAIN)
        if not performed:  # no credentials at all: nothing was read under anyone's authorisation
            return chip
        owner = getattr(self.steps, "eac_side", None)
        if side.code == owner:
            return replace(chip, ta_by=owner)
        dg3 = chip.dg3_error
        if chip.dg3_records or chip.dg3_error:
            dg3 = (f"DG3 read under {owner}'s authorisation: not {side.code}'s" if owner else
                   "DG3 read under no administration's authorisation named (JointSteps.eac_side): not used")
        return replace(chip, dg3_records=(), dg3_error=dg3, ta_passed=None, ta_code="no_terminal_credentials",
                       ta_by=owner)

    def _finger(self, tx: str, side: JointSide, g, chip: ChipOutcome | None, timings,
                states) -> tuple[SideFinger, FingerOutcome | None]:
        eac = {"ta_passed": chip.ta_passed, "ta_code": chip.ta_code, "dg3_error": chip.dg3_error} if chip else {}
        if not g.finger_due:  # the lane stopped before the fingerprint state: missing, as on a GateWorkflow
            return SideFinger(enrolled=None, **eac), None
        if side.finger is None:
            return SideFinger(enrolled=None, error=f"no fingerprint step for {side.code}", **eac), None
        p = g.presentation
        try:
            out, why = self._gather(GateState.FINGER, lambda: _finger(side.finger, p, chip), timings, states,
                                    f"finger:{side.code}")
        except TimeoutError:
            return SideFinger(enrolled=None, timed_out=True, **eac), None
        except _Fault as e:
            log.warning("transaction %s: step finger:%s failed: %s", tx, side.code, e.kind)
            return SideFinger(enrolled=None, faulted=True, **eac), None
        if out is None:
            return SideFinger(enrolled=None, error=why or "fingerprint step gave no outcome", **eac), None
        return SideFinger(enrolled=out.enrolled, score=out.score, threshold=out.threshold,
                          unavailable=out.unavailable, error=out.error, source=out.source, **eac), out

    @staticmethod
    def _chain(tx: str, side: JointSide, chip: ChipOutcome | None) -> SideChain | None:
        """PA of the chip read once against this side's own trust store (None: no chip read, nothing to verify)."""
        if chip is None or not chip.read:
            return None
        if not chip.pa_files:  # a chip step that kept nothing to verify again: unknown for this side
            return SideChain(pa_passed=None, pa_failures=chip.pa_failures)
        try:
            return SideChain(**pa_against(chip.pa_files, side.trust))
        except Exception as e:  # noqa: BLE001 - an unusable trust store leaves this side's chain unknown, never passed
            log.warning("transaction %s: passive authentication for %s failed: %s", tx, side.code, type(e).__name__)
            return SideChain(pa_passed=None)

    # --- each administration's record, in its own store -------------------------------------------------------
    def _record(self, tx: str, started: dt.datetime, shared_ms: float, run: _SideRun, shared: Evidence,
                decision: JointDecision, g, timings: dict[str, float]) -> tuple[str, ...]:
        side, code = run.side, run.side.code
        # this side's duration: the shared steps', then its own steps' and the decision's (never the partner's)
        duration_ms = shared_ms + sum(v for k, v in timings.items() if k.endswith(f":{code}")) + timings.get(
            "decide", 0.0)
        own = decision.decision(code)
        if decision.outcome is Outcome.OPEN:
            outcome, event_outcome = str(Outcome.OPEN), "admitted"
        elif own.outcome is Outcome.REFER:
            outcome, event_outcome = str(Outcome.REFER), "referred"
        else:
            outcome, event_outcome = PARTNER_REFERRED, PARTNER_REFERRED
        ev = side_evidence(shared, run.entry())
        outbox = [("event", event_record(started, own, duration_ms, ev, side, outcome=event_outcome))]
        if own.outcome is Outcome.REFER:
            outbox.append(("exception", exception_record(tx, started, side.admin.direction, own, g.presentation,
                                                         g.chip, g.face, run.finger_outcome, run.matches)))
        record = decision.record_for(code) | {"reasons": [str(r) for r in own.reasons]}
        # the shared steps' timings and this side's own (a partner's watchlist taking longer says nothing here)
        own_timings = {k: v for k, v in timings.items() if ":" not in k or k.endswith(f":{code}")}
        return tuple(side.store.record_transaction(tx, started_at=started, outcome=outcome, decision=record,
                                                   timings=own_timings, outbox=outbox))
