"""Cross-validated calibration: fit on one identity-disjoint half of lfw-dev, report on the other.

The identities of lfw-dev's ``pairs.txt`` images are split in two halves (seeded, balanced by genuine
pairs; :func:`split_identities`). Genuine pairs stay in their identity's half; an impostor pair is
used only when both identities are in the same half (pairs across halves are used by neither).

:func:`fit` sees one half only, through :class:`HalfView` (any read of another row raises
:class:`HalfLeakError`), and fits, in this order:

1. the fusion statistics: impostor mean and deviation of the dlib and SFace cosines (chip protocol,
   one frame);
2. the fusion weight: the grid value with the lowest FNMR at FMR 5e-4 (chip protocol, one frame;
   ties: lower mean FNMR at the three targets, then nearer 0.6);
3. the thresholds: per target FMR, the smallest fused score with FMR <= target among the half's
   impostor comparisons, the larger of the plain and chip protocols' (as before, now per half);
4. the frame rule (``biometrics.face._fusion``): each rule fed the simulated live frames (``_frames``)
   at the threshold of step 3: the lowest FNMR whose FMR stays <= the target (ties: the simpler);
5. the near-threshold band of :class:`~biometrics.face.FrameFusion`: the smallest band with that rule
   reaching the lowest FNMR at FMR <= target.

:func:`report` scores the other half with those parameters: FNMR and FMR *at the fitted threshold*
(the cross-validated figures, with Clopper-Pearson 95 % intervals) and, for comparison with single-set
figures, the half's own DET figures (FNMR at FMR with thresholds taken on that half: those use the
fitted fusion but not the fitted thresholds). ``at_fitted_threshold`` counts a pair whose reference or
probe yields no template as a non-match (a rejection, as the gate refers it); ``acquired`` splits it as
ISO/IEC 19795-1 does: the pairs without a template (``no_template_genuine_pairs``: the reference's failure
to enrol or the probe's failure to acquire), FNMR over the comparisons of templates made, and the FRR with
those failures counted in (equal to ``at_fitted_threshold``'s FNMR).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ._eval import FMR_TARGETS, det_figures, threshold_at_fmr

__all__ = ["HalfLeakError", "HalfView", "split_identities", "fit", "report", "cross_validate", "WEIGHTS",
           "BANDS", "clopper_pearson"]

WEIGHTS = (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
BANDS = (0.0, 0.005, 0.01, 0.015, 0.02, 0.03)
PRIOR_WEIGHT = 0.6
#: simpler first (the tie-break)
RULE_ORDER = ("single", "best_k_mean", "mean", "quality_mean", "template_mean", "max")
SEED = 2301


class HalfLeakError(RuntimeError):
    """Fitting asked for a template outside the half it fits on."""


def split_identities(identities: Iterable[str], genuine_identities: Iterable[str], *,
                     seed: int = SEED) -> tuple[frozenset[str], frozenset[str]]:
    """Two disjoint sets of identities covering ``identities``: in a seeded order, each identity goes
    to the half with fewer genuine pairs so far (then fewer identities), so the halves hold about
    as many genuine comparisons each."""
    names = sorted(set(identities))
    count = {n: 0 for n in names}
    for g in genuine_identities:
        count[g] = count.get(g, 0) + 1
    order = np.random.default_rng(seed).permutation(len(names))
    order = sorted(order, key=lambda k: -count[names[k]])  # stable: the seeded order within equal counts
    halves: tuple[list[str], list[str]] = ([], [])
    load = [0, 0]
    for k in order:
        side = 0 if (load[0], len(halves[0])) <= (load[1], len(halves[1])) else 1
        halves[side].append(names[k])
        load[side] += count[names[k]]
    return frozenset(halves[0]), frozenset(halves[1])


@dataclass
class HalfView:
    """The template sets (``_frames``) seen through one set of identities: its rows, its pairs, and
    template reads that refuse any other row (``on_read`` is called with every row read: tests)."""

    sets: dict
    identities: frozenset[str]
    on_read: object = None

    def __post_init__(self) -> None:
        ids = np.asarray(self.sets["identities"], dtype=object)
        mine = np.array([i in self.identities for i in ids])
        self._mine = mine
        self.rows = np.intersect1d(np.flatnonzero(mine), self.sets["used"])
        g, imp = self.sets["genuine"], self.sets["impostor"]
        self.genuine = g[mine[g[:, 0]] & mine[g[:, 1]]]
        self.impostor = imp[mine[imp[:, 0]] & mine[imp[:, 1]]]

    def read(self, kind: str, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows)
        if rows.size and not self._mine[rows].all():
            raise HalfLeakError(f"read of {kind} rows outside this half: {rows[~self._mine[rows]][:5].tolist()}")
        if self.on_read is not None:
            self.on_read(kind, rows)
        return self.sets[kind][rows]


def clopper_pearson(k: int, n: int, level: float = 0.95) -> list[float]:
    """Exact two-sided interval of a proportion k/n."""
    from scipy.stats import beta

    if n == 0:
        return [0.0, 1.0]
    a = (1 - level) / 2
    lo = float(beta.ppf(a, k, n - k + 1)) if k > 0 else 0.0
    hi = float(beta.ppf(1 - a, k + 1, n - k)) if k < n else 1.0
    return [float(f"{lo:.6g}"), float(f"{hi:.6g}")]


# ---------- scoring one half ----------

@dataclass
class _Scores:
    """Per-frame cosines of a half's pairs for one protocol: (frames, pairs) arrays, NaN = unusable."""

    dlib: dict  # "genuine"/"impostor" -> (F, n)
    sface: dict
    quality: dict  # (F, n) probe frame quality
    tmean: dict  # "genuine"/"impostor" -> (F, n, 2): dlib and SFace cosines of the mean of frames[:f+1]
    fta: float


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _half_scores(view: HalfView, protocol: str, frames: int) -> _Scores:
    rows = view.rows
    local = np.full(len(view.sets["identities"]), -1)
    local[rows] = np.arange(len(rows))
    ref = view.read("chip" if protocol == "chip" else "plain", rows).astype(np.float64)
    live = view.read("live", rows)[:, :frames].astype(np.float64)
    qual = view.read("quality", rows)[:, :frames].astype(np.float64)
    rd, rs = ref[:, :128], ref[:, 128:256]
    pd, ps = live[:, :, :128], live[:, :, 256:384]
    d = np.einsum("ik,jfk->fij", rd, pd)  # (F, refs, probes)
    s = np.einsum("ik,jfk->fij", rs, ps)
    q = qual[:, :, 0] * np.sqrt(np.maximum(qual[:, :, 1], 0))  # detector confidence x sqrt(sharpness)
    # template averaging over frames[:f+1] (NaN frames left out)
    md = np.cumsum(np.nan_to_num(pd), axis=1)
    ms = np.cumsum(np.nan_to_num(ps), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        td = np.einsum("ik,jfk->fij", rd, _unit(md))
        ts = np.einsum("ik,jfk->fij", rs, _unit(ms))
    out = _Scores({}, {}, {}, {}, 0.0)
    for kind, pairs in (("genuine", view.genuine), ("impostor", view.impostor)):
        a, b = local[pairs[:, 0]], local[pairs[:, 1]]
        out.dlib[kind], out.sface[kind] = d[:, a, b], s[:, a, b]
        out.quality[kind] = q[b].T
        out.tmean[kind] = np.stack([td[:, a, b], ts[:, a, b]], axis=-1)
    used = np.union1d(view.genuine.ravel(), view.impostor.ravel())
    fail_ref = np.isnan(view.read("chip" if protocol == "chip" else "plain", used)[:, 0])
    fail_probe = np.isnan(view.read("plain", used)[:, 0])
    out.fta = float((fail_ref.sum() + fail_probe.sum()) / (2 * len(used))) if protocol == "chip" \
        else float(fail_probe.mean())
    return out


def _fused(sc: _Scores, kind: str, weight: float, stats: dict) -> np.ndarray:
    from .._match import fuse_with

    return fuse_with(sc.dlib[kind], sc.sface[kind], weight, stats)


def _rule_scores(sc: _Scores, kind: str, rule: str, weight: float, stats: dict, frames: int) -> np.ndarray:
    """The final score of each pair under a frame rule over its first ``frames`` frames (-inf: none usable)."""

    with warnings.catch_warnings():  # all frames unusable: NaN, then -inf
        warnings.simplefilter("ignore", RuntimeWarning)
        return _rule_scores_of(sc, kind, rule, weight, stats, frames)


def _rule_scores_of(sc: _Scores, kind: str, rule: str, weight: float, stats: dict, frames: int) -> np.ndarray:
    from .._match import fuse_with

    f = _fused(sc, kind, weight, stats)[:frames]
    if rule == "single":
        f = f[:1]
    if rule == "template_mean":
        t = sc.tmean[kind][frames - 1]
        out = fuse_with(t[:, 0], t[:, 1], weight, stats)
    elif rule == "best_k_mean":
        from .._fusion import BEST_K

        srt = -np.sort(-np.where(np.isnan(f), -np.inf, f), axis=0)[:BEST_K]
        with np.errstate(invalid="ignore"):
            out = np.nanmean(np.where(np.isinf(srt), np.nan, srt), axis=0)
    elif rule == "max":
        out = np.nanmax(np.where(np.isnan(f), -np.inf, f), axis=0)
    elif rule == "quality_mean":
        w = np.where(np.isnan(f), 0.0, np.maximum(sc.quality[kind][:frames], 1e-6))
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.nansum(np.nan_to_num(f) * w, axis=0) / w.sum(axis=0)
    else:  # mean, single
        with np.errstate(invalid="ignore"):
            out = np.nanmean(f, axis=0)
    return np.where(np.isfinite(out), out, -np.inf)


def _adaptive(sc: _Scores, kind: str, rule: str, weight: float, stats: dict, frames: int, threshold: float,
              band: float) -> tuple[np.ndarray, np.ndarray]:
    """FrameFusion replayed: (final score, frames taken) per pair."""
    final = _rule_scores(sc, kind, rule, weight, stats, 1)
    taken = np.ones(final.shape, dtype=np.int64)
    open_ = np.abs(final - threshold) < band
    for f in range(2, frames + 1):
        if not open_.any():
            break
        now = _rule_scores(sc, kind, rule, weight, stats, f)
        final = np.where(open_, now, final)
        taken = np.where(open_, f, taken)
        open_ = open_ & (np.abs(now - threshold) < band)
    return final, taken


def _fnmr_fmr(gen: np.ndarray, imp: np.ndarray, t: float) -> dict:
    """FNMR and FMR at ``t`` with their intervals; a rate over no comparison is undefined (NaN), not 0."""
    fn, fm = int(np.sum(gen < t)), int(np.sum(imp >= t))
    return {"fnmr": fn / len(gen) if len(gen) else float("nan"), "fnmr_ci95": clopper_pearson(fn, len(gen)),
            "non_matches": fn, "fmr": fm / len(imp) if len(imp) else float("nan"),
            "fmr_ci95": clopper_pearson(fm, len(imp)), "false_matches": fm}


# ---------- fitting and reporting ----------

def fit(view: HalfView, *, frames: int | None = None) -> dict:
    """Fusion statistics and weight, thresholds, frame rule and band fitted on one half only."""
    frames = frames or int(view.sets["frames"])
    sc = {p: _half_scores(view, p, frames) for p in ("plain", "chip")}
    d, s = sc["chip"].dlib["impostor"][0], sc["chip"].sface["impostor"][0]
    ok = np.isfinite(d) & np.isfinite(s)
    stats = {"dlib": [float(d[ok].mean()), float(d[ok].std())], "sface": [float(s[ok].mean()), float(s[ok].std())]}

    def single(p: str, w: float, kind: str) -> np.ndarray:
        return _rule_scores(sc[p], kind, "single", w, stats, 1)

    def merit(w: float) -> tuple:
        f = det_figures(single("chip", w, "genuine"), single("chip", w, "impostor"))["fnmr_at_fmr"]
        return (f["0.0005"], float(np.mean(list(f.values()))), abs(w - PRIOR_WEIGHT))

    weight = min(WEIGHTS, key=merit)
    thresholds, dlib_thresholds = {}, {}
    for _key, (name, target) in FMR_TARGETS.items():
        thresholds[name] = max(threshold_at_fmr(single(p, weight, "impostor"), target) for p in sc)
        dlib_thresholds[name] = max(threshold_at_fmr(_nan_inf(sc[p].dlib["impostor"][0]), target) for p in sc)
    t = thresholds["fmr_5e-4"]
    chip = sc["chip"]
    rules = {}
    for rule in RULE_ORDER:
        g, i = (_rule_scores(chip, k, rule, weight, stats, frames) for k in ("genuine", "impostor"))
        rules[rule] = _fnmr_fmr(g, i, t)
    allowed = [r for r in RULE_ORDER if r != "single" and rules[r]["fmr"] <= 5e-4]
    rule = min(allowed, key=lambda r: (rules[r]["fnmr"], rules[r]["fmr"], RULE_ORDER.index(r))) if allowed \
        else "best_k_mean"
    bands = {}
    for band in BANDS:
        g, _ = _adaptive(chip, "genuine", rule, weight, stats, frames, t, band)
        i, _ = _adaptive(chip, "impostor", rule, weight, stats, frames, t, band)
        bands[band] = _fnmr_fmr(g, i, t)
    ok_bands = [b for b in BANDS if bands[b]["fmr"] <= 5e-4] or [BANDS[0]]
    best = min(bands[b]["fnmr"] for b in ok_bands)
    band = min(b for b in ok_bands if bands[b]["fnmr"] == best)
    return {"weight": weight, "impostor_stats": stats, "thresholds": thresholds, "thresholds_dlib": dlib_thresholds,
            "frames": {"rule": rule, "band": band, "max_frames": frames},
            "fit_figures": {"rules_at_fmr_5e-4": {r: _short(v) for r, v in rules.items()},
                            "bands_at_fmr_5e-4": {str(b): _short(v) for b, v in bands.items()}},
            "genuine": len(view.genuine), "impostor": len(view.impostor), "identities": len(view.identities)}


def _nan_inf(x: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(x), x, -np.inf)


def _short(v: dict) -> dict:
    return {"fnmr": round(v["fnmr"], 6), "fmr": float(f"{v['fmr']:.6g}")}


def report(view: HalfView, params: dict, *, frames: int | None = None) -> dict:
    """The figures of one half under parameters fitted elsewhere (see the module text)."""
    frames = frames or int(view.sets["frames"])
    w, stats, th = params["weight"], params["impostor_stats"], params["thresholds"]
    rule, band = params["frames"]["rule"], params["frames"]["band"]
    out = {"genuine": len(view.genuine), "impostor": len(view.impostor), "identities": len(view.identities)}
    for protocol in ("plain", "chip"):
        sc = _half_scores(view, protocol, frames)
        g1, i1 = (_rule_scores(sc, k, "single", w, stats, 1) for k in ("genuine", "impostor"))
        own = det_figures(g1, i1)
        entry = {"fta": round(sc.fta, 6), "eer": own["eer"],
                 "at_fitted_threshold": {key: _fnmr_fmr(g1, i1, th[name]) for key, (name, _) in FMR_TARGETS.items()},
                 "own_det_fnmr_at_fmr": own["fnmr_at_fmr"]}
        # ISO/IEC 19795-1 counts a comparison whose reference gave no template (a failure to enrol) or whose
        # probe gave none (a failure to acquire) apart from the non-matches: FNMR over the comparisons of
        # templates made, FRR with those failures counted in
        ga, ia = np.isfinite(g1), np.isfinite(i1)
        entry["acquired"] = {
            "no_template_genuine_pairs": int((~ga).sum()), "no_template_impostor_pairs": int((~ia).sum()),
            "fnmr_at_fitted_threshold": {key: _fnmr_fmr(g1[ga], i1[ia], th[name])
                                         for key, (name, _) in FMR_TARGETS.items()},
            "frr_at_fitted_threshold": {key: round(float(np.mean(g1 < th[name])), 6) if len(g1) else float("nan")
                                        for key, (name, _) in FMR_TARGETS.items()}}
        gd, idl = (_nan_inf(sc.dlib[k][0]) for k in ("genuine", "impostor"))
        entry["dlib_only"] = {"eer": det_figures(gd, idl)["eer"], "at_fitted_threshold": {
            key: _short(_fnmr_fmr(gd, idl, params["thresholds_dlib"][name])) for key, (name, _) in FMR_TARGETS.items()}}
        multi = {}
        for r in RULE_ORDER[1:]:
            g, i = (_rule_scores(sc, k, r, w, stats, frames) for k in ("genuine", "impostor"))
            multi[r] = {key: _short(_fnmr_fmr(g, i, th[name])) for key, (name, _) in FMR_TARGETS.items()}
        entry["frame_rules_at_fitted_threshold"] = multi
        t = th["fmr_5e-4"]
        g, gn = _adaptive(sc, "genuine", rule, w, stats, frames, t, band)
        i, inn = _adaptive(sc, "impostor", rule, w, stats, frames, t, band)
        entry["frame_fusion_at_fmr_5e-4"] = {**_fnmr_fmr(g, i, t), "rule": rule, "band": band,
                                             "mean_frames_genuine": round(float(gn.mean()), 3),
                                             "mean_frames_impostor": round(float(inn.mean()), 4)}
        out[protocol] = entry
    return out


def cross_validate(sets: dict, *, seed: int = SEED, on_read=None) -> dict:  # noqa: ANN001
    """Fit on each half, report on the other; ``on_read(phase, kind, rows)`` sees every template read."""
    ids = np.asarray(sets["identities"], dtype=object)
    used = np.asarray(sets["used"])
    halves = split_identities(ids[used], ids[sets["genuine"][:, 0]], seed=seed)
    out = {"seed": seed, "halves": {}}
    for name, fit_ids, test_ids in (("A", halves[0], halves[1]), ("B", halves[1], halves[0])):
        hook = (lambda phase: (lambda kind, rows: on_read(phase, kind, rows)))  # noqa: E731
        fv = HalfView(sets, fit_ids, on_read=hook(f"fit {name}") if on_read else None)
        tv = HalfView(sets, test_ids, on_read=hook(f"report {name}") if on_read else None)
        params = fit(fv)
        out["halves"][name] = {"fitted_on": f"half {name}", "reported_on": f"half {'B' if name == 'A' else 'A'}",
                               "params": params, "report": report(tv, params), "_fit_ids": fit_ids}
    return out
