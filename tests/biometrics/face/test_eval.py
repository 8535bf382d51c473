"""Evaluation harness: exact DET figures on known scores, pair files, and the CLI on a small real set."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from biometrics.face.evaluation import (
    all_pairs,
    det_figures,
    evaluate,
    read_dataset,
    read_lfw_pairs,
    threshold_at_fmr,
)
from tests.conftest import shared_path

FILES = ["Hugo_Chavez/Hugo_Chavez_0001.jpg", "Hugo_Chavez/Hugo_Chavez_0002.jpg", "Hugo_Chavez/Hugo_Chavez_0003.jpg",
         "Tony_Blair/Tony_Blair_0002.jpg", "Tony_Blair/Tony_Blair_0003.jpg",
         "Jacques_Chirac/Jacques_Chirac_0001.jpg", "Jacques_Chirac/Jacques_Chirac_0002.jpg"]


def test_threshold_at_fmr_is_exact():
    impostor = np.arange(1000, dtype=float)  # scores 0..999
    t = threshold_at_fmr(impostor, 0.01)  # at most 10 impostors may reach t
    assert np.sum(impostor >= t) == 10 and np.sum(impostor >= np.nextafter(t, -np.inf)) == 11
    assert np.sum(impostor >= threshold_at_fmr(impostor, 5e-4)) == 0


def test_det_figures_on_known_scores():
    impostor = np.linspace(0.0, 0.5, 10_000)
    genuine = np.concatenate([np.linspace(0.6, 1.0, 990), np.full(10, -np.inf)])  # 1 % failures to acquire
    f = det_figures(genuine, impostor)
    assert set(f["fnmr_at_fmr"]) == {"0.01", "0.001", "0.0005"}
    assert set(f["thresholds"]) == {"fmr_1e-2", "fmr_1e-3", "fmr_5e-4"}
    for key, target in (("0.01", 1e-2), ("0.001", 1e-3), ("0.0005", 5e-4)):
        assert f["fmr_achieved"][key] <= target
        assert f["fnmr_at_fmr"][key] == pytest.approx(0.01)  # only the failures miss
    assert f["eer"] == pytest.approx(0.01, abs=1e-3)


def test_lfw_pairs_file_and_all_pairs():
    root = shared_path("faces", "lfw-dev")
    data = read_dataset(root / "labels.csv")
    pairs = read_lfw_pairs(root / "pairs.txt", data)
    assert len(pairs.genuine) == 600
    ids = np.asarray(data.identities)
    assert (ids[pairs.genuine[:, 0]] == ids[pairs.genuine[:, 1]]).all()
    assert (ids[pairs.impostor[:, 0]] != ids[pairs.impostor[:, 1]]).all()
    assert len(pairs.impostor) > 100_000  # 600 listed + cross-identity pairs among the same images
    a, b = all_pairs(data, min_impostors=1000), all_pairs(data, min_impostors=1000)
    assert np.array_equal(a.impostor, b.impostor)  # deterministic sampling
    assert len(a.genuine) == sum(n * (n - 1) // 2 for n in np.unique(ids, return_counts=True)[1])


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    root = shared_path("faces", "lfw-dev")
    d = tmp_path_factory.mktemp("faces")
    labels = d / "labels.csv"
    labels.write_text("file,identity\n" + "".join(f"{f},{f.split('/')[0]}\n" for f in FILES))
    pairs = d / "pairs.csv"
    pairs.write_text("a,b,same\n" + "".join(f"{FILES[i]},{FILES[j]},{int(same)}\n" for i, j, same in
                                            [(0, 1, 1), (0, 2, 1), (3, 4, 1), (5, 6, 1), (0, 5, 0), (3, 1, 0)]))
    return root, labels, pairs


def test_evaluate_plain_on_real_images(small_set):
    root, labels, _ = small_set
    report, systems = evaluate(labels, root, protocol="plain", min_impostors=10)
    assert report["fta"] == 0.0
    assert report["genuine"] == 3 + 1 + 1 and report["impostor"] == 21 - 5
    assert min(systems[0].genuine) > max(systems[0].impostor)
    assert report["eer"] == 0.0 and report["ms_per_template"] > 0


def test_evaluate_chip_protocol(small_set):
    root, labels, pairs = small_set  # references: 3 images stored as DG2, probes: the others as they are
    report, systems = evaluate(labels, root, pairs_csv=pairs, protocol="chip")
    assert report["protocol"] == "chip" and report["fta"] == 0.0
    assert report["genuine"] == 4 and report["impostor"] == 2
    assert min(systems[0].genuine) > max(systems[0].impostor)


def test_cli_json_plot_and_baseline(small_set, tmp_path):
    from smartborder.commands.eval_face import face

    root, labels, pairs = small_set
    plot = tmp_path / "det.png"
    result = CliRunner().invoke(face, ["--labels", str(labels), "--root", str(root), "--pairs-csv", str(pairs),
                                       "--baseline", "--json", "--plot", str(plot), "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for key in ("fta", "eer", "fnmr_at_fmr", "thresholds", "genuine", "impostor", "ms_per_template"):
        assert key in report and key in report["baseline"]
    assert report["genuine"] == 4 and report["impostor"] == 2
    assert plot.stat().st_size > 1000

    two = tmp_path / "two.csv"
    two.write_text("a,b,same\n" + f"{FILES[0]},{FILES[1]},1\n{FILES[0]},{FILES[5]},0\n")
    text = CliRunner().invoke(face, ["--labels", str(labels), "--root", str(root), "--pairs-csv", str(two),
                                     "--no-progress"])
    assert text.exit_code == 0 and "FNMR at FMR 0.01" in text.output


def test_cli_refuses_missing_input(tmp_path):
    from smartborder.commands.eval_face import face

    assert CliRunner().invoke(face, []).exit_code != 0
    bad = tmp_path / "labels.csv"
    bad.write_text("wrong,columns\na,b\n")
    result = CliRunner().invoke(face, ["--labels", str(bad), "--no-progress"])
    assert result.exit_code != 0 and "file,identity" in result.output
