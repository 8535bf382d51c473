"""Running a scenario and summarising it: waits, hourly throughput, utilisation, referrals."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from ._scenario import Scenario, format_clock
from ._sim import RESOURCE_TYPES, ROUTE_BOOTH, ROUTE_EGATE, ROUTE_KIOSK, ROUTE_NAMES, RawRun, run
from ._travellers import Travellers, draw_travellers


def wait_stats(w: np.ndarray) -> dict[str, float | int | None]:
    """n, mean, p50, p95 and max of waiting times (s); percentiles by linear interpolation."""
    if len(w) == 0:
        return {"n": 0, "mean": None, "p50": None, "p95": None, "max": None}
    p50, p95 = np.percentile(w, [50, 95])
    return {"n": int(len(w)), "mean": round(float(w.mean()), 3), "p50": round(float(p50), 3),
            "p95": round(float(p95), 3), "max": round(float(w.max()), 3)}


@dataclass
class SimulationResult:
    """One simulated day. ``summary`` is the JSON-ready report; the arrays stay for analysis."""

    scenario: Scenario
    travellers: Travellers
    raw: RawRun
    summary: dict

    @property
    def wait(self) -> np.ndarray:
        """Total time each traveller spent queueing (kiosk + gate + booth), s."""
        return self.raw.wait_kiosk + self.raw.wait_gate + self.raw.wait_booth

    @property
    def p95_wait_s(self) -> float:
        return self.summary["wait_s"]["overall"]["p95"] or 0.0

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.summary, ensure_ascii=False, **kwargs)


def simulate(scenario: Scenario, seed: int = 0, *, travellers: Travellers | None = None,
             target_p95_wait_s: float | None = None, layouts: bool = False) -> SimulationResult:
    """Simulate one day of ``scenario``'s hall (this side's control for ``two_stop``, the joint hall
    for ``one_stop``). Same scenario and seed give the identical result. ``layouts``: also simulate
    both layouts on the same arrivals (``summary["layouts"]``, see :func:`compare_layouts`)."""
    from ._layouts import compare_layouts, joint_travellers

    first = None
    if travellers is None:
        first = draw_travellers(scenario, seed)
        travellers = joint_travellers(scenario, first) if scenario.layout.kind == "one_stop" else first
    raw = run(scenario, travellers)
    summary = summarise(scenario, travellers, raw, target_p95_wait_s)
    if layouts:
        # the day already drawn and this hall already simulated stand in compare_layouts (same draws)
        summary["layouts"] = compare_layouts(scenario, seed, target_p95_wait_s=target_p95_wait_s, first=first,
                                             known=raw if first is not None else None)
    return SimulationResult(scenario, travellers, raw, summary)


def summarise(scenario: Scenario, t: Travellers, raw: RawRun, target_p95_wait_s: float | None = None) -> dict:
    wait = raw.wait_kiosk + raw.wait_gate + raw.wait_booth
    n_halls = len(scenario.directions)
    res = scenario.resources
    gpo = scenario.egate.gates_per_officer
    by_category = {name: wait_stats(wait[t.category == i]) for i, name in enumerate(t.category_names)}
    by_direction = {d.name: wait_stats(wait[t.direction == i]) for i, d in enumerate(scenario.directions)}
    by_route = {name: wait_stats(wait[raw.route == i]) for i, name in enumerate(ROUTE_NAMES)}
    gate_users = raw.route != ROUTE_BOOTH
    booth_users = (raw.route == ROUTE_BOOTH) | raw.referred
    by_resource = {"egate": wait_stats(raw.wait_gate[gate_users]),
                   "booth": wait_stats(raw.wait_booth[booth_users]),
                   "kiosk": wait_stats(raw.wait_kiosk[raw.route == ROUTE_KIOSK])}

    first_hour = int(scenario.open_s // 3600)
    last = max(scenario.close_s, raw.end_s)
    n_hours = max(1, math.ceil(last / 3600) - first_hour)
    def per_hour(times: np.ndarray) -> list[int]:
        idx = np.clip((times // 3600).astype(int) - first_hour, 0, n_hours - 1)
        return np.bincount(idx, minlength=n_hours).tolist() if len(times) else [0] * n_hours
    arrivals = per_hour(t.arrival)
    departures = per_hour(raw.depart)
    via_gate = per_hour(raw.depart[gate_users & ~raw.referred])
    via_booth = per_hour(raw.depart[booth_users])
    referrals_h = per_hour(raw.depart[raw.referred])
    hourly = [{"hour": f"{first_hour + h:02d}:00", "arrivals": arrivals[h], "departures": departures[h],
               "egate": via_gate[h], "booth": via_booth[h], "referrals": referrals_h[h]} for h in range(n_hours)]

    horizon = last - scenario.open_s
    utilisation = {}
    for k in RESOURCE_TYPES:
        cap = raw.capacity[k] * n_halls
        busy = sum(b[k] for b in raw.busy_s)
        utilisation[k] = round(busy / (cap * horizon), 4) if cap and horizon > 0 else None

    n_gate = int(gate_users.sum())
    n_ref = int(raw.referred.sum())
    summary = {
        "scenario": scenario.name,
        "seed": t.seed,
        "layout": scenario.layout.kind,
        "open": format_clock(scenario.open_s)[:5], "close": format_clock(scenario.close_s)[:5],
        "resources_per_hall": {"egates": res.egates, "active_egates": res.active_egates(gpo), "booths": res.booths,
                               "kiosks": res.kiosks, "officers": res.officers_for(gpo)},
        "halls": [d.name for d in scenario.directions],
        "egate_time_source": scenario.egate.source,
        "egate_mean_s": {doc: round(scenario.egate.mean_time(doc), 3) for doc in ("passport", "id_card")},
        "travellers": int(len(t)),
        "by_direction": {d.name: int((t.direction == i).sum()) for i, d in enumerate(scenario.directions)},
        "by_route": {name: int((raw.route == i).sum()) for i, name in enumerate(ROUTE_NAMES)},
        "coach_groups": int(len(np.unique(t.group[t.group >= 0]))),
        "wait_s": {"overall": wait_stats(wait), "by_category": by_category, "by_direction": by_direction,
                   "by_route": by_route, "by_resource": by_resource},
        "throughput_per_hour": hourly,
        "utilisation": utilisation,
        "referrals": {"count": n_ref, "rate": round(n_ref / n_gate, 4) if n_gate else 0.0,
                      "by_direction": {d.name: int((raw.referred & (t.direction == i)).sum())
                                       for i, d in enumerate(scenario.directions)}},
        "kiosk_enrolments": int((raw.route == ROUTE_KIOSK).sum()),
        "last_departure": format_clock(raw.end_s),
        "drain_after_close_s": round(max(0.0, raw.end_s - scenario.close_s), 3),
        "events": raw.events,
    }
    if target_p95_wait_s is not None:
        p95 = summary["wait_s"]["overall"]["p95"] or 0.0
        summary["target"] = {"p95_wait_s": target_p95_wait_s, "met": p95 <= target_p95_wait_s}
    return summary


__all__ = ["ROUTE_BOOTH", "ROUTE_EGATE", "ROUTE_KIOSK", "SimulationResult", "simulate", "summarise", "wait_stats"]
