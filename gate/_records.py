"""The gate's records for the back office: the transaction event (no personal data) and the exception record for
an officer (sealed at rest in the outbox), from a decision and what the steps obtained. Both lanes write them
(:class:`gate.GateWorkflow`, :class:`gate.JointGateWorkflow`: each administration its own)."""

from __future__ import annotations

import base64
import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from gate._policy import Decision, Evidence, Outcome

if TYPE_CHECKING:
    from gate._workflow import ChipOutcome, FaceOutcome, FingerOutcome, Presentation

__all__ = ["event_record", "exception_record"]


def event_record(started: dt.datetime, decision: Decision, duration_ms: float, ev: Evidence, trust_source: Any, *,
             outcome: str | None = None) -> dict[str, Any]:
    """The transaction event (back-office ``POST /api/v1/events``): no personal data at all. ``trust_source``: what
    holds the trust store that decided it (the chip step, a joint lane's side); ``outcome`` overrides the one the
    decision gives (the joint lane: ``aborted`` where only the partner referred)."""
    from gate._finger import eac_event  # TA, DG3, the fingerprint path (gate._finger imports this module)
    return {
        "occurred_at": started.isoformat(), "kind": "transaction",
        "outcome": outcome or ("admitted" if decision.outcome is Outcome.OPEN else "referred"),
        "reason_codes": [str(r) for r in decision.reasons], "duration_ms": round(duration_ms, 1),
    } | _trust_version(trust_source) | eac_event(ev) | {  # the path alone: the share challenged per gate
        k: v for k, v in _liveness_fields(ev).items() if k == "liveness_path"}


def exception_record(tx: str, started: dt.datetime, direction: str, decision: Decision, p: Presentation | None,
                 chip: ChipOutcome | None, face: FaceOutcome | None, finger: FingerOutcome | None,
                 matches: tuple[Any, ...]) -> dict[str, Any]:
    """The exception record for an officer (``POST /api/v1/exceptions``): reasons, scores, the
    explanation and the images that justify them. Sealed at rest in the outbox."""
    def b64(data: bytes | None) -> str | None:
        return base64.b64encode(data).decode("ascii") if data else None

    scores = {"face": face.score if face else None, "face_threshold": face.threshold if face else None,
              "liveness_passive": face.passive_score if face else None,
              "finger": finger.score if finger else None,
              "finger_threshold": finger.threshold if finger else None}
    document = p.document_record() if p is not None else None
    body: dict[str, Any] = {
        "occurred_at": started.isoformat(), "direction": direction, "transaction_id": tx,
        "reason_codes": [str(r) for r in decision.reasons],
        # an unknown (NaN, infinite) score is left out: it decided nothing (read as missing) and the back
        # office refuses a non-finite number, which would park the whole record
        "scores": {k: float(v) for k, v in scores.items() if v is not None and math.isfinite(v)},
        "watchlist_matches": [m.to_dict() if hasattr(m, "to_dict") else m for m in matches
                              if not isinstance(m, str)],
        "message": (decision.explain() + _liveness_note(face))[:2000],
    }
    body |= _liveness_fields(face)  # as data; the message keeps its note for back offices of before
    if document:
        body["document"] = document
    if face is not None and face.live_image:
        body["live_image"] = b64(face.live_image)
    if chip is not None and chip.dg2_image:
        body["chip_image"] = b64(chip.dg2_image)
    return body


def _liveness_note(face: FaceOutcome | None) -> str:
    """The liveness path taken and why it failed, for the officer (no biometric data)."""
    if face is None or (face.liveness_path is None and not face.liveness_reason):
        return ""
    parts = [f"path {face.liveness_path}"] if face.liveness_path else []
    if face.passive_decision:
        parts.append(f"passive {face.passive_decision}")
    if face.liveness_reason:
        parts.append(face.liveness_reason)
    return f" [liveness: {'; '.join(parts)}]"


def _liveness_fields(face: Any) -> dict[str, Any]:
    """The liveness check as the back office's exception takes it (``liveness_path``, ``passive_decision``,
    ``passive_score``, ``liveness_reason``; no biometric data) from a FaceOutcome or the Evidence: only values its
    schema accepts (a path it does not know, a score that is not in [0, 1], is left out rather than have the whole
    record refused and parked); absent where the gate has none."""
    from gate._face import LIVENESS_PATHS, PASSIVE_DECISIONS  # gate._face imports this module

    path = getattr(face, "liveness_path", None)
    if path not in LIVENESS_PATHS:
        return {}
    out: dict[str, Any] = {"liveness_path": path}
    decision = getattr(face, "passive_decision", None)
    if decision is not None:
        out["passive_decision"] = decision if decision in PASSIVE_DECISIONS else "unknown"
    score = getattr(face, "passive_score", None)
    if isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score) and 0 <= score <= 1:
        out["passive_score"] = float(score)
    reason = "".join(c for c in " ".join(str(getattr(face, "liveness_reason", None) or "").split())
                     if c.isprintable())[:200]  # one line, no control or bidi characters: the schema's
    if reason:
        out["liveness_reason"] = reason
    return out


def _trust_version(chip_step: Any) -> dict[str, int]:
    """The version of the trust store the chip step decided with, when it came from a versioned store."""
    version = getattr(getattr(chip_step, "trust", None), "version", None)
    return {"trust_store_version": version} if isinstance(version, int) and not isinstance(version, bool) else {}
