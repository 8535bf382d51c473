"""FVC verification protocol (Maio et al., FVC2000/2002): genuine = every pair of impressions of
one finger, impostor = the first impressions of every two fingers. Error rates follow the FVC
definitions: EER where FMR(t) and FNMR(t) cross, FMR100/FMR1000 = lowest FNMR at FMR <= 1 % /
0.1 %, ZeroFMR = lowest FNMR at FMR = 0.

An evaluation harness (``smartborder eval finger``, the benches, the calibration of ``THRESHOLDS``),
not runtime code: nothing a deployed gate or kiosk imports may import this module (an import-linter
contract in pyproject.toml)."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

__all__ = ["FvcDatasetError", "fvc_files", "fvc_pairs", "error_rates", "det_curve", "evaluate_fvc",
           "find_fvc_sets"]

_NAME = re.compile(r"^(\d+)_(\d+)\.(tif|tiff|bmp|png)$", re.IGNORECASE)


class FvcDatasetError(ValueError):
    """The directory holds no FVC-style ``NNN_M.tif`` images."""


def fvc_files(directory: Path, limit: int | None = None) -> dict[int, dict[int, Path]]:
    """{finger: {impression: path}}; ``limit`` keeps the first N fingers."""
    fingers: dict[int, dict[int, Path]] = {}
    for p in sorted(Path(directory).iterdir()):
        m = _NAME.match(p.name)
        if m:
            fingers.setdefault(int(m.group(1)), {})[int(m.group(2))] = p
    if not fingers:
        raise FvcDatasetError(f"no NNN_M image files in {directory}")
    keys = sorted(fingers)[: limit or None]
    return {k: fingers[k] for k in keys}


def fvc_pairs(fingers: dict[int, dict[int, Path]]) -> tuple[list, list]:
    genuine = []
    for f, imps in fingers.items():
        genuine += [((f, a), (f, b)) for a, b in itertools.combinations(sorted(imps), 2)]
    firsts = [(f, min(imps)) for f, imps in fingers.items()]
    impostor = list(itertools.combinations(firsts, 2))
    return genuine, impostor


def error_rates(genuine: np.ndarray, impostor: np.ndarray) -> dict[str, float]:
    """EER, FMR100, FMR1000 and ZeroFMR (fractions) from score arrays (higher = more similar)."""
    g = np.sort(np.asarray(genuine, float))
    i = np.sort(np.asarray(impostor, float))
    thr = np.unique(np.concatenate([g, i, [np.inf]]))
    fnmr = np.searchsorted(g, thr, side="left") / max(len(g), 1)  # genuine < t rejected
    fmr = 1.0 - np.searchsorted(i, thr, side="left") / max(len(i), 1)  # impostor >= t accepted
    # EER as defined by FVC (Maio et al. 2002): t1 = highest threshold with FNMR <= FMR,
    # t2 = lowest with FNMR >= FMR; the EER interval is taken at whichever of the two has the
    # smaller FNMR + FMR, and the EER is its midpoint
    i1 = int(np.nonzero(fnmr <= fmr)[0].max()) if (fnmr <= fmr).any() else 0
    i2 = int(np.nonzero(fnmr >= fmr)[0].min()) if (fnmr >= fmr).any() else len(thr) - 1
    if fnmr[i1] + fmr[i1] <= fnmr[i2] + fmr[i2]:
        lo, hi = fnmr[i1], fmr[i1]
    else:
        lo, hi = fmr[i2], fnmr[i2]
    eer = float((lo + hi) / 2)

    def at(target: float) -> float:
        ok = fmr <= target + 1e-12
        return float(fnmr[ok].min()) if ok.any() else 1.0

    return {"eer": eer, "fmr100": at(0.01), "fmr1000": at(0.001), "zero_fmr": at(0.0)}


def det_curve(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = np.sort(np.asarray(genuine, float))
    i = np.sort(np.asarray(impostor, float))
    thr = np.unique(np.concatenate([g, i]))
    fnmr = np.searchsorted(g, thr, side="left") / len(g)
    fmr = 1.0 - np.searchsorted(i, thr, side="left") / len(i)
    return fmr, fnmr


def evaluate_fvc(
    directory: Path,
    *,
    dpi: int = 500,
    limit: int | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
    extract: Callable | None = None,
    match: Callable | None = None,
) -> dict:
    """Run the FVC protocol on one directory. ``extract(image, dpi)`` and ``match(a, b)`` default
    to this engine; images that fail extraction count as failures to enrol (score 0)."""
    from PIL import Image

    from ._matcher import FingerprintMatcher
    from ._template import FingerprintTemplate

    extract = extract or (lambda img, d: FingerprintTemplate(img, dpi=d))
    match = match or (lambda a, b: FingerprintMatcher(a).match(b))
    fingers = fvc_files(Path(directory), limit)
    genuine_pairs, impostor_pairs = fvc_pairs(fingers)
    keys = [(f, m) for f, imps in fingers.items() for m in sorted(imps)]
    wrap = progress or (lambda it: it)
    templates: dict = {}
    t_ext: list[float] = []
    fte = 0
    for key in wrap(keys):
        img = np.asarray(Image.open(fingers[key[0]][key[1]]).convert("L"))
        t0 = time.perf_counter()
        try:
            templates[key] = extract(img, dpi)
        except ValueError:
            templates[key] = None
            fte += 1
        t_ext.append((time.perf_counter() - t0) * 1000)
    t_match: list[float] = []

    def run(pairs):
        out = []
        for a, b in pairs:
            ta, tb = templates[a], templates[b]
            if ta is None or tb is None:
                out.append(0.0)
                continue
            t0 = time.perf_counter()
            s = match(ta, tb)
            t_match.append((time.perf_counter() - t0) * 1000)
            out.append(float(s))
        return np.array(out)

    gen = run(genuine_pairs)
    imp = run(impostor_pairs)
    rates = error_rates(gen, imp)
    return {
        "dataset": Path(directory).name,
        **{k: round(v, 5) for k, v in rates.items()},
        "genuine": len(gen),
        "impostor": len(imp),
        "fte": fte,
        "ms_extract": round(float(np.median(t_ext)), 2) if t_ext else None,
        "ms_match": round(float(np.median(t_match)), 3) if t_match else None,
        "_genuine_scores": gen,
        "_impostor_scores": imp,
    }


def find_fvc_sets(root: Path) -> list[Path]:
    """Every directory below ``root`` (itself included) that holds FVC ``NNN_M`` images."""
    root = Path(root)
    found = []
    for d in sorted([root, *[p for p in root.rglob("*") if p.is_dir()]]):
        if any(_NAME.match(p.name) for p in d.iterdir() if p.is_file()):
            found.append(d)
    if not found:
        raise FvcDatasetError(f"no FVC set (NNN_M.tif files) below {root}")
    return found
