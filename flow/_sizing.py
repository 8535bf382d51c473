"""``size``: the cheapest mix of e-gates, booths and kiosks that meets a p95 waiting-time target.

Search (every candidate is simulated on the same travellers: common random numbers):

1. The generous mix (all maxima) must meet the target, else :class:`SizingInfeasibleError`.
2. Kiosks switch routing (none: unenrolled travellers go to booths instead of enrolling), so two
   regimes are scanned: no kiosks, and generous kiosks. In each, the fewest gates meeting the target
   with booths at their maximum bounds the gate count from below (binary search; waits do not grow
   when a resource is added). Then for each gate count g upwards, the fewest booths b*(g) meeting
   the target (galloping down from b*(g-1), since b*(g) only falls as gates are added); the scan
   stops when two more gates save no booth. In the kiosk regime the cheapest (g, b*(g)) then gets
   the fewest kiosks that keep the target. The cheapest candidate by cost weights is the start.
3. Climb (a safety net; candidates were simulated feasible): while the target is missed, add one
   unit of the bottleneck resource (the one whose own queue has the largest p95 wait).
4. Descend: remove units, dearest first by cost weight, while the target stays met. The result is
   locally minimal: one fewer unit of any resource misses the target (reported in ``neighbours``).

Officers supervising gates are not searched: each mix gets ``ceil(egates / gates_per_officer)``.
Default cost weights (relative daily cost per hall, staff dominating): e-gate 1.0 (amortised
hardware and maintenance), booth 3.0 (an officer per shift), kiosk 0.5, supervising officer 3.0.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ._layouts import compare_layouts, hall_travellers, second_stop_travellers
from ._results import SimulationResult, simulate, wait_stats
from ._scenario import LAYOUT_KINDS, Resources, Scenario, ScenarioError
from ._sim import ROUTE_BOOTH, ROUTE_KIOSK, run
from ._travellers import Travellers

DIMS = ("egates", "booths", "kiosks")
MINIMUM = {"egates": 0, "booths": 1, "kiosks": 0}
CRITERIA = ("overall", "every_route", "every_category")
_QUEUE_OF = {"egates": "egate", "booths": "booth", "kiosks": "kiosk"}


class SizingInfeasibleError(ScenarioError):
    """Even the largest mix allowed does not meet the target."""


@dataclass(frozen=True)
class CostWeights:
    egate: float = 1.0
    booth: float = 3.0
    kiosk: float = 0.5
    officer: float = 3.0

    def of(self, mix: dict[str, int], gates_per_officer: int) -> float:
        officers = math.ceil(mix["egates"] / gates_per_officer) if mix["egates"] else 0
        return (self.egate * mix["egates"] + self.booth * mix["booths"] + self.kiosk * mix["kiosks"]
                + self.officer * officers)


@dataclass(frozen=True)
class Evaluation:
    mix: dict[str, int]
    officers: int
    p95_wait_s: float
    queue_p95_s: dict[str, float | None]
    met: bool
    cost: float

    def to_dict(self) -> dict:
        return {**self.mix, "officers": self.officers, "p95_wait_s": round(self.p95_wait_s, 3),
                "queue_p95_s": self.queue_p95_s, "met": self.met, "cost": round(self.cost, 3)}


@dataclass
class SizingResult:
    scenario: str
    target_p95_wait_s: float
    seeds: list[int]
    best: Evaluation
    neighbours: dict[str, Evaluation]          # one fewer of each resource (when above its minimum)
    evaluations: list[Evaluation] = field(default_factory=list)
    weights: CostWeights = field(default_factory=CostWeights)
    criterion: str = "overall"
    results: list[SimulationResult] = field(default_factory=list)  # the best mix, one per seed

    def to_dict(self) -> dict:
        return {"scenario": self.scenario, "target_p95_wait_s": self.target_p95_wait_s,
                "criterion": self.criterion, "seeds": self.seeds,
                "mix_per_hall": {**self.best.mix, "officers": self.best.officers},
                "p95_wait_s": round(self.best.p95_wait_s, 3), "met": self.best.met,
                "cost": round(self.best.cost, 3), "cost_weights": dataclasses.asdict(self.weights),
                "one_fewer": {k: v.to_dict() for k, v in self.neighbours.items()},
                "evaluations": [e.to_dict() for e in self.evaluations]}


def _both_stops(sc: Scenario, t: Travellers) -> SimulationResult:
    """A two-stop day seen end to end: each traveller's queues at both stops added, queue by queue
    (``summary`` is left empty: only the waits are used)."""
    raw1 = run(sc, t)
    raw2 = run(sc, second_stop_travellers(sc, t, raw1.depart))
    raw = dataclasses.replace(raw1, wait_kiosk=raw1.wait_kiosk + raw2.wait_kiosk,
                              wait_gate=raw1.wait_gate + raw2.wait_gate, wait_booth=raw1.wait_booth + raw2.wait_booth,
                              referred=raw1.referred | raw2.referred)
    return SimulationResult(sc, t, raw, {})


def size(scenario: Scenario, target_p95_wait_s: float = 300.0, *, seed: int = 0, replications: int = 1,
         max_egates: int = 40, max_booths: int = 40, max_kiosks: int = 12,
         weights: CostWeights | None = None, criterion: str = "overall", end_to_end: bool = False) -> SizingResult:
    """Smallest-cost mix (per hall) whose pooled p95 wait over ``replications`` days meets the target.

    ``criterion``: ``overall`` (p95 over all travellers, the Frontex form), ``every_route`` (also the
    p95 of e-gate, kiosk and booth travellers separately) or ``every_category`` (every traveller
    category separately). ``p95_wait_s`` is then the worst of the streams checked.
    ``end_to_end``: for a ``two_stop`` scenario, the wait is the sum of both stops' queues, both stops
    getting the mix (the other side is this side's mirror); otherwise this side's hall alone. A
    ``one_stop`` scenario is always sized as its joint hall."""
    if criterion not in CRITERIA:
        from ._scenario import InvalidValueError
        raise InvalidValueError("criterion", f"must be one of {', '.join(CRITERIA)}")
    if target_p95_wait_s < 0:
        from ._scenario import InvalidValueError
        raise InvalidValueError("target_p95_wait_s", "must be >= 0")
    weights = weights or CostWeights()
    gpo = scenario.egate.gates_per_officer
    seeds = [seed + k for k in range(max(1, replications))]
    days: list[Travellers] = [hall_travellers(scenario, s) for s in seeds]   # the joint hall for one_stop
    maxima = {"egates": max_egates, "booths": max(1, max_booths), "kiosks": max_kiosks}
    cache: dict[tuple[int, int, int], Evaluation] = {}
    order: list[Evaluation] = []
    both = end_to_end and scenario.layout.kind == "two_stop"

    def day(sc: Scenario, s: int, t: Travellers) -> SimulationResult:
        return _both_stops(sc, t) if both else simulate(sc, s, travellers=t)

    def evaluate(mix: dict[str, int]) -> Evaluation:
        key = tuple(mix[d] for d in DIMS)
        if key not in cache:
            sc = scenario.with_resources(officers=None, **mix)
            runs = [day(sc, s, t) for s, t in zip(seeds, days, strict=True)]
            wait = np.concatenate([r.wait for r in runs])
            p95 = wait_stats(wait)["p95"] or 0.0
            if criterion != "overall":
                labels = np.concatenate([r.raw.route if criterion == "every_route" else r.travellers.category
                                         for r in runs])
                for value in np.unique(labels):
                    p95 = max(p95, wait_stats(wait[labels == value])["p95"] or 0.0)
            queues = {
                "egates": wait_stats(np.concatenate([r.raw.wait_gate[r.raw.route != ROUTE_BOOTH] for r in runs]))["p95"],
                "booths": wait_stats(np.concatenate([r.raw.wait_booth[(r.raw.route == ROUTE_BOOTH) | r.raw.referred]
                                                     for r in runs]))["p95"],
                "kiosks": wait_stats(np.concatenate([r.raw.wait_kiosk[r.raw.route == ROUTE_KIOSK] for r in runs]))["p95"],
            }
            ev = Evaluation(dict(mix), sc.resources.officers_for(gpo), p95, queues, p95 <= target_p95_wait_s,
                            weights.of(mix, gpo))
            cache[key] = ev
            order.append(ev)
        return cache[key]

    top = dict(maxima)
    if not evaluate(top).met:
        raise SizingInfeasibleError("target_p95_wait_s", f"not met even with {top} per hall "
                                    f"(p95 {evaluate(top).p95_wait_s:.0f} s > {target_p95_wait_s:g} s); raise the maxima")

    def fewest(dim: str, base: dict[str, int], lo: int, hi: int, gallop: bool = False) -> int:
        """Fewest units of ``dim`` in [lo, hi] meeting the target (``base[dim] = hi`` assumed to meet it):
        binary search, after galloping down from ``hi`` when the answer is expected close to it."""
        if gallop:
            step = 1
            while hi - step >= lo and evaluate({**base, dim: hi - step}).met:
                hi -= step
                step *= 2
            lo = max(lo, hi - step + 1)
        while lo < hi:
            mid = (lo + hi) // 2
            if evaluate({**base, dim: mid}).met:
                hi = mid
            else:
                lo = mid + 1
        return hi

    # Kiosks are also a routing switch: with none, unenrolled travellers queue at booths instead of
    # enrolling. So the gate/booth trade-off is scanned twice: without kiosks, and with generous
    # kiosks which are then cut to the fewest that still meet the target.
    uses_kiosks = scenario.kiosk_uptake > 0 and maxima["kiosks"] > 0
    regimes = [0, maxima["kiosks"]] if uses_kiosks else [0]
    best_mix, best_cost = None, math.inf
    for k_regime in regimes:
        base_top = {**top, "kiosks": k_regime}
        if not evaluate(base_top).met:
            continue
        g_lo = fewest("egates", base_top, MINIMUM["egates"], maxima["egates"])
        # b*(g), the fewest booths, can only fall as gates are added; stop once two more gates save none.
        scan, b_prev, stall = [], maxima["booths"], 0
        for g in range(g_lo, maxima["egates"] + 1):
            base = {"egates": g, "booths": b_prev, "kiosks": k_regime}
            hi = b_prev if evaluate(base).met else maxima["booths"]
            b = fewest("booths", {**base, "booths": hi}, MINIMUM["booths"], hi, gallop=g > g_lo)
            scan.append({"egates": g, "booths": b, "kiosks": k_regime})
            stall = stall + 1 if (b >= b_prev and g > g_lo) else 0
            if stall >= 2:
                break
            b_prev = b
        if k_regime:
            cheapest = min(scan, key=lambda m: weights.of({**m, "kiosks": 1}, gpo))
            k = fewest("kiosks", cheapest, 1, k_regime)
            scan = [{**cheapest, "kiosks": k}]
        for mix in scan:
            if weights.of(mix, gpo) < best_cost:
                best_mix, best_cost = mix, weights.of(mix, gpo)
    mix = dict(best_mix)
    while not (ev := evaluate(mix)).met:
        candidates = [d for d in DIMS if mix[d] < maxima[d]]
        if not candidates:  # pragma: no cover - the maxima met the target, so this cannot be reached
            break
        bottleneck = max(candidates, key=lambda d: (ev.queue_p95_s[d] or 0.0, -getattr(weights, _QUEUE_OF[d])))
        mix[bottleneck] += 1
    by_price = sorted(DIMS, key=lambda d: -getattr(weights, _QUEUE_OF[d]))
    improved = True
    while improved:
        improved = False
        for dim in by_price:
            if mix[dim] > MINIMUM[dim] and evaluate({**mix, dim: mix[dim] - 1}).met:
                mix[dim] -= 1
                improved = True
                break
    best = evaluate(mix)
    neighbours = {dim: evaluate({**mix, dim: mix[dim] - 1}) for dim in DIMS if mix[dim] > MINIMUM[dim]}
    sc = scenario.with_resources(officers=None, **mix)
    runs = [simulate(sc, s, travellers=t, target_p95_wait_s=target_p95_wait_s) for s, t in zip(seeds, days, strict=True)]
    return SizingResult(scenario.name, target_p95_wait_s, seeds, best, neighbours, order, weights, criterion,
                        runs)


def size_layouts(scenario: Scenario, target_p95_wait_s: float = 300.0, *, seed: int = 0,
                 weights: CostWeights | None = None, **kwargs) -> dict:
    """Both layouts sized to the same target on the same arrivals: the two-stop mix per hall for the
    sum of both stops' queues (:func:`size` with ``end_to_end``; both sides get it), the one-stop mix
    for the joint hall; then each layout's day at its mix (:func:`compare_layouts`, first seed):
    ``{"two_stop": {...}, "one_stop": {...}}`` with ``p95_queue_s``, ``gates``, ``booths``, ``kiosks``,
    ``area_m2``... of that day, and ``p95_wait_s_sized`` and ``met`` over all seeds sized.

    Cost, for the crossing: two-stop pays its mix on both sides; a joint booth seats an officer of
    each side and a joint gate bank is supervised by one officer of each, so one-stop sizes with the
    booth and supervising-officer weights doubled."""
    weights = weights or CostWeights()
    joint_weights = dataclasses.replace(weights, booth=2 * weights.booth, officer=2 * weights.officer)
    out: dict[str, dict] = {}
    for kind in LAYOUT_KINDS:
        w = joint_weights if kind == "one_stop" else weights
        sized = size(scenario.with_layout(kind), target_p95_wait_s, seed=seed, end_to_end=True, weights=w, **kwargs)
        mix = sized.best.mix
        day = compare_layouts(scenario, seed, target_p95_wait_s=target_p95_wait_s, kinds=(kind,),
                              resources={kind: Resources(mix["egates"], mix["booths"], mix["kiosks"])})[kind]
        out[kind] = {**day, "supervising_officers_per_hall": sized.best.officers,
                     "p95_wait_s_sized": round(sized.best.p95_wait_s, 3), "met": sized.best.met,
                     "crossing_cost": round(sized.best.cost * (2 if kind == "two_stop" else 1), 3),
                     "mixes_simulated": len(sized.evaluations)}
    return out
