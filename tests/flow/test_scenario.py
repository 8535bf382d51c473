"""Scenario files: the bundled ones load; malformed ones give a named error naming the field."""

from __future__ import annotations

import json

import pytest

import flow

from ._scenarios import small_dict

GOOD = """
[scenario]
name = "tiny"
open = "07:00"
close = "09:00"
travellers_per_day = 100

[directions.exit]
share = 1.0
hourly_profile = [1, 1]

[categories.a]
egate = true
enrolled = 0.5
booth_s = { mean = 40, cv = 0.5 }

[categories.b]
egate = false
booth_s = 50

[mix]
a = 0.6
b = 0.4

[egate]
referral_rate = 0.05

[resources]
egates = 2
booths = 2
"""


def _write(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("name", ["bac_luan_typical", "bac_luan_tet_peak", "bac_luan_one_stop"])
def test_bundled_scenarios_load(name):
    sc = flow.load_scenario(flow.SCENARIO_DIR / f"{name}.toml")
    assert sc.hours == 13 and sc.open_s == 7 * 3600 and sc.close_s == 20 * 3600
    assert {d.name for d in sc.directions} == {"exit", "entry"}
    assert {"vn_passport", "vn_id_card", "cn_passport", "border_pass", "minor"} <= set(sc.categories)
    assert not sc.categories["border_pass"].egate and not sc.categories["minor"].egate
    assert sc.groups.size_min == 20 and sc.groups.size_max == 45
    assert 8.0 <= sc.egate.mean_time("passport") <= 12.0   # EU deployments: 8-12 s per traveller
    assert sc.egate.source == "defaults"


def test_typical_and_peak_demand():
    typical = flow.load_scenario(flow.SCENARIO_DIR / "bac_luan_typical.toml")
    peak = flow.load_scenario(flow.SCENARIO_DIR / "bac_luan_tet_peak.toml")
    assert typical.travellers_per_day == pytest.approx(4.8e6 / 257, rel=0.01)   # Jan 1 - Sep 14, 2024
    assert peak.travellers_per_day >= 1.8 * typical.travellers_per_day
    assert peak.groups.share > typical.groups.share


def test_good_file_loads(tmp_path):
    sc = flow.load_scenario(_write(tmp_path, GOOD))
    assert sc.categories["b"].booth == flow.Service(50.0, 0.0)
    assert sc.categories["a"].document == "passport"
    assert sc.resources.officers_for(sc.egate.gates_per_officer) == 1


@pytest.mark.parametrize(("old", "new", "error", "field"), [
    ("referral_rate = 0.05", "referal_rate = 0.05", flow.UnknownKeyError, "egate.referal_rate"),
    ("egates = 2", "egates = 2\ndesks = 3", flow.UnknownKeyError, "resources.desks"),
    ("travellers_per_day = 100", "travellers_per_day = -100", flow.InvalidValueError, "scenario.travellers_per_day"),
    ("referral_rate = 0.05", "referral_rate = -0.05", flow.InvalidValueError, "egate.referral_rate"),
    ("referral_rate = 0.05", "referral_rate = 1.5", flow.InvalidValueError, "egate.referral_rate"),
    ("booth_s = 50", "booth_s = -50", flow.InvalidValueError, "categories.b.booth_s"),
    ("booth_s = { mean = 40, cv = 0.5 }", "booth_s = { mean = -40, cv = 0.5 }", flow.InvalidValueError,
     "categories.a.booth_s.mean"),
    ("egates = 2", "egates = 2.5", flow.InvalidValueError, "resources.egates"),
    ("egates = 2", "egates = \"two\"", flow.InvalidValueError, "resources.egates"),
    ("b = 0.4", "b = 0.3", flow.ShareSumError, "mix"),
    ("b = 0.4", "b = 0.4\nc = 0.1", flow.UnknownKeyError, "mix.c"),
    ("share = 1.0", "share = 0.9", flow.ShareSumError, "directions"),
    ("hourly_profile = [1, 1]", "hourly_profile = [1, 1, 1]", flow.InvalidValueError, "directions.exit.hourly_profile"),
    ("hourly_profile = [1, 1]", "hourly_profile = [1, -1]", flow.InvalidValueError, "directions.exit.hourly_profile[1]"),
    ("close = \"09:00\"", "close = \"09:30\"", flow.InvalidValueError, "scenario.close"),
    ("open = \"07:00\"", "open = \"7 am\"", flow.InvalidValueError, "scenario.open"),
    ("name = \"tiny\"", "", flow.MissingKeyError, "scenario.name"),
    ("egate = false", "egate = \"no\"", flow.InvalidValueError, "categories.b.egate"),
])
def test_malformed_scenario_names_the_field(tmp_path, old, new, error, field):
    assert old in GOOD
    with pytest.raises(error) as exc:
        flow.load_scenario(_write(tmp_path, GOOD.replace(old, new, 1)))
    assert exc.value.field == field
    assert field in str(exc.value)
    assert isinstance(exc.value, flow.ScenarioError)


def test_unknown_top_level_table(tmp_path):
    with pytest.raises(flow.UnknownKeyError) as exc:
        flow.load_scenario(_write(tmp_path, GOOD + "\n[kiosks]\nuptake = 0.2\n"))
    assert exc.value.field == "kiosks"


def test_group_mix_must_sum_to_one():
    d = small_dict()
    d["groups"]["mix"] = {"vn_passport": 0.5, "border_pass": 0.6}
    with pytest.raises(flow.ShareSumError) as exc:
        flow.scenario_from_dict(d)
    assert exc.value.field == "groups.mix"


def test_not_toml_is_a_syntax_error(tmp_path):
    with pytest.raises(flow.ScenarioSyntaxError) as exc:
        flow.load_scenario(_write(tmp_path, "[scenario\nname = 1"))
    assert "not valid TOML" in str(exc.value)
    with pytest.raises(flow.ScenarioSyntaxError):
        flow.load_scenario(tmp_path / "missing.toml")


def test_gate_benchmark_components_replace_the_defaults(tmp_path):
    bench = tmp_path / "gate_throughput.json"
    bench.write_text(json.dumps({"benchmark": "gate_throughput",
                                 "modelled": {"chip_read_ms": {"p50": 2200}, "capture_s": 1.8, "walking_s": 4.0}}))
    assert flow.read_gate_benchmark(bench) == {"chip_read_passport_s": 2.2, "chip_read_id_card_s": 2.2,
                                               "capture_s": 1.8, "walk_in_s": 2.0, "walk_out_s": 2.0}
    sc = flow.load_scenario(_write(tmp_path, GOOD), gate_benchmark=bench)
    assert sc.egate.source == f"benchmark:{bench}"
    assert sc.egate.mean_time("passport") == pytest.approx(2.2 + 1.8 + 4.0)
    # an explicit scenario value wins over the benchmark
    sc = flow.load_scenario(_write(tmp_path, GOOD.replace("[egate]", "[egate]\ncapture_s = 3.0")), gate_benchmark=bench)
    assert sc.egate.capture.mean == 3.0 and sc.egate.source.startswith("scenario+benchmark")
    # absent file: defaults
    assert flow.load_scenario(_write(tmp_path, GOOD), gate_benchmark=tmp_path / "none.json").egate.source == "defaults"
    bench.write_text("{not json")
    with pytest.raises(flow.GateBenchmarkError):
        flow.load_scenario(_write(tmp_path, GOOD), gate_benchmark=bench)


def test_reads_the_gate_throughput_benchmark_output(tmp_path):
    bench = tmp_path / "gate_throughput.json"
    bench.write_text(json.dumps({
        "benchmark": "gate_throughput", "travellers": 12,
        "steps_ms": {"chip": {"median_ms": 900.0}, "face": {"median_ms": 400.0}},
        "model": {"physical_s": {"place_document": 2.0, "door_and_walk": 3.5}, "camera_fps": 15.0, "frames": 15},
        "modelled_transaction_s": {"p50": 9.1, "p95": 9.8}}))
    comps = flow.read_gate_benchmark(bench)
    assert comps["walk_in_s"] == 2.0 and comps["walk_out_s"] == 3.5
    assert comps["capture_s"] == pytest.approx(1.4)
    assert sum(comps[k] for k in ("walk_in_s", "chip_read_passport_s", "capture_s", "walk_out_s")) == pytest.approx(9.1)
    sc = flow.load_scenario(_write(tmp_path, GOOD), gate_benchmark=bench)
    assert sc.egate.mean_time("passport") == pytest.approx(9.1)


def test_reads_the_current_gate_throughput_output_shape(tmp_path):
    """bench.gate_throughput reports the frames used per traveller (``frames_per_traveller``)."""
    bench = tmp_path / "gate_throughput.json"
    bench.write_text(json.dumps({
        "benchmark": "gate_throughput", "travellers": 12,
        "steps_ms": {"chip": {"median_ms": 60.0}, "face": {"median_ms": 200.0}},
        "frames_per_traveller": {"median": 4.0, "max": 8},
        "model": {"physical_s": {"place_document": 2.0, "door_and_walk": 3.5}, "camera_fps": 15.0},
        "modelled_transaction_s": {"p50": 7.0, "p95": 7.3}}))
    comps = flow.read_gate_benchmark(bench)
    assert comps["capture_s"] == pytest.approx(4 / 15 + 0.2, abs=1e-3)
    assert sum(comps[k] for k in ("walk_in_s", "chip_read_passport_s", "capture_s", "walk_out_s")) == pytest.approx(7.0)
