"""Technology evaluation of 1:1 face verification in ISO/IEC 19795-1 terms (also used to calibrate).

Terms: a *genuine* comparison pairs two images of one person, an *impostor* comparison two people.
FMR(t) = share of impostor comparisons with score >= t; FNMR(t) = share of genuine comparisons
with score < t. An image whose template cannot be made (no usable central face) is a
failure-to-acquire (``fta``); every comparison involving it counts as a *non-match*, so the FNMR
figures are generalised (GFNMR, failures included) and a failure can never create a false match.

Pairs: with an LFW-format ``pairs.txt``: its genuine and impostor pairs, plus every cross-identity
pair among the images it names (for the low-FMR points); otherwise all genuine pairs of a
``labels.csv`` and >= 50,000 sampled impostor pairs (seeded, so deterministic); or exactly the
pairs of a CSV (``a,b,same``; ``a`` is the reference).

Protocols: ``plain`` (reference and probe as they are) and ``chip`` (the reference is first
stored like a passport's DG2: ICAO crop 480x600, JPEG 2000 <= 20 KB, then decoded and templated).
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["FMR_TARGETS", "Dataset", "PairSet", "SystemScores", "Workspace", "read_dataset", "read_lfw_pairs",
           "read_pairs_csv", "all_pairs", "det_figures", "evaluate", "plot_det", "threshold_at_fmr"]

#: Target FMRs as in the JSON keys, and the names of the thresholds calibrated for them.
FMR_TARGETS = {"0.01": ("fmr_1e-2", 1e-2), "0.001": ("fmr_1e-3", 1e-3), "0.0005": ("fmr_5e-4", 5e-4)}
MIN_IMPOSTORS = 50_000


class EvaluationError(ValueError):
    """The data set or pairs file cannot be read or does not fit together."""


@dataclass(frozen=True)
class Dataset:
    root: Path
    files: tuple[str, ...]
    identities: tuple[str, ...]


@dataclass
class PairSet:
    """Pairs of dataset indices (reference, probe)."""

    genuine: np.ndarray  # (n, 2) int
    impostor: np.ndarray  # (m, 2) int
    source: str = ""


def read_dataset(labels: Path, root: Path | None = None) -> Dataset:
    labels = Path(labels)
    root = Path(root) if root is not None else labels.parent
    try:
        with labels.open(newline="", encoding="utf-8") as f:
            rows = [(r["file"], r["identity"]) for r in csv.DictReader(f)]
    except (OSError, KeyError, csv.Error) as e:
        raise EvaluationError(f"cannot read {labels} (columns file,identity): {e}") from e
    if not rows:
        raise EvaluationError(f"{labels} lists no images")
    return Dataset(root=root, files=tuple(r[0] for r in rows), identities=tuple(r[1] for r in rows))


def read_lfw_pairs(path: Path, data: Dataset) -> PairSet:
    """LFW View-2 ``pairs.txt`` (``name i j`` same, ``name1 i name2 j`` different) + cross-identity impostors."""
    index = {Path(f).name: k for k, f in enumerate(data.files)}

    def find(name: str, num: str) -> int:
        key = f"{name}_{int(num):04d}.jpg"
        if key not in index:
            raise EvaluationError(f"{path}: {key} is not in the labels file")
        return index[key]

    genuine, impostor = [], []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise EvaluationError(f"cannot read pairs file {path}: {e}") from e
    for line in lines[1:]:
        parts = line.split()
        if len(parts) == 3:
            genuine.append((find(parts[0], parts[1]), find(parts[0], parts[2])))
        elif len(parts) == 4:
            impostor.append((find(parts[0], parts[1]), find(parts[2], parts[3])))
        elif parts:
            raise EvaluationError(f"{path}: cannot parse line {line!r}")
    used = np.asarray(sorted({i for p in genuine + impostor for i in p}), dtype=np.int64)
    ids = np.asarray(data.identities, dtype=object)
    iu, ju = np.triu_indices(len(used), k=1)
    a, b = used[iu], used[ju]
    n = len(data.files)
    listed = np.asarray([min(p) * n + max(p) for p in impostor], dtype=np.int64)
    keep = (ids[a] != ids[b]) & ~np.isin(a * n + b, listed)
    cross = np.column_stack([a[keep], b[keep]])
    return PairSet(genuine=np.asarray(genuine, dtype=np.int64).reshape(-1, 2),
                   impostor=np.vstack([np.asarray(impostor, dtype=np.int64).reshape(-1, 2), cross]),
                   source=f"{Path(path).name}: {len(genuine)} genuine, {len(impostor)} impostor "
                          f"+ {len(cross)} cross-identity impostor pairs among its {len(used)} images")


def read_pairs_csv(path: Path, data: Dataset) -> PairSet:
    """Exactly the pairs of a CSV with columns ``a,b,same`` (paths relative to the root)."""
    index = {f: k for k, f in enumerate(data.files)}
    genuine, impostor = [], []
    try:
        with Path(path).open(newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                a, b = index[r["a"]], index[r["b"]]
                (genuine if r["same"].strip().lower() in ("1", "true", "yes") else impostor).append((a, b))
    except (OSError, KeyError, csv.Error) as e:
        raise EvaluationError(f"cannot read pairs CSV {path} (columns a,b,same; files from labels): {e}") from e
    return PairSet(np.asarray(genuine, dtype=np.int64).reshape(-1, 2),
                   np.asarray(impostor, dtype=np.int64).reshape(-1, 2), source=f"{Path(path).name}")


def all_pairs(data: Dataset, *, min_impostors: int = MIN_IMPOSTORS, seed: int = 19795) -> PairSet:
    """All genuine pairs and (all, or >= ``min_impostors`` seeded samples of) cross-identity pairs."""
    ids = np.asarray(data.identities, dtype=object)
    n = len(ids)
    iu, ju = np.triu_indices(n, k=1)
    same = ids[iu] == ids[ju]
    genuine = np.column_stack([iu[same], ju[same]])
    imp_i, imp_j = iu[~same], ju[~same]
    if len(imp_i) > max(min_impostors, 4 * min_impostors):
        pick = np.sort(np.random.default_rng(seed).choice(len(imp_i), size=4 * min_impostors, replace=False))
        imp_i, imp_j = imp_i[pick], imp_j[pick]
    return PairSet(genuine, np.column_stack([imp_i, imp_j]),
                   source=f"labels: all {len(genuine)} genuine pairs, {len(imp_i)} cross-identity impostor pairs")


def threshold_at_fmr(impostor: np.ndarray, target: float) -> float:
    """The smallest threshold t with FMR(t) = share(impostor >= t) <= target."""
    imp = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]
    imp = imp[np.isfinite(imp)]
    allowed = int(np.floor(target * len(np.asarray(impostor))))
    if allowed >= len(imp):
        return float("-inf")
    return float(np.nextafter(imp[allowed], np.inf))


def det_figures(genuine: np.ndarray, impostor: np.ndarray) -> dict:
    """EER, FNMR at the target FMRs and their thresholds, from scores (higher = same; -inf = failure)."""
    g = np.asarray(genuine, dtype=np.float64)
    i = np.asarray(impostor, dtype=np.float64)
    out = {"fnmr_at_fmr": {}, "thresholds": {}, "fmr_achieved": {}}
    for key, (name, target) in FMR_TARGETS.items():
        t = threshold_at_fmr(i, target)
        out["thresholds"][name] = t
        out["fnmr_at_fmr"][key] = float(np.mean(g < t)) if len(g) else float("nan")
        out["fmr_achieved"][key] = float(np.mean(i >= t)) if len(i) else float("nan")
    finite = np.concatenate([g[np.isfinite(g)], i[np.isfinite(i)]])
    grid = np.unique(np.quantile(finite, np.linspace(0, 1, 4001))) if finite.size else np.zeros(1)
    si, sg = np.sort(i), np.sort(g)  # share(i >= t) and share(g < t) by binary search: the same figures
    fmr = (len(si) - np.searchsorted(si, grid, side="left")) / len(si) if len(si) else np.full(len(grid), np.nan)
    fnmr = np.searchsorted(sg, grid, side="left") / len(sg) if len(sg) else np.full(len(grid), np.nan)
    k = int(np.argmin(np.abs(fmr - fnmr)))
    out["eer"] = float((fmr[k] + fnmr[k]) / 2)
    out["eer_threshold"] = float(grid[k])
    return out


def det_curve(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FMR, FNMR) at every genuine score and at log-spaced impostor quantiles (dense at low FMR)."""
    g = np.sort(np.asarray(genuine, dtype=np.float64))
    i = np.sort(np.asarray(impostor, dtype=np.float64))
    fi = i[np.isfinite(i)]
    grid = g[np.isfinite(g)]
    if fi.size:
        grid = np.concatenate([grid, np.quantile(fi, 1 - np.logspace(-7, 0, 300))])
    grid = np.unique(grid)
    fmr = 1 - np.searchsorted(i, grid, side="left") / max(1, len(i))
    fnmr = np.searchsorted(g, grid, side="left") / max(1, len(g))
    return fmr, fnmr


@dataclass
class SystemScores:
    """One system's results on a pair set."""

    name: str
    genuine: np.ndarray
    impostor: np.ndarray
    fta: float
    ms_per_template: float
    extra: dict = field(default_factory=dict)

    def figures(self) -> dict:
        out = {"fta": round(self.fta, 6), "genuine": len(self.genuine), "impostor": len(self.impostor),
               "ms_per_template": round(self.ms_per_template, 2)}
        out.update(det_figures(self.genuine, self.impostor))
        out.update(self.extra)
        return out


def _progress(items: Iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return items
    return tqdm(items, total=total, desc=desc, file=sys.stderr, unit="img", leave=False)


@dataclass
class Workspace:
    """Memo for one run: templates per (system, role, file) and DG2 references per file, so that
    both protocols and the baseline share their work (the DG2 reference is made once, our way)."""

    templates: dict = field(default_factory=dict)  # (system, role, file) -> (vector | None, ms)
    dg2: dict = field(default_factory=dict)  # file -> JPEG 2000 bytes | None


def _central(faces, shape):
    """The labelled subject of a data-set photo: among the faces at least half the size of the largest,
    the one nearest the image centre (LFW centres its subject; other photos frame it large)."""
    if not faces:
        return None
    largest = max(f.inter_eye_distance for f in faces)
    big = [f for f in faces if f.inter_eye_distance >= 0.5 * largest]
    h, w = shape[:2]
    return min(big, key=lambda d: np.hypot(d.center[0] - w / 2, d.center[1] - h / 2))


def _dg2_portrait(work: Workspace, file: str, image: np.ndarray) -> np.ndarray | None:
    from .._detect import MIN_INTER_EYE_DISTANCE, detect_faces
    from .._dg2 import decode_reference_dg2_image, encode_reference_dg2_image

    if file not in work.dg2:
        face = _central(detect_faces(image), image.shape)
        ok = face is not None and face.inter_eye_distance >= MIN_INTER_EYE_DISTANCE
        work.dg2[file] = encode_reference_dg2_image(image, face) if ok else None
    data = work.dg2[file]
    return None if data is None else decode_reference_dg2_image(data)


def _ours(image: np.ndarray) -> np.ndarray | None:
    """dlib's 128-D vector, then SFace's 128-D one as a reference makes it (mirror-averaged), then as a
    live probe makes it (``PROBE_SFACE_FLIP``); NaN when SFace is not installed."""
    from .._align import face_chip
    from .._detect import MIN_INTER_EYE_DISTANCE, detect_faces
    from .._match import PROBE_SFACE_FLIP
    from .._sface import SFaceUnavailableError, sface_embedding_sets
    from .._template import templates_from_chips

    face = _central(detect_faces(image), image.shape)
    if face is None or face.inter_eye_distance < MIN_INTER_EYE_DISTANCE:
        return None
    dlib = templates_from_chips([face_chip(image, face)])[0].vector
    try:
        plain, both = sface_embedding_sets([(image, face)])
        second = np.concatenate([both[0], both[0] if PROBE_SFACE_FLIP else plain[0]])
    except SFaceUnavailableError:
        second = np.full(256, np.nan, dtype=np.float32)
    return np.concatenate([dlib, second])


def _baseline(image: np.ndarray) -> np.ndarray | None:
    """The plain face_recognition pipeline: HOG (upsample 1), 5-point chip, 128-D, no flip."""
    import face_recognition

    locs = face_recognition.face_locations(image, number_of_times_to_upsample=1, model="hog")
    if not locs:
        return None
    h, w = image.shape[:2]
    loc = min(locs, key=lambda b: np.hypot((b[1] + b[3]) / 2 - w / 2, (b[0] + b[2]) / 2 - h / 2))
    return np.asarray(face_recognition.face_encodings(image, [loc], num_jitters=1, model="small")[0])


_SYSTEMS: dict[str, Callable[[np.ndarray], np.ndarray | None]] = {"smartborder": _ours,
                                                                  "face_recognition": _baseline}
_DIMS = {"smartborder": 384, "face_recognition": 128}


def _templates(data: Dataset, needed: np.ndarray, system: str, role: str, work: Workspace,
               progress: bool) -> tuple[np.ndarray, list[float], int]:
    """Template matrix (NaN rows for failures), template times in ms, failure count."""
    from .._detect import FaceError, load_image

    fn = _SYSTEMS[system]
    out = np.full((len(data.files), _DIMS[system]), np.nan, dtype=np.float32)
    failures, times = 0, []
    for k in _progress(needed, len(needed), f"{system} {role}", progress):
        file = data.files[k]
        key = (system, role, file)
        if key not in work.templates:
            vec, ms = None, None
            try:
                image = load_image(data.root / file)
                if role == "chip":
                    image = _dg2_portrait(work, file, image)
                if image is not None:
                    t0 = time.perf_counter()
                    vec = fn(image)
                    ms = 1000 * (time.perf_counter() - t0)
            except FaceError:
                vec = None
            work.templates[key] = (vec, ms)
        vec, ms = work.templates[key]
        if ms is not None:
            times.append(ms)
        if vec is None:
            failures += 1
        else:
            out[k] = vec
    return out, times, failures


def _score(ref: np.ndarray, probe: np.ndarray, pairs: np.ndarray, metric: str) -> np.ndarray:
    if len(pairs) == 0:
        return np.zeros(0)
    a, b = ref[pairs[:, 0]].astype(np.float64), probe[pairs[:, 1]].astype(np.float64)
    if metric == "fused":  # dlib + SFace parts (compare()'s fusion); dlib alone where SFace is missing
        from .._match import fuse

        d = np.einsum("ij,ij->i", a[:, :128], b[:, :128])
        f = np.einsum("ij,ij->i", a[:, 128:256], b[:, 256:384])  # the reference's SFace part, the probe's
        s = np.where(np.isnan(f), d, fuse(d, f))
        s = np.where(np.isnan(d), np.nan, s)
    elif metric == "cosine":
        s = np.einsum("ij,ij->i", a[:, :128], b[:, :128])
    else:  # face_recognition: distance, so score = -distance
        s = -np.linalg.norm(a - b, axis=1)
    return np.where(np.isnan(s), -np.inf, s)


def _run_system(system: str, metric: str, data: Dataset, pairs: PairSet, protocol: str, work: Workspace,
                progress: bool) -> SystemScores:
    refs_needed = np.unique(np.concatenate([pairs.genuine[:, 0], pairs.impostor[:, 0]]))
    probes_needed = np.unique(np.concatenate([pairs.genuine[:, 1], pairs.impostor[:, 1]]))
    if protocol == "chip":
        ref, t_ref, fail_ref = _templates(data, refs_needed, system, "chip", work, progress)
        probe, t_probe, fail_probe = _templates(data, probes_needed, system, "plain", work, progress)
        times, failures = t_ref + t_probe, fail_ref + fail_probe
        attempts = len(refs_needed) + len(probes_needed)
    else:
        needed = np.union1d(refs_needed, probes_needed)
        ref, times, failures = _templates(data, needed, system, "plain", work, progress)
        probe, attempts = ref, len(needed)
    return SystemScores(name=system, genuine=_score(ref, probe, pairs.genuine, metric),
                        impostor=_score(ref, probe, pairs.impostor, metric), fta=failures / max(1, attempts),
                        ms_per_template=float(np.mean(times)) if times else 0.0)


def evaluate(labels: Path, root: Path | None = None, *, pairs: Path | None = None, pairs_csv: Path | None = None,
             protocol: str = "plain", baseline: bool = False, progress: bool = False,
             min_impostors: int = MIN_IMPOSTORS, work: Workspace | None = None) -> tuple[dict, list[SystemScores]]:
    """Run the evaluation; returns (JSON-able report, per-system scores for plotting).

    Pass the same ``work`` to several calls (e.g. both protocols) to compute each template once.
    """
    work = work if work is not None else Workspace()
    if protocol not in ("plain", "chip"):
        raise EvaluationError(f"unknown protocol {protocol!r} (plain or chip)")
    data = read_dataset(labels, root)
    if pairs_csv is not None:
        pair_set = read_pairs_csv(pairs_csv, data)
    elif pairs is not None:
        pair_set = read_lfw_pairs(pairs, data)
    else:
        pair_set = all_pairs(data, min_impostors=min_impostors)
    systems = [_run_system("smartborder", "fused", data, pair_set, protocol, work, progress),
               _run_system("smartborder", "cosine", data, pair_set, protocol, work, progress)]
    systems[1].name = "smartborder (dlib only)"
    if baseline:
        base = _run_system("face_recognition", "distance", data, pair_set, protocol, work, progress)
        tol = -0.6  # face_recognition's default tolerance, as a score threshold
        base.extra["at_tolerance_0.6"] = {"fmr": float(np.mean(base.impostor >= tol)),
                                          "fnmr": float(np.mean(base.genuine < tol))}
        systems.append(base)
    report = {"protocol": protocol, "pairs": pair_set.source, "images": len(data.files), **systems[0].figures(),
              "dlib_only": systems[1].figures()}
    report["models"] = "dlib+sface" if _fused_any(systems[0], systems[1]) else "dlib"
    if baseline:
        report["baseline"] = systems[2].figures()
        ratios = {}
        for key in FMR_TARGETS:
            ours, theirs = report["fnmr_at_fmr"][key], report["baseline"]["fnmr_at_fmr"][key]
            ratios[key] = round(theirs / ours, 3) if ours > 0 else None
        report["baseline_fnmr_ratio"] = ratios
    return report, systems


def _fused_any(fused: SystemScores, dlib: SystemScores) -> bool:
    """Whether any score differs between the fused and the dlib-only runs (SFace was present)."""
    g = np.isfinite(fused.genuine) & np.isfinite(dlib.genuine)
    return bool(np.any(np.abs(fused.genuine[g] - dlib.genuine[g]) > 1e-9))


def plot_det(systems: list[SystemScores], path: Path, title: str = "DET") -> None:
    """DET curves (FNMR vs FMR, log axes) of every system on one plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    for s in systems:
        fmr, fnmr = det_curve(s.genuine, s.impostor)
        ax.plot(np.clip(fmr, 1e-6, 1), np.clip(fnmr, 1e-4, 1), label=s.name)
    for _name, target in FMR_TARGETS.values():
        ax.axvline(target, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("FMR (false match rate)")
    ax.set_ylabel("FNMR (false non-match rate, failures included)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
