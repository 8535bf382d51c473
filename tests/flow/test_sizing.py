"""``size``: the chosen mix meets the target and one fewer gate (or booth) does not."""

from __future__ import annotations

import numpy as np
import pytest

import flow

from ._scenarios import small, small_dict


def _pooled_p95(sc, seeds):
    return float(np.percentile(np.concatenate([flow.simulate(sc, s).wait for s in seeds]), 95))


def test_size_meets_target_and_one_fewer_gate_does_not():
    sc = small()
    res = flow.size(sc, target_p95_wait_s=60, seed=3, replications=2, max_egates=8, max_booths=10, max_kiosks=3)
    best = res.best
    assert best.met and best.p95_wait_s <= 60
    assert best.mix["egates"] >= 1
    # re-simulate independently: the chosen mix meets the target, one gate fewer misses it
    chosen = sc.with_resources(officers=None, **best.mix)
    assert _pooled_p95(chosen, res.seeds) <= 60
    fewer = sc.with_resources(officers=None, **{**best.mix, "egates": best.mix["egates"] - 1})
    assert _pooled_p95(fewer, res.seeds) > 60
    assert not res.neighbours["egates"].met and not res.neighbours["booths"].met
    d = res.to_dict()
    assert d["mix_per_hall"]["officers"] == -(-best.mix["egates"] // sc.egate.gates_per_officer)
    assert d["met"] and d["one_fewer"]["egates"]["met"] is False
    assert {"egate", "booth", "kiosk", "officer"} == set(d["cost_weights"])
    assert res.results[0].summary["target"]["met"] in (True, False)
    md = flow.render_sizing_report(res)
    assert "One fewer" in md


def test_cost_weights_steer_the_kiosk_booth_trade_off():
    # few enrolled, most would enrol at a kiosk: kiosks send travellers to gates instead of booths
    d = small_dict()
    for cat in ("vn_passport", "vn_id_card"):
        d["categories"][cat]["enrolled"] = 0.3
    d["kiosk"] = {"uptake": 0.8, "enrol_s": {"mean": 60, "cv": 0.4}}
    sc = flow.scenario_from_dict(d)
    kw = {"seed": 3, "max_egates": 8, "max_booths": 12, "max_kiosks": 8}
    cheap = flow.size(sc, 120, **kw)
    dear = flow.size(sc, 120, weights=flow.CostWeights(kiosk=100.0), **kw)
    assert cheap.best.mix["kiosks"] >= 1 and cheap.best.mix["egates"] >= 1
    assert dear.best.mix["kiosks"] == 0
    assert dear.best.mix["booths"] > cheap.best.mix["booths"]
    for res in (cheap, dear):
        assert res.best.met and not any(e.met for e in res.neighbours.values())


def test_every_route_criterion_holds_each_route_to_the_target():
    sc = small()
    kw = {"seed": 3, "max_egates": 8, "max_booths": 10, "max_kiosks": 3}
    overall = flow.size(sc, 60, **kw)
    strict = flow.size(sc, 60, criterion="every_route", **kw)
    assert strict.to_dict()["criterion"] == "every_route"
    routes = strict.results[0].summary["wait_s"]["by_route"]
    assert all(st["p95"] is None or st["p95"] <= 60 for st in routes.values())
    assert strict.best.cost >= overall.best.cost
    with pytest.raises(flow.InvalidValueError):
        flow.size(sc, 60, criterion="median")


def test_unreachable_target_is_a_named_error():
    with pytest.raises(flow.SizingInfeasibleError) as exc:
        flow.size(small(), 1.0, max_egates=1, max_booths=1, max_kiosks=0)
    assert exc.value.field == "target_p95_wait_s"
