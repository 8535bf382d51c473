"""``smartborder eval finger``: FVC protocol harness (small subset) and its error rates."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from biometrics.finger.evaluation import error_rates, fvc_pairs
from smartborder.commands.eval_finger import finger
from tests.conftest import shared_path


def test_error_rates_follow_fvc_definitions():
    r = error_rates(np.array([0.9, 0.8, 0.7, 0.1]), np.array([0.05, 0.2, 0.0, 0.01]))
    assert r["eer"] == pytest.approx(0.25)
    assert r["zero_fmr"] == pytest.approx(0.25)  # threshold above 0.2 rejects the 0.1 genuine
    assert error_rates(np.array([1.0, 0.9]), np.array([0.1, 0.2]))["eer"] == 0.0


def test_fvc_pairs_counts():
    fingers = {f: {m: None for m in range(1, 9)} for f in range(101, 111)}
    gen, imp = fvc_pairs(fingers)
    assert (len(gen), len(imp)) == (280, 45)


def test_cli_json_and_plot(tmp_path):
    d = shared_path("fingerprints", "fvc2002_DB1")
    plot = tmp_path / "det.png"
    res = CliRunner().invoke(finger, ["--fvc", str(d), "--limit", "2", "--json", "--plot", str(plot)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{"):])
    assert {"eer", "fmr100", "fmr1000", "zero_fmr", "genuine", "impostor", "ms_extract", "ms_match"} <= set(out)
    assert (out["genuine"], out["impostor"]) == (56, 1)
    assert out["eer"] <= 0.1
    assert plot.stat().st_size > 1000


def test_cli_refuses_missing_set(tmp_path):
    res = CliRunner().invoke(finger, ["--fvc", str(tmp_path)])
    assert res.exit_code != 0 and "no NNN_M" in res.output


# ---------------------------------------------------------------- quality in the loop (issue #21 item 2)
def test_acquisitions_replay_an_enrolment():
    from biometrics.finger.evaluation import acquisitions

    # pass; three failures = one failure to acquire; pass after one retry; a trailing failure is unfinished
    assert acquisitions([True, False, False, False, False, True, False], 3) == ([0, 5], 1)
    assert acquisitions([False] * 7, 3) == ([], 2)
    assert acquisitions([False, True] * 4, 1) == ([1, 3, 5, 7], 4)
    with pytest.raises(ValueError):
        acquisitions([True], 0)


def _two_fingers_with_a_smudge(tmp_path):
    """The first two fingers of fvc2002_DB1 (copied to a temporary directory for the test only), the
    first impression of finger 101 replaced by a smeared copy that the kiosk's quality check refuses."""
    import shutil

    import cv2
    from PIL import Image

    from biometrics.finger import assess_quality
    from biometrics.finger.evaluation import load_image

    src = shared_path("fingerprints", "fvc2002_DB1")
    d = tmp_path / "fvc"
    d.mkdir()
    for f in (101, 102):
        for m in range(1, 9):
            shutil.copy(src / f"{f}_{m}.tif", d / f"{f}_{m}.tif")
    img = load_image(d / "101_1.tif")
    smeared = cv2.GaussianBlur(img, (0, 0), 6)
    assert not assess_quality(smeared, dpi=500).passed
    (d / "101_1.tif").unlink()
    Image.fromarray(smeared).save(d / "101_1.png")
    return d


def test_recapture_replaces_a_refused_impression_with_the_next(tmp_path):
    from biometrics.finger import PASS_SCORE, assess_quality
    from biometrics.finger.evaluation import evaluate_fvc_recapture, fvc_files, load_image

    d = _two_fingers_with_a_smudge(tmp_path)
    passed = {p.name: assess_quality(load_image(p), dpi=500).passed for imps in fvc_files(d).values() for p in imps.values()}
    assert not passed["101_1.png"]
    r = evaluate_fvc_recapture(d, attempts=3)
    assert r["pass_score"] == PASS_SCORE and r["attempts"] == 3
    assert r["captures"] == 16
    refused = sum(not ok for ok in passed.values())
    assert r["recapture_rate"] == pytest.approx(refused / 16, abs=1e-5)
    assert r["fingers_enrolled"] == 2 and r["failed_acquisitions"] == 0 and r["fta"] == 0.0
    # the refused impression is in no pair: 101 keeps its 7 others (21 pairs) when they all pass
    kept = {f: sum(passed[f"{f}_{m}.tif"] for m in range(2, 9)) + (f == 102 and passed["102_1.tif"]) for f in (101, 102)}
    assert r["acquired"]["genuine"] == sum(k * (k - 1) // 2 for k in kept.values())
    assert r["acquired"]["impostor"] == 1
    assert r["all"]["genuine"] == 56 and r["all"]["impostor"] == 1
    # the smeared impression's genuine pairs score low: leaving it out cannot raise the EER here
    assert r["acquired"]["eer"] <= r["all"]["eer"]


def test_recapture_counts_failures_to_acquire(tmp_path):
    from biometrics.finger.evaluation import evaluate_fvc_recapture

    d = _two_fingers_with_a_smudge(tmp_path)
    r = evaluate_fvc_recapture(d, attempts=2, pass_score=101)  # nothing can pass: every acquisition fails
    assert r["recapture_rate"] == 1.0
    assert r["failed_acquisitions"] == 8 and r["acquisitions"] == 8 and r["fta"] == 1.0
    assert r["acquired"] is None and r["fingers_enrolled"] == 0


def test_cli_recapture_json_and_usage(tmp_path):
    d = _two_fingers_with_a_smudge(tmp_path)
    res = CliRunner().invoke(finger, ["--fvc", str(d), "--recapture", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{"):])
    assert out["attempts"] == 3 and out["pass_score"] == 25
    row = out["sets"][0]
    assert {"fta", "recapture_rate", "acquired", "all", "failed_acquisitions", "quality_reasons"} <= set(row)
    assert out["macro"]["fta"] == 0.0 and out["macro"]["recapture_rate"] > 0
    text = CliRunner().invoke(finger, ["--fvc", str(d), "--recapture", "--attempts", "1"])
    assert text.exit_code == 0 and "FTA" in text.output and "fvc" in text.output
    bad = CliRunner().invoke(finger, ["--fvc", str(d), "--attempts", "2"])
    assert bad.exit_code != 0 and "--recapture" in bad.output
