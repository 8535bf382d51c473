"""The passive PAD evaluation's own arithmetic (biometrics.face.evaluation._pad_passive), on synthetic features."""

from __future__ import annotations

import numpy as np

from biometrics.face._pad_texture import N_FEATURES
from biometrics.face.evaluation import _pad_passive as pp


def _data(n_ids: int = 40, shift: float = 1.5, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    rows, feats = [], []
    for i in range(n_ids):
        name = f"person_{i}"
        for kind in pp.KINDS:
            mu = shift if kind == "bona_fide" else -shift
            x = rng.normal(0, 1, (5, N_FEATURES)).astype(np.float32)
            x[:, :3] += mu  # three informative features
            rows.append({"identity": name, "half": pp.half_of(name), "kind": kind, "n_frames": 15, "n_face_frames": 15,
                         "multiple": False, "first": len(feats), "count": 5, "moire": 3.1, "parallax": None,
                         "foreshortening": None})
            feats.extend(x)
    return {"rows": rows, "features": np.array(feats), "ms_per_frame": 1.0}


def test_halves_are_deterministic_and_both_used():
    halves = [pp.half_of(f"person_{i}") for i in range(200)]
    assert halves == [pp.half_of(f"person_{i}") for i in range(200)]
    assert 60 < halves.count("A") < 140


def test_logistic_model_separates_separable_classes():
    data = _data()
    model = pp.train(data, "A")
    x, y = pp._xy(data, [r for r in data["rows"] if r["half"] == "B"])
    assert ((model.logit(x) > 0) == (y == 1)).mean() > 0.95


def test_calibrated_live_threshold_is_above_every_out_of_fold_attack():
    data = _data(shift=0.6)
    th = pp.calibrate(data, "A")
    attacks = [s for k, s in pp._oof_scores(data, "A") if k != "bona_fide"]
    assert th["live_at_or_above"] > max(attacks)
    assert 0 < th["attack_below"] <= th["live_at_or_above"] < 1


def test_cross_validation_reports_apcer_with_ci_per_attack_type_on_the_other_half():
    res = pp.cross_validate(_data())
    assert [f["trained_and_calibrated_on"] + f["half"] for f in res["folds"]] == ["AB", "BA"]
    for fold in res["folds"]:
        assert set(fold["apcer"]) == {"print", "screen", "replay"}
        for kind, (lo, hi) in fold["apcer_ci95"].items():
            assert lo <= fold["apcer"][kind] <= hi and hi > 0  # a zero count still has an upper bound
        assert fold["apcer_any_prefix"]["print"] >= fold["apcer"]["print"]
        assert fold["bona_fide_live_share"] + fold["bona_fide_doubt_share"] + fold["bpcer"] <= 1.0 + 1e-9
