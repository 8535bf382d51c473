"""Layouts (issue #26 item 4): two stops in series against one joint stop, on the same arrivals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import flow
from flow._sim import run

from ._scenarios import light, light_layouts, small, small_dict


def _joint_as_fast_as_one_side(sc: flow.Scenario) -> flow.Scenario:
    return dataclasses.replace(sc, layout=dataclasses.replace(sc.layout, joint_egate_extra=flow.Service(0.0),
                                                              joint_booth_factor=1.0))


def test_one_stop_file_has_the_typical_arrivals():
    typical = flow.load_scenario(flow.SCENARIO_DIR / "bac_luan_typical.toml")
    joint = flow.load_scenario(flow.SCENARIO_DIR / "bac_luan_one_stop.toml")
    assert (typical.layout.kind, joint.layout.kind) == ("two_stop", "one_stop")
    assert joint.name != typical.name
    for f in ("travellers_per_day", "directions", "categories", "mix", "groups", "resources", "area", "egate"):
        assert getattr(joint, f) == getattr(typical, f), f
    a, b = flow.draw_travellers(typical, 4), flow.hall_travellers(joint, 4)
    assert np.array_equal(a.arrival, b.arrival) and np.array_equal(a.group, b.group)
    assert np.array_equal(a.category, b.category) and (a.group >= 0).any()   # tour-coach bursts included


def test_layouts_see_the_same_travellers():
    sc = small()
    t = flow.draw_travellers(sc, 2)
    second = flow.second_stop_travellers(sc, t, t.arrival + 100.0)
    joint = flow.joint_travellers(sc, t)
    for other in (second, joint):
        for f in ("direction", "category", "group", "eligible", "enrolled", "kiosk_pick"):
            assert np.array_equal(getattr(other, f), getattr(t, f)), f
    assert np.array_equal(joint.arrival, t.arrival)
    assert np.allclose(second.arrival, t.arrival + 100.0 + sc.layout.transfer_s)
    assert not np.array_equal(second.gate_s, t.gate_s)          # the other side's own draws
    # a joint gate: one document read and one capture plus the second decision; refers if either side would
    assert np.all(joint.gate_s >= t.gate_s) and np.all(joint.gate_s - t.gate_s < 30)
    assert np.all(joint.referred >= t.referred) and np.all(joint.referred >= second.referred)
    assert np.allclose(joint.booth_s, t.booth_s * sc.layout.joint_booth_factor)


def test_two_stop_queue_is_the_sum_of_both_stops():
    sc = small()
    lay = flow.compare_layouts(sc, 3)
    t = flow.draw_travellers(sc, 3)
    raw1 = run(sc, t)
    raw2 = run(sc, flow.second_stop_travellers(sc, t, raw1.depart))
    w1 = raw1.wait_kiosk + raw1.wait_gate + raw1.wait_booth
    w2 = raw2.wait_kiosk + raw2.wait_gate + raw2.wait_booth
    assert w2.max() > 0 and w1.max() > 0
    two = lay["two_stop"]
    assert two["p95_queue_s"] == flow.wait_stats(w1 + w2)["p95"]
    assert two["stops"]["this_side"]["p95_queue_s"] == flow.wait_stats(w1)["p95"]
    assert two["stops"]["other_side"]["p95_queue_s"] == flow.wait_stats(w2)["p95"]
    assert np.all(raw2.depart >= raw1.depart + sc.layout.transfer_s - 1e-9)
    # this side's stop is exactly the scenario's single-hall simulation
    assert two["stops"]["this_side"]["p95_queue_s"] == flow.simulate(sc, 3).summary["wait_s"]["overall"]["p95"]
    assert two["gates"] == 2 * 2 * sc.resources.egates and lay["one_stop"]["gates"] == 2 * sc.resources.egates
    assert two["travellers"] == lay["one_stop"]["travellers"] == len(t)


def test_one_stop_with_the_same_total_capacity_queues_less():
    d = small_dict()
    d["scenario"]["travellers_per_day"] = 2600
    sc = _joint_as_fast_as_one_side(flow.scenario_from_dict(d))
    r = sc.resources
    doubled = dataclasses.replace(r, egates=2 * r.egates, booths=2 * r.booths, kiosks=2 * r.kiosks)
    for seed in (1, 2):
        lay = flow.compare_layouts(sc, seed, resources={"one_stop": doubled})
        two, one = lay["two_stop"], lay["one_stop"]
        assert (one["gates"], one["booths"], one["kiosks"]) == (two["gates"], two["booths"], two["kiosks"])
        assert two["p95_queue_s"] > 30
        assert one["p95_queue_s"] < two["p95_queue_s"]


def test_area_follows_the_parameters():
    sc = small()
    lay = flow.compare_layouts(sc, 5)
    t = flow.draw_travellers(sc, 5)
    raw = run(sc.with_layout("one_stop"), flow.joint_travellers(sc, t))
    peaks = [int(max(q["egate"][i] + q["booth"][i] + q["kiosk"][i] for i in range(len(q["egate"]))))
             for q in raw.queue_len]
    a, r = sc.area, sc.resources
    expected = sum(r.egates * a.m2_per_gate + r.booths * a.m2_per_booth + r.kiosks * a.m2_per_kiosk
                   + p * a.m2_per_queued for p in peaks)
    one = lay["one_stop"]
    assert one["peak_queued"] == sum(peaks) > 0
    assert one["area_m2"] == pytest.approx(expected, abs=0.05)
    bigger = dataclasses.replace(sc, area=dataclasses.replace(a, m2_per_queued=a.m2_per_queued + 2.0))
    lay2 = flow.compare_layouts(bigger, 5)
    for kind in flow.LAYOUT_KINDS:
        assert lay2[kind]["area_m2"] == pytest.approx(lay[kind]["area_m2"] + 2.0 * lay[kind]["peak_queued"], abs=0.2)


def test_target_is_judged_per_layout():
    lay = flow.compare_layouts(small(), 1, target_p95_wait_s=0.0)
    assert all(v["target_met"] is (v["p95_queue_s"] <= 0.0) for v in lay.values())


def test_one_stop_scenario_simulates_the_joint_hall():
    sc = small()
    joint = sc.with_layout("one_stop")
    a, b = flow.simulate(sc, 6), flow.simulate(joint, 6)
    assert (a.summary["layout"], b.summary["layout"]) == ("two_stop", "one_stop")
    assert np.array_equal(a.travellers.arrival, b.travellers.arrival)
    assert np.all(b.travellers.gate_s >= a.travellers.gate_s)
    with_layouts = flow.simulate(joint, 6, layouts=True).summary
    assert with_layouts["layouts"]["one_stop"]["p95_queue_s"] == b.summary["wait_s"]["overall"]["p95"]


@pytest.mark.parametrize(("table", "value", "error", "field"), [
    ("layout", {"kind": "three_stop"}, flow.InvalidValueError, "layout.kind"),
    ("layout", {"kind": 2}, flow.InvalidValueError, "layout.kind"),
    ("layout", {"joint_booth_factor": 0.5}, flow.InvalidValueError, "layout.joint_booth_factor"),
    ("layout", {"transfer_s": -1}, flow.InvalidValueError, "layout.transfer_s"),
    ("layout", {"joint_gate_s": 3}, flow.UnknownKeyError, "layout.joint_gate_s"),
    ("area", {"m2_per_gate": -5.0}, flow.InvalidValueError, "area.m2_per_gate"),
    ("area", {"m2_per_queued": "one"}, flow.InvalidValueError, "area.m2_per_queued"),
    ("area", {"m2_per_desk": 4.0}, flow.UnknownKeyError, "area.m2_per_desk"),
])
def test_bad_layout_or_area_names_the_field(table, value, error, field):
    d = small_dict()
    d[table] = value
    with pytest.raises(error) as exc:
        flow.scenario_from_dict(d)
    assert exc.value.field == field and isinstance(exc.value, flow.ScenarioError)
    with pytest.raises(flow.InvalidValueError) as exc:
        small().with_layout("three_stop")
    assert exc.value.field == "layout.kind"


def test_extends_overrides_table_by_table(tmp_path):
    import tomli_w

    (tmp_path / "base.toml").write_text(tomli_w.dumps(small_dict()), encoding="utf-8")
    (tmp_path / "joint.toml").write_text('extends = "base.toml"\n[layout]\nkind = "one_stop"\n'
                                         '[egate]\nreferral_rate = 0.02\n', encoding="utf-8")
    sc = flow.load_scenario(tmp_path / "joint.toml")
    base = flow.load_scenario(tmp_path / "base.toml")
    assert sc.layout.kind == "one_stop" and sc.egate.referral_rate == 0.02
    assert sc.egate.gates_per_officer == base.egate.gates_per_officer == 4   # kept from the base's [egate]
    assert sc.categories == base.categories
    (tmp_path / "loop.toml").write_text('extends = "loop.toml"\n', encoding="utf-8")
    (tmp_path / "gone.toml").write_text('extends = "nowhere.toml"\n', encoding="utf-8")
    for name in ("loop.toml", "gone.toml"):
        with pytest.raises(flow.InvalidValueError) as exc:
            flow.load_scenario(tmp_path / name)
        assert exc.value.field == "extends"


def _end_to_end_p95(sc: flow.Scenario, mix: dict[str, int], seed: int) -> float:
    res = flow.Resources(mix["egates"], mix["booths"], mix["kiosks"])
    return flow.compare_layouts(sc, seed, resources={sc.layout.kind: res}, kinds=(sc.layout.kind,))[
        sc.layout.kind]["p95_queue_s"]


def test_end_to_end_sizing_holds_both_stops_to_the_target():
    sc = light()
    limits = {"max_egates": 4, "max_booths": 6, "max_kiosks": 2}
    one_side = flow.size(sc, 60, seed=3, **limits)
    both = flow.size(sc, 60, seed=3, end_to_end=True, **limits)
    assert both.best.met and _end_to_end_p95(sc, both.best.mix, 3) <= 60
    # the mix sized for one side alone lets the sum of both queues exceed the target
    assert _end_to_end_p95(sc, one_side.best.mix, 3) > 60
    assert both.best.cost >= one_side.best.cost
    fewer = {**both.best.mix, "egates": both.best.mix["egates"] - 1}
    assert _end_to_end_p95(sc, fewer, 3) > 60 and not both.neighbours["egates"].met


def test_size_layouts_reports_both_at_the_same_target():
    sc = light()
    out = light_layouts()   # flow.size_layouts(sc, 60, seed=3, max_egates=4, max_booths=6, max_kiosks=2)
    assert set(out) == set(flow.LAYOUT_KINDS)
    for kind, lay in out.items():
        assert lay["met"] and lay["p95_queue_s"] <= 60 and lay["target_met"] and not lay["overloaded"]
        h = lay["per_hall"]
        stops = 2 if kind == "two_stop" else 1
        assert (lay["gates"], lay["booths"]) == (2 * stops * h["gates"], 2 * stops * h["booths"])
        assert sum(st["gates"] for st in lay["stops"].values()) == lay["gates"]
        assert lay["booth_officers"] == lay["booths"] * (2 if kind == "one_stop" else 1)
        assert lay["area_m2"] > lay["gates"] * sc.area.m2_per_gate
    # the one-stop mix is sized for the joint hall: one fewer gate or booth there misses the target
    h = out["one_stop"]["per_hall"]
    one = {"egates": h["gates"], "booths": h["booths"], "kiosks": h["kiosks"]}
    joint = sc.with_layout("one_stop")
    for dim in ("egates", "booths"):
        if one[dim] > 1:
            assert _end_to_end_p95(joint, {**one, dim: one[dim] - 1}, 3) > 60


@pytest.mark.parametrize("kind", flow.LAYOUT_KINDS)
def test_simulate_with_layouts_reuses_its_own_hall(monkeypatch, kind):
    import flow._layouts
    import flow._results

    sc = small().with_layout(kind)
    alone = flow.compare_layouts(sc, 4, target_p95_wait_s=60.0)
    halls = []

    def counted(scenario, travellers):
        halls.append(scenario.layout.kind)
        return run(scenario, travellers)

    monkeypatch.setattr(flow._layouts, "run", counted)
    monkeypatch.setattr(flow._results, "run", counted)
    res = flow.simulate(sc, 4, target_p95_wait_s=60.0, layouts=True)
    # this hall once, then only the layouts' other halls: two-stop's second stop, and the one it is not
    assert sorted(halls) == ["one_stop", "two_stop", "two_stop"]
    assert res.summary["layouts"] == alone
    # counts other than the scenario's are simulated, not taken from this hall
    halls.clear()
    more = dataclasses.replace(sc.resources, egates=sc.resources.egates + 1)
    flow.compare_layouts(sc, 4, resources={kind: more}, first=res.travellers if kind == "two_stop" else None,
                         known=res.raw)
    assert len(halls) == 3


def test_a_queue_that_never_clears_is_flagged_overloaded():
    from flow._layouts import overloaded, peak_queued, queued_at

    d = small_dict()
    d["resources"] = {"egates": 1, "booths": 1, "kiosks": 0}   # 1500 travellers in 3 h
    jammed = flow.scenario_from_dict(d)
    lay = flow.compare_layouts(jammed, 1)
    t = flow.draw_travellers(jammed, 1)
    raw = run(jammed, t)
    at_close, peaks = queued_at(raw, jammed.close_s), peak_queued(raw)
    assert all(2 * c >= p > 0 for c, p in zip(at_close, peaks, strict=True)) and overloaded(raw, jammed.close_s)
    assert lay["two_stop"]["stops"]["this_side"]["queued_at_close"] == sum(at_close)
    assert lay["two_stop"]["overloaded"] and lay["one_stop"]["overloaded"]
    fine = flow.compare_layouts(small(), 1)
    assert not fine["two_stop"]["overloaded"] and not fine["one_stop"]["overloaded"]
    # the queue at a moment is the one sampled then
    i = int(np.argmax(peaks[0] == sum(raw.queue_len[0][k] for k in ("egate", "booth", "kiosk"))))
    assert queued_at(raw, float(raw.sample_t[i]))[0] == peaks[0]


def test_a_layout_names_gates_alike_and_echoes_its_parameters():
    d = small_dict()
    d["layout"] = {"transfer_s": 90.0, "joint_egate_extra_s": {"mean": 2.0, "cv": 0.3}, "joint_booth_factor": 1.5}
    d["area"] = {"m2_per_gate": 6.0, "m2_per_booth": 9.0, "m2_per_kiosk": 2.0, "m2_per_queued": 1.0}
    sc = flow.scenario_from_dict(d)
    for kind, lay in flow.compare_layouts(sc, 2).items():
        for part in (lay, lay["per_hall"], *lay["stops"].values()):
            assert "gates" in part and "egates" not in part
        assert lay["per_hall"]["gates"] == sc.resources.egates
        assert lay["layout"] == {"kind": kind, **d["layout"]}
        assert lay["area"] == d["area"]


def test_a_deep_extends_chain_is_refused_as_too_deep_not_as_a_loop(tmp_path):
    import tomli_w

    from flow._scenario import _MAX_EXTENDS

    (tmp_path / "base.toml").write_text(tomli_w.dumps(small_dict()), encoding="utf-8")

    def chain(n: int) -> str:   # c0 extends c1 ... c{n-1} extends base: n files extending, no loop
        for i in range(n):
            parent = f"c{i + 1}.toml" if i + 1 < n else "base.toml"
            (tmp_path / f"c{i}.toml").write_text(f'extends = "{parent}"\n', encoding="utf-8")
        return str(tmp_path / "c0.toml")

    assert flow.load_scenario(chain(_MAX_EXTENDS)).name == "small hall"
    for f in tmp_path.glob("c*.toml"):
        f.unlink()
    with pytest.raises(flow.InvalidValueError) as exc:
        flow.load_scenario(chain(10))
    assert exc.value.field == "extends" and "itself" not in str(exc.value)
    assert f"more than {_MAX_EXTENDS}" in str(exc.value)
    (tmp_path / "loop.toml").write_text('extends = "loop2.toml"\n', encoding="utf-8")
    (tmp_path / "loop2.toml").write_text('extends = "loop.toml"\n', encoding="utf-8")
    with pytest.raises(flow.InvalidValueError, match="extends itself"):
        flow.load_scenario(tmp_path / "loop.toml")
