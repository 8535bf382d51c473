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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

__all__ = ["FvcDatasetError", "fvc_files", "fvc_pairs", "error_rates", "det_curve", "evaluate_fvc",
           "find_fvc_sets", "load_image", "clopper_pearson", "Scorer", "Candidate", "FvcScores", "engine_scorer", "default_candidates", "znorm_sum",
           "leave_one_out", "lodo_fvc", "acquisitions", "evaluate_fvc_recapture"]

T = TypeVar("T")
P = TypeVar("P")

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


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided confidence interval of a rate observed as ``k`` events in
    ``n`` independent trials: beta quantiles, so it never undercovers (at the price of width)."""
    from scipy.stats import beta

    if not 0 <= k <= n or n <= 0:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    a = (1 - confidence) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def det_curve(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = np.sort(np.asarray(genuine, float))
    i = np.sort(np.asarray(impostor, float))
    thr = np.unique(np.concatenate([g, i]))
    fnmr = np.searchsorted(g, thr, side="left") / len(g)
    fmr = 1.0 - np.searchsorted(i, thr, side="left") / len(i)
    return fmr, fnmr


def load_image(path: Path) -> np.ndarray:
    """An image file as an 8-bit greyscale array."""
    from PIL import Image

    return np.asarray(Image.open(path).convert("L"))


def evaluate_fvc(
    directory: Path,
    *,
    dpi: int = 500,
    limit: int | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
    extract: Callable | None = None,
    match: Callable | None = None,
    load: Callable[[Path], np.ndarray] = load_image,
    templates: dict | None = None,
) -> dict:
    """Run the FVC protocol on one directory. ``extract(image, dpi)`` and ``match(a, b)`` default
    to this engine; images that fail extraction count as failures to enrol (score 0). Every image
    is read through ``load(path)``. ``templates``, when given, receives every extracted template by
    (finger, impression) (None where extraction failed), for callers that score other pairs."""
    from .._matcher import FingerprintMatcher
    from .._template import FingerprintTemplate

    extract = extract or (lambda img, d: FingerprintTemplate(img, dpi=d))
    match = match or (lambda a, b: FingerprintMatcher(a).match(b))
    fingers = fvc_files(Path(directory), limit)
    genuine_pairs, impostor_pairs = fvc_pairs(fingers)
    keys = [(f, m) for f, imps in fingers.items() for m in sorted(imps)]
    wrap = progress or (lambda it: it)
    templates = {} if templates is None else templates
    t_ext: list[float] = []
    fte = 0
    for key in wrap(keys):
        img = load(fingers[key[0]][key[1]])
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


# ----------------------------------------------------------------------- leave one database out
# Generalisation as the method (issue #21): whatever is tunable (the method itself among candidates,
# fusion weights, normalisation) is chosen on four sets and reported on the fifth, for each fifth.


@dataclass(frozen=True)
class Scorer:
    """One way to score the FVC pairs of a set: ``extract(image, dpi)`` and ``match(a, b)``."""

    name: str
    extract: Callable[[np.ndarray, int], object]
    match: Callable[[object, object], float]
    #: scorers with the same key share their templates (same extraction, another matcher): each
    #: image is extracted once for all of them
    shares: str | None = None


def _first_column(train: list[tuple[np.ndarray, np.ndarray]]) -> Callable[[np.ndarray], np.ndarray]:
    return lambda m: m[:, 0]


@dataclass(frozen=True)
class Candidate:
    """A method the tuning may choose: the scorers it reads and how their scores become one.
    ``fit(train)`` gets, per training set, the (genuine, impostor) score matrices (one column per
    scorer, in ``scorers`` order) and returns ``combine(matrix) -> scores``; it sees nothing else."""

    name: str
    scorers: tuple[str, ...]
    fit: Callable[[list[tuple[np.ndarray, np.ndarray]]], Callable[[np.ndarray], np.ndarray]] = _first_column


def engine_scorer(extractor: str | None = None, *, reliability: float | None = None, **options) -> Scorer:
    """This engine: FingerprintTemplate (the default extractor, or the one named, with ``options``)
    + FingerprintMatcher (MCC, LSA-R; ``reliability``: its minutia-weighting exponent, default the
    engine's). Scorers of one extractor and options share their templates."""
    from .._matcher import RELIABILITY, FingerprintMatcher
    from .._template import DEFAULT_EXTRACTOR, FingerprintTemplate

    ext = extractor or DEFAULT_EXTRACTOR
    extraction = ext + "".join(f"@{k}={v}" for k, v in sorted(options.items()))
    exponent = RELIABILITY if reliability is None else float(reliability)
    name = extraction + (f"~r{exponent:g}" if exponent != RELIABILITY else "")

    def make(img: np.ndarray, d: int):
        if not options:
            return FingerprintTemplate(img, dpi=d, extractor=ext)
        return FingerprintTemplate._tuned(img, dpi=d, extractor=ext, **options)

    return Scorer(name, make, lambda a, b: FingerprintMatcher(a, reliability=exponent).match(b), shares=extraction)


def znorm_sum(weights: Sequence[float] = tuple(np.linspace(0.0, 1.0, 11))):
    """Score-level fusion of two scorers: each z-normalised by the impostor scores of the training
    sets, summed with the weight (of the first) that gives the lowest mean EER on the training sets."""

    def fit(train: list[tuple[np.ndarray, np.ndarray]]) -> Callable[[np.ndarray], np.ndarray]:
        imp = np.concatenate([i for _, i in train])
        mu, sd = imp.mean(0), imp.std(0) + 1e-9
        best = None
        for w in weights:
            ww = np.array([w, 1.0 - w])

            def combine(m: np.ndarray, ww: np.ndarray = ww) -> np.ndarray:
                return ((m - mu) / sd) @ ww

            eers = [error_rates(combine(g), combine(i))["eer"] for g, i in train]
            key = (float(np.mean(eers)), max(eers))
            if best is None or key < best[0]:
                best = (key, combine)
        return best[1]

    return fit


def default_candidates() -> tuple[dict[str, Scorer], list[Candidate]]:
    """The scorers and candidate methods ``smartborder eval finger --lodo`` chooses among: the
    engine's STFT extractor, LEADER at the two input scales that keep extraction near 200 ms, LEADER
    0.7 with its minutiae weighted by their reliability (exponents 0.5 and 1; the engine's default
    is unweighted), and the z-normalised score fusion of STFT and LEADER (its weight fitted on the
    training sets)."""
    stft = engine_scorer("stft", reliability=0.0)
    l6 = engine_scorer("leader", scale=0.6, reliability=0.0)
    l7 = engine_scorer("leader", scale=0.7, reliability=0.0)
    weighted = [engine_scorer("leader", scale=0.7, reliability=e) for e in (0.5, 1.0)]
    scorers = {s.name: s for s in (stft, l6, l7, *weighted)}
    return scorers, [Candidate(stft.name, (stft.name,)), Candidate(l6.name, (l6.name,)), Candidate(l7.name, (l7.name,)),
                     *[Candidate(w.name, (w.name,)) for w in weighted],
                     Candidate(f"{stft.name}+{l7.name}", (stft.name, l7.name), znorm_sum())]


class FvcScores:
    """Scores of every (set, scorer), computed on first use through ``load`` and kept."""

    def __init__(
        self,
        scorers: dict[str, Scorer],
        *,
        dpi: int = 500,
        limit: int | None = None,
        load: Callable[[Path], np.ndarray] = load_image,
        progress: Callable[[str, str], Callable[[Iterable], Iterable] | None] | None = None,
    ) -> None:
        self.scorers, self.dpi, self.limit, self.load, self.progress = scorers, dpi, limit, load, progress
        self._cache: dict[tuple[str, str], dict] = {}
        self._templates: dict[str, dict] = {}

    def get(self, directory: Path, scorer: str) -> dict:
        key = (str(directory), scorer)
        if key not in self._cache:
            sc = self.scorers[scorer]
            wrap = self.progress(Path(directory).name, scorer) if self.progress else None
            times: list[float] = []
            r = evaluate_fvc(Path(directory), dpi=self.dpi, limit=self.limit, progress=wrap,
                             extract=self._shared(sc, times), match=sc.match, load=self.load)
            if times:  # the first extraction's time, not the cache's
                r["ms_extract"] = round(float(np.median(times)), 2)
            self._cache[key] = r
        return self._cache[key]

    def _shared(self, sc: Scorer, times: list[float]) -> Callable[[np.ndarray, int], object]:
        """``sc.extract``, through a cache of templates by image content for scorers that share
        (``times`` gets each image's extraction time in ms, as first measured)."""
        if sc.shares is None:
            return sc.extract
        import hashlib

        store = self._templates.setdefault(sc.shares, {})

        def extract(img: np.ndarray, dpi: int):
            key = (hashlib.blake2b(np.ascontiguousarray(img).tobytes(), digest_size=16).digest(), img.shape, dpi)
            if key not in store:
                t0 = time.perf_counter()
                try:
                    got: object = sc.extract(img, dpi)
                except ValueError as e:
                    got = e
                store[key] = (got, (time.perf_counter() - t0) * 1000)
            got, ms = store[key]
            times.append(ms)
            if isinstance(got, ValueError):
                raise got
            return got

        return extract

    def matrices(self, directory: Path, scorers: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        rs = [self.get(directory, s) for s in scorers]
        return (np.stack([r["_genuine_scores"] for r in rs], 1), np.stack([r["_impostor_scores"] for r in rs], 1))


def leave_one_out(
    sets: Sequence[T],
    tune: Callable[[list[T]], P],
    report: Callable[[T, P], dict],
    *,
    log: Callable[[str, T], None] | None = None,
) -> list[dict]:
    """For each set: ``tune`` on all the others, then ``report`` on it with what was tuned.
    ``log(phase, held_out)`` is told when each phase ("tune", "report") of a fold starts."""
    rows = []
    for held in sets:
        train = [s for s in sets if s != held]
        if log:
            log("tune", held)
        params = tune(train)
        if log:
            log("report", held)
        rows.append(report(held, params))
    return rows


def lodo_fvc(
    directories: Sequence[Path],
    scores: FvcScores,
    candidates: Sequence[Candidate],
    *,
    log: Callable[[str, Path], None] | None = None,
) -> dict:
    """Leave-one-database-out on FVC sets: per held-out set, each candidate is fitted on the other
    sets and the one with the lowest mean EER over them (then the lowest worst EER) is reported on
    the held-out set. Returns per-set rows, the macro average and the worst set."""
    if len(directories) < 2:
        raise FvcDatasetError("leave-one-database-out needs at least two FVC sets")

    def tune(train: list[Path]):
        best = None
        for c in candidates:
            data = [scores.matrices(d, c.scorers) for d in train]
            combine = c.fit(data)
            eers = [error_rates(combine(g), combine(i))["eer"] for g, i in data]
            key = (float(np.mean(eers)), max(eers))
            if best is None or key < best[0]:
                best = (key, c, combine)
        return best

    def report(held: Path, tuned) -> dict:
        (train_mean, train_worst), c, combine = tuned
        g, i = scores.matrices(held, c.scorers)
        rates = error_rates(combine(g), combine(i))
        parts = [scores.get(held, s) for s in c.scorers]
        ms_ext = [p["ms_extract"] for p in parts if p["ms_extract"] is not None]
        ms_m = [p["ms_match"] for p in parts if p["ms_match"] is not None]
        return {"dataset": Path(held).name, "method": c.name, **{k: round(v, 5) for k, v in rates.items()},
                "train_eer_mean": round(train_mean, 5), "train_eer_worst": round(train_worst, 5),
                "genuine": len(g), "impostor": len(i), "fte": max(p["fte"] for p in parts),
                "ms_extract": round(sum(ms_ext), 2) if ms_ext else None, "ms_match": round(sum(ms_m), 3) if ms_m else None}

    rows = leave_one_out(list(directories), tune, report, log=log)
    macro = {k: round(float(np.mean([r[k] for r in rows])), 5) for k in ("eer", "fmr100", "fmr1000", "zero_fmr")}
    worst = max(rows, key=lambda r: r["eer"])
    # every single-scorer candidate's own EER per set (in-sample for nothing: no fitting), for the record
    each = {c.name: {Path(d).name: round(error_rates(*(m[:, 0] for m in scores.matrices(d, c.scorers)))["eer"], 5)
                     for d in directories} for c in candidates if len(c.scorers) == 1}
    return {"protocol": "leave-one-database-out (tuned on the other sets, reported on the held-out one)",
            "candidates": [c.name for c in candidates], "sets": rows, "macro": {**macro, "sets": len(rows)},
            "worst": {"dataset": worst["dataset"], "eer": worst["eer"]}, "each": each}


from ._recapture import acquisitions, evaluate_fvc_recapture  # noqa: E402 - uses the protocol above
