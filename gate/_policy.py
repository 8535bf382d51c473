"""The gate's decision policy: fail closed, every check named, every referral with a reason code.

A transaction gathers :class:`Evidence` (document, chip, face, fingerprint, watchlist, sensors);
:func:`decide` evaluates every check of the lane over it. Each check ends in one
:class:`CheckStatus`:

- ``passed``: positive evidence that the requirement holds;
- ``failed``: positive evidence that it does not (refers with the check's reason code);
- ``missing``: the evidence was not obtained, is unknown or could not be parsed (refers with
  ``evidence_missing`` and the check's name, or the check's own named reason);
- ``not_required``: the requirement does not apply to this traveller by the evidence itself (the chip
  offers no Active Authentication; the back office says no fingerprints are enrolled), or the lane's
  configuration relaxes it explicitly (:attr:`PolicyConfig.disabled_rules` and the named switches).

The gate opens only when every check is ``passed`` or ``not_required``: missing evidence never reads
as passing, and no default relaxes anything. The :class:`Decision` explains itself (findings with
reason codes and details; no biometric data, no names) and lists every check's status.

Reason codes are the contract with the back office's exception queue and stay stable.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

__all__ = [
    "ReasonCode",
    "Outcome",
    "CheckStatus",
    "Finding",
    "Evidence",
    "PolicyConfig",
    "Rule",
    "Decision",
    "RULES",
    "REQUIRED_DATA_GROUPS",
    "ATTESTABLE_CHECKS",
    "decide",
]

#: data groups every transaction needs read and hash-verified: the MRZ and the face (Doc 9303 Part 10 §4.7)
REQUIRED_DATA_GROUPS = ("DG1", "DG2")
#: the rules a partner's crossing attestation may stand in for (as bilateral.RELIABLE_CHECKS, a test holds them
#: equal): never the data groups, the MRZ against DG1, the chip's own authenticity, the face, the watchlist
ATTESTABLE_CHECKS = frozenset({"passive_authentication", "eligible_document", "document_expired"})


class ReasonCode(StrEnum):
    DOCUMENT_UNREADABLE = "document_unreadable"
    DOCUMENT_EXPIRED = "document_expired"
    CHIP_READ_FAILED = "chip_read_failed"
    CHIP_PA_FAILED = "chip_pa_failed"
    CHIP_CLONED = "chip_cloned"
    CHIP_KEY_UNUSABLE = "chip_key_unusable"  # AA/CA could not be verified: the chip's DG14/DG15 key cannot be used
    MRZ_MISMATCH = "mrz_mismatch"
    FAILURE_TO_ACQUIRE = "failure_to_acquire"
    LIVENESS_FAILED = "liveness_failed"
    FACE_MISMATCH = "face_mismatch"
    FINGERPRINT_MISMATCH = "fingerprint_mismatch"
    FINGERPRINT_UNAVAILABLE = "fingerprint_unavailable"
    WATCHLIST_HIT = "watchlist_hit"
    WATCHLIST_STALE = "watchlist_stale"
    CRL_STALE = "crl_stale"
    MINOR = "minor"
    TAILGATING = "tailgating"
    NOT_ELIGIBLE = "not_eligible"
    TIMEOUT = "timeout"
    HARDWARE_FAULT = "hardware_fault"
    EVIDENCE_MISSING = "evidence_missing"


class Outcome(StrEnum):
    OPEN = "open"
    REFER = "refer"


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    MISSING = "missing"
    NOT_REQUIRED = "not_required"


@dataclass(frozen=True)
class Finding:
    rule: str
    reason: ReasonCode
    detail: str


@dataclass(frozen=True)
class Evidence:
    """What a transaction learnt. ``None`` means "not obtained or unknown", never "fine"."""

    today: dt.date
    # the document (MRZ, OCR or QR)
    document_type: str | None = None  # "P" passport, "I" ID card, ...
    issuing_state: str | None = None
    date_of_birth: dt.date | None = None
    date_of_expiry: dt.date | None = None
    # the chip
    chip_read: bool | None = None
    chip_error: str | None = None
    pa_passed: bool | None = None  # SOD signature, hashes of the files read, DSC validity (Part 11 §5.1)
    pa_failures: tuple[str, ...] = ()
    csca_chain: bool | None = None  # DSC -> a CSCA of the trust store
    dsc_revocation: bool | None = None  # None: no current CRL for the CSCA
    #: Passive Authentication's named outcome "stale_crl": the CSCA's CRL held is past its next update (the DSC
    #: is not on it, but the list is out of date); referred as ``crl_stale`` unless the lane accepts it
    crl_stale: bool = False
    #: (name, verified) of every data group the gate needs: True read and hashed as the SOD says,
    #: False hash mismatch, None not read (the chip did not serve it) or no usable SOD
    data_groups: tuple[tuple[str, bool | None], ...] = ()
    aa_offered: bool | None = None  # True DG15 read; False the SOD lists no DG15; None listed but not served
    aa_passed: bool | None = None
    ca_offered: bool | None = None  # True DG14 has a CA key; False none; None DG14 listed but not served
    ca_passed: bool | None = None
    #: why AA / CA could not be verified (passed None): the key's named problem, e.g. ``ec_parameters_unknown_curve``
    aa_code: str = ""
    ca_code: str = ""
    mrz_matches_dg1: bool | None = None
    mrz_differences: tuple[str, ...] = ()  # the printed fields that differ from DG1
    # the face
    face_acquired: bool | None = None
    face_error: str | None = None  # why the face evidence is missing (e.g. the chip photo holds no face)
    liveness_passed: bool | None = None
    #: the liveness path run (gate._face): "passive", "passive+challenge", "challenge", "off"; None not said
    liveness_path: str | None = None
    passive_decision: str | None = None  # passive PAD's verdict: live | doubt | attack | unknown
    passive_score: float | None = None
    face_score: float | None = None
    face_threshold: float | None = None
    # fingerprints: enrolled None = unknown
    finger_enrolled: bool | None = None
    finger_score: float | None = None
    finger_threshold: float | None = None
    finger_unavailable: bool = False  # the enrolment service could not be asked (back office unreachable)
    finger_error: str | None = None
    finger_source: str | None = None  # "chip": DG3 (EAC) on the device; "backoffice": the 1:1 there
    dg3_error: str | None = None  # why the chip's fingers (DG3, EAC) were not obtained: TA, access, SOD hash
    ta_passed: bool | None = None  # Terminal Authentication: None not performed
    ta_code: str = ""  # emrtd.TaResult.code: why not performed (no_terminal_chain_for_cvca...) or chip_refused
    # the watchlist
    watchlist_checked: bool | None = None
    watchlist_error: str | None = None  # why the check could not be made (an incomplete copy, an unusable name)
    watchlist_hits: tuple[str, ...] = ()  # reasons from the watchlist matcher, no personal data
    watchlist_age_s: float | None = None
    # the lane
    persons_in_lane: int | None = None  # a lane sensor's count, or the faces the camera saw; None: nobody counted
    timed_out_step: str | None = None
    faulted_step: str | None = None  # a device or engine failed unexpectedly in that step
    # a partner's crossing attestation (issue #26 item 2): the checks its verified attestation stands in for
    # (bilateral.verify_attestation's answer under the lanes' agreement, ATTESTABLE_CHECKS only) and its id.
    # Only a check this gate did not obtain becomes "not required"; one it ran and saw fail still refers.
    attested_checks: tuple[str, ...] = ()
    attestation_id: str | None = None


@dataclass(frozen=True)
class PolicyConfig:
    """A lane's rules. Every field that relaxes a check is off by default: a relaxation is explicit."""

    adult_age: int = 18
    max_watchlist_age_s: float = 6 * 3600
    eligible_document_types: tuple[str, ...] = ("P", "I")
    #: AA and CA must pass where the chip offers them; a chip hiding DG14/DG15 its SOD lists is a clone
    require_chip_authenticity: bool = True
    #: the lane's liveness check must pass
    require_liveness: bool = True
    #: the lane's liveness policy (``[gate] liveness``): "passive+challenge-on-doubt" opens on a passive "live"
    #: without the challenge; "challenge-all" and "active" need a passed challenge from everyone
    liveness_policy: str = "challenge-all"  # the composition sets the lane's; the strict one by default
    #: a DSC whose revocation status is unknown (no current CRL for its CSCA) refers
    require_revocation_status: bool = True
    #: a DSC checked only against a CRL past its next update refers (``crl_stale``), whatever
    #: ``require_revocation_status`` says; True accepts such a CRL's answer (an explicit lane choice)
    accept_stale_crl: bool = False
    require_fingerprint_when_enrolled: bool = True
    #: with the back office unreachable the gate cannot know whether fingerprints are enrolled: refer
    #: (``fingerprint_unavailable``). False lets chip and face decide offline: an explicit lane choice.
    refer_when_fingerprint_unavailable: bool = True
    #: an entry lane under a bilateral agreement (issue #26 item 2) may rely on the partner's verified crossing
    #: attestation for ATTESTABLE_CHECKS this gate did not obtain; off: Evidence.attested_checks count for nothing
    accept_attestations: bool = False
    disabled_rules: frozenset[str] = field(default_factory=frozenset)


Verdict = tuple[CheckStatus, str, "ReasonCode | None"]
Check = Callable[[Evidence, PolicyConfig], Verdict]


@dataclass(frozen=True)
class Rule:
    name: str
    reason: ReasonCode  # the reason code when the check fails
    check: Check  # -> (status, detail, reason override or None)
    description: str


P, F, M, N = CheckStatus.PASSED, CheckStatus.FAILED, CheckStatus.MISSING, CheckStatus.NOT_REQUIRED


def _ok(detail: str = "") -> Verdict:
    return P, detail, None


def _fail(detail: str, reason: ReasonCode | None = None) -> Verdict:
    return F, detail, reason


def _missing(detail: str, reason: ReasonCode | None = None) -> Verdict:
    return M, detail, reason


def _na(detail: str) -> Verdict:
    return N, detail, None


def _finite(x: float | None) -> bool:
    """A number that can be compared: NaN and infinities (from a device or a JSON answer) are unknown."""
    return x is not None and not isinstance(x, bool) and math.isfinite(x)


def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _timeout(e: Evidence, c: PolicyConfig) -> Verdict:
    return _fail(f"step {e.timed_out_step} timed out") if e.timed_out_step else _ok()


def _fault(e: Evidence, c: PolicyConfig) -> Verdict:
    return _fail(f"step {e.faulted_step} failed (device or engine fault)") if e.faulted_step else _ok()


def _document(e: Evidence, c: PolicyConfig) -> Verdict:
    if e.document_type is not None:
        return _ok()
    if e.timed_out_step or e.faulted_step:
        return _missing("no document data")
    return _fail("no MRZ or document data")


def _eligible(e: Evidence, c: PolicyConfig) -> Verdict:
    if e.document_type is None:
        return _missing("document type unknown")
    if e.document_type[:1] not in c.eligible_document_types:
        return _fail(f"document type {e.document_type} is not accepted at e-gates")
    return _ok()


def _in_date(e: Evidence, c: PolicyConfig) -> Verdict:
    if e.date_of_expiry is None:
        return _missing("date of expiry unknown")
    if e.date_of_expiry < e.today:
        return _fail(f"expired on {e.date_of_expiry.isoformat()}")
    return _ok()


def _adult(e: Evidence, c: PolicyConfig) -> Verdict:
    if e.date_of_birth is None:
        return _missing("date of birth unknown")
    if _age(e.date_of_birth, e.today) < c.adult_age:
        return _fail(f"under {c.adult_age}")
    return _ok()


def _chip_read(e: Evidence, c: PolicyConfig) -> Verdict:
    if e.chip_read is None:
        return _missing("chip not read")
    if not e.chip_read:
        return _fail(e.chip_error or "chip could not be read")
    return _ok()


def _pa(e: Evidence, c: PolicyConfig) -> Verdict:
    if not e.chip_read:
        return _missing("chip not read: passive authentication not performed")
    stale = e.crl_stale and e.dsc_revocation is None
    parts = (("passive authentication", e.pa_passed), ("DSC -> CSCA chain", e.csca_chain))
    if stale:  # handled on its own: refers with its own reason unless the lane accepts a stale CRL's answer
        parts += (("DSC revocation status", True if c.accept_stale_crl else None),)
    elif c.require_revocation_status:
        parts += (("DSC revocation status", e.dsc_revocation),)
    failed = [n for n, v in parts if v is False]
    # a failure PA named is positive evidence whatever else is unknown (without a trust store the chain is
    # unknown, but a data group that differs from the SOD's hash is a fact: a swapped DG15 of a clone)
    if failed or e.dsc_revocation is False or e.pa_failures:
        why = ", ".join(e.pa_failures) or ", ".join(failed) or "DSC revoked"
        return _fail("passive authentication failed: " + why)
    unknown = [n for n, v in parts if v is None]
    if unknown == ["DSC revocation status"] and stale:
        return _missing("the CSCA's CRL is out of date: DSC revocation status not current", ReasonCode.CRL_STALE)
    if unknown:
        return _missing(" and ".join(unknown) + " not verified")
    return _ok()


def _data_groups(e: Evidence, c: PolicyConfig) -> Verdict:
    if not e.chip_read:
        return _missing("chip not read")
    status = dict(e.data_groups)
    bad = [n for n in REQUIRED_DATA_GROUPS if status.get(n) is False]
    if bad:
        return _fail(f"{', '.join(bad)} differ from the signed hashes", ReasonCode.CHIP_PA_FAILED)
    absent = [n for n in REQUIRED_DATA_GROUPS if status.get(n) is None]
    if absent:
        return _missing(f"{', '.join(absent)} not read and verified against the SOD")
    return _ok()


def _authenticity(e: Evidence, c: PolicyConfig) -> Verdict:
    if not c.require_chip_authenticity:
        return _na("chip authenticity not required on this lane")
    if not e.chip_read:
        return _missing("chip not read")
    failed, hidden, unknown, unusable = [], [], [], {}
    for name, group, offered, passed, code in (
            ("active authentication", "DG15", e.aa_offered, e.aa_passed, e.aa_code),
            ("chip authentication", "DG14", e.ca_offered, e.ca_passed, e.ca_code)):
        if offered is None:
            hidden.append(group)
        elif offered and passed is False:
            failed.append(name)
        elif offered and passed is None and code:  # the key is unusable: not verified, and no sign of a clone
            unusable[name] = code
        elif offered and passed is None:
            unknown.append(name)
    if hidden:
        return _fail(f"{' and '.join(hidden)} listed in the SOD but not served (a clone hides them)")
    if failed:
        return _fail(" and ".join(failed) + " failed")
    if unusable:
        return _missing(f"{' and '.join(unusable)} not verified: the chip's key cannot be used "
                        f"({', '.join(dict.fromkeys(unusable.values()))})", ReasonCode.CHIP_KEY_UNUSABLE)
    if unknown:
        return _missing(" and ".join(unknown) + " offered by the chip but not performed")
    if not e.aa_offered and not e.ca_offered:
        return _na("the chip offers neither active nor chip authentication")
    return _ok()


def _mrz(e: Evidence, c: PolicyConfig) -> Verdict:
    if e.mrz_matches_dg1 is None:
        return _missing("printed MRZ not compared with DG1")
    if e.mrz_matches_dg1:
        return _ok()
    return _fail("printed MRZ differs from chip DG1" + (f" in {', '.join(e.mrz_differences)}" if e.mrz_differences
                                                          else ""))


def _face_missing(e: Evidence) -> str:
    return e.face_error or ("no chip photo to compare with" if e.chip_read else "chip not read")


def _acquired(e: Evidence, c: PolicyConfig) -> Verdict:
    if e.face_acquired is None:
        return _missing(_face_missing(e))
    return _ok() if e.face_acquired else _fail("no usable face capture")


def _liveness(e: Evidence, c: PolicyConfig) -> Verdict:
    if e.passive_decision == "attack":  # positive evidence of an attack: refers on every lane, whatever else passed
        score = f" (score {e.passive_score:.2f})" if _finite(e.passive_score) else ""
        return _fail(f"passive presentation attack detection: attack{score}")
    if not c.require_liveness:
        return _na("no liveness check on this lane") if e.liveness_passed is not False else \
            _fail("presentation attack suspected")
    if e.liveness_passed is None:
        return _missing("liveness not checked" if e.face_acquired else _face_missing(e))
    if not e.liveness_passed:
        return _fail("presentation attack suspected" + (f" ({e.liveness_path})" if e.liveness_path else ""))
    if e.liveness_path in ("passive", "off"):  # no challenge ran: only a passive "live" on a lane that allows it
        if e.passive_decision != "live" or e.liveness_path == "off":
            return _missing(f"passive liveness {e.passive_decision or 'not assessed'}: the challenge did not run")
        if c.liveness_policy != "passive+challenge-on-doubt":
            return _missing("this lane challenges every traveller: the challenge did not run")
    elif e.liveness_path is None and c.liveness_policy != "passive+challenge-on-doubt":
        return _missing("the liveness path was not recorded on a lane that challenges every traveller")
    return _ok(e.liveness_path or "")


def _face(e: Evidence, c: PolicyConfig) -> Verdict:
    if not (_finite(e.face_score) and _finite(e.face_threshold)):
        return _missing(_face_missing(e) if not e.face_acquired else "no face score")
    if e.face_score < e.face_threshold:
        return _fail(f"face score {e.face_score:.3f} below threshold {e.face_threshold:.3f}")
    return _ok(f"{e.face_score:.3f} >= {e.face_threshold:.3f}")


def _finger(e: Evidence, c: PolicyConfig) -> Verdict:
    if not c.require_fingerprint_when_enrolled:
        return _na("fingerprints not required on this lane")
    if e.finger_enrolled is False:
        return _na("no fingerprints enrolled")
    if e.finger_enrolled is None:
        if e.finger_unavailable:
            if not c.refer_when_fingerprint_unavailable:
                return _na("fingerprint check skipped: back office unreachable (lane configured offline-first)")
            return _missing("the fingerprint check could not be made (back office unreachable)",
                            ReasonCode.FINGERPRINT_UNAVAILABLE)
        return _missing(e.finger_error or "fingerprint enrolment status unknown")
    if not (_finite(e.finger_score) and _finite(e.finger_threshold)):
        return _missing(e.finger_error or "enrolled fingerprints could not be verified")
    if e.finger_score < e.finger_threshold:
        return _fail(f"fingerprint score {e.finger_score:.3f} below threshold {e.finger_threshold:.3f}")
    return _ok()


def _watchlist(e: Evidence, c: PolicyConfig) -> Verdict:
    if e.watchlist_hits:
        return _fail("; ".join(e.watchlist_hits))
    if not e.watchlist_checked:
        return _missing(e.watchlist_error or "watchlist not checked")
    return _ok()


def _stale(e: Evidence, c: PolicyConfig) -> Verdict:
    if e.watchlist_age_s is None:
        return _fail("no local watchlist copy")
    if not _finite(e.watchlist_age_s) or e.watchlist_age_s < 0:
        return _fail(f"watchlist copy age {e.watchlist_age_s!r} s cannot be trusted (clock stepped back?)")
    if e.watchlist_age_s > c.max_watchlist_age_s:
        return _fail(f"watchlist copy is {e.watchlist_age_s / 3600:.1f} h old "
                     f"(limit {c.max_watchlist_age_s / 3600:.1f} h)")
    return _ok()


def _tailgating(e: Evidence, c: PolicyConfig) -> Verdict:
    if e.persons_in_lane is None or e.persons_in_lane < 1:
        return _missing("nobody counted in the lane (no lane sensor reading, no face seen)")
    return _fail(f"{e.persons_in_lane} persons in the lane") if e.persons_in_lane > 1 else _ok()


R = ReasonCode
RULES: tuple[Rule, ...] = (
    Rule("timeout", R.TIMEOUT, _timeout, "A step exceeded its time-out."),
    Rule("hardware_fault", R.HARDWARE_FAULT, _fault, "Every device and engine must work."),
    Rule("document_unreadable", R.DOCUMENT_UNREADABLE, _document, "Document data (MRZ, OCR or QR) obtained."),
    Rule("eligible_document", R.NOT_ELIGIBLE, _eligible, "Only accepted document types use the gate."),
    Rule("document_expired", R.DOCUMENT_EXPIRED, _in_date, "The document is in date."),
    Rule("minor", R.MINOR, _adult, "Minors are checked by an officer."),
    Rule("chip_read", R.CHIP_READ_FAILED, _chip_read, "The chip must be read."),
    Rule("passive_authentication", R.CHIP_PA_FAILED, _pa,
         "SOD signature, hashes, DSC validity, DSC -> trusted CSCA chain and revocation status verify."),
    Rule("data_groups", R.CHIP_PA_FAILED, _data_groups, "DG1 and DG2 read and hashed as the SOD says."),
    Rule("chip_authenticity", R.CHIP_CLONED, _authenticity,
         "AA/CA pass where the chip offers them; DG14/DG15 listed in the SOD are served."),
    Rule("mrz_matches_chip", R.MRZ_MISMATCH, _mrz, "Printed MRZ must equal DG1."),
    Rule("face_acquired", R.FAILURE_TO_ACQUIRE, _acquired, "A usable live face must be captured."),
    Rule("liveness", R.LIVENESS_FAILED, _liveness, "The lane's liveness check passes."),
    Rule("face_match", R.FACE_MISMATCH, _face, "Live face must match DG2 at the calibrated threshold."),
    Rule("fingerprint_match", R.FINGERPRINT_MISMATCH, _finger, "Enrolled travellers' fingerprints must match."),
    Rule("watchlist", R.WATCHLIST_HIT, _watchlist, "Checked against the local watchlist copy, no hit."),
    Rule("watchlist_fresh", R.WATCHLIST_STALE, _stale, "The local watchlist copy must be fresh."),
    Rule("single_person", R.TAILGATING, _tailgating, "One person in the lane."),
)


_BLOCKING = frozenset({"timeout", "hardware_fault", "document_unreadable", "chip_read"})


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    findings: tuple[Finding, ...]
    rules_checked: tuple[str, ...]
    checks: tuple[tuple[str, CheckStatus], ...] = ()  # every rule's status, in rule order
    #: the liveness path taken and the passive verdict (transaction record): path, passive decision and score
    liveness: tuple[tuple[str, object], ...] = ()
    #: the partner's attestation this decision relied on: its id and the rules it stood in for
    attestation: tuple[tuple[str, object], ...] = ()

    @property
    def reasons(self) -> tuple[ReasonCode, ...]:
        return tuple(dict.fromkeys(f.reason for f in self.findings))

    def status(self, rule: str) -> CheckStatus | None:
        return dict(self.checks).get(rule)

    def explain(self) -> str:
        if self.outcome is Outcome.OPEN:
            relaxed = [n for n, s in self.checks if s is CheckStatus.NOT_REQUIRED]
            return (f"open: all {len(self.rules_checked)} required checks passed"
                    + (f" (not required: {', '.join(relaxed)})" if relaxed else ""))
        return "refer: " + "; ".join(f"{f.reason} ({f.detail})" for f in self.findings)

    def to_dict(self) -> dict:
        return {
            "outcome": str(self.outcome),
            "reasons": [str(r) for r in self.reasons],
            "findings": [{"rule": f.rule, "reason": str(f.reason), "detail": f.detail} for f in self.findings],
            "rules_checked": list(self.rules_checked),
            "checks": {n: str(s) for n, s in self.checks},
        } | ({"liveness": dict(self.liveness)} if self.liveness else {}) \
          | ({"attestation": {k: list(v) if isinstance(v, tuple) else v for k, v in self.attestation}}
             if self.attestation else {})


def decide(evidence: Evidence, config: PolicyConfig | None = None,
           rules: tuple[Rule, ...] = RULES) -> Decision:
    """Evaluate every rule; open only when each is passed or not required (fail closed)."""
    config = config or PolicyConfig()
    unknown = config.disabled_rules - {r.name for r in rules}
    if unknown:
        raise ValueError(f"unknown rules disabled: {', '.join(sorted(unknown))}")
    beyond = set(evidence.attested_checks) - ATTESTABLE_CHECKS
    if beyond:
        raise ValueError(f"no attestation stands in for: {', '.join(sorted(beyond))}")
    # an attestation counts only on a lane that accepts them, with its id, on a chip this gate read (it is bound
    # to the chip's EF.SOD); never for Passive Authentication once this gate's own PA saw any failure (a clone
    # keeps the genuine SOD, DG1 and DG2 and swaps DG15: only the DG15 hash tells, and it must refer)
    attested = set(evidence.attested_checks) if (config.accept_attestations and evidence.attestation_id
                                                  and evidence.chip_read is True) else set()
    if evidence.pa_failures or evidence.pa_passed is False:
        attested.discard("passive_authentication")
    relied: list[str] = []
    findings, checked, statuses, missing = [], [], [], []
    for rule in rules:
        if rule.name in config.disabled_rules:  # an explicit relaxation of the lane, recorded as such
            statuses.append((rule.name, N))
            continue
        checked.append(rule.name)
        status, detail, reason = rule.check(evidence, config)
        status = CheckStatus(status)
        # not obtained here (and not for a named reason of this lane's, e.g. a stale CRL), passed at the partner's
        # exit control
        if status is M and reason is None and rule.name in attested:
            status = N
            relied.append(rule.name)
        statuses.append((rule.name, status))
        if status is F:
            findings.append(Finding(rule.name, reason or rule.reason, detail))
        elif status is M:
            if reason is not None:
                findings.append(Finding(rule.name, reason, detail))
            else:
                missing.append(f"{rule.name}: {detail}")
        elif status not in (P, N):  # pragma: no cover - a check returning something else is a bug
            raise ValueError(f"rule {rule.name} returned {status!r}")
    # everything not obtained, in one finding the guard reads at a glance; when a time-out, a fault or an
    # unreadable document or chip already explains the gap, the per-check statuses record it
    if missing and not any(f.rule in _BLOCKING for f in findings):
        findings.append(Finding("evidence", ReasonCode.EVIDENCE_MISSING, "not obtained: " + "; ".join(missing)))
    ok = all(s in (P, N) for _, s in statuses) and not findings
    liveness = () if evidence.liveness_path is None else (
        ("liveness_path", evidence.liveness_path), ("passive_decision", evidence.passive_decision),
        ("passive_score", evidence.passive_score if _finite(evidence.passive_score) else None))
    attestation = (("id", evidence.attestation_id), ("checks", tuple(relied))) if relied else ()
    return Decision(Outcome.OPEN if ok else Outcome.REFER, tuple(findings), tuple(checked), tuple(statuses), liveness,
                    attestation)


def with_config(config: PolicyConfig, **changes) -> PolicyConfig:
    return replace(config, **changes)
