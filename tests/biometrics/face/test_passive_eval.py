"""The passive PAD evaluation's own arithmetic (biometrics.face.evaluation._pad_passive), on synthetic features."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics.face._pad_texture import MOIRE_INDEX, N_FEATURES
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
            x[:, MOIRE_INDEX] = np.log(3.1)  # each sample's moire peak, as the row's median says
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
        for kind, (lo, hi) in fold["apcer_any_prefix_ci95"].items():
            assert lo <= fold["apcer_any_prefix"][kind] <= hi and hi > 0
            assert fold["apcer_any_prefix_bound"][kind] >= fold["apcer_any_prefix"][kind]
        rule = fold["gate_rule"]
        assert (rule["passive_frames"], rule["passive_max_frames"]) == (6, 12) and fold["prefix_face_frames"] == 15
        assert sum(rule["bona_fide_at_stop"].values()) == sum(rule["bona_fide_at_passive_frames"].values()) \
            == fold["n_bona_fide"]
        assert rule["bona_fide_live_after_doubt"] == (rule["bona_fide_at_stop"].get("live", 0)
                                                     - rule["bona_fide_at_passive_frames"].get("live", 0)) >= 0
        assert fold["bona_fide_live_share"] + fold["bona_fide_doubt_share"] + fold["bpcer"] <= 1.0 + 1e-9


def _row(p: list[float], moire: list[float], n_face_frames: int = 15) -> tuple[dict, dict]:
    """One presentation whose texture model output per sample is ``p`` (a model with a single unit feature)."""
    x = np.zeros((len(p), N_FEATURES), np.float32)
    x[:, 0] = [np.log(v / (1 - v)) for v in p]
    x[:, MOIRE_INDEX] = np.log(moire)
    row = {"identity": "x", "half": "A", "kind": "print", "n_frames": n_face_frames, "n_face_frames": n_face_frames,
           "multiple": False, "first": 0, "count": len(p), "moire": float(np.median(moire)), "parallax": None,
           "foreshortening": None}
    return row, {"rows": [row], "features": x, "ms_per_frame": 1.0}


def _unit_model():
    w = np.zeros(N_FEATURES, np.float32)
    w[0] = 1.0
    return pp.TextureModel(np.zeros(N_FEATURES, np.float32), np.ones(N_FEATURES, np.float32), w, 0.0)


TH = {"attack_below": 0.1, "live_at_or_above": 0.9}


def test_every_prefix_is_replayed_with_the_samples_taken_by_then():
    # samples at face frames 1, 4, 7, 10, 13; the median of the first k decides from face frame 5 on
    row, data = _row([0.5, 0.95, 0.95, 0.95, 0.2], [3.0] * 5)
    decisions, bound = pp.prefix_decisions(data, row, _unit_model(), TH)
    assert len(decisions) == 15 and decisions[:4] == ["unknown"] * 4  # too few face frames
    assert decisions[4:6] == ["doubt", "doubt"]  # median(0.5, 0.95) = 0.725
    assert decisions[6:15] == ["live"] * 9  # median(0.5, 0.95, 0.95) = 0.95 ... median of five = 0.95
    assert bound == [d == "live" for d in decisions]
    assert pp._prefix_live(data, row, _unit_model(), TH) == 7
    assert pp._prefix_live(data, row, _unit_model(), TH, limit=6) is None


def test_the_moire_veto_is_replayed_per_sample_and_the_bound_ignores_it():
    # texture live-like; the moire peak fails (> 4) in the first two samples: the whole presentation's median
    # (2.0) passes, but a session fed frame by frame vetoes "live" until the fourth sample
    row, data = _row([0.95] * 5, [6.0, 6.0, 2.0, 2.0, 2.0])
    decisions, bound = pp.prefix_decisions(data, row, _unit_model(), TH)
    assert decisions[4:9] == ["doubt"] * 5  # median(6, 6), median(6, 6, 2) = 6: the veto (reason moire)
    assert decisions[9:] == ["live"] * 6  # median(6, 6, 2, 2) = 4 (at the cue's threshold: passes), then 2
    assert all(bound[4:])  # the bound calls every decided prefix "live": it drops the veto
    assert pp._result(data, row, _unit_model(), TH).decision == decisions[-1]  # the last prefix is the whole


@pytest.mark.parametrize(("decisions", "stop"), [
    (["unknown"] * 4 + ["live"] * 11, "live"),  # live at frame 5 is taken at frame 6
    (["unknown"] * 4 + ["doubt"] * 4 + ["live"] * 7, "live"),  # doubt at 6, live at 9: within the limit
    (["unknown"] * 4 + ["doubt"] * 8 + ["live"] * 3, "doubt"),  # live only at 13: past the limit
    (["unknown"] * 4 + ["doubt"] * 3 + ["attack"] + ["live"] * 7, "attack"),  # attack at 8 ends it
    (["unknown"] * 4 + ["attack"] + ["live"] * 10, "live"),  # an attack before frame 6 is not yet taken
    (["unknown"] * 15, "unknown"),
    (["unknown"] * 4 + ["doubt"] * 4, "doubt"),  # a shorter presentation: its last verdict
])
def test_the_gate_rule_takes_the_first_live_or_attack_from_frame_6_up_to_12(decisions, stop):
    assert pp.gate_stop(decisions) == stop
