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
