"""Does a second face model help? dlib ResNet vs FaceNet (ONNX) vs SFace vs score-level fusion, chip protocol.

    .venv/bin/python -m bench.face_fusion [--cache /tmp/facecache/cache.pkl] [--data ../shared/data]

Chip protocol on lfw-dev ``pairs.txt`` (600 genuine pairs; impostors = its 300 listed different pairs
plus every cross-identity pair among its images): reference = the image stored as a DG2 (JPEG 2000
480x600 <= 20 KB) and decoded, probe = the plain photo; a failure to acquire on either side is a
non-match (score -inf). FaceNet uses the same MTCNN detections as dlib. Fusion weights are tuned by
2-fold cross-validation over identities (tune on one half, test on the other, then swap) and also,
stated as such, on all data. The cache (built by the lead's face-cache script: detections, dlib
descriptors and DG2 bytes per image and role) is used when present; otherwise it is rebuilt from --data
(the same steps; ~20 min on one core). FaceNet's ONNX must be built first (python -m models.build_facenet_onnx).
It also measures cohort score normalisation (adaptive S-norm of FaceNet's score against a cohort of other
identities' templates, then fused with dlib), cross-validated the same way: research only, since a cohort
of real people's templates cannot ship with the project.
"""

from __future__ import annotations

import argparse
import os
import pickle
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from bench._util import emit, peak_rss_mb, summary  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TARGETS = ("0.01", "0.001", "0.0005")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def _build_cache(root: Path) -> dict:
    """Detections, dlib descriptors (plain and mirrored chip) and DG2 bytes, as the lead's cache holds them."""
    from biometrics.face._align import face_chip
    from biometrics.face._detect import MIN_INTER_EYE_DISTANCE, FaceError, detect_faces, load_image
    from biometrics.face._template import _descriptors
    from biometrics.face.evaluation._eval import (
        Workspace,
        _central,
        _dg2_portrait,
        read_dataset,
        read_lfw_pairs,
    )

    data = read_dataset(root / "labels.csv", root)
    pairs = read_lfw_pairs(root / "pairs.txt", data)
    used = sorted({int(i) for i in np.unique(np.concatenate([pairs.genuine.ravel(), pairs.impostor.ravel()]))})
    work = Workspace()
    out = {"files": [data.files[k] for k in used], "ids": [data.identities[k] for k in used], "index": used,
           "genuine": pairs.genuine, "impostor": pairs.impostor, "nfiles": len(data.files)}
    for role in ("plain", "chip"):
        dets, noflip, mirror = [], [], []
        for k in used:
            det, v = None, np.full((2, 128), np.nan, np.float32)
            try:
                img = load_image(root / data.files[k])
                img = _dg2_portrait(work, data.files[k], img) if role == "chip" else img
                face = None if img is None else _central(detect_faces(img), img.shape)
                if face is not None and face.inter_eye_distance >= MIN_INTER_EYE_DISTANCE:
                    det, c = face, face_chip(img, face)
                    v = _descriptors([np.ascontiguousarray(c), np.ascontiguousarray(c[:, ::-1])])
            except FaceError:
                det = None
            dets.append(det)
            noflip.append(v[0])
            mirror.append(v[1])
        out[role] = {"dets": dets, "noflip": np.asarray(noflip), "mirror": np.asarray(mirror)}
    out["dg2"] = work.dg2
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _detected(cache: dict, root: Path, role: str):
    """(row, RGB image, detection) of each cached image of ``role`` with a detection: the decoded DG2 for
    "chip", the photo for "plain"."""
    from biometrics.face import decode_reference_dg2_image, load_image

    for row, det in enumerate(cache[role]["dets"]):
        if det is None:
            continue
        file = cache["files"][row]
        img = (decode_reference_dg2_image(cache["dg2"][file]) if role == "chip"
               else load_image(root / "faces" / "lfw-dev" / file))
        yield row, img, det


def _facenet(cache: dict, root: Path, **crop) -> tuple[dict, dict]:
    """FaceNet embeddings per role: 'noflip' and 'flip' (mirror-averaged), NaN rows where detection failed.
    Timed per embedding on one core: crop + standardisation + one inference (batch 1)."""
    from biometrics.face._facenet import _load, facenet_input

    rss0, t0 = _rss_mb(), time.perf_counter()
    session = _load(None)
    load = {"model_load_ms": round(1000 * (time.perf_counter() - t0), 1), "model_rss_mb": round(_rss_mb() - rss0, 1)}
    name = session.get_inputs()[0].name
    out, times = {}, []
    for role in ("plain", "chip"):
        n = len(cache["index"])
        emb = {k: np.full((n, 512), np.nan, np.float32) for k in ("noflip", "flip")}
        for row, img, det in _detected(cache, root, role):
            t = time.perf_counter()
            x = facenet_input(img, det, **crop)[None]
            e0 = session.run(None, {name: x})[0][0]
            times.append(1000 * (time.perf_counter() - t))
            e1 = session.run(None, {name: np.ascontiguousarray(x[:, :, ::-1])})[0][0]
            emb["noflip"][row] = e0
            emb["flip"][row] = (e0 + e1) / np.linalg.norm(e0 + e1)
        out[role] = emb
    load["ms_per_embedding_one_core"] = summary(times)
    return out, load


def _sface(cache: dict, root: Path) -> tuple[dict, dict]:
    """SFace embeddings per role, flip-averaged as templates make them (``_sface``), on the cached
    detections; NaN rows where detection failed. Timed per embedding (both mirror images)."""
    from biometrics.face._sface import sface_embeddings

    out, times = {}, []
    for role in ("plain", "chip"):
        emb = np.full((len(cache["index"]), 128), np.nan, np.float32)
        for row, img, det in _detected(cache, root, role):
            t = time.perf_counter()
            emb[row] = sface_embeddings([(img, det)])[0]
            times.append(1000 * (time.perf_counter() - t))
        out[role] = emb
    return out, {"ms_per_flip_averaged_embedding_one_core": summary(times)}


def _scores(ref: np.ndarray, probe: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Cosine scores of the pairs (rows of unit vectors), via the full image x image matrix (small)."""
    s = (ref.astype(np.float64) @ probe.astype(np.float64).T)[pairs[:, 0], pairs[:, 1]]
    return np.where(np.isnan(s), -np.inf, s)


def _fnmr(g: np.ndarray, i: np.ndarray) -> dict:
    from biometrics.face.evaluation._eval import det_figures

    f = det_figures(g, i)
    return {"eer": round(f["eer"], 5), **{f"fnmr@{k}": round(f["fnmr_at_fmr"][k], 5) for k in TARGETS}}


def _thresholds(g: np.ndarray, i: np.ndarray) -> dict:
    from biometrics.face.evaluation._eval import det_figures

    return {k: round(v, 4) for k, v in det_figures(g, i)["thresholds"].items()}


def _fuse(a: tuple, b: tuple, w: float, norm: tuple) -> tuple:
    """z-normalised weighted sum (1 - w) z_a + w z_b; -inf (failure) stays -inf."""
    (ma, sa), (mb, sb) = norm
    with np.errstate(invalid="ignore"):
        return tuple(np.where(np.isfinite(x) & np.isfinite(y), (1 - w) * (x - ma) / sa + w * (y - mb) / sb, -np.inf)
                     for x, y in zip(a, b, strict=True))


def _znorm(imp: np.ndarray) -> tuple[float, float]:
    f = imp[np.isfinite(imp)]
    return float(f.mean()), float(f.std())


def _tune(sys_a: tuple, sys_b: tuple, g_mask, i_mask) -> float:
    """Weight w in [0, 1] minimising FNMR at FMR 5e-4 (then 1e-3, 1e-2) on the masked pairs."""
    from biometrics.face.evaluation._eval import threshold_at_fmr

    norm = (_znorm(sys_a[1][i_mask]), _znorm(sys_b[1][i_mask]))
    best = None
    for w in np.round(np.linspace(0, 1, 21), 2):
        g, i = _fuse((sys_a[0][g_mask], sys_a[1][i_mask]), (sys_b[0][g_mask], sys_b[1][i_mask]), w, norm)
        key = tuple(float(np.mean(g < threshold_at_fmr(i, t))) for t in (5e-4, 1e-3, 1e-2))
        if best is None or key < best[0]:
            best = (key, float(w))
    return best[1]


def _cohort_stats(x: np.ndarray, cohort: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per image: mean and std of its k highest cosine scores against the cohort (NaN rows stay NaN)."""
    s = x @ cohort.T
    top = -np.sort(-s, axis=1)[:, :k]
    return top.mean(axis=1), top.std(axis=1)


def _snorm(ref: np.ndarray, probe: np.ndarray, pairs: np.ndarray, cohort: np.ndarray, k: int) -> np.ndarray:
    """Adaptive symmetric score normalisation (S-norm over the top-k cohort scores of each side)."""
    mr, sr = _cohort_stats(ref, cohort, k)
    mp, sp = _cohort_stats(probe, cohort, k)
    s = _scores(ref, probe, pairs)
    a, b = pairs[:, 0], pairs[:, 1]
    with np.errstate(invalid="ignore"):
        out = 0.5 * ((s - mr[a]) / sr[a] + (s - mp[b]) / sp[b])
    return np.where(np.isfinite(s) & np.isfinite(out), out, -np.inf)


def _cohort_experiment(dlib: tuple, fn: dict, gen, imp, folds, in_a, k: int = 200) -> list:
    """dlib's raw cosine fused with FaceNet's S-normalised score, 2-fold over identities: the cohort is the
    FaceNet chip-role embeddings of the *other* half's images (unlabelled), the weight is tuned on the
    training half (with the test half as its cohort) and applied to the test half."""
    out = []
    halves = (in_a, ~in_a)
    for n, ((g_tr, i_tr), (g_te, i_te)) in enumerate((folds, folds[::-1])):
        test_cohort, train_cohort = halves[1 - n], halves[n]

        def cohort(mask):
            c = fn["chip"]["noflip"][mask]
            return c[np.isfinite(c[:, 0])]

        def normed(gm, im, mask):
            c = cohort(mask)
            return (_snorm(fn["chip"]["noflip"], fn["plain"]["noflip"], gen[gm], c, k),
                    _snorm(fn["chip"]["noflip"], fn["plain"]["noflip"], imp[im], c, k))

        tr, te = normed(g_tr, i_tr, test_cohort), normed(g_te, i_te, train_cohort)
        a_tr, a_te = (dlib[0][g_tr], dlib[1][i_tr]), (dlib[0][g_te], dlib[1][i_te])
        ones_g, ones_i = np.ones(len(tr[0]), bool), np.ones(len(tr[1]), bool)
        w = _tune(a_tr, tr, ones_g, ones_i)
        norm = (_znorm(a_tr[1]), _znorm(tr[1]))
        out.append({"w": w, "cohort_images": int(len(cohort(train_cohort))), "top_k": k,
                    "facenet_snorm": _fnmr(*te), "fused": _fnmr(*_fuse(a_te, te, w, norm))})
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache", type=Path, default=Path("/tmp/facecache/cache.pkl"))
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--standardization", default=None, help="FaceNet input standardisation (default: the module's)")
    p.add_argument("--margin", type=float, default=None, help="FaceNet crop margin share (default: the module's)")
    p.add_argument("--embeddings", type=Path, help="FaceNet embeddings .npz: loaded if present, else computed and saved")
    p.add_argument("--seed", type=int, default=19795, help="identity split for the cross-validated fusion weight")
    args = p.parse_args(argv)
    if args.cache.is_file():
        with args.cache.open("rb") as f:
            cache, source = pickle.load(f), str(args.cache)
    else:
        cache, source = _build_cache(args.data / "faces" / "lfw-dev"), f"rebuilt from {args.data}"
    crop = {k: v for k, v in (("standardization", args.standardization), ("margin", args.margin)) if v is not None}
    if args.embeddings and args.embeddings.is_file():
        z = np.load(args.embeddings)
        fn = {r: {k: z[f"{r}_{k}"] for k in ("noflip", "flip")} for r in ("plain", "chip")}
        timing = {"note": f"embeddings loaded from {args.embeddings}; timing not measured in this run"}
    else:
        fn, timing = _facenet(cache, args.data, **crop)
        if args.embeddings:
            np.savez(args.embeddings, **{f"{r}_{k}": fn[r][k] for r in fn for k in fn[r]})

    sf, sface_timing = _sface(cache, args.data)
    rows = np.full(cache["nfiles"], -1, np.int64)
    rows[np.asarray(cache["index"])] = np.arange(len(cache["index"]))
    gen, imp = rows[cache["genuine"]], rows[cache["impostor"]]
    assert (gen >= 0).all() and (imp >= 0).all(), "the cache misses images of the pairs"
    dl = {r: {"noflip": _unit(cache[r]["noflip"]), "flip": _unit(_unit(cache[r]["noflip"]) + _unit(cache[r]["mirror"]))}
          for r in ("plain", "chip")}

    def system(ref, probe):  # chip protocol: reference = chip role of pair[0], probe = plain role of pair[1]
        return _scores(ref, probe, gen), _scores(ref, probe, imp)

    systems = {
        "dlib_flip": system(dl["chip"]["flip"], dl["plain"]["flip"]),
        "dlib_flip_ref_noflip_probe": system(dl["chip"]["flip"], dl["plain"]["noflip"]),
        "facenet": system(fn["chip"]["noflip"], fn["plain"]["noflip"]),
        "facenet_flip": system(fn["chip"]["flip"], fn["plain"]["flip"]),
        "sface_flip": system(sf["chip"], sf["plain"]),
    }
    results = {k: _fnmr(*v) for k, v in systems.items()}

    # fusion: weight tuned on one half of the identities, tested on the other (and the reverse)
    ids = np.asarray(cache["ids"], dtype=object)
    names = np.unique(ids)
    half = set(np.random.default_rng(args.seed).permutation(names)[: len(names) // 2])
    in_a = np.array([x in half for x in ids])
    folds = [(in_a[gen[:, 0]], in_a[imp[:, 0]] & in_a[imp[:, 1]]),
             (~in_a[gen[:, 0]], ~in_a[imp[:, 0]] & ~in_a[imp[:, 1]])]
    fusion = {}
    for a_name, b_name in (("dlib_flip", "facenet"), ("dlib_flip", "facenet_flip"),
                           ("dlib_flip_ref_noflip_probe", "facenet"), ("dlib_flip", "sface_flip")):
        a, b = systems[a_name], systems[b_name]
        cv = []
        for (g_tr, i_tr), (g_te, i_te) in (folds, folds[::-1]):
            w = _tune(a, b, g_tr, i_tr)
            norm = (_znorm(a[1][i_tr]), _znorm(b[1][i_tr]))
            g, i = _fuse((a[0][g_te], a[1][i_te]), (b[0][g_te], b[1][i_te]), w, norm)
            base = _fnmr(a[0][g_te], a[1][i_te])
            cv.append({"w": w, "test_pairs": [int(g_te.sum()), int(i_te.sum())], "fused": _fnmr(g, i),
                       a_name: base})
        w_all = _tune(a, b, np.ones(len(gen), bool), np.ones(len(imp), bool))
        norm = (_znorm(a[1]), _znorm(b[1]))
        fusion[f"{a_name}+{b_name}"] = {
            "cross_validated": cv,
            "equal_weight_z_sum": _fnmr(*_fuse(a, b, 0.5, norm)),
            "tuned_on_all_data": {"w": w_all, **_fnmr(*_fuse(a, b, w_all, norm)),
                                  "thresholds": _thresholds(*_fuse(a, b, w_all, norm))},
        }
    cohort = _cohort_experiment(systems["dlib_flip"], fn, gen, imp, folds, in_a)
    fta = {r: float(np.mean([d is None for d in cache[r]["dets"]])) for r in ("plain", "chip")}
    # sanity check of the conversion: LFW accuracy (best threshold) on pairs.txt's own pairs, plain photos
    listed = imp[: len(gen)]  # LFW pairs files list as many different pairs as same pairs, first
    accuracy = {}
    for label, vec in (("dlib_flip", dl["plain"]["flip"]), ("facenet", fn["plain"]["noflip"]),
                       ("facenet_flip", fn["plain"]["flip"])):
        g, i = _scores(vec, vec, gen), _scores(vec, vec, listed)
        accuracy[label] = round(max((np.sum(g >= t) + np.sum(i < t)) / (len(g) + len(i))
                                    for t in np.unique(np.concatenate([g, i]))), 4)
    znorm = {k: [round(x, 5) for x in _znorm(v[1])] for k, v in systems.items()}
    emit("face_fusion", {
        "source": source, "protocol": "chip (reference = DG2 of pair[0], probe = plain photo of pair[1])",
        "pairs": {"genuine": len(gen), "impostor": len(imp)}, "fta": fta,
        "facenet_crop": crop or "module defaults", "lfw_pairs_accuracy_plain": accuracy,
        "impostor_mean_std": znorm, "systems": results, "fusion": fusion,
        "cohort_snorm": {"cross_validated": cohort, "note": "research only, not shipped: a cohort is a set of "
                         "face templates of real people, and none may be published with the project"},
        "facenet_timing": timing, "sface_timing": sface_timing, "fusion_weight": "w = FaceNet's share of (1 - w) z_dlib + w z_facenet, "
        "z = (score - impostor mean) / impostor std", "peak_rss_before_emit_mb": peak_rss_mb(),
    })


if __name__ == "__main__":
    main()
