"""Layouts of the crossing: today's two stops in series, or one joint stop (issue #26, "one door, one stop").

``two_stop``: a traveller queues at this side's control (the scenario's halls, ``draw_travellers``),
walks ``layout.transfer_s`` to the other side's control and queues again. The other side is a mirror
of this one: the same traveller (category, eligibility, enrolment, kiosk choice), the same resource
mix per hall, fresh draws of the service times, referrals and assists from the same distributions.
The second stop's input is the first stop's output (departures + transfer), so simulating the stops
one after the other is exact (nothing blocks back). A traveller's queue time is the sum of both.

``one_stop``: one joint hall per direction. The joint e-gate reads the document and captures the face
once (the first side's draw) and adds ``layout.joint_egate_extra`` for the second side's decision; it
refers the traveller if either side would, and needs an officer if either side would. A joint booth
(both officers) takes ``layout.joint_booth_factor`` x the first side's booth (or referral) time; one
kiosk enrolment serves both sides.

Every layout sees the same arrivals (``draw_travellers(scenario, seed)``); the second side's draws
come from their own stream (``default_rng([seed, 2])``), the joint decision's from ``[seed, 3]``, so
this side's draws, and the existing single-hall results, do not change.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._results import wait_stats
from ._scenario import LAYOUT_KINDS, Resources, Scenario
from ._sim import RESOURCE_TYPES, RawRun, run
from ._travellers import Travellers, draw_travellers, service_draws

_SECOND_SIDE, _JOINT = 2, 3
QUEUE_TYPES = tuple(k for k in RESOURCE_TYPES if k != "officer")   # travellers standing in a queue


def _second_side_draws(scenario: Scenario, t: Travellers) -> Travellers:
    """The mirror side's service draws for the same travellers (arrival still this side's)."""
    rng = np.random.default_rng([t.seed, _SECOND_SIDE])
    return dataclasses.replace(t, **service_draws(scenario, rng, t.category_names, t.category))


def second_stop_travellers(scenario: Scenario, first: Travellers, depart: np.ndarray) -> Travellers:
    """The travellers as they reach the second stop: index i is the same person as in ``first``
    (not re-sorted), arriving ``layout.transfer_s`` after leaving the first stop."""
    return dataclasses.replace(_second_side_draws(scenario, first),
                               arrival=np.asarray(depart, float) + scenario.layout.transfer_s)


def joint_travellers(scenario: Scenario, first: Travellers) -> Travellers:
    """The same travellers at a joint (one-stop) hall."""
    other = _second_side_draws(scenario, first)
    rng = np.random.default_rng([first.seed, _JOINT])
    lay = scenario.layout
    f = lay.joint_booth_factor
    return dataclasses.replace(
        first,
        gate_s=first.gate_s + lay.joint_egate_extra.sample(rng, len(first)),
        referred=first.referred | other.referred,
        assist=first.assist | other.assist,
        assist_s=np.where(first.assist, first.assist_s, 0.0) + np.where(other.assist, other.assist_s, 0.0),
        booth_s=first.booth_s * f, referral_s=first.referral_s * f)


def hall_travellers(scenario: Scenario, seed: int) -> Travellers:
    """The travellers of the hall the scenario models: this side's (two-stop) or the joint hall's."""
    t = draw_travellers(scenario, seed)
    return joint_travellers(scenario, t) if scenario.layout.kind == "one_stop" else t


def _wait(raw: RawRun) -> np.ndarray:
    return raw.wait_kiosk + raw.wait_gate + raw.wait_booth


def peak_queued(raw: RawRun) -> list[int]:
    """Per hall: the most travellers queueing at once (kiosk + gate + booth queues), sampled every
    ``simulation.sample_interval_s``."""
    out = []
    for q in raw.queue_len:
        total = sum(q[k] for k in QUEUE_TYPES)
        out.append(int(total.max()) if len(total) else 0)
    return out


def queued_at(raw: RawRun, t_s: float) -> list[int]:
    """Per hall: travellers queueing (kiosk + gate + booth) at the last sample at or before ``t_s``."""
    i = int(np.searchsorted(raw.sample_t, t_s, side="right")) - 1
    return [int(sum(q[k][i] for k in QUEUE_TYPES)) if i >= 0 else 0 for q in raw.queue_len]


def overloaded(raw: RawRun, close_s: float) -> bool:
    """A hall whose queue never cleared: it did not empty once in the last hour before closing (the
    last arrival) and at closing still holds at least half its day's peak, so arrivals outran the
    capacity and the queue built up. Its peak queue, and the area sized on it, is then the backlog,
    not a standing queue."""
    last_hour = (raw.sample_t >= close_s - 3600) & (raw.sample_t <= close_s)
    out = False
    for q, at_close, peak in zip(raw.queue_len, queued_at(raw, close_s), peak_queued(raw), strict=True):
        total = sum(q[k] for k in QUEUE_TYPES)
        never_empty = bool(last_hour.any()) and int(total[last_hour].min()) > 0
        out |= never_empty and 2 * at_close >= peak
    return out


def _stop_summary(scenario: Scenario, raw: RawRun) -> dict:
    res = scenario.resources
    halls = len(scenario.directions)
    peaks = peak_queued(raw)
    area = sum(scenario.area.of(res.egates, res.booths, res.kiosks, p) for p in peaks)
    return {"p95_queue_s": wait_stats(_wait(raw))["p95"], "gates": res.egates * halls, "booths": res.booths * halls,
            "kiosks": res.kiosks * halls, "peak_queued": sum(peaks), "area_m2": round(area, 1),
            "queued_at_close": sum(queued_at(raw, scenario.close_s)), "overloaded": overloaded(raw, scenario.close_s)}


def _layout_summary(scenario: Scenario, stops: list[tuple[str, RawRun]], wait: np.ndarray) -> dict:
    per_stop = {name: _stop_summary(scenario, raw) for name, raw in stops}
    res, lay = scenario.resources, scenario.layout
    st = wait_stats(wait)
    total = {k: sum(s[k] for s in per_stop.values()) for k in ("gates", "booths", "kiosks", "peak_queued")}
    return {"p95_queue_s": st["p95"], "p50_queue_s": st["p50"], "mean_queue_s": st["mean"],
            "max_queue_s": st["max"], "travellers": st["n"],
            "gates": total["gates"], "booths": total["booths"], "kiosks": total["kiosks"],
            # a joint booth seats an officer of each side
            "booth_officers": total["booths"] * (2 if scenario.layout.kind == "one_stop" else 1),
            "peak_queued": total["peak_queued"],
            "area_m2": round(sum(s["area_m2"] for s in per_stop.values()), 1),
            "overloaded": any(s["overloaded"] for s in per_stop.values()),
            "per_hall": {"gates": res.egates, "booths": res.booths, "kiosks": res.kiosks},
            "stops": per_stop,
            # the parameters these figures rest on, as in the scenario's [layout] and [area]
            "layout": {"kind": lay.kind, "transfer_s": lay.transfer_s,
                       "joint_egate_extra_s": lay.joint_egate_extra.to_dict(),
                       "joint_booth_factor": lay.joint_booth_factor},
            "area": dataclasses.asdict(scenario.area)}


def compare_layouts(scenario: Scenario, seed: int = 0, *, resources: dict[str, Resources] | None = None,
                    target_p95_wait_s: float | None = None, kinds: tuple[str, ...] = LAYOUT_KINDS,
                    first: Travellers | None = None, known: RawRun | None = None) -> dict:
    """Both layouts on the same day (same arrivals, common random numbers): ``{"two_stop": {...},
    "one_stop": {...}}`` with the end-to-end queue time (``p95_queue_s``: the p95 over travellers of
    the sum of their queues), gates, booths, kiosks (totals over halls and stops), ``peak_queued``
    and ``area_m2``. ``resources`` gives a layout other counts per hall than the scenario's.

    ``first`` (``draw_travellers(scenario, seed)``) and ``known`` (``run(scenario, hall_travellers(...))``,
    the scenario's own hall already simulated on them, as :func:`simulate` has) spare drawing the day
    again and simulating that hall a second time: ``known`` stands for the scenario's own layout's
    (first) stop unless ``resources`` changes that layout's counts."""
    if first is None:
        first = draw_travellers(scenario, seed)
    resources = resources or {}
    out: dict[str, dict] = {}
    for kind in kinds:
        sc = scenario.with_layout(kind)
        if kind in resources:
            sc = dataclasses.replace(sc, resources=resources[kind])
        reuse = known if kind == scenario.layout.kind and kind not in resources else None
        if kind == "two_stop":
            raw1 = reuse if reuse is not None else run(sc, first)
            raw2 = run(sc, second_stop_travellers(sc, first, raw1.depart))
            out[kind] = _layout_summary(sc, [("this_side", raw1), ("other_side", raw2)], _wait(raw1) + _wait(raw2))
        else:
            raw = reuse if reuse is not None else run(sc, joint_travellers(sc, first))
            out[kind] = _layout_summary(sc, [("joint", raw)], _wait(raw))
        if target_p95_wait_s is not None:
            out[kind]["target_met"] = (out[kind]["p95_queue_s"] or 0.0) <= target_p95_wait_s
    return out


__all__ = ["compare_layouts", "hall_travellers", "joint_travellers", "overloaded", "peak_queued", "queued_at",
           "second_stop_travellers"]
