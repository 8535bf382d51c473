"""Cross-validated calibration: identity-disjoint halves, fitting that never reads the reporting half,
the vectorised frame rules equal to the runtime ones, and the generated thresholds module."""

from __future__ import annotations

import ast
import csv

import numpy as np
import pytest

from biometrics.face._fusion import fuse_frame_scores
from biometrics.face.evaluation._cv import (
    HalfLeakError,
    HalfView,
    _half_scores,
    _rule_scores,
    clopper_pearson,
    cross_validate,
    split_identities,
)
from tests.conftest import shared_path


def _synthetic(n_ids: int = 60, per: int = 3, frames: int = 4, seed: int = 0) -> dict:
    """Template sets shaped as ``_frames`` makes them: identities with 3 images, 4 frames each,
    unit 128-D parts (dlib, SFace reference, SFace probe) drawn around a per-identity centre."""
    rng = np.random.default_rng(seed)
    ids = [f"id{i:03d}" for i in range(n_ids) for _ in range(per)]
    centre = {i: rng.normal(size=384) for i in set(ids)}

    def vec(identity: str) -> np.ndarray:
        v = (centre[identity] + rng.normal(size=384)).reshape(3, 128)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).ravel().astype(np.float32)

    n = len(ids)
    plain = np.stack([vec(i) for i in ids])
    chip = np.stack([vec(i) for i in ids])
    live = np.stack([[plain[k]] + [vec(ids[k]) for _ in range(frames - 1)] for k in range(n)])
    live[5, 2] = np.nan  # an unusable frame
    chip[7] = np.nan  # a failure to acquire
    iu, ju = np.triu_indices(n, 1)
    same = np.asarray(ids)[iu] == np.asarray(ids)[ju]
    return {"version": 1, "frames": frames, "files": tuple(f"f{k}.jpg" for k in range(n)), "identities": tuple(ids),
            "used": np.arange(n), "genuine": np.column_stack([iu[same], ju[same]]),
            "impostor": np.column_stack([iu[~same], ju[~same]]), "plain": plain, "chip": chip, "live": live,
            "quality": rng.uniform(0.5, 1.0, size=(n, frames, 2)).astype(np.float32), "source": "synthetic"}


@pytest.fixture(scope="module")
def sets() -> dict:
    return _synthetic()


def test_split_is_identity_disjoint_covering_and_balanced():
    ids = [f"p{i}" for i in range(101)]
    genuine = [f"p{i % 30}" for i in range(200)]  # 30 identities with genuine pairs, unevenly
    a, b = split_identities(ids, genuine)
    assert not a & b and a | b == set(ids)
    count = {n: genuine.count(n) for n in ids}
    assert abs(sum(count[n] for n in a) - sum(count[n] for n in b)) <= max(count.values())
    assert split_identities(ids, genuine) == (a, b)  # seeded: the same halves every run
    assert split_identities(ids, genuine, seed=7) != (a, b)


def test_split_of_lfw_dev_pairs_is_identity_disjoint():
    root = shared_path("faces", "lfw-dev")
    with (root / "labels.csv").open(newline="", encoding="utf-8") as f:
        ids = [r["identity"] for r in csv.DictReader(f)]
    genuine = [line.split()[0] for line in (root / "pairs.txt").read_text().splitlines()[1:] if len(line.split()) == 3]
    a, b = split_identities(ids, genuine)
    assert not a & b and a | b == set(ids)
    ga, gb = sum(g in a for g in genuine), sum(g in b for g in genuine)
    assert ga + gb == 600 and abs(ga - gb) <= 20


def test_a_half_view_refuses_rows_of_the_other_half(sets):
    a, b = split_identities(np.asarray(sets["identities"]), [])
    view = HalfView(sets, a)
    ids = np.asarray(sets["identities"])
    assert set(ids[view.rows]) <= a
    assert all(ids[i] in a and ids[j] in a for i, j in view.impostor)  # no pair across halves
    assert all(ids[i] in a and ids[j] in a for i, j in view.genuine)
    other = np.flatnonzero([i in b for i in ids])[:3]
    with pytest.raises(HalfLeakError):
        view.read("plain", other)
    with pytest.raises(HalfLeakError):
        view.read("live", np.concatenate([view.rows[:2], other[:1]]))


def test_fitting_reads_only_its_own_half_and_reports_on_the_other(sets):
    reads: list[tuple[str, str, np.ndarray]] = []
    cv = cross_validate(sets, on_read=lambda phase, kind, rows: reads.append((phase, kind, rows)))
    ids = np.asarray(sets["identities"])
    a_ids, b_ids = cv["halves"]["A"]["_fit_ids"], cv["halves"]["B"]["_fit_ids"]
    assert not a_ids & b_ids
    phases = {p for p, _, _ in reads}
    assert phases == {"fit A", "report A", "fit B", "report B"}
    for phase, kind, rows in reads:
        seen = set(ids[rows])
        if phase in ("fit A", "report B"):  # fit on A; the report of the B-fitted parameters is on A
            assert seen <= a_ids, (phase, kind)
        else:
            assert seen <= b_ids, (phase, kind)
    for half in cv["halves"].values():
        p, r = half["params"], half["report"]
        assert set(p["thresholds"]) == {"fmr_1e-2", "fmr_1e-3", "fmr_5e-4"}
        assert p["thresholds"]["fmr_1e-2"] <= p["thresholds"]["fmr_1e-3"] <= p["thresholds"]["fmr_5e-4"]
        for protocol in ("plain", "chip"):
            at = r[protocol]["at_fitted_threshold"]["0.0005"]
            lo, hi = at["fnmr_ci95"]
            assert lo <= at["fnmr"] <= hi and at["non_matches"] == round(at["fnmr"] * r["genuine"])
            assert 0 <= r[protocol]["fta"] < 0.05
        assert p["frames"]["rule"] in ("best_k_mean", "mean", "quality_mean", "template_mean", "max")
    assert max(h["report"]["chip"]["fta"] for h in cv["halves"].values()) > 0  # the synthetic failure counts


def test_the_report_splits_failures_to_acquire_from_non_matches_as_iso_19795_1_does(sets):
    """A pair without a template is a rejection in ``at_fitted_threshold`` (the FRR) and, in ``acquired``, a
    failure to enrol or acquire, not a non-match: counted from the fixture's own NaN templates (the reference
    ``chip[7]``), not from the report."""
    cv = cross_validate(sets)
    ids = np.asarray(sets["identities"])
    seen = 0
    for half in cv["halves"].values():
        r = half["report"]
        reported = np.array([i not in half["_fit_ids"] for i in ids])
        pairs = sets["genuine"][reported[sets["genuine"][:, 0]] & reported[sets["genuine"][:, 1]]]
        for protocol in ("plain", "chip"):
            no_template = int(sum(np.isnan(sets[protocol][a]).all() or np.isnan(sets["live"][b, 0]).all()
                                  for a, b in pairs))
            acq, at = r[protocol]["acquired"], r[protocol]["at_fitted_threshold"]
            assert acq["no_template_genuine_pairs"] == no_template, (protocol, acq)
            seen += no_template
            for key in ("0.01", "0.001", "0.0005"):
                fnmr = acq["fnmr_at_fitted_threshold"][key]
                assert fnmr["non_matches"] == at[key]["non_matches"] - no_template
                assert fnmr["fnmr"] == pytest.approx(fnmr["non_matches"] / (len(pairs) - no_template))
                assert acq["frr_at_fitted_threshold"][key] == pytest.approx(at[key]["fnmr"], abs=1e-6)
                assert fnmr["false_matches"] == at[key]["false_matches"]  # a missing template never matches
    assert seen == 1  # chip[7]'s one genuine pair as reference (7, 8), in the half that reports it


def test_a_rate_over_no_comparison_is_undefined():
    from biometrics.face.evaluation._cv import _fnmr_fmr

    r = _fnmr_fmr(np.array([]), np.array([0.1, 0.2]), 0.15)
    assert np.isnan(r["fnmr"]) and r["non_matches"] == 0 and r["fmr"] == 0.5


@pytest.mark.parametrize("rule", ["best_k_mean", "max", "mean", "quality_mean"])
def test_vectorised_frame_rules_equal_the_runtime_rule(sets, rule):
    a, _ = split_identities(np.asarray(sets["identities"]), [])
    view = HalfView(sets, a)
    sc = _half_scores(view, "plain", 4)
    stats = {"dlib": [0.0, 0.1], "sface": [0.0, 0.1]}
    from biometrics.face._match import fuse_with

    vec = _rule_scores(sc, "genuine", rule, 0.6, stats, 4)
    per_frame = fuse_with(sc.dlib["genuine"], sc.sface["genuine"], 0.6, stats)
    for k in range(per_frame.shape[1]):
        scores = [None if np.isnan(s) else float(s) for s in per_frame[:, k]]
        expected = fuse_frame_scores(scores, [float(q) for q in sc.quality["genuine"][:, k]], rule=rule)
        assert vec[k] == pytest.approx(expected, abs=1e-9)


def test_clopper_pearson_bounds():
    assert clopper_pearson(0, 300) == [0.0, pytest.approx(0.0122, abs=1e-4)]
    lo, hi = clopper_pearson(3, 300)
    assert lo < 0.01 < hi and hi == pytest.approx(0.0289, abs=1e-3)
    assert clopper_pearson(0, 0) == [0.0, 1.0]


def test_write_thresholds_keeps_the_names_and_records_both_halves(sets, tmp_path):
    from biometrics.face.evaluation._calibration import _thresholds_under, write_thresholds
    from biometrics.face.evaluation._cv import fit, report

    cv = cross_validate(sets)
    whole = HalfView(sets, frozenset(sets["identities"]))
    params = fit(whole)
    f, _ = _thresholds_under(whole, params)
    assert f == pytest.approx(params["thresholds"])  # the same rule as fit's thresholds
    out = tmp_path / "_thresholds.py"
    write_thresholds({"thresholds": params["thresholds"], "thresholds_dlib": params["thresholds_dlib"],
                      "params": params, "cv": cv, "in_sample": report(whole, params), "data": "synthetic",
                      "pairs": "synthetic", "frames": 4}, out)
    module = ast.parse(out.read_text())
    names = {t.id for node in module.body if isinstance(node, ast.AnnAssign) for t in [node.target]}
    assert names == {"THRESHOLDS", "THRESHOLDS_DLIB", "FUSION", "CALIBRATION"}
    scope: dict = {}
    exec(compile(module, str(out), "exec"), scope)  # noqa: S102 - the file we just generated
    assert list(scope["THRESHOLDS"]) == ["fmr_1e-2", "fmr_1e-3", "fmr_5e-4"]
    assert set(scope["CALIBRATION"]["cross_validation"]["halves"]) == {"A", "B"}
    half = scope["CALIBRATION"]["cross_validation"]["halves"]["A"]
    assert half["reported_on"] == "half B" and "0.0005" in half["report"]["chip"]["at_fitted_threshold"]
    assert scope["FUSION"]["frames"]["rule"] == params["frames"]["rule"]
