"""``smartborder flow simulate|size|scenarios`` through click."""

from __future__ import annotations

import json

import pytest
import tomli_w
from click.testing import CliRunner

import flow
from smartborder.cli import main

from ._scenarios import LIGHT_LAYOUTS_ARGS, light, light_layouts, small_dict


def _scenario_file(tmp_path, data=None):
    p = tmp_path / "hall.toml"
    p.write_text(tomli_w.dumps(data or small_dict()), encoding="utf-8")
    return p


def test_simulate_json_is_reproducible_and_writes_plot_and_report(tmp_path):
    sc = _scenario_file(tmp_path)
    runner = CliRunner()
    args = ["flow", "simulate", str(sc), "--seed", "5", "--json", "--gate-bench", str(tmp_path / "none.json")]
    a = runner.invoke(main, [*args, "--plot", str(tmp_path / "out.png"), "--report", str(tmp_path / "out.md")])
    assert a.exit_code == 0, a.output
    b = runner.invoke(main, args)
    assert a.output == b.output
    data = json.loads(a.output)
    assert data["seed"] == 5 and data["travellers"] > 0
    assert {"p50", "p95", "max"} <= set(data["wait_s"]["overall"])
    assert {"by_category", "by_direction", "by_route", "by_resource"} <= set(data["wait_s"])
    assert data["throughput_per_hour"][0]["hour"] == "07:00"
    assert set(data["utilisation"]) == {"egate", "booth", "kiosk", "officer"}
    assert "count" in data["referrals"] and data["target"]["p95_wait_s"] == 300
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "out.md").read_text(encoding="utf-8").startswith("# small hall")
    c = runner.invoke(main, [*args[:3], "--seed", "6", "--json"])
    assert c.exit_code == 0 and c.output != a.output
    # issue #26 item 4: both layouts beside each other, on the same travellers
    assert data["layout"] == "two_stop" and set(data["layouts"]) == {"two_stop", "one_stop"}
    for lay in data["layouts"].values():
        assert {"p95_queue_s", "gates", "booths", "kiosks", "peak_queued", "area_m2", "target_met", "layout",
                "area"} <= set(lay)
        assert lay["travellers"] == data["travellers"] and lay["area_m2"] > 0
    assert data["layouts"]["two_stop"]["stops"]["this_side"]["p95_queue_s"] == data["wait_s"]["overall"]["p95"]


def test_simulate_text_with_overrides(tmp_path):
    r = CliRunner().invoke(main, ["flow", "simulate", str(_scenario_file(tmp_path)), "--egates", "4", "--booths", "6"])
    assert r.exit_code == 0, r.output
    assert "4 e-gates, 6 booths" in r.output and "p95" in r.output
    assert "two_stop p95 queue" in r.output and "one_stop p95 queue" in r.output and "m²" in r.output
    n = CliRunner().invoke(main, ["flow", "simulate", str(_scenario_file(tmp_path)), "--egates", "4", "--booths", "6",
                                  "--no-layouts"])
    assert n.exit_code == 0, n.output
    assert "4 e-gates, 6 booths" in n.output and "p95 queue" not in n.output and "layouts" not in n.output
    assert n.output.splitlines() == r.output.splitlines()[:len(n.output.splitlines())]
    j = CliRunner().invoke(main, ["flow", "simulate", str(_scenario_file(tmp_path)), "--no-layouts", "--json"])
    assert j.exit_code == 0 and "layouts" not in json.loads(j.output)


def test_size_json(tmp_path):
    r = CliRunner().invoke(main, ["flow", "size", str(_scenario_file(tmp_path)), "--target-p95-wait", "60",
                                  "--seed", "3", "--max-egates", "8", "--max-booths", "10", "--max-kiosks", "3",
                                  "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["met"] and d["p95_wait_s"] <= 60 and d["target_p95_wait_s"] == 60
    assert d["one_fewer"]["egates"]["met"] is False
    assert set(d["mix_per_hall"]) == {"egates", "booths", "kiosks", "officers"}


def test_size_layouts_json_and_text(tmp_path, monkeypatch):
    # the sizing itself is tested in test_layouts; here the command's wiring and output, on the same result
    a = LIGHT_LAYOUTS_ARGS
    calls = []

    def size_layouts(sc, target, **kwargs):
        calls.append((sc.name, sc.travellers_per_day, target, kwargs))
        return light_layouts()

    monkeypatch.setattr(flow, "size_layouts", size_layouts)
    light_file = small_dict()
    light_file["scenario"]["travellers_per_day"] = light().travellers_per_day
    args = ["flow", "size", str(_scenario_file(tmp_path, light_file)), "--target-p95-wait", str(a["target"]),
            "--seed", str(a["seed"]), "--max-egates", str(a["max_egates"]), "--max-booths", str(a["max_booths"]),
            "--max-kiosks", str(a["max_kiosks"]), "--layouts"]
    r = CliRunner().invoke(main, [*args, "--json"])
    assert r.exit_code == 0, r.output
    name, per_day, target, kwargs = calls[0]
    assert (name, per_day, target) == ("small hall", light().travellers_per_day, 60)
    assert {k: kwargs[k] for k in ("seed", "max_egates", "max_booths", "max_kiosks")} == {
        k: a[k] for k in ("seed", "max_egates", "max_booths", "max_kiosks")}
    assert kwargs["criterion"] == "overall" and kwargs["replications"] == 1
    d = json.loads(r.output)
    assert d["target_p95_wait_s"] == 60 and d["seed"] == 3 and set(d["layouts"]) == {"two_stop", "one_stop"}
    for lay in d["layouts"].values():
        assert lay["met"] and lay["p95_queue_s"] <= 60
        assert {"gates", "booths", "kiosks", "area_m2", "per_hall", "crossing_cost"} <= set(lay)
    t = CliRunner().invoke(main, args)
    assert t.exit_code == 0, t.output
    assert "two_stop per hall" in t.output and "one_stop per hall" in t.output and "m²" in t.output
    for kind, lay in light_layouts().items():
        line = next(x for x in t.output.splitlines() if x.strip().startswith(kind))
        assert f"{lay['gates']} e-gates" in line and f"area {lay['area_m2']:.0f} m²" in line


def test_malformed_scenario_is_a_clean_error(tmp_path):
    bad = small_dict()
    bad["mix"]["border_pass"] = 0.5
    r = CliRunner().invoke(main, ["flow", "simulate", str(_scenario_file(tmp_path, bad))])
    assert r.exit_code == 1
    assert "mix: shares must sum to 1" in r.output
    r = CliRunner().invoke(main, ["flow", "simulate", "no_such_scenario"])
    assert r.exit_code == 1 and "bac_luan_typical" in r.output


def test_scenarios_lists_the_bundled_files():
    r = CliRunner().invoke(main, ["flow", "scenarios"])
    assert r.exit_code == 0
    assert "bac_luan_typical" in r.output and "bac_luan_tet_peak" in r.output and "bac_luan_one_stop" in r.output


def test_size_layouts_refuses_plot_and_report(tmp_path, monkeypatch):
    monkeypatch.setattr(flow, "size_layouts", lambda *a, **k: pytest.fail("sized despite a usage error"))
    base = ["flow", "size", str(_scenario_file(tmp_path)), "--layouts"]
    for extra, named in ((["--plot", str(tmp_path / "p.png")], "--plot"),
                         (["--report", str(tmp_path / "r.md")], "--report")):
        r = CliRunner().invoke(main, [*base, *extra])
        assert r.exit_code == 2 and named in r.output and "--layouts" in r.output, r.output
    r = CliRunner().invoke(main, [*base, "--plot", str(tmp_path / "p.png"), "--report", str(tmp_path / "r.md")])
    assert r.exit_code == 2 and "--plot and --report" in r.output
    assert not (tmp_path / "p.png").exists() and not (tmp_path / "r.md").exists()


def test_simulate_text_judges_each_layout_and_flags_an_overloaded_one(tmp_path):
    r = CliRunner().invoke(main, ["flow", "simulate", str(_scenario_file(tmp_path)), "--target-p95-wait", "100000"])
    assert r.exit_code == 0, r.output
    lines = [x for x in r.output.splitlines() if "p95 queue" in x]
    assert len(lines) == 2 and all(x.endswith("target met") for x in lines)
    assert "OVERLOADED" not in r.output
    jammed = small_dict()
    jammed["resources"] = {"egates": 1, "booths": 1, "kiosks": 0}   # 1500 travellers in 3 h
    r = CliRunner().invoke(main, ["flow", "simulate", str(_scenario_file(tmp_path, jammed))])
    assert r.exit_code == 0, r.output
    lines = [x for x in r.output.splitlines() if "p95 queue" in x]
    assert len(lines) == 2 and all(x.endswith("target NOT met") for x in lines)
    flagged = [x for x in r.output.splitlines() if "OVERLOADED" in x]
    assert len(flagged) == 2 and all("flow size --layouts" in x and "area" in x for x in flagged)
