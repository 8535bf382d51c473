"""1:1 matching, 1:N search and multi-finger fusion.

Scores are MCC LSA-R global scores in [0, 1]. THRESHOLDS gives, for each target false-match
rate, the score at or above which two templates are declared the same finger. Calibration
(``bench/finger.py --calibrate``): every cross-finger pair of all impressions in the five FVC
development sets (fvc2000 DB1-DB3, fvc2002 DB1-DB2: 5 x 2,880 impostor comparisons), threshold =
the (1 - FMR) quantile of the impostor scores, rounded up, with LEADER minutiae (the default
extractor since issue #21; the STFT extractor's quantiles were 0.0219, 0.0285, 0.0314). The exact
(Clopper-Pearson) 95 % intervals of each threshold's FMR are in biometrics/finger/README.md; the
impostor pairs share impressions, so the true uncertainty is wider still.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _mcc
from ._template import FingerprintTemplate

THRESHOLDS: dict[str, float] = {
    "fmr_1e-2": 0.022,  # impostor quantile 0.0216; 124 of 14,400 at or above: FMR 0.86 % (95 % CI 0.72-1.03 %)
    "fmr_1e-3": 0.030,  # 0.0295
    "fmr_5e-4": 0.032,  # 0.0315; 5 of 14,400: FMR 3.5e-4 (95 % CI 1.1e-4 - 8.1e-4); highest impostor 0.0457
}


#: Exponent of the minutia-reliability weighting in the match (0: every minutia counts the same).
#: Measured by leave one database out (issue #21 item 2, biometrics/finger/README.md): weighting by the
#: minutia quality (LEADER's confidence x its block's coherence and contrast) at 0.5 or 1 is chosen
#: in no fold and raises the development macro EER, so the default leaves it off.
RELIABILITY = 0.0


def reliability_weights(template: FingerprintTemplate, exponent: float) -> np.ndarray | None:
    """Per-minutia weights ``r ** exponent`` divided by their mean (None when the exponent is 0): a
    template's overall quality does not move its score scale, only which of its minutiae count more."""
    if exponent == 0 or len(template) == 0:
        return None
    w = template.reliability() ** float(exponent)
    return w / w.mean()


class FingerprintMatcher:
    """Compares one probe with any number of candidates (the probe's cylinders are built once).
    ``reliability``: exponent of the minutia-reliability weighting (:data:`RELIABILITY`)."""

    __slots__ = ("probe", "exponent", "_wp")

    def __init__(self, probe: FingerprintTemplate, *, reliability: float = RELIABILITY) -> None:
        if not 0 <= reliability <= 4:
            raise ValueError(f"reliability exponent must be within 0-4, not {reliability}")
        self.probe = probe
        self.exponent = float(reliability)
        self._wp = reliability_weights(probe, self.exponent)
        probe.cylinders()

    def match(self, candidate: FingerprintTemplate) -> float:
        """Similarity score in [0, 1]; compare with THRESHOLDS (calibrated with :data:`RELIABILITY`)."""
        if self._wp is None:
            return _mcc.score(self.probe.cylinders(), candidate.cylinders())
        return _mcc.score(self.probe.cylinders(), candidate.cylinders(), self._wp, reliability_weights(candidate, self.exponent))


# ----------------------------------------------------------------------------------------- 1:N
_POOL = 4  # spatial pooling of cylinders for the search index (16x16x6 -> 4x4x6 = 96 values)


def _pooled(c: _mcc.Cylinders) -> np.ndarray:
    if c.n == 0:
        return np.zeros((0, (_mcc.NS // _POOL) ** 2 * _mcc.ND), np.float32)
    v = c.values.reshape(c.n, _mcc.NS // _POOL, _POOL, _mcc.NS // _POOL, _POOL, _mcc.ND).mean((2, 4))
    v = v.reshape(c.n, -1)
    v = v - v.mean(1, keepdims=True) * (c.valid.sum(1, keepdims=True) > 0)
    nrm = np.linalg.norm(v, axis=1, keepdims=True)
    ok = (nrm[:, 0] > 1e-6) & (c.valid.sum(1) > 0)
    return (v / np.maximum(nrm, 1e-6) * ok[:, None]).astype(np.float32)


class FingerprintIndex:
    """Pre-computed gallery for 1:N search: pooled MCC cylinders (96 values each) of every
    template stacked in one matrix, so a query is one matrix product, a per-template max, and an
    exact LSA-R re-ranking of the best candidates. Full cylinders are not kept for the gallery
    (about 250 kB per template): the few re-ranked candidates rebuild theirs."""

    def __init__(self, templates: Sequence[FingerprintTemplate]) -> None:
        self.templates = list(templates)
        blocks = []
        for t in self.templates:
            cached = t._cyl is not None
            blocks.append(_pooled(t.cylinders()))
            if not cached:
                t._cyl = None
        counts = np.array([len(b) for b in blocks], int)
        self._owner = np.repeat(np.arange(len(blocks)), counts)
        self._matrix = np.concatenate(blocks) if blocks else np.zeros((0, 1), np.float32)
        self._start = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(counts) else np.zeros(0, int)
        self._counts = counts

    def __len__(self) -> int:
        return len(self.templates)

    def coarse(self, probe: FingerprintTemplate) -> np.ndarray:
        """Fast similarity of the probe to every template (not calibrated; for ranking)."""
        n = len(self.templates)
        q = _pooled(probe.cylinders())
        if n == 0 or len(q) == 0 or len(self._matrix) == 0:
            return np.zeros(n, np.float32)
        sim = q @ self._matrix.T  # (nq, total cylinders)
        nonempty = self._counts > 0
        best = np.full((len(q), n), -1.0, np.float32)
        best[:, nonempty] = np.maximum.reduceat(sim, self._start[nonempty], axis=1)
        k = min(len(q), 8)
        top = -np.partition(-best, k - 1, axis=0)[:k]
        return top.mean(0)


def search(
    probe: FingerprintTemplate,
    gallery: FingerprintIndex | Sequence[FingerprintTemplate],
    *,
    top: int = 10,
    rerank: int = 25,
) -> list[tuple[int, float]]:
    """1:N search: the ``top`` (gallery index, score) pairs, best first. Pass a FingerprintIndex
    built once for repeated searches (building one indexes every template's cylinders)."""
    index = gallery if isinstance(gallery, FingerprintIndex) else FingerprintIndex(gallery)
    n = len(index)
    if n == 0 or top <= 0:
        return []
    coarse = index.coarse(probe)
    k = min(n, max(top, rerank))
    cand = np.argpartition(-coarse, k - 1)[:k] if k < n else np.arange(n)
    m = FingerprintMatcher(probe)
    scored = []
    for i in cand:
        t = index.templates[int(i)]
        cached = t._cyl is not None
        scored.append((int(i), m.match(t)))
        if not cached:
            t._cyl = None
    scored.sort(key=lambda t: -t[1])
    return scored[:top]


def fuse_scores(scores: Sequence[float | None]) -> float:
    """Multi-finger fusion by the sum (mean) rule over the fingers compared; ``None`` marks a
    finger that could not be compared and is left out. The mean of independent impostor scores
    varies less than one finger's score, so a THRESHOLDS value applied to the fused score keeps
    at most its single-finger false-match rate while genuine fingers reinforce each other."""
    vals = [float(s) for s in scores if s is not None]
    if not vals:
        return 0.0
    return float(np.mean(np.clip(np.array(vals), 0.0, 1.0)))
