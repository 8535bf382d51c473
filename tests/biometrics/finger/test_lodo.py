"""Leave-one-database-out evaluation (issue #21): the tuning never sees the held-out set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from biometrics.finger import evaluation
from biometrics.finger.evaluation import Candidate, FvcScores, Scorer, leave_one_out, load_image, lodo_fvc
from smartborder.commands.eval_finger import finger

FINGERS, IMPRESSIONS = (101, 102, 103, 104), (1, 2, 3)
SETS = ("a", "b", "c", "d", "e")


def _robust(f: int, m: int) -> int:
    # separates fingers on every set, but 101_3 looks like 102_1: a small EER everywhere
    return 85 if (f, m) == (101, 3) else 40 * (f - 100) + 5 * m


def _fragile(s: str, f: int, m: int) -> int:
    # perfect on sets a-d; on e it encodes the impression, not the finger
    return 40 * (f - 100) + m if s != "e" else 60 * m


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Five tiny FVC-named sets; pixel (0, 0) carries what the robust scorer reads, (0, 1) the fragile one."""
    root = tmp_path_factory.mktemp("fvc")
    for s in SETS:
        d = root / s
        d.mkdir()
        for f in FINGERS:
            for m in IMPRESSIONS:
                img = np.zeros((4, 4), np.uint8)
                img[0, 0], img[0, 1] = _robust(f, m), _fragile(s, f, m)
                Image.fromarray(img).save(d / f"{f}_{m}.png")
    return root


def _scorers() -> dict[str, Scorer]:
    def match(a, b):
        return 1.0 - abs(float(a) - float(b)) / 255.0

    return {"robust": Scorer("robust", lambda img, d: img[0, 0], match),
            "fragile": Scorer("fragile", lambda img, d: img[0, 1], match)}


CANDIDATES = [Candidate("robust", ("robust",)), Candidate("fragile", ("fragile",))]


def test_tuning_never_reads_the_held_out_set(root):
    events: list[tuple[str, str]] = []

    def load(path: Path) -> np.ndarray:
        events.append(("read", path.parent.name))
        return load_image(path)

    def log(phase: str, held: Path) -> None:
        events.append((phase, held.name))

    dirs = [root / s for s in SETS]
    out = lodo_fvc(dirs, FvcScores(_scorers(), load=load), CANDIDATES, log=log)
    for s in SETS:
        start = events.index(("tune", s))
        end = events.index(("report", s))
        assert ("read", s) not in events[start:end], f"set {s} was read while tuning for it"
        assert any(e[0] == "read" for e in events[start:end]) or start > 0  # the tuning read the others (or had them cached)
    # every image is read once per scorer: results are kept across folds
    reads = [e for e in events if e[0] == "read"]
    assert len(reads) == len(SETS) * len(FINGERS) * len(IMPRESSIONS) * 2
    assert [r["dataset"] for r in out["sets"]] == list(SETS)


def test_the_method_is_chosen_on_the_other_sets_only(root):
    out = lodo_fvc([root / s for s in SETS], FvcScores(_scorers()), CANDIDATES)
    rows = {r["dataset"]: r for r in out["sets"]}
    # holding out e, the fragile scorer is perfect on a-d, so it is chosen, and fails on e:
    # an oracle that looked at e would have picked the robust one
    assert rows["e"]["method"] == "fragile" and rows["e"]["train_eer_mean"] == 0.0
    assert rows["e"]["eer"] > 0.3
    # holding out any other set, e is among the training sets and exposes the fragile scorer
    for s in "abcd":
        assert rows[s]["method"] == "robust"
        assert 0 < rows[s]["eer"] < 0.2
    assert out["worst"] == {"dataset": "e", "eer": rows["e"]["eer"]}
    assert out["macro"]["eer"] == pytest.approx(np.mean([r["eer"] for r in out["sets"]]), abs=1e-5)
    assert (rows["a"]["genuine"], rows["a"]["impostor"]) == (12, 6)


def test_fitted_parameters_come_from_the_training_sets(root):
    seen: list[list[int]] = []

    def fit(train):
        seen.append(sorted(len(g) + len(i) for g, i in train))
        offset = float(np.mean([i.mean() for _, i in train]))  # e.g. an impostor-mean normalisation
        return lambda m: m[:, 0] - offset

    lodo_fvc([root / s for s in SETS], FvcScores(_scorers()), [Candidate("shifted", ("robust",), fit)])
    assert seen == [[18] * 4] * 5  # four training sets per fold, never five


def test_generic_leave_one_out_passes_only_the_others():
    calls = []
    rows = leave_one_out([1, 2, 3], lambda train: calls.append(train) or sum(train), lambda held, p: {"held": held, "p": p})
    assert calls == [[2, 3], [1, 3], [1, 2]]
    assert rows == [{"held": 1, "p": 5}, {"held": 2, "p": 4}, {"held": 3, "p": 3}]


def test_lodo_needs_two_sets(root):
    with pytest.raises(evaluation.FvcDatasetError):
        lodo_fvc([root / "a"], FvcScores(_scorers()), CANDIDATES)


def test_cli_lodo_table_and_json(root, monkeypatch):
    monkeypatch.setattr(evaluation, "default_candidates", lambda: (_scorers(), CANDIDATES))
    res = CliRunner().invoke(finger, ["--all", str(root), "--lodo", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{"):])
    assert [r["dataset"] for r in out["sets"]] == list(SETS)
    assert out["worst"]["dataset"] == "e" and {"eer", "fmr100", "fmr1000", "zero_fmr"} <= set(out["macro"])
    res = CliRunner().invoke(finger, ["--all", str(root), "--lodo"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert any(line.startswith("macro") for line in lines)
    assert any(line.startswith("worst") and "e" in line.split()[1] for line in lines)
    table = [line.split() for line in lines if line.count("%") >= 4 and line.split()[0] in SETS]
    assert [(r[0], r[1]) for r in table] == [("a", "robust"), ("b", "robust"), ("c", "robust"), ("d", "robust"),
                                             ("e", "fragile")]


def test_cli_lodo_needs_all(root):
    res = CliRunner().invoke(finger, ["--fvc", str(root / "a"), "--lodo"])
    assert res.exit_code != 0 and "--all" in res.output


def test_clopper_pearson_matches_the_exact_interval():
    from scipy.stats import binom

    from biometrics.finger.evaluation import clopper_pearson

    lo, hi = clopper_pearson(0, 14400)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 14400), rel=1e-9)  # closed form for k = 0
    lo, hi = clopper_pearson(14, 14400)
    assert lo < 14 / 14400 < hi
    # the defining property: at the lower bound, k or more events have probability 2.5 %; at the upper, k or fewer
    assert binom.sf(13, 14400, lo) == pytest.approx(0.025, rel=1e-6)
    assert binom.cdf(14, 14400, hi) == pytest.approx(0.025, rel=1e-6)
    assert clopper_pearson(5, 5)[1] == 1.0
    with pytest.raises(ValueError):
        clopper_pearson(3, 2)


def test_score_fusion_weight_is_fitted_on_the_training_sets(root):
    from biometrics.finger.evaluation import znorm_sum

    fused = Candidate("fused", ("robust", "fragile"), znorm_sum())
    out = lodo_fvc([root / s for s in SETS], FvcScores(_scorers()), [fused])
    rows = {r["dataset"]: r for r in out["sets"]}
    # trained on a-d the fragile scorer is perfect, so the fusion leans on it and fails on e
    assert rows["e"]["train_eer_mean"] == 0.0 and rows["e"]["eer"] > 0.2
    # with e among the training sets the fit keeps enough of the robust scorer
    assert all(rows[s]["eer"] < 0.2 for s in "abcd")


def test_default_candidates_name_the_engine_extractors():
    scorers, candidates = evaluation.default_candidates()
    assert {"stft", "leader@scale=0.6", "leader@scale=0.7"} <= set(scorers)
    assert all(set(c.scorers) <= set(scorers) for c in candidates)


def test_scorers_that_share_an_extraction_read_each_image_once(root):
    calls: list[int] = []

    def extract(img, d):
        calls.append(int(img[0, 0]))
        return img[0, 0]

    def match(a, b):
        return 1.0 - abs(float(a) - float(b)) / 255.0

    scorers = {"x": Scorer("x", extract, match, shares="same"), "y": Scorer("y", extract, lambda a, b: match(a, b) ** 2, shares="same")}
    scores = FvcScores(scorers)
    gx, _ = scores.matrices(root / "a", ["x"])
    gy, _ = scores.matrices(root / "a", ["y"])
    assert len(calls) == len(FINGERS) * len(IMPRESSIONS)  # the second scorer reused the templates
    assert np.allclose(gy[:, 0], gx[:, 0] ** 2)
    assert scores.get(root / "a", "y")["ms_extract"] is not None


def test_weighted_candidates_are_offered_to_the_leave_one_out():
    scorers, candidates = evaluation.default_candidates()
    weighted = [n for n in scorers if "~r" in n]
    assert weighted and all(scorers[n].shares == "leader@scale=0.7" for n in weighted)
    assert {c.name for c in candidates} >= set(weighted)
