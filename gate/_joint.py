"""One lane, two sovereign decisions (issue #26 item 1): the joint Vietnam-China e-gate's policy.

The lane reads the document once and captures the face once: that is the *shared* :class:`Evidence`. Each
administration then decides over it with its own lane rules (:class:`~gate._policy.PolicyConfig`) and its
own watchlist copy, whose outcome (:class:`SideWatchlist`) is the only part of the evidence that differs
between the two sides. The gate opens only if both open; a referral belongs to the side that referred, with
that side's reasons.

What each side's record holds (:meth:`JointDecision.record_for`): its own decision in full, and of the
partner only the fact that the lane stayed shut because the partner referred, never the partner's reasons,
findings or checks (a watchlist hit on one side is not the other side's business).

Fail closed: the shared evidence may not carry a watchlist outcome (it would be one side's, shown to both),
both administrations must be present with their watchlist outcome, and their directions must be opposite
(one exit control, one entry control). A missing watchlist outcome of a side is a programming error, named,
never a pass; an unchecked watchlist inside it refers that side as :func:`~gate._policy.decide` says. A side may
bring its own Passive Authentication verdict (:class:`SideChain`, its own trust store's); the shared record then
carries none. The workflow that gathers all this is :class:`gate.JointGateWorkflow` (``gate/_joint_lane.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from gate._policy import RULES, Decision, Evidence, Outcome, PolicyConfig, Rule, decide

__all__ = ["Administration", "SideWatchlist", "SideFinger", "SideChain", "JointDecision", "JointLaneError",
           "decide_joint", "side_evidence", "WATCHLIST_FIELDS", "PER_SIDE_FIELDS", "CHAIN_FIELDS"]

#: the Evidence fields that come from an administration's own watchlist copy, never from the shared read
WATCHLIST_FIELDS = ("watchlist_checked", "watchlist_error", "watchlist_hits", "watchlist_age_s")
#: fields the shared record may not carry either, until the lane gives each side its own (issue #26 item 1's
#: composition): a partner's attestation is the entry side's input only; fingerprint enrolment and 1:1 results
#: come from each administration's own back office (one side's "not enrolled" must not waive the other's check)
#: Terminal Authentication and DG3 too: performed under one administration's credentials, they are that side's only
PER_SIDE_FIELDS = WATCHLIST_FIELDS + ("attested_checks", "attestation_id", "finger_enrolled", "finger_score",
                                      "finger_threshold", "finger_unavailable", "finger_error", "finger_source",
                                      "ta_passed", "ta_code", "dg3_error")
#: Passive Authentication's verdict: what a trust store decides of the chip read once (gate._chip_pa.PA_FIELDS); a
#: side bringing its own (:class:`SideChain`, its own trust store) needs a shared record carrying none
CHAIN_FIELDS = ("pa_passed", "pa_failures", "csca_chain", "dsc_revocation", "crl_stale")
DIRECTIONS = ("exit", "entry")


class JointLaneError(ValueError):
    """The joint lane was asked to decide over inconsistent input (a configuration or programming error)."""


@dataclass(frozen=True)
class Administration:
    """One side of the joint lane: its ICAO code, the direction it controls, its lane rules."""

    code: str  # "VNM", "CHN"
    direction: str  # "exit" or "entry"
    config: PolicyConfig = PolicyConfig()
    rules: tuple[Rule, ...] = RULES

    def __post_init__(self) -> None:
        if not (len(self.code) == 3 and self.code.isascii() and self.code.isalpha() and self.code.isupper()):
            raise JointLaneError(f"administration code {self.code!r}: three capital letters (ICAO)")
        if self.direction not in DIRECTIONS:
            raise JointLaneError(f"administration {self.code}: direction {self.direction!r} is not exit or entry")


@dataclass(frozen=True)
class SideWatchlist:
    """One administration's watchlist check of the traveller, from its own copy (None: not checked)."""

    checked: bool | None
    hits: tuple[str, ...] = ()
    error: str | None = None
    age_s: float | None = None
    timed_out: bool = False  # this side's watchlist step passed its time-out (refers: ``timeout``)
    faulted: bool = False  # this side's watchlist step failed (refers: ``hardware_fault``)

    def apply(self, shared: Evidence) -> Evidence:
        return _steps(replace(shared, watchlist_checked=self.checked, watchlist_hits=tuple(self.hits),
                              watchlist_error=self.error, watchlist_age_s=self.age_s), "watchlist", self)


@dataclass(frozen=True)
class SideFinger:
    """One administration's fingerprint evidence: enrolment and the 1:1 result from its own back office or, only
    where this administration's inspection-system credentials performed Terminal Authentication (the joint lane's
    ``JointSteps.eac_side``), the chip's DG3 matched on the device; and that TA's outcome and DG3's state as this
    side sees them (a DG3 read under the partner's authorisation is not this side's: ``dg3_error`` says so and the
    partner's TA outcome is not carried). Absent: not known, which refers where the lane needs it."""

    enrolled: bool | None
    score: float | None = None
    threshold: float | None = None
    unavailable: bool = False
    error: str | None = None
    source: str | None = None
    timed_out: bool = False  # this side's fingerprint step passed its time-out
    faulted: bool = False  # this side's fingerprint step failed (its scanner or back office client raised)
    ta_passed: bool | None = None  # Terminal Authentication under this side's credentials (None: not performed)
    ta_code: str = ""
    dg3_error: str | None = None

    def apply(self, evidence: Evidence) -> Evidence:
        return _steps(replace(evidence, finger_enrolled=self.enrolled, finger_score=self.score,
                              finger_threshold=self.threshold, finger_unavailable=self.unavailable,
                              finger_error=self.error, finger_source=self.source, ta_passed=self.ta_passed,
                              ta_code=self.ta_code, dg3_error=self.dg3_error), "finger", self)


@dataclass(frozen=True)
class SideChain:
    """One administration's Passive Authentication verdict of the chip read once, against its own trust store
    (:func:`gate._chip_pa.pa_against`): a chain only the partner's store verifies is this side's failure or
    missing evidence, never the partner's pass."""

    pa_passed: bool | None
    pa_failures: tuple[str, ...] = ()
    csca_chain: bool | None = None
    dsc_revocation: bool | None = None
    crl_stale: bool = False

    def apply(self, evidence: Evidence) -> Evidence:
        return replace(evidence, pa_passed=self.pa_passed, pa_failures=tuple(self.pa_failures),
                       csca_chain=self.csca_chain, dsc_revocation=self.dsc_revocation, crl_stale=self.crl_stale)


def _steps(ev: Evidence, step: str, side) -> Evidence:
    """A side's own step that timed out or failed, named in that side's evidence only (a step named earlier stays)."""
    if side.timed_out:
        ev = replace(ev, timed_out_step=ev.timed_out_step or step)
    if side.faulted:
        ev = replace(ev, faulted_step=ev.faulted_step or step)
    return ev


@dataclass(frozen=True)
class JointDecision:
    """Both sides' decisions, exit control first. ``outcome`` is OPEN only when every side's is."""

    sides: tuple[tuple[str, str, Decision], ...]  # (code, direction, decision)

    @property
    def outcome(self) -> Outcome:
        return Outcome.OPEN if all(d.outcome is Outcome.OPEN for _, _, d in self.sides) else Outcome.REFER

    @property
    def referred_by(self) -> tuple[str, ...]:
        """The administrations that referred the traveller (the lane's officer calls go to these only)."""
        return tuple(code for code, _, d in self.sides if d.outcome is not Outcome.OPEN)

    def decision(self, code: str) -> Decision:
        for c, _, d in self.sides:
            if c == code:
                return d
        raise JointLaneError(f"no administration {code!r} in this lane")

    def record_for(self, code: str) -> dict:
        """What ``code``'s back office receives: its own decision in full; of each partner, only whether the
        partner referred (the lane stayed shut), never why."""
        own = self.decision(code)
        direction = next(d for c, d, _ in self.sides if c == code)
        return {"administration": code, "direction": direction, "lane_outcome": str(self.outcome),
                "decision": own.to_dict(),
                "partners": {c: {"direction": d, "referred": dec.outcome is not Outcome.OPEN}
                             for c, d, dec in self.sides if c != code}}


def _parts(code: str, entry: object) -> tuple[Administration, SideWatchlist, tuple]:
    """``(Administration, SideWatchlist[, SideFinger][, SideChain])`` of one side, checked."""
    if not (isinstance(entry, tuple) and 2 <= len(entry) <= 4 and isinstance(entry[0], Administration)
            and isinstance(entry[1], SideWatchlist)
            and all(isinstance(p, SideFinger | SideChain) for p in entry[2:])
            and len({type(p) for p in entry[2:]}) == len(entry) - 2):
        raise JointLaneError(f"administration {code}: (Administration, SideWatchlist[, SideFinger][, SideChain]) "
                             "expected")
    return entry[0], entry[1], tuple(entry[2:])


def side_evidence(shared: Evidence, entry: tuple) -> Evidence:
    """The evidence one administration decides over: the shared record with its own watchlist outcome and, where
    given, its own fingerprint evidence and Passive Authentication verdict put in."""
    _, watch, extra = _parts("?", entry)
    evidence = watch.apply(shared)
    for part in extra:
        evidence = part.apply(evidence)
    return evidence


def decide_joint(shared: Evidence, sides: Mapping[str, tuple]) -> JointDecision:
    """Each administration's :func:`decide` over the shared evidence with its own watchlist outcome and, where
    given, its own fingerprint evidence and chain verdict: ``{code: (Administration, SideWatchlist[, SideFinger]
    [, SideChain])}``."""
    blank = Evidence(today=shared.today)
    leaked = [name for name in PER_SIDE_FIELDS if getattr(shared, name) != getattr(blank, name)]
    if leaked:
        raise JointLaneError("the shared evidence carries what is one administration's own (" + ", ".join(leaked)
                             + "): its watchlist outcome comes from its own copy (SideWatchlist)")
    for step in (shared.timed_out_step, shared.faulted_step):
        if step is not None and step.startswith("watchlist"):
            raise JointLaneError(f"the shared evidence names the watchlist step ({step}): each administration's "
                                 "watchlist state is its own (SideWatchlist.error)")
    if len(sides) != 2:
        raise JointLaneError(f"a joint lane has two administrations, not {len(sides)}")
    for code, entry in sides.items():
        admin, _, extra = _parts(code, entry)
        if admin.code != code:
            raise JointLaneError(f"administration filed under {code!r} is {admin.code!r}")
        chain = [name for name in CHAIN_FIELDS if getattr(shared, name) != getattr(blank, name)]
        if chain and any(isinstance(p, SideChain) for p in extra):
            raise JointLaneError("the shared evidence carries a Passive Authentication verdict (" + ", ".join(chain)
                                 + ") while an administration brings its own trust store's (SideChain)")
    admins = sorted((entry[0] for entry in sides.values()), key=lambda a: DIRECTIONS.index(a.direction))
    if [a.direction for a in admins] != list(DIRECTIONS):
        raise JointLaneError("a joint lane has one exit control and one entry control, not "
                             + " and ".join(a.direction for a in admins))
    return JointDecision(tuple((a.code, a.direction, decide(side_evidence(shared, sides[a.code]), a.config, a.rules))
                               for a in admins))
