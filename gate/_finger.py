"""The gate's fingerprint step: 1:1 against the traveller's enrolment in the back office, or, where the chip
opened DG3 to the gate's Terminal Authentication (EAC), against the chip's own finger images on the device.

Port: fingerprint scanner ``capture() -> FingerCapture(image, dpi)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from devicelink import BackofficeUnavailable
from gate._workflow import ChipOutcome, FingerOutcome, Presentation

__all__ = ["FingerEngine", "FingerStep", "NO_TERMINAL_CHAIN", "chip_fingers", "eac_event"]

log = logging.getLogger("smartborder.gate")

#: Terminal Authentication codes (emrtd.TaResult.code) for a document whose CVCA the gate holds no chain for: the
#: gate cannot read its DG3, and only then is the back-office path (enrolled travellers) used for its fingers
NO_TERMINAL_CHAIN = frozenset({"no_terminal_credentials", "no_terminal_chain_for_cvca"})


def chip_fingers(res) -> dict[str, Any]:
    """The :class:`ChipOutcome` fields of an :class:`emrtd.ReadResult`'s EAC: DG3's finger records where Terminal
    Authentication opened DG3 and the SOD hashes it; else, where the SOD lists DG3 (the holder's fingers are in the
    document) or the chip served it, ``dg3_error`` naming why they were not obtained; and TA's outcome and code."""
    ta = res.check("terminal_authentication")
    out: dict[str, Any] = {"ta_passed": ta.passed if ta is not None else None, "ta_code": ta.code if ta else ""}
    if "DG3" in res.files:
        if ta is None or ta.passed is not True:  # a chip serving DG3 without TA: never used
            out["dg3_error"] = "DG3 served without a successful Terminal Authentication: not used"
        elif res.data_group_verified("DG3") is not True:
            out["dg3_error"] = "DG3 read but not verified against the SOD"
        elif "DG3" in res.parse_errors or not res.finger_records:
            out["dg3_error"] = f"DG3 unreadable: {res.parse_errors.get('DG3', 'no finger record')[:120]}"
        else:
            out["dg3_records"] = res.finger_records
    elif "DG3" in res.unreadable:
        out["dg3_error"] = f"DG3 not served: {res.unreadable['DG3'][:200]}"
    elif "DG3" in res.sod_data_groups:
        out["dg3_error"] = "DG3 listed in the SOD but not read"
    return out


def eac_event(ev) -> dict[str, Any]:
    """The transaction event's EAC fields (no personal data): ``terminal_authentication`` (passed, failed,
    not_performed) with ``eac_code`` (emrtd.TaResult.code, e.g. ``no_terminal_chain_for_cvca``), ``dg3_error``
    (why the chip's fingers were not obtained) and ``fingerprint_source`` (chip, backoffice); absent where none
    applies (a document without EAC on a gate without credentials)."""
    out: dict[str, Any] = {}
    if ev.ta_code or ev.ta_passed is not None:
        out["terminal_authentication"] = {True: "passed", False: "failed"}.get(ev.ta_passed, "not_performed")
    out |= {k: v for k, v in (("eac_code", ev.ta_code), ("dg3_error", (ev.dg3_error or "")[:300]),
                              ("fingerprint_source", ev.finger_source)) if v}
    return out


@dataclass
class FingerEngine:
    """``template(image, dpi)`` -> a probe template (``to_bytes()``: ISO/IEC 19794-2); ``threshold``: the
    lane's calibrated decision threshold. :meth:`default` uses ``biometrics.finger``; for enrolled travellers
    the 1:1 runs in the back office, so enrolled templates never reach the gate. For a chip's DG3 (EAC) it runs
    here: ``views(record)`` -> [(finger position, grey image, ppi)] of an ISO/IEC 19794-4 record (WSQ included),
    each view used made a template by ``template``, and ``compare(probe, reference)`` -> score, at the same
    ``threshold``."""

    template: Callable[[np.ndarray, int], Any]
    threshold: float
    views: Callable[[bytes], list[tuple[int, np.ndarray, int]]] | None = None
    compare: Callable[[Any, Any], float] | None = None

    @classmethod
    def default(cls, *, threshold: str = "fmr_5e-4", at_least: str | None = None) -> FingerEngine:
        """``threshold``: the lane's calibrated operating point; ``at_least``: the back office's (``[backoffice]
        fingerprint_threshold``): the stricter of the two decides, the rule of the back-office path. An unknown
        name is a :class:`ValueError` naming the calibrated ones."""
        from biometrics import finger

        names = [threshold] + ([at_least] if at_least else [])
        unknown = [n for n in names if n not in finger.THRESHOLDS]
        if unknown:
            raise ValueError(f"unknown fingerprint threshold {unknown[0]!r} (calibrated: "
                             f"{', '.join(sorted(finger.THRESHOLDS))})")

        def template(image, dpi):
            return finger.FingerprintTemplate(image, dpi=dpi)

        def views(record):
            return [(view.position, view.image, view.ppi) for view in finger.read_finger_image_record(record)]

        def compare(probe, reference):
            return float(finger.FingerprintMatcher(probe).match(reference))

        return cls(template, max(float(finger.THRESHOLDS[n]) for n in names), views, compare)


@dataclass
class FingerStep:
    """1:1 against the traveller's enrolment, where there is one: ``remote`` (e.g.
    :meth:`devicelink.BackofficeClient.verify_fingers`) compares in the back office, so enrolled templates
    never reach the gate. The scanner is used only when the traveller has fingerprints enrolled. Without
    ``remote`` the enrolment status is unknown; with the back office unreachable the outcome says so
    (``unavailable``): the policy refers unless the lane is configured offline-first.

    A chip that opened DG3 to the gate's Terminal Authentication (:attr:`ChipOutcome.dg3_records`, hash-verified)
    holds the traveller's fingers: the live finger is compared with them here, on the device, with no back office
    (only the DG3 view of the same finger position: none is missing, named); the stricter of the lane's and the
    back office's thresholds decides, as on the back-office path.

    Fail closed: a chip whose DG3 (listed in its SOD) was not obtained though the gate holds a chain for its CVCA (TA
    refused, DG3 not granted, not served, not verified) leaves the fingerprint check missing with that reason; it
    is never sent to the back office, whose ``not_enrolled`` would waive it. Only a document whose CVCA the gate
    holds no chain for (:data:`NO_TERMINAL_CHAIN`) goes the back-office way, its ``dg3_error`` recorded."""

    uses_chip: ClassVar[bool] = True  # the workflow hands in the chip's outcome
    scanner: Any
    engine: FingerEngine
    remote: Callable[[str, str, list[tuple[int, bytes]]], dict] | None = None
    captures: int = 1
    position: int = 2  # right index finger (ISO/IEC 19794-2 finger position code)

    def _probes(self) -> list[tuple[Any, bytes]]:
        out = []
        for _ in range(self.captures):
            cap = self.scanner.capture()
            tmpl = self.engine.template(cap.image, getattr(cap, "dpi", 500))
            out.append((tmpl, tmpl.to_bytes() if hasattr(tmpl, "to_bytes") else bytes(tmpl)))
        return out

    def __call__(self, p: Presentation, chip: ChipOutcome | None = None) -> FingerOutcome:
        if chip is not None and (chip.dg3_records or chip.dg3_error) and chip.ta_code not in NO_TERMINAL_CHAIN:
            if not chip.dg3_records:  # the holder's fingers are in the chip and the gate could have read them
                return FingerOutcome(enrolled=True, source="chip", error=f"the chip's fingerprints (DG3, EAC) were "
                                                                           f"not obtained: {chip.dg3_error}")
            if self.scanner is None or self.engine.views is None or self.engine.compare is None:
                return FingerOutcome(enrolled=True, source="chip",
                                     error="the chip's DG3 was read but the lane has no scanner or on-device matcher")
            return self._on_device(chip)
        if self.remote is None:
            return FingerOutcome(enrolled=None, error="no fingerprint enrolment service configured")
        return self._remote(p)

    def _on_device(self, chip: ChipOutcome) -> FingerOutcome:
        """1:1 of the live finger against DG3 (EAC), on the device: fail closed on an unusable DG3 or capture."""
        try:
            views = [view for record in chip.dg3_records for view in self.engine.views(record)]
            if not views:
                return FingerOutcome(enrolled=True, source="chip", error="DG3 holds no finger image")
            # only the DG3 view of the finger the scanner asks for: comparing with every view and taking the best
            # score would raise the false match rate by their number; a DG3 without that finger is missing, named
            same = [v for v in views if v[0] == self.position]
            if not same:
                held = ", ".join(str(v[0]) for v in views)
                return FingerOutcome(enrolled=True, source="chip", error=f"DG3 holds no view of finger position "
                                     f"{self.position} (the one the scanner asks for); its positions: {held}")
            refs = [self.engine.template(same[0][1], same[0][2])]
        except Exception as e:  # noqa: BLE001 - a DG3 the chip signed but nobody can decode: referred, named
            return FingerOutcome(enrolled=True, source="chip", error=f"DG3 finger images unusable: {type(e).__name__}")
        try:
            probes = self._probes()
        except Exception as e:  # noqa: BLE001 - the scanner or extractor failed
            log.info("fingerprint capture failed: %s", type(e).__name__)
            return FingerOutcome(enrolled=True, source="chip", error=f"fingerprint capture failed: {type(e).__name__}")
        score = max(self.engine.compare(probe, ref) for probe, _ in probes for ref in refs)
        return FingerOutcome(enrolled=True, score=float(score), threshold=float(self.engine.threshold), source="chip")

    def _remote(self, p: Presentation) -> FingerOutcome:
        """Ask the back office whether fingerprints are enrolled, then send the probe for the 1:1 there.
        Only a definite answer counts: ``not_enrolled`` / ``no_templates`` (no fingerprints enrolled),
        ``no_probe`` then ``done`` with a score; anything else (``not_configured``, an unknown answer)
        leaves the check unknown, and the policy refers."""
        try:
            first = self.remote(p.document_number, p.issuing_state, [])
            answer = first.get("fingerprint_check")
            if answer in ("not_enrolled", "no_templates"):
                return FingerOutcome(enrolled=False, source="backoffice")
            if answer != "no_probe":
                return FingerOutcome(enrolled=None, error=f"back office fingerprint check answered {answer!r}")
            try:
                probes = self._probes()
            except Exception as e:  # noqa: BLE001 - the scanner or extractor failed for an enrolled traveller
                log.info("fingerprint capture failed: %s", type(e).__name__)
                return FingerOutcome(enrolled=True, error=f"fingerprint capture failed: {type(e).__name__}")
            result = self.remote(p.document_number, p.issuing_state, [(self.position, raw) for _, raw in probes])
        except BackofficeUnavailable as e:
            log.info("fingerprint check not made: back office unreachable (%s)", type(e).__name__)
            return FingerOutcome(enrolled=None, unavailable=True)
        if result.get("fingerprint_check") != "done" or result.get("score") is None or result.get("threshold") is None:
            return FingerOutcome(enrolled=True, error=f"back office gave no score ({result.get('fingerprint_check')!r})")
        try:
            score, theirs = float(result["score"]), float(result["threshold"])
        except (TypeError, ValueError):
            return FingerOutcome(enrolled=True, error="back office answered a score that is not a number")
        # the lane's own calibrated threshold decides; a back office asking for more is heeded, never for less
        return FingerOutcome(enrolled=True, score=score, threshold=max(float(self.engine.threshold), theirs),
                             source="backoffice")
