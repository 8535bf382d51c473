"""Quality in the loop (issue #21 item 2): the FVC protocol with the kiosk's quality check and
re-capture replayed on each finger's impressions; EER on the acquired impressions beside the
failure-to-acquire rate."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from . import error_rates, evaluate_fvc, fvc_files, fvc_pairs, load_image

# The kiosk asks for a finger again while the scanner's image fails its quality check
# (``assess_quality(...).passed``: score >= PASS_SCORE and no reason), up to the enrolment policy's
# attempts, then gives up on that finger (a failure to acquire). Replaying a set's impressions of
# each finger in order as successive captures gives the same decisions on real images.


def acquisitions(passed: Sequence[bool], attempts: int) -> tuple[list[int], int]:
    """Replay one finger's captures in order as an enrolment does: each acquisition takes captures
    until one passes, at most ``attempts``; all ``attempts`` failing is a failure to acquire.
    Returns (indices of the acquired captures, failed acquisitions). Captures left over at the end
    that neither passed nor used up ``attempts`` are an unfinished acquisition: not counted."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    acquired: list[int] = []
    failed = 0
    tries = 0
    for k, ok in enumerate(passed):
        tries += 1
        if ok:
            acquired.append(k)
            tries = 0
        elif tries == attempts:
            failed += 1
            tries = 0
    return acquired, failed


def evaluate_fvc_recapture(
    directory: Path,
    *,
    attempts: int,
    pass_score: float | None = None,
    dpi: int = 500,
    limit: int | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
    extract: Callable | None = None,
    match: Callable | None = None,
    load: Callable[[Path], np.ndarray] = load_image,
) -> dict:
    """The FVC protocol with the kiosk's quality check in the loop. Each finger's impressions, in
    order, are the captures of successive acquisitions (:func:`acquisitions`); an impression passes
    when ``assess_quality`` scores it at least ``pass_score`` (default: the kiosk's ``PASS_SCORE``)
    with no reason. Reports the failure-to-acquire rate (failed acquisitions / acquisitions
    finished), the share of captures that asked for a re-capture, and the FVC error rates on the
    acquired impressions only (genuine: every pair of one finger's acquired impressions; impostor: the
    first acquired impression of every two fingers), beside the same rates on every impression."""
    from .._quality import PASS_SCORE
    from .._quality import assess as assess_quality

    threshold = PASS_SCORE if pass_score is None else float(pass_score)
    images: dict[Path, np.ndarray] = {}  # each image read once, for the templates and the quality check

    def read(path: Path) -> np.ndarray:
        if path not in images:
            images[path] = load(path)
        return images[path]

    templates: dict = {}
    r = evaluate_fvc(directory, dpi=dpi, limit=limit, progress=progress, extract=extract, match=match, load=read,
                     templates=templates)
    fingers = fvc_files(Path(directory), limit)
    genuine_all, impostor_all = fvc_pairs(fingers)
    score_of = {pair: s for pair, s in zip(genuine_all + impostor_all,
                                           np.concatenate([r["_genuine_scores"], r["_impostor_scores"]]), strict=True)}
    kept: dict[int, dict[int, Path]] = {}
    failed = finished = captures = rejected = 0
    reasons: dict[str, int] = {}
    extra: dict[tuple, float] = {}
    for f, imps in fingers.items():
        order = sorted(imps)
        ok = []
        for m in order:
            try:
                q = assess_quality(read(imps[m]), dpi=dpi)
                good = q.score >= threshold and not q.reasons
                for reason in q.reasons:
                    reasons[reason] = reasons.get(reason, 0) + 1
            except ValueError:
                good = False
            ok.append(good)
        acquired, fail = acquisitions(ok, attempts)
        captures += len(ok)
        rejected += len(ok) - sum(ok)
        failed += fail
        finished += fail + len(acquired)
        if acquired:
            kept[f] = {order[k]: imps[order[k]] for k in acquired}
    genuine, impostor = fvc_pairs(kept) if kept else ([], [])
    # first acquired impressions that are not the set's first impressions: their impostor pairs, from
    # the templates already extracted
    if any(p not in score_of for p in impostor):
        from .._matcher import FingerprintMatcher

        mt = match or (lambda a, b: FingerprintMatcher(a).match(b))
        for a, b in impostor:
            if (a, b) not in score_of:
                ta, tb = templates[a], templates[b]
                extra[(a, b)] = 0.0 if ta is None or tb is None else float(mt(ta, tb))
    gen = np.array([score_of[p] for p in genuine], float)
    imp = np.array([score_of.get(p, extra.get(p, 0.0)) for p in impostor], float)
    acquired_rates = error_rates(gen, imp) if len(gen) and len(imp) else None
    all_rates = {k: r[k] for k in ("eer", "fmr100", "fmr1000", "zero_fmr")}
    return {
        "dataset": r["dataset"],
        "pass_score": threshold,
        "attempts": attempts,
        "captures": captures,
        "recapture_rate": round(rejected / captures, 5) if captures else None,
        "acquisitions": finished,
        "failed_acquisitions": failed,
        "fta": round(failed / finished, 5) if finished else None,
        "fingers_enrolled": len(kept),
        "fingers": len(fingers),
        "quality_reasons": dict(sorted(reasons.items())),
        "acquired": None if acquired_rates is None else {
            **{k: round(v, 5) for k, v in acquired_rates.items()}, "genuine": len(gen), "impostor": len(imp)},
        "all": {**all_rates, "genuine": r["genuine"], "impostor": r["impostor"]},
        "fte": r["fte"],
    }
