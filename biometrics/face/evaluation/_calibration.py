"""Named decision thresholds and fusion parameters, and the script that calibrates them by cross-validation.

The figures live in ``_thresholds.py`` (generated, committed)::

    python -m biometrics.face.evaluation._calibration --lfw ../shared/data/faces/lfw-dev \\
        [--cache var/cache/face_cv_sets.pkl]

rewrites ``_thresholds.py`` and prints the report. Protocol (``_cv``): the identities of lfw-dev's
``pairs.txt`` images are split in two identity-disjoint halves A and B; everything (fusion statistics
and weight, thresholds, frame rule and near-threshold band) is fitted on A and reported on B, then
fitted on B and reported on A. Both halves' figures go into ``CALIBRATION["cross_validation"]``.

What ships (``SHIPPED_RULE``): the fusion parameters and frame rule fitted on all of lfw-dev; each
threshold the largest of those that all of lfw-dev, half A and half B give for its target FMR under
those parameters (the conservative one: a half whose impostors score higher sets it).
``CALIBRATION["protocols"]`` are the figures of the shipped parameters on all of lfw-dev: *in-sample*
(fitted on the same impostors), so the FMR there is exact by construction; the cross-validated
figures are the ones to quote.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from .._thresholds import CALIBRATION, FUSION, THRESHOLDS, THRESHOLDS_DLIB

__all__ = ["THRESHOLDS", "THRESHOLDS_DLIB", "CALIBRATION", "FUSION", "SHIPPED_RULE", "calibrate", "write_thresholds",
           "main"]

_MODULE = Path(__file__).resolve().parent.parent / "_thresholds.py"
SHIPPED_RULE = ("fusion statistics, weight, frame rule and band fitted on all of lfw-dev; each threshold the largest "
                "of the smallest scores with FMR <= target among the impostor comparisons of all lfw-dev, of half A and "
                "of half B (under those parameters), the larger of the plain and chip protocols' (single comparisons)")


def _thresholds_under(view, params: dict) -> tuple[dict, dict]:  # noqa: ANN001 - HalfView
    """The thresholds a set of impostors gives for fused (under ``params``) and dlib-only scores."""
    from ._cv import _half_scores, _nan_inf, _rule_scores
    from ._eval import FMR_TARGETS, threshold_at_fmr

    sc = {p: _half_scores(view, p, 1) for p in ("plain", "chip")}
    fused, dlib = {}, {}
    for name, target in FMR_TARGETS.values():
        fused[name] = max(threshold_at_fmr(_rule_scores(sc[p], "impostor", "single", params["weight"],
                                                        params["impostor_stats"], 1), target) for p in sc)
        dlib[name] = max(threshold_at_fmr(_nan_inf(sc[p].dlib["impostor"][0]), target) for p in sc)
    return fused, dlib


def calibrate(lfw: Path, *, cache: Path | None = None, progress: bool = True) -> dict:
    """Cross-validate on an LFW-style folder (labels.csv, pairs.txt), then fit what ships (module text)."""
    from ._cv import HalfView, cross_validate, fit, report
    from ._frames import load_template_sets

    lfw = Path(lfw)
    sets = load_template_sets(lfw, cache, progress=progress)
    cv = cross_validate(sets)
    everyone = frozenset(np.asarray(sets["identities"], dtype=object)[sets["used"]])
    whole = HalfView(sets, everyone)
    params = fit(whole)
    thresholds, dlib = dict(params["thresholds"]), dict(params["thresholds_dlib"])
    for half in cv["halves"].values():
        f, d = _thresholds_under(HalfView(sets, half["_fit_ids"]), params)
        thresholds = {k: max(v, f[k]) for k, v in thresholds.items()}
        dlib = {k: max(v, d[k]) for k, v in dlib.items()}
    shipped = {**params, "thresholds": thresholds, "thresholds_dlib": dlib}
    return {"thresholds": thresholds, "thresholds_dlib": dlib, "params": shipped, "cv": cv,
            "in_sample": report(whole, shipped), "data": lfw.name, "pairs": sets["source"],
            "frames": int(sets["frames"])}


def _cv_summary(cv: dict) -> dict:
    out = {"protocol": "identity-disjoint halves of the pairs.txt identities (seeded, balanced by genuine pairs); "
                       "impostor pairs across halves unused; fit on one half, report on the other",
           "seed": cv["seed"], "halves": {}}
    for name, half in cv["halves"].items():
        p, r = half["params"], half["report"]
        out["halves"][name] = {
            "fitted_on": half["fitted_on"], "reported_on": half["reported_on"],
            "fitted": {"weight": p["weight"], "impostor_stats": p["impostor_stats"],
                       "thresholds": {k: round(v, 6) for k, v in p["thresholds"].items()}, "frames": p["frames"],
                       "genuine": p["genuine"], "impostor": p["impostor"], "identities": p["identities"]},
            "report": _compact_report(r)}
    return out


def _compact_report(r: dict) -> dict:
    """A half's report for the generated module: the frame rules at FMR 5e-4 only."""
    out = {k: r[k] for k in ("genuine", "impostor", "identities")}
    for protocol in ("plain", "chip"):
        e = dict(r[protocol])
        e["frame_rules_at_fmr_5e-4"] = {k: v["0.0005"] for k, v in e.pop("frame_rules_at_fitted_threshold").items()}
        e["dlib_only"] = {"eer": e["dlib_only"]["eer"], "fnmr_at_fitted_threshold": {
            k: v["fnmr"] for k, v in e["dlib_only"]["at_fitted_threshold"].items()}}
        out[protocol] = e
    return out


def write_thresholds(result: dict, path: Path = _MODULE) -> None:
    from ._eval import FMR_TARGETS

    thresholds = {k: round(float(v), 6) for k, v in result["thresholds"].items()}
    dlib = {k: round(float(v), 6) for k, v in result["thresholds_dlib"].items()}
    p = result["params"]
    fusion = {"weight": p["weight"], "impostor_stats": {k: [round(x, 6) for x in v] for k, v in p["impostor_stats"].items()},
              "frames": p["frames"]}
    protocols = {}
    for name, r in result["in_sample"].items():
        if name not in ("plain", "chip"):
            continue
        at = r["at_fitted_threshold"]
        protocols[name] = {
            "fta": r["fta"], "eer": r["eer"],
            "fnmr_at_fmr": {k: at[k]["fnmr"] for k in FMR_TARGETS},
            "fmr_achieved": {k: at[k]["fmr"] for k in FMR_TARGETS},
            "genuine": result["in_sample"]["genuine"], "impostor": result["in_sample"]["impostor"],
            "dlib_only": {"eer": r["dlib_only"]["eer"],
                          "fnmr_at_fmr": {k: v["fnmr"] for k, v in r["dlib_only"]["at_fitted_threshold"].items()}},
            "frame_fusion_at_fmr_5e-4": r["frame_fusion_at_fmr_5e-4"],
        }
    summary = {
        "data": result["data"],
        "models": "dlib+sface",
        "pairs": result["pairs"],
        "rule": SHIPPED_RULE,
        "simulated_frames": f"{result['frames']} frames a traveller: the photo and {result['frames'] - 1} perturbed copies "
                            "(biometrics/face/evaluation/_frames.py): not new poses, an upper bound on what video frames add",
        "protocols_note": "in-sample: the shipped parameters on all of lfw-dev, the data they were fitted on; "
                          "quote cross_validation",
        "protocols": protocols,
        "cross_validation": _cv_summary(result["cv"]),
    }
    calibration = json.dumps(summary, indent=4)
    for _ in range(2):  # short lists ([low, high] intervals, [mean, deviation]) on one line
        calibration = re.sub(r"\[\s+([-0-9.e]+),\s+([-0-9.e]+)\s+\]", r"[\1, \2]", calibration)
    text = (  # JSON literals of str/float/int/bool dicts are Python literals too (no null, true or false here)
        '"""Calibrated face thresholds (generated by ``python -m biometrics.face.evaluation._calibration``; do not edit)."""\n\n'
        "# scores of templates with SFace parts (fused, the default engine)\n"
        f"THRESHOLDS: dict[str, float] = {json.dumps(thresholds, indent=4)}\n\n"
        "# cosine of dlib-only templates (SFace not installed, or a version 1 or 2 template)\n"
        f"THRESHOLDS_DLIB: dict[str, float] = {json.dumps(dlib, indent=4)}\n\n"
        "# score fusion of dlib and SFace (``_match.fuse``) and the fusion of live frames (``_fusion``)\n"
        f"FUSION: dict = {json.dumps(fusion, indent=4)}\n\n"
        f"CALIBRATION: dict = {calibration}\n"
    )
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m biometrics.face.evaluation._calibration", description=__doc__.split("\n")[0])
    parser.add_argument("--lfw", type=Path, required=True, help="folder with labels.csv and pairs.txt")
    parser.add_argument("--cache", type=Path, default=None, help="template sets cache (read when present, else written)")
    parser.add_argument("--out", type=Path, default=_MODULE, help="thresholds module to write")
    parser.add_argument("--dry-run", action="store_true", help="print, do not write")
    args = parser.parse_args(argv)
    result = calibrate(args.lfw, cache=args.cache)
    json.dump({"thresholds": result["thresholds"], "thresholds_dlib": result["thresholds_dlib"],
               "fusion": {k: result["params"][k] for k in ("weight", "impostor_stats", "frames")},
               "cross_validation": _cv_summary(result["cv"]),
               "fit_figures": {n: h["params"]["fit_figures"] for n, h in result["cv"]["halves"].items()}},
              sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    if not args.dry_run:
        write_thresholds(result, args.out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
