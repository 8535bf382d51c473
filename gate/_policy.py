"""The gate's decision policy: named, configurable rules, each with a reason code.

A transaction gathers :class:`Evidence` (document, chip, face, fingerprint, watchlist, sensors);
:func:`decide` runs every enabled rule over it and returns a :class:`Decision` that explains itself:
the gate opens only when no rule refers the traveller, and every rule that fired is listed with its
reason code and a human-readable detail (no biometric data, no names).

Reason codes are the contract with the back office's exception queue (issue 7) and stay stable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

__all__ = [
    "ReasonCode",
    "Outcome",
    "Finding",
    "Evidence",
    "PolicyConfig",
    "Rule",
    "Decision",
    "RULES",
    "decide",
]


class ReasonCode(StrEnum):
    DOCUMENT_UNREADABLE = "document_unreadable"
    DOCUMENT_EXPIRED = "document_expired"
    CHIP_READ_FAILED = "chip_read_failed"
    CHIP_PA_FAILED = "chip_pa_failed"
    CHIP_CLONED = "chip_cloned"
    MRZ_MISMATCH = "mrz_mismatch"
    FAILURE_TO_ACQUIRE = "failure_to_acquire"
    LIVENESS_FAILED = "liveness_failed"
    FACE_MISMATCH = "face_mismatch"
    FINGERPRINT_MISMATCH = "fingerprint_mismatch"
    FINGERPRINT_UNAVAILABLE = "fingerprint_unavailable"
    WATCHLIST_HIT = "watchlist_hit"
    WATCHLIST_STALE = "watchlist_stale"
    MINOR = "minor"
    TAILGATING = "tailgating"
    NOT_ELIGIBLE = "not_eligible"
    TIMEOUT = "timeout"
    HARDWARE_FAULT = "hardware_fault"


class Outcome(StrEnum):
    OPEN = "open"
    REFER = "refer"


@dataclass(frozen=True)
class Finding:
    rule: str
    reason: ReasonCode
    detail: str


@dataclass(frozen=True)
class Evidence:
    """What a transaction learnt. ``None`` means "not obtained" (e.g. the step timed out)."""

    today: dt.date
    document_type: str | None = None  # "P" passport, "I" ID card, ...
    issuing_state: str | None = None
    date_of_birth: dt.date | None = None
    date_of_expiry: dt.date | None = None
    chip_read: bool | None = None
    chip_error: str | None = None
    pa_passed: bool | None = None
    pa_failures: tuple[str, ...] = ()
    aa_passed: bool | None = None  # None: chip has no AA
    ca_passed: bool | None = None  # None: chip has no CA
    mrz_matches_dg1: bool | None = None
    face_acquired: bool | None = None
    liveness_passed: bool | None = None
    face_score: float | None = None
    face_threshold: float | None = None
    finger_enrolled: bool = False
    finger_score: float | None = None
    finger_threshold: float | None = None
    finger_unavailable: bool = False  # the enrolment service could not be asked (back office unreachable)
    watchlist_hits: tuple[str, ...] = ()  # reasons from the watchlist matcher, no personal data
    watchlist_age_s: float | None = None
    persons_in_lane: int = 1
    timed_out_step: str | None = None
    faulted_step: str | None = None  # a device or engine failed unexpectedly in that step


@dataclass(frozen=True)
class PolicyConfig:
    adult_age: int = 18
    max_watchlist_age_s: float = 6 * 3600
    require_chip_authenticity: bool = True  # AA or CA must pass when the chip offers them
    require_fingerprint_when_enrolled: bool = True
    #: offline first: with the back office unreachable the gate cannot know whether a traveller has
    #: enrolled fingerprints, and chip + face decide (the event records the skipped check). True refers
    #: every traveller whose fingerprint check could not be made (lanes that must not open without it).
    refer_when_fingerprint_unavailable: bool = False
    eligible_document_types: tuple[str, ...] = ("P", "I")
    disabled_rules: frozenset[str] = field(default_factory=frozenset)


Check = Callable[[Evidence, PolicyConfig], str | None]


@dataclass(frozen=True)
class Rule:
    name: str
    reason: ReasonCode
    check: Check  # returns a detail string when the rule refers the traveller
    description: str


def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _timeout(e: Evidence, c: PolicyConfig) -> str | None:
    return f"step {e.timed_out_step} timed out" if e.timed_out_step else None


def _fault(e: Evidence, c: PolicyConfig) -> str | None:
    return f"step {e.faulted_step} failed (device or engine fault)" if e.faulted_step else None


def _unreadable(e: Evidence, c: PolicyConfig) -> str | None:
    return ("no MRZ or document data" if e.document_type is None and not e.timed_out_step and not e.faulted_step
            else None)


def _eligible(e: Evidence, c: PolicyConfig) -> str | None:
    if e.document_type is None:
        return None
    if e.document_type[:1] not in c.eligible_document_types:
        return f"document type {e.document_type} is not accepted at e-gates"
    return None


def _expired(e: Evidence, c: PolicyConfig) -> str | None:
    if e.date_of_expiry is not None and e.date_of_expiry < e.today:
        return f"expired on {e.date_of_expiry.isoformat()}"
    return None


def _minor(e: Evidence, c: PolicyConfig) -> str | None:
    if e.date_of_birth is not None and _age(e.date_of_birth, e.today) < c.adult_age:
        return f"under {c.adult_age}"
    return None


def _chip_read(e: Evidence, c: PolicyConfig) -> str | None:
    if e.document_type is not None and e.chip_read is False:
        return e.chip_error or "chip could not be read"
    return None


def _pa(e: Evidence, c: PolicyConfig) -> str | None:
    if e.chip_read and e.pa_passed is False:
        return "passive authentication failed: " + (", ".join(e.pa_failures) or "unspecified")
    return None


def _cloned(e: Evidence, c: PolicyConfig) -> str | None:
    if not e.chip_read or not c.require_chip_authenticity:
        return None
    failed = [n for n, ok in (("active authentication", e.aa_passed), ("chip authentication", e.ca_passed))
              if ok is False]
    return " and ".join(failed) + " failed" if failed else None


def _mrz_mismatch(e: Evidence, c: PolicyConfig) -> str | None:
    return "printed MRZ differs from chip DG1" if e.mrz_matches_dg1 is False else None


def _fta(e: Evidence, c: PolicyConfig) -> str | None:
    return "no usable face capture" if e.chip_read and e.face_acquired is False else None


def _liveness(e: Evidence, c: PolicyConfig) -> str | None:
    return "presentation attack suspected" if e.liveness_passed is False else None


def _face(e: Evidence, c: PolicyConfig) -> str | None:
    if e.face_score is None or e.face_threshold is None:
        return None
    if e.face_score < e.face_threshold:
        return f"face score {e.face_score:.3f} below threshold {e.face_threshold:.3f}"
    return None


def _finger(e: Evidence, c: PolicyConfig) -> str | None:
    if not (e.finger_enrolled and c.require_fingerprint_when_enrolled):
        return None
    if e.finger_score is None or e.finger_threshold is None:
        return "enrolled fingerprints could not be verified"
    if e.finger_score < e.finger_threshold:
        return f"fingerprint score {e.finger_score:.1f} below threshold {e.finger_threshold:.1f}"
    return None


def _finger_unavailable(e: Evidence, c: PolicyConfig) -> str | None:
    if e.finger_unavailable and c.refer_when_fingerprint_unavailable:
        return "the fingerprint check could not be made (back office unreachable)"
    return None


def _watchlist(e: Evidence, c: PolicyConfig) -> str | None:
    return "; ".join(e.watchlist_hits) if e.watchlist_hits else None


def _stale(e: Evidence, c: PolicyConfig) -> str | None:
    if e.watchlist_age_s is None:
        return "no local watchlist copy"
    if e.watchlist_age_s > c.max_watchlist_age_s:
        return f"watchlist copy is {e.watchlist_age_s / 3600:.1f} h old (limit {c.max_watchlist_age_s / 3600:.1f} h)"
    return None


def _tailgating(e: Evidence, c: PolicyConfig) -> str | None:
    return f"{e.persons_in_lane} persons in the lane" if e.persons_in_lane > 1 else None


RULES: tuple[Rule, ...] = (
    Rule("timeout", ReasonCode.TIMEOUT, _timeout, "A step exceeded its time-out."),
    Rule("hardware_fault", ReasonCode.HARDWARE_FAULT, _fault, "Every device and engine must work."),
    Rule("document_unreadable", ReasonCode.DOCUMENT_UNREADABLE, _unreadable, "No document data obtained."),
    Rule("eligible_document", ReasonCode.NOT_ELIGIBLE, _eligible, "Only accepted document types use the gate."),
    Rule("document_expired", ReasonCode.DOCUMENT_EXPIRED, _expired, "Document past its expiry date."),
    Rule("minor", ReasonCode.MINOR, _minor, "Minors are checked by an officer."),
    Rule("chip_read", ReasonCode.CHIP_READ_FAILED, _chip_read, "The chip must be readable."),
    Rule("passive_authentication", ReasonCode.CHIP_PA_FAILED, _pa, "SOD signature, DG hashes and chain must verify."),
    Rule("chip_authenticity", ReasonCode.CHIP_CLONED, _cloned, "AA/CA must pass where the chip supports them."),
    Rule("mrz_matches_chip", ReasonCode.MRZ_MISMATCH, _mrz_mismatch, "Printed MRZ must equal DG1."),
    Rule("face_acquired", ReasonCode.FAILURE_TO_ACQUIRE, _fta, "A usable live face must be captured."),
    Rule("liveness", ReasonCode.LIVENESS_FAILED, _liveness, "The live capture must pass presentation attack detection."),
    Rule("face_match", ReasonCode.FACE_MISMATCH, _face, "Live face must match DG2 at the calibrated threshold."),
    Rule("fingerprint_match", ReasonCode.FINGERPRINT_MISMATCH, _finger, "Enrolled travellers' fingerprints must match."),
    Rule("fingerprint_available", ReasonCode.FINGERPRINT_UNAVAILABLE, _finger_unavailable,
         "Where configured, the fingerprint check must be possible (offline lanes)."),
    Rule("watchlist", ReasonCode.WATCHLIST_HIT, _watchlist, "No hit on the local watchlist copy."),
    Rule("watchlist_fresh", ReasonCode.WATCHLIST_STALE, _stale, "The local watchlist copy must be fresh."),
    Rule("single_person", ReasonCode.TAILGATING, _tailgating, "One person in the lane."),
)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    findings: tuple[Finding, ...]
    rules_checked: tuple[str, ...]

    @property
    def reasons(self) -> tuple[ReasonCode, ...]:
        return tuple(f.reason for f in self.findings)

    def explain(self) -> str:
        if self.outcome is Outcome.OPEN:
            return f"open: all {len(self.rules_checked)} rules passed"
        return "refer: " + "; ".join(f"{f.reason} ({f.detail})" for f in self.findings)

    def to_dict(self) -> dict:
        return {
            "outcome": str(self.outcome),
            "reasons": [str(r) for r in self.reasons],
            "findings": [{"rule": f.rule, "reason": str(f.reason), "detail": f.detail} for f in self.findings],
            "rules_checked": list(self.rules_checked),
        }


def decide(evidence: Evidence, config: PolicyConfig | None = None,
           rules: tuple[Rule, ...] = RULES) -> Decision:
    config = config or PolicyConfig()
    unknown = config.disabled_rules - {r.name for r in rules}
    if unknown:
        raise ValueError(f"unknown rules disabled: {', '.join(sorted(unknown))}")
    findings, checked = [], []
    for rule in rules:
        if rule.name in config.disabled_rules:
            continue
        checked.append(rule.name)
        detail = rule.check(evidence, config)
        if detail:
            findings.append(Finding(rule.name, rule.reason, detail))
    outcome = Outcome.REFER if findings else Outcome.OPEN
    return Decision(outcome, tuple(findings), tuple(checked))


def with_config(config: PolicyConfig, **changes) -> PolicyConfig:
    return replace(config, **changes)
