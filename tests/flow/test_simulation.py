"""Reproducibility and the behaviour of the hall model on a small scenario."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import flow

from ._scenarios import small, small_dict


def test_same_seed_same_json_different_seed_differs():
    sc = small()
    a, b = flow.simulate(sc, 7), flow.simulate(sc, 7)
    assert a.to_json(sort_keys=True) == b.to_json(sort_keys=True)
    assert np.array_equal(a.wait, b.wait)
    c = flow.simulate(sc, 8)
    assert c.to_json(sort_keys=True) != a.to_json(sort_keys=True)
    assert len(c.travellers) != len(a.travellers) or not np.array_equal(c.travellers.arrival, a.travellers.arrival)


def test_summary_shape_and_accounting():
    sc = small()
    r = flow.simulate(sc, 3, target_p95_wait_s=300)
    s = r.summary
    n = s["travellers"]
    assert n == len(r.travellers) > 1000
    assert sum(s["by_direction"].values()) == n == sum(s["by_route"].values())
    w = s["wait_s"]
    for key in ("p50", "p95", "max", "mean", "n"):
        assert key in w["overall"]
    assert w["overall"]["p50"] <= w["overall"]["p95"] <= w["overall"]["max"]
    assert set(w["by_category"]) == {"vn_passport", "vn_id_card", "border_pass"}
    assert set(w["by_direction"]) == {"exit", "entry"}
    assert set(w["by_route"]) == {"egate", "kiosk", "booth"}
    assert sum(st["n"] for st in w["by_category"].values()) == n
    hours = s["throughput_per_hour"]
    assert [h["hour"] for h in hours[:3]] == ["07:00", "08:00", "09:00"]
    assert sum(h["arrivals"] for h in hours) == n == sum(h["departures"] for h in hours)
    assert sum(h["referrals"] for h in hours) == s["referrals"]["count"]
    assert set(s["utilisation"]) == {"egate", "booth", "kiosk", "officer"}
    assert all(0 < u <= 1 for u in s["utilisation"].values())
    assert s["target"]["p95_wait_s"] == 300
    # nobody leaves before arriving, and the queueing time is within the time in the hall
    assert np.all(r.raw.depart >= r.travellers.arrival + r.wait - 1e-9)
    # border-pass holders never use a gate; referrals only among gate users
    bp = r.travellers.category == r.travellers.category_names.index("border_pass")
    assert np.all(r.raw.route[bp] == 2) and not r.raw.referred[bp].any()
    assert s["referrals"]["rate"] == pytest.approx(0.05, abs=0.02)
    assert s["coach_groups"] > 0


def test_coaches_arrive_in_bursts_of_20_to_45():
    t = flow.draw_travellers(small(), 5)
    sizes = np.bincount(t.group[t.group >= 0])
    sizes = sizes[sizes > 0]
    assert sizes.min() >= 20 and sizes.max() <= 45
    for g in np.unique(t.group[t.group >= 0])[:5]:
        at = t.arrival[t.group == g]
        assert at.max() - at.min() <= 60.0   # spread_s


def test_more_resources_never_wait_longer_on_the_same_travellers():
    sc = small()
    day = flow.draw_travellers(sc, 11)
    p95 = [flow.simulate(sc.with_resources(booths=b), 11, travellers=day).p95_wait_s for b in (2, 3, 4, 6)]
    assert p95 == sorted(p95, reverse=True) and p95[0] > p95[-1]


def test_officers_limit_open_gates_and_no_gates_means_booths():
    sc = small().with_resources(egates=6, officers=1)          # 4 gates per officer
    r = flow.simulate(sc, 1)
    assert r.summary["resources_per_hall"]["active_egates"] == 4
    r0 = flow.simulate(small().with_resources(egates=0, kiosks=0), 1)
    assert r0.summary["by_route"] == {"egate": 0, "kiosk": 0, "booth": r0.summary["travellers"]}
    assert r0.summary["utilisation"]["egate"] is None


def test_referral_priority_helps_referred_travellers():
    d = small_dict()
    d["egate"]["referral_rate"] = 0.3
    d["resources"]["booths"] = 2
    first = flow.simulate(flow.scenario_from_dict(d), 2)
    d["booth"]["referral_priority"] = False
    fifo = flow.simulate(flow.scenario_from_dict(d), 2)
    ref_wait = lambda r: r.raw.wait_booth[r.raw.referred].mean()   # noqa: E731
    assert ref_wait(first) < ref_wait(fifo)


def test_no_booth_is_refused():
    with pytest.raises(flow.InvalidValueError) as exc:
        flow.simulate(small().with_resources(booths=0), 1)
    assert exc.value.field == "resources.booths"


def test_report_and_plot(tmp_path):
    r = flow.simulate(small(), 4, target_p95_wait_s=120)
    md = flow.render_report(r)
    assert md.startswith("# small hall") and "| 08:00 |" in md and "p95" in md
    out = flow.plot_result(r, tmp_path / "day.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_peak_day_is_heavier_than_typical():
    typical = flow.load_scenario(flow.SCENARIO_DIR / "bac_luan_typical.toml")
    peak = flow.load_scenario(flow.SCENARIO_DIR / "bac_luan_tet_peak.toml")
    # only the arrival tables (fast): the peak brings more travellers and bigger coach shares
    a, b = flow.draw_travellers(typical, 0), flow.draw_travellers(peak, 0)
    assert len(a) == pytest.approx(18700, rel=0.1) and len(b) == pytest.approx(35000, rel=0.1)
    assert (b.group >= 0).mean() > (a.group >= 0).mean()
    assert dataclasses.replace(typical, travellers_per_day=0.0).travellers_per_day == 0.0
